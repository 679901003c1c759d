/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  Several databases: the launcher that starts each served database's
 *	  workers (sandbox.databases), and what backends and workers ask of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_LAUNCHER_H
#define SANDBOX_LAUNCHER_H

#include "postgres.h"

#include "shmem.h"

extern bool launcher_enabled(void);
extern void launcher_register(void);
extern void launcher_install_hooks(void);
extern void launcher_request_database(Oid database);
extern int	launcher_missing_workers(Oid database);
extern bool launcher_unserved(const char **why, const char **hint);
extern bool launcher_worker_wanted(int index);
extern void launcher_worker_connect(WorkerSlot *slot);

#endif							/* SANDBOX_LAUNCHER_H */
