/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The extension's own tables as seen from C: where the extension lives,
 *	  who owns it, and the `sandboxes` table that records every sandbox the
 *	  extension creates and who may use it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_REGISTRY_H
#define SANDBOX_REGISTRY_H

#include "postgres.h"
#include "nodes/pg_list.h"

#include "e2b.h"

/* A recorded sandbox's owner, and whether the current role may use it. */
typedef struct RegistryOwner
{
	char	   *sandbox_id;
	Oid			owner;
	bool		usable;
} RegistryOwner;

/* What the `sandboxes` table says of a sandbox the current role may use. */
typedef struct RegistryRow
{
	bool		recorded;		/* false: not in the table (superuser only) */
	Oid			owner;
	char	   *state;			/* running, paused, killed, expired, lost */
	char	   *killed_at;
	char	   *on_timeout;
	bool		auto_resume;
} RegistryRow;

typedef struct ExtensionInfo
{
	Oid			ext_oid;
	Oid			schema_oid;
	Oid			owner;
	char	   *schema_quoted;	/* quote_identifier(schema) for SQL text */
} ExtensionInfo;

extern bool sandbox_extension_info(ExtensionInfo *info, bool missing_ok);
extern char *sandbox_database_tag(void);

extern void registry_insert(const E2BSandbox *sb, const char *template_id,
							const char *metadata_json, int timeout_s,
							const char *run_id, const char *on_timeout, bool auto_resume);
extern void registry_check(const char *sandbox_id, E2BTarget *target, RegistryRow *row);
extern void registry_resolve(const char *sandbox_id, E2BTarget *target);
extern void registry_resolve_live(const char *sandbox_id, E2BTarget *target, RegistryRow *row);
extern bool registry_lookup(const char *sandbox_id, E2BTarget *target, bool require_running);
extern bool registry_find(const char *sandbox_id, RegistryRow *row, char **owner_id);
extern void registry_raise_paused(const char *sandbox_id) pg_attribute_noreturn();
extern void registry_raise_gone(const char *sandbox_id, const RegistryRow *row) pg_attribute_noreturn();
extern void registry_check_paused(const char *sandbox_id);
extern bool registry_resume(const char *sandbox_id, int timeout_s);
extern void registry_set_paused(const char *sandbox_id);
extern void registry_set_running(const char *sandbox_id, int timeout_s);
extern void registry_touch(const char *sandbox_id);
extern void registry_forget(const char *sandbox_id);
extern void registry_set_state(const char *sandbox_id, const char *state);
extern void registry_set_expiry(const char *sandbox_id, int timeout_s);
extern uint64 registry_run_as_owner(const ExtensionInfo *ext, const char *sql, int nargs,
									 Oid *types, Datum *values, const char *nulls,
									 bool read_only);
extern List *registry_owners(List *ids);

#endif							/* SANDBOX_REGISTRY_H */
