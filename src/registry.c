/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The `sandboxes` table: every sandbox the extension creates is recorded
 *	  with its owner role before any command runs in it, and every use of a
 *	  sandbox by id is checked against it.
 *
 * The table is written as the extension's owner (users cannot forge rows),
 * and read the same way; users see their own rows through row-level
 * security.  Sandbox access tokens live in a separate table no one else
 * can read.  A per-backend cache avoids a catalog round trip per call; it
 * is dropped when a transaction aborts, so a sandbox whose recording rolled
 * back is never trusted.  Only running sandboxes are cached: a paused one
 * is read from the table each time (and refused, or resumed first when it
 * was created with auto_resume); a pause by another session, which the
 * cache cannot see, is found when a call to the sandbox fails as gone
 * (registry_check_paused).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "identity.h"
#include "json_util.h"
#include "registry.h"
#include "safe_path.h"
#include "sandbox.h"
#include "sql_common.h"

#define CACHE_TOUCH_INTERVAL_US (10 * USECS_PER_SEC)

typedef struct CachedSandbox
{
	char		sandbox_id[129];	/* hash key */
	Oid			owner;
	char	   *owner_id;		/* identity beside the role, or NULL */
	char	   *access_token;	/* in CacheCxt */
	char	   *domain;
	TimestampTz touched_at;
} CachedSandbox;

static HTAB *sandbox_cache = NULL;
static MemoryContext CacheCxt = NULL;
static bool xact_callback_registered = false;

/*
 * sandbox_extension_info finds the installed extension: its oid, schema
 * and owner.  With missing_ok, returns false when it is not installed.
 */
bool
sandbox_extension_info(ExtensionInfo *info, bool missing_ok)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	char	   *version = NULL;

	memset(info, 0, sizeof(*info));
	info->ext_oid = get_extension_oid("sandbox", true);
	if (OidIsValid(info->ext_oid))
	{
		rel = table_open(ExtensionRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(info->ext_oid));
		scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tup);
			bool		isnull;
			Datum		v = heap_getattr(tup, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

			info->schema_oid = ext->extnamespace;
			info->owner = ext->extowner;
			version = isnull ? pstrdup("") : TextDatumGetCString(v);
			found = true;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (!found)
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"sandbox\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION sandbox;")));
	}

	/*
	 * The library speaks its own version's schema: between `make install`
	 * of a new library and ALTER EXTENSION UPDATE, refuse clearly (the
	 * worker waits, as for a missing extension).
	 */
	if (strcmp(version, EXTVERSION) != 0)
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"sandbox\" is at version %s in this database, but the library is %s: run ALTER EXTENSION sandbox UPDATE",
						version, EXTVERSION),
				 errhint("ALTER EXTENSION sandbox UPDATE brings the tables and functions to the library's version.")));
	}
	info->schema_quoted = pstrdup(quote_identifier(get_namespace_name(info->schema_oid)));
	return true;
}

/*
 * sandbox_database_tag names this database among every database that may
 * share one E2B account: "<system identifier>-<database oid>".  It is the
 * value of the pgsandbox_db metadata key of each sandbox we create, so
 * listing and reaping never touch another database's sandboxes.
 */
char *
sandbox_database_tag(void)
{
	return psprintf(UINT64_FORMAT "-%u", GetSystemIdentifier(), MyDatabaseId);
}

/*
 * cache_reset_callback drops the cache when a transaction aborts: a row we
 * inserted, or a state we changed, may have been rolled back.
 */
static void
cache_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		if (CacheCxt)
			MemoryContextReset(CacheCxt);
		sandbox_cache = NULL;
	}
}

/*
 * cache_table returns the per-backend cache, creating it when needed.
 */
