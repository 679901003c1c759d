/*-------------------------------------------------------------------------
 *
 * module.c
 *	  Module initialisation: the settings, and the background workers when
 *	  the library is preloaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "launcher.h"
#include "sandbox.h"
#include "secrets.h"
#include "worker.h"

PG_MODULE_MAGIC;

static bool sandbox_preloaded = false;

void		_PG_init(void);

/*
 * _PG_init defines the settings and, when the library is preloaded, the
 * background workers (and, serving several databases, the hook that keeps
 * them out of the way of DROP DATABASE).  The synchronous SQL functions
 * work either way.
 */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	sandbox_preloaded = process_shared_preload_libraries_in_progress;
	settings_define();
	/* a key setting may name a secret of the store ('secret:NAME') */
	settings_key_resolver = secrets_key_lookup;

	if (sandbox_preloaded)
	{
		sandbox_worker_register_all();
		if (launcher_enabled() && sandbox_workers > 0)
			launcher_install_hooks();
	}
}