static HTAB *
cache_table(void)
{
	HASHCTL		ctl;

	if (!xact_callback_registered)
	{
		RegisterXactCallback(cache_xact_callback, NULL);
		xact_callback_registered = true;
	}
	if (sandbox_cache)
		return sandbox_cache;
	if (CacheCxt == NULL)
		CacheCxt = AllocSetContextCreate(TopMemoryContext, "sandbox registry cache",
										 ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 129;
	ctl.entrysize = sizeof(CachedSandbox);
	ctl.hcxt = CacheCxt;
	sandbox_cache = hash_create("sandbox registry cache", 64, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	return sandbox_cache;
}

/*
 * cache_forget drops one sandbox from the per-backend cache.
 */
static void
cache_forget(const char *sandbox_id)
{
	if (sandbox_cache && strlen(sandbox_id) < 129)
		hash_search(sandbox_cache, sandbox_id, HASH_REMOVE, NULL);
}

/*
 * registry_forget drops a sandbox from this backend's cache, so that its
 * next use reads the table again (a rolled-back sandbox is then unknown).
 */
void
registry_forget(const char *sandbox_id)
{
	cache_forget(sandbox_id);
}

/*
 * cache_put remembers a sandbox's owner and how to reach it.
 */
static void
cache_put(const char *sandbox_id, Oid owner, const char *owner_id, const char *token,
		  const char *domain)
{
	CachedSandbox *e;
	bool		found;

	if (strlen(sandbox_id) >= 129)
		return;
	e = hash_search(cache_table(), sandbox_id, HASH_ENTER, &found);
	e->owner = owner;
	e->owner_id = owner_id ? MemoryContextStrdup(CacheCxt, owner_id) : NULL;
	e->access_token = token ? MemoryContextStrdup(CacheCxt, token) : NULL;
	e->domain = domain ? MemoryContextStrdup(CacheCxt, domain) : NULL;
	e->touched_at = found ? e->touched_at : 0;
}

/*
 * registry_run_as_owner runs an SPI statement as the extension's owner, with
 * positional text/other arguments, under the safe search_path (no operator
 * or function a user created can be picked), restoring the caller's
 * identity and search_path even when the statement fails.  Returns SPI_processed; results stay in
 * SPI_tuptable until the caller's SPI_finish.
 */
uint64
registry_run_as_owner(const ExtensionInfo *ext, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls, bool read_only)
{
	Oid			save_user;
	int			save_sec;
	int			save_nestlevel;
	volatile int rc = 0;

	GetUserIdAndSecContext(&save_user, &save_sec);
	save_nestlevel = safe_path_push();
	SetUserIdAndSecContext(ext->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
		safe_path_pop(save_nestlevel);
	}
	PG_END_TRY();
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("sandbox registry query failed: %s", SPI_result_code_string(rc))));
	return SPI_processed;
}

/*
 * registry_insert records a new sandbox, owned by the current role, with
 * its access token in the private table.  on_timeout ('kill' or 'pause')
 * and auto_resume are its lifecycle as created.
 */
void
registry_insert(const E2BSandbox *sb, const char *template_id,
				const char *metadata_json, int timeout_s, const char *run_id,
				const char *on_timeout, bool auto_resume)
{
	ExtensionInfo ext;
	Oid			types[11] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BOOLOID};
	Datum		values[11];
	char		nulls[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	char	   *sql;
	char	   *owner_id = identity_current();

	sandbox_extension_info(&ext, false);
	if (owner_id)
		values[8] = CStringGetTextDatum(owner_id);
	else
		nulls[8] = 'n';
	values[0] = CStringGetTextDatum(sb->sandbox_id);
	values[1] = ObjectIdGetDatum(GetUserId());
	values[2] = CStringGetTextDatum(template_id);
	values[3] = CStringGetTextDatum(metadata_json ? metadata_json : "{}");
	values[4] = Int32GetDatum(timeout_s);
	if (sb->domain)
		values[5] = CStringGetTextDatum(sb->domain);
	else
		nulls[5] = 'n';
	if (run_id)
		values[6] = CStringGetTextDatum(run_id);
	else
		nulls[6] = 'n';
	if (sb->access_token)
		values[7] = CStringGetTextDatum(sb->access_token);
	else
		nulls[7] = 'n';
	values[9] = CStringGetTextDatum(on_timeout ? on_timeout : "kill");
	values[10] = BoolGetDatum(auto_resume);

	sql = psprintf("WITH s AS (INSERT INTO %s.sandboxes "
				   "(sandbox_id, owner, template, metadata, expires_at, domain, run_id, last_used_at, owner_id, "
				   " on_timeout, auto_resume) "
				   "VALUES ($1, $2::pg_catalog.regrole, $3, $4::pg_catalog.jsonb, "
				   "pg_catalog.now() + pg_catalog.make_interval(secs => $5), $6, $7::pg_catalog.uuid, pg_catalog.now(), $9, "
				   "$10, $11) "
				   "RETURNING sandbox_id) "
				   "INSERT INTO %s.sandbox_access (sandbox_id, access_token, envd_version) "
				   "SELECT sandbox_id, $8, %s FROM s",
				   ext.schema_quoted, ext.schema_quoted,
				   sb->envd_version ? quote_literal_cstr(sb->envd_version) : "NULL");
	SPI_connect();
	registry_run_as_owner(&ext, sql, 11, types, values, nulls, false);
	SPI_finish();
	cache_put(sb->sandbox_id, GetUserId(), owner_id, sb->access_token, sb->domain);
}

/*
 * fetch_token_from_api looks up a sandbox that is not in our table (only
 * superusers get here) through the control plane, for its access token.
 */
static void
fetch_token_from_api(const char *sandbox_id, E2BTarget *target)
{
	HttpRequest *req = e2b_info_request(sandbox_id);
	E2BSandbox	sb;
	CallError	err;

	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_sandbox(req, &sb, &err))
		call_error_raise(&err, psprintf("look up sandbox \"%s\"", sandbox_id), NULL);
	target->access_token = sb.access_token;
	target->domain = sb.domain;
}

/*
 * registry_check checks that the current role may use sandbox_id and fills
 * target with how to reach it and *row with what the table says (state is
 * NULL for a sandbox not recorded here, which only superusers may use).
 * It raises for a malformed id, an unrecorded sandbox (non-superusers),
 * and another role's or identity's sandbox; never for its state.
 */
void
registry_check(const char *sandbox_id, E2BTarget *target, RegistryRow *row)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *sql;
	uint64		n;
	Oid			owner = InvalidOid;
	char	   *token = NULL;
	char	   *domain = NULL;
	char	   *owner_id = NULL;
	char	   *current_id;
	CachedSandbox *cached;
	MemoryContext caller = CurrentMemoryContext;

	memset(target, 0, sizeof(*target));
	memset(row, 0, sizeof(*row));
	if (sandbox_id == NULL || !e2b_valid_sandbox_id(sandbox_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid sandbox id \"%s\"", sandbox_id ? sandbox_id : "(null)"),
				 errhint("Sandbox ids are made of lowercase letters, digits and dashes, as sandbox_create() returns them.")));
	target->sandbox_id = pstrdup(sandbox_id);
	current_id = identity_current();

	cached = hash_search(cache_table(), sandbox_id, HASH_FIND, NULL);
	if (cached && (superuser() || (has_privs_of_role(GetUserId(), cached->owner) &&
								   identity_matches(cached->owner_id, current_id))))
	{
		target->access_token = cached->access_token ? pstrdup(cached->access_token) : NULL;
		target->domain = cached->domain ? pstrdup(cached->domain) : NULL;
		row->state = pstrdup("running");
		row->owner = cached->owner;
		row->recorded = true;
		return;
	}

	sandbox_extension_info(&ext, false);
	values[0] = CStringGetTextDatum(sandbox_id);
	sql = psprintf("SELECT s.owner::pg_catalog.oid, s.state::pg_catalog.text, a.access_token, s.domain, "
				   "s.killed_at::pg_catalog.text, s.owner_id, s.auto_resume, s.on_timeout "
				   "FROM %s.sandboxes s LEFT JOIN %s.sandbox_access a USING (sandbox_id) "
				   "WHERE s.sandbox_id = $1",
				   ext.schema_quoted, ext.schema_quoted);
	SPI_connect();
	n = registry_run_as_owner(&ext, sql, 1, types, values, NULL, true);
	if (n > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *state = SPI_getvalue(tup, desc, 2);
		char	   *killed_at = SPI_getvalue(tup, desc, 5);
		char	   *on_timeout = SPI_getvalue(tup, desc, 8);

		owner = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		token = SPI_getvalue(tup, desc, 3);
		domain = SPI_getvalue(tup, desc, 4);
		owner_id = SPI_getvalue(tup, desc, 6);
		row->auto_resume = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull)) && !isnull;
		/* copy out of SPI's memory before SPI_finish */
		row->state = state ? MemoryContextStrdup(caller, state) : MemoryContextStrdup(caller, "running");
		row->killed_at = killed_at ? MemoryContextStrdup(caller, killed_at) : NULL;
		row->on_timeout = on_timeout ? MemoryContextStrdup(caller, on_timeout) : NULL;
		token = token ? MemoryContextStrdup(caller, token) : NULL;
		domain = domain ? MemoryContextStrdup(caller, domain) : NULL;
		owner_id = owner_id ? MemoryContextStrdup(caller, owner_id) : NULL;
	}
	SPI_finish();

	if (n == 0)
	{
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
					 errdetail("The sandbox was not created through sandbox_create() in this database, so it has no recorded owner."),
					 errhint("Record a sandbox created elsewhere as yours with sandbox_connect(); superusers may use any sandbox.")));
		fetch_token_from_api(sandbox_id, target);
		return;
	}
	if (!superuser() && !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
				 errdetail("The sandbox belongs to another role."),
				 errhint("Only the sandbox's owner role, its members and superusers may use it.")));
	if (!superuser() && !identity_matches(owner_id, current_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sandbox \"%s\"", sandbox_id),
				 errdetail("The sandbox belongs to another user (sandbox.identity_function)."),
				 errhint("Only the user who created it, and superusers, may use it.")));
	row->recorded = true;
	row->owner = owner;
	target->access_token = token;
	target->domain = domain;
	if (strcmp(row->state, "running") == 0)
		cache_put(sandbox_id, owner, owner_id, token, domain);
}

/*
 * registry_find reads a sandbox's row without any ownership check: for
 * sandbox_connect, which must know whether another role owns it.  Returns
 * false when there is no row.  *owner_id may be NULL.
 */
bool
registry_find(const char *sandbox_id, RegistryRow *row, char **owner_id)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	uint64		n;
	MemoryContext caller = CurrentMemoryContext;

	memset(row, 0, sizeof(*row));
	*owner_id = NULL;
	sandbox_extension_info(&ext, false);
	values[0] = CStringGetTextDatum(sandbox_id);
	SPI_connect();
	n = registry_run_as_owner(&ext,
							  psprintf("SELECT owner::pg_catalog.oid, state::pg_catalog.text, owner_id, "
									   "killed_at::pg_catalog.text, auto_resume, on_timeout "
									   "FROM %s.sandboxes WHERE sandbox_id = $1", ext.schema_quoted),
							  1, types, values, NULL, true);
	if (n > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *v;

		row->recorded = true;
		row->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		v = SPI_getvalue(tup, desc, 2);
		row->state = MemoryContextStrdup(caller, v ? v : "running");
		v = SPI_getvalue(tup, desc, 3);
		*owner_id = v ? MemoryContextStrdup(caller, v) : NULL;
		v = SPI_getvalue(tup, desc, 4);
		row->killed_at = v ? MemoryContextStrdup(caller, v) : NULL;
		row->auto_resume = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) && !isnull;
		v = SPI_getvalue(tup, desc, 6);
		row->on_timeout = v ? MemoryContextStrdup(caller, v) : NULL;
	}
	SPI_finish();
	return n > 0;
}

/*
 * registry_raise_paused raises the error of a function that needs a
 * running sandbox but found it paused.
 */
void
registry_raise_paused(const char *sandbox_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("sandbox \"%s\" is paused", sandbox_id),
			 errhint("Resume it with sandbox_resume(), or create it with auto_resume => true.")));
}

/*
 * registry_raise_gone raises the error of a function that needs a live
 * sandbox but found it killed, expired or lost.
 */
void
registry_raise_gone(const char *sandbox_id, const RegistryRow *row)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("sandbox \"%s\" is no longer running", sandbox_id),
			 row->killed_at ? errdetail("It was %s at %s.", row->state, row->killed_at) :
			 errdetail("Its state is %s.", row->state),
			 errhint("Create a new one with sandbox_create().")));
}

/*
 * registry_resume resumes a paused sandbox (or extends a running one) for
 * timeout_s seconds through E2B's connect call, and records it running.
 * Returns true when it was paused.  Raises E2B's error.
 */
bool
registry_resume(const char *sandbox_id, int timeout_s)
{
	HttpRequest *req = e2b_resume_request(sandbox_id, timeout_s);
	E2BSandbox	sb;
	CallError	err;
	bool		resumed;

	http_perform_sync(req, NULL, NULL);
	if (!e2b_parse_resume(req, &sb, &resumed, &err))
		call_error_raise(&err, psprintf("resume sandbox \"%s\"", sandbox_id), NULL);
	registry_set_running(sandbox_id, timeout_s);
	return resumed;
}

/*
 * registry_lookup checks that the current role may use sandbox_id and
 * fills target with how to reach it.  Errors: those of registry_check;
 * and, with require_running, a sandbox already killed, expired or lost,
 * or paused (which is resumed first instead when it was created with
 * auto_resume).  Returns whether the sandbox is live: running, paused or
 * not recorded at all.
 */
bool
registry_lookup(const char *sandbox_id, E2BTarget *target, bool require_running)
{
	RegistryRow row;

	registry_check(sandbox_id, target, &row);
	if (!row.recorded || strcmp(row.state, "running") == 0)
		return true;
	if (strcmp(row.state, "paused") == 0)
	{
		if (!require_running)
			return true;
		if (!row.auto_resume)
			registry_raise_paused(sandbox_id);
		(void) registry_resume(sandbox_id, sandbox_sandbox_timeout);
		return true;
	}
	if (!require_running)
		return false;
	registry_raise_gone(sandbox_id, &row);
	return false;				/* not reached */
}

/*
 * registry_resolve checks that the current role may use sandbox_id, which
 * must be running (a paused one with auto_resume is resumed), and fills
 * target with how to reach it.
 */
void
registry_resolve(const char *sandbox_id, E2BTarget *target)
{
	(void) registry_lookup(sandbox_id, target, true);
}

/*
 * registry_resolve_live checks that the current role may use sandbox_id,
 * which must be running or paused (it is not resumed), and fills target
 * and *row.  For the functions that work on a paused sandbox too: pause,
 * resume, info, host, metrics.
 */
void
registry_resolve_live(const char *sandbox_id, E2BTarget *target, RegistryRow *row)
{
	registry_check(sandbox_id, target, row);
	if (row->recorded && strcmp(row->state, "running") != 0 && strcmp(row->state, "paused") != 0)
		registry_raise_gone(sandbox_id, row);
}

/*
 * registry_check_paused is called when a call to the sandbox itself found
 * it gone (E2B's proxy: 502 "sandbox was not found").  Another backend may
 * have paused it, or E2B may have paused it at its timeout (on_timeout
 * 'pause'), while this backend's cache still said running: when the table
 * or E2B says paused, raise that instead of a vaguer error.
 */
void
registry_check_paused(const char *sandbox_id)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	volatile bool paused = false;
	bool		ask_e2b = true;
	MemoryContext cxt = CurrentMemoryContext;

	cache_forget(sandbox_id);
	if (!sandbox_extension_info(&ext, true))
		return;
	values[0] = CStringGetTextDatum(sandbox_id);
	SPI_connect();
	if (registry_run_as_owner(&ext,
							  psprintf("SELECT state::pg_catalog.text FROM %s.sandboxes WHERE sandbox_id = $1",
									   ext.schema_quoted),
							  1, types, values, NULL, true) > 0)
	{
		char	   *state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		paused = state && strcmp(state, "paused") == 0;
		ask_e2b = state && strcmp(state, "running") == 0;
	}
	SPI_finish();
	if (!paused && ask_e2b)
	{
		/* best effort: an error here must not hide the original one */
		PG_TRY();
		{
			HttpRequest *req = e2b_info_request(sandbox_id);
			CallError	err;

			http_set_timeouts(req, 2000, 5000, 0);
			http_perform_sync(req, NULL, NULL);
			if (!call_error_from_http(req, SERVICE_E2B_API, &err))
			{
				Jsonb	   *j = json_parse(http_data(req), http_data_len(req));
				char	   *state = json_get_string(json_root(j), "state");

				paused = state && strcmp(state, "paused") == 0;
			}
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			FlushErrorState();
		}
		PG_END_TRY();
	}
	if (paused)
		registry_raise_paused(sandbox_id);
}

/*
 * registry_touch sets last_used_at, at most every 10 seconds per sandbox
 * and backend, so that a loop of calls does not write a row version each.
 */
void
registry_touch(const char *sandbox_id)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	CachedSandbox *cached;
	TimestampTz now = GetCurrentTimestamp();

	if (XactReadOnly || RecoveryInProgress())
		return;
	cached = hash_search(cache_table(), sandbox_id, HASH_FIND, NULL);
	if (cached && now - cached->touched_at < CACHE_TOUCH_INTERVAL_US)
		return;
	if (!sandbox_extension_info(&ext, true))
		return;
	values[0] = CStringGetTextDatum(sandbox_id);
	SPI_connect();
	registry_run_as_owner(&ext,
				 psprintf("UPDATE %s.sandboxes SET last_used_at = pg_catalog.now() "
						  "WHERE sandbox_id = $1 AND state = 'running'", ext.schema_quoted),
				 1, types, values, NULL, false);
	SPI_finish();
	if (cached)
		cached->touched_at = now;
}

/*
 * registry_set_state moves a running or paused sandbox to killed, expired
 * or lost.
 */
void
registry_set_state(const char *sandbox_id, const char *state)
{
	ExtensionInfo ext;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	cache_forget(sandbox_id);
	if (!sandbox_extension_info(&ext, true))
		return;
	values[0] = CStringGetTextDatum(sandbox_id);
	values[1] = CStringGetTextDatum(state);
	SPI_connect();
	registry_run_as_owner(&ext,
				 psprintf("UPDATE %s.sandboxes SET state = $2::%s.sandbox_state, "
						  "killed_at = pg_catalog.now() "
						  "WHERE sandbox_id = $1 AND state IN ('running', 'paused')",
						  ext.schema_quoted, ext.schema_quoted),
				 2, types, values, NULL, false);
	SPI_finish();
}

/*
 * registry_set_expiry records a new E2B timeout for a sandbox.
 */
void
registry_set_expiry(const char *sandbox_id, int timeout_s)
{
	ExtensionInfo ext;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];

	if (!sandbox_extension_info(&ext, true))
		return;
	values[0] = CStringGetTextDatum(sandbox_id);
	values[1] = Int32GetDatum(timeout_s);
	SPI_connect();
	registry_run_as_owner(&ext,
				 psprintf("UPDATE %s.sandboxes SET expires_at = pg_catalog.now() + "
						  "pg_catalog.make_interval(secs => $2), last_used_at = pg_catalog.now() "
						  "WHERE sandbox_id = $1", ext.schema_quoted),
				 2, types, values, NULL, false);
	SPI_finish();
}

/*
 * registry_set_paused records that a running sandbox was paused.  The
 * time is the clock's, not the transaction's start: the reaper compares it
 * with when its listing began.
 */
void
registry_set_paused(const char *sandbox_id)
{
	ExtensionInfo ext;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	cache_forget(sandbox_id);
	if (!sandbox_extension_info(&ext, true))
		return;
	values[0] = CStringGetTextDatum(sandbox_id);
	SPI_connect();
	registry_run_as_owner(&ext,
						  psprintf("UPDATE %s.sandboxes SET state = 'paused', paused_at = pg_catalog.clock_timestamp() "
								   "WHERE sandbox_id = $1 AND state = 'running'", ext.schema_quoted),
						  1, types, values, NULL, false);
	SPI_finish();
}

/*
 * registry_set_running records that a paused (or running) sandbox runs,
 * for at least timeout_s more seconds (E2B's connect only extends), and
 * when (the clock's time, as for a pause).
 */
void
registry_set_running(const char *sandbox_id, int timeout_s)
{
	ExtensionInfo ext;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];

	cache_forget(sandbox_id);
	if (!sandbox_extension_info(&ext, true))
		return;
	values[0] = CStringGetTextDatum(sandbox_id);
	values[1] = Int32GetDatum(timeout_s);
	SPI_connect();
	registry_run_as_owner(&ext,
						  psprintf("UPDATE %s.sandboxes SET state = 'running', paused_at = NULL, "
								   "expires_at = GREATEST(expires_at, pg_catalog.now() + pg_catalog.make_interval(secs => $2)), "
								   "last_used_at = pg_catalog.clock_timestamp() "
								   "WHERE sandbox_id = $1 AND state IN ('running', 'paused')", ext.schema_quoted),
						  2, types, values, NULL, false);
	SPI_finish();
}

/*
 * registry_owners looks up, in one query, the recorded owner of each of the
 * given sandbox ids, and whether the current role may use it (it is
 * running and the role has its owner's privileges).  Ids with no row are
 * left out.  Returns a List of RegistryOwner in the caller's context.
 */
List *
registry_owners(List *ids)
{
	ExtensionInfo ext;
	Oid			types[3] = {TEXTARRAYOID, OIDOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *current_id = identity_current();
	List	   *owners = NIL;
	uint64		n;
	MemoryContext caller = CurrentMemoryContext;

	if (ids == NIL || !sandbox_extension_info(&ext, true))
		return NIL;
	values[0] = text_array_datum(ids);
	values[1] = ObjectIdGetDatum(GetUserId());
	if (current_id)
		values[2] = CStringGetTextDatum(current_id);
	else
		nulls[2] = 'n';
	SPI_connect();
	n = registry_run_as_owner(&ext,
							  psprintf("SELECT sandbox_id, owner::pg_catalog.oid,"
									   "       state IN ('running', 'paused') AND pg_catalog.pg_has_role($2, owner, 'USAGE')"
									   "       AND COALESCE(owner_id, '') = COALESCE($3, '')"
									   "  FROM %s.sandboxes WHERE sandbox_id = ANY ($1)", ext.schema_quoted),
							  3, types, values, nulls, true);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(caller);
		RegistryOwner *o = palloc(sizeof(RegistryOwner));

		o->sandbox_id = pstrdup(SPI_getvalue(tup, desc, 1));
		o->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		o->usable = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		owners = lappend(owners, o);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return owners;
}
