/*-------------------------------------------------------------------------
 *
 * triggers.c
 *	  The triggers of agent_runs.
 *
 * agent_runs_guard (BEFORE INSERT OR UPDATE) keeps users to enqueueing,
 * cancelling, and rescheduling a run that waits; everything else in a row
 * is the worker's.  A cancel is stamped here (completed_at, an event), so
 * it is recorded even for a run no worker holds.
 *
 * agent_runs_notify (AFTER INSERT OR UPDATE OF status) sends NOTIFY
 * agent_runs '{"id":...,"status":...}' and, for new pending runs and
 * cancels, wakes the workers when the transaction commits: only at commit,
 * so a worker never looks for a row it cannot see yet.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "commands/dbcommands.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "identity.h"
#include "json_util.h"
#include "registry.h"
#include "sandbox.h"
#include "shmem.h"
#include "jschema.h"
#include "launcher.h"
#include "secrets.h"
#include "sql_common.h"
#include "sqltool.h"
#include "tools.h"
#include "worker.h"
#include "workspace.h"

PG_FUNCTION_INFO_V1(agent_runs_guard);
PG_FUNCTION_INFO_V1(agent_runs_notify);

static bool wake_at_commit = false;
static bool warned_unserved = false;
static bool cancel_at_commit = false;
static bool xact_callback_registered = false;

/* Columns a user may set when enqueueing; the rest start at defaults. */
static const char *const user_insert_columns[] = {
	"id", "prompt", "status", "model", "template", "max_turns", "timeout_s",
	"priority", "run_after", "metadata", "owner", "created_at", "updated_at",
	"on_sandbox_lost", "system_prompt", "tools", "envs", "secrets", "files", "repo",
	"artifacts", "result_schema", "keep_sandbox", "max_cost_usd", "max_tokens",
	"approval", "approval_timeout", "parent_id", NULL
};

/* Columns a user may change while the run is still pending. */
static const char *const user_pending_columns[] = {
	"priority", "run_after", "metadata", "on_sandbox_lost", "approval", "approval_timeout", NULL
};

/*
 * Set by our own C code (sandbox_approve) around the one statement it runs
 * as the extension's owner: the guard lets that statement move a waiting
 * run back to pending.  Process-local; no SQL can set it.
 */
bool		sandbox_trusted_write = false;

/*
 * in_list tells whether name is in a NULL-terminated list of column names.
 */
static bool
in_list(const char *name, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/*
 * check_trigger_table refuses to run a trigger function on any table but
 * the extension's own agent_runs: attached to a table of a user's, the
 * guard would write events as the extension's owner.
 */
static void
check_trigger_table(TriggerData *td, const char *fn)
{
	Relation	rel = td->tg_relation;
	ExtensionInfo ext;

	/* also refuses a schema older than the library (ALTER EXTENSION UPDATE) */
	sandbox_extension_info(&ext, false);
	if (strcmp(RelationGetRelationName(rel), "agent_runs") != 0 ||
		getExtensionOfObject(RelationRelationId, RelationGetRelid(rel)) != ext.ext_oid)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s may only be a trigger of the sandbox extension's agent_runs table", fn),
				 errdetail("It was fired on table \"%s\".", RelationGetRelationName(rel))));
}

/*
 * column_of returns the attribute number of a column of agent_runs, and
 * fails if the table lacks it (never index an array with a negative one).
 */
static int
column_of(TupleDesc desc, const char *name)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("agent_runs has no column \"%s\"", name),
				 errhint("The extension's tables were altered; ALTER EXTENSION sandbox UPDATE or reinstall it.")));
	return attnum;
}

/*
 * status_of reads the status column of a tuple as a C string.
 */
static char *
status_of(HeapTuple tup, TupleDesc desc)
{
	char	   *s = SPI_getvalue(tup, desc, column_of(desc, "status"));

	return s ? s : pstrdup("");
}

/*
 * is_terminal tells whether a run status is final.
 */
static bool
is_terminal(const char *status)
{
	return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
		strcmp(status, "cancelled") == 0;
}

/*
 * reset_to_default sets a column of a new run to its column default (or
 * NULL), so a user cannot enqueue a run with forged bookkeeping.
 */
static void
reset_columns_on_insert(TupleDesc desc, Datum *values, bool *nulls, bool *repl)
{
	Datum		zero = Int32GetDatum(0);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped || in_list(name, user_insert_columns))
			continue;
		repl[i] = true;
		if (strcmp(name, "plan_version") == 0 || strcmp(name, "attempts") == 0 ||
			strcmp(name, "last_seq") == 0 || strcmp(name, "llm_calls") == 0 ||
			strcmp(name, "waits") == 0)
		{
			values[i] = zero;
			nulls[i] = false;
		}
		else if (strcmp(name, "input_tokens") == 0 || strcmp(name, "output_tokens") == 0 ||
				 strcmp(name, "cache_read_tokens") == 0 || strcmp(name, "cache_write_tokens") == 0)
		{
			values[i] = Int64GetDatum(0);
			nulls[i] = false;
		}
		else if (strcmp(name, "cost_usd") == 0)
		{
			values[i] = DirectFunctionCall1(int4_numeric, Int32GetDatum(0));
			nulls[i] = false;
		}
		else
			nulls[i] = true;
	}
}

/*
 * check_prompt_size refuses a run whose prompt is larger than
 * sandbox.max_prompt_bytes: the worker holds each prompt in memory and
 * sends it with every model call.
 */
static void
check_prompt_size(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, column_of(desc, "prompt"), desc, &isnull);
	Size		len;

	if (isnull)
		return;
	len = toast_raw_datum_size(d) - VARHDRSZ;
	if (len > (Size) sandbox_max_prompt_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the prompt of an agent run is too large: %zu bytes", len),
				 errdetail("sandbox.max_prompt_bytes is %d bytes.", sandbox_max_prompt_bytes),
				 errhint("Put large inputs in files of the run's sandbox, or ask a superuser to raise sandbox.max_prompt_bytes.")));
}

/*
 * input_problem raises a problem found in a run's input column.
 */
static void
input_problem(const char *column, char *problem)
{
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s for an agent run: %s", column, problem)));
}

/*
 * text_array_to_list reads a text[] datum as a List of C strings (NULL
 * elements are refused).
 */
static List *
text_array_to_list(Datum d)
{
	List	   *out = text_array_list(d, true);

	if (list_member_ptr(out, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an array of an agent run may not hold NULL")));
	return out;
}

/*
 * check_run_inputs checks a new run's instructions: its system_prompt is
 * bounded like the prompt, its tools are known ones, and its envs are a
 * JSON object of strings.  A mistake is an error at INSERT, not a run that
 * fails later.
 */
static void
check_run_inputs(HeapTuple tup, TupleDesc desc, char **repo_secret, Oid owner)
{
	bool		isnull;
	Datum		d;

	d = heap_getattr(tup, column_of(desc, "system_prompt"), desc, &isnull);
	if (!isnull && toast_raw_datum_size(d) - VARHDRSZ > (Size) sandbox_max_prompt_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the system_prompt of an agent run is too large: %zu bytes",
						(Size) (toast_raw_datum_size(d) - VARHDRSZ)),
				 errdetail("sandbox.max_prompt_bytes is %d bytes.", sandbox_max_prompt_bytes)));
	d = heap_getattr(tup, column_of(desc, "tools"), desc, &isnull);
	if (!isnull)
	{
		ListCell   *lc;

		foreach(lc, text_array_list(d, true))
		{
			char	   *name = lfirst(lc);
			bool		exists = false;

			if (name != NULL && tool_lookup(name) == NULL &&
				!sqltool_usable(name, owner, &exists) && exists)
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("the run's owner may not use SQL tool \"%s\"", name),
						 errdetail("Role %s has no EXECUTE privilege on its function.",
								   GetUserNameFromId(owner, false)),
						 errhint("The function's owner can GRANT EXECUTE on it.")));
			/* a superuser's (a restore: tables load in any order) is checked at the claim */
			if (name == NULL || (tool_lookup(name) == NULL && !exists && !superuser()))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown tool \"%s\" in tools", name ? name : "NULL"),
						 errdetail("The tools are %s, and the SQL functions registered with sandbox_register_tool (see sandbox_sql_tools).",
								   tool_names_text(tool_names_default())),
						 errhint("Leave tools NULL for all the built-in ones.")));
		}
	}
	d = heap_getattr(tup, column_of(desc, "envs"), desc, &isnull);
	if (!isnull)
		(void) string_map_to_json(DatumGetJsonbP(d), "envs", false);
	d = heap_getattr(tup, column_of(desc, "files"), desc, &isnull);
	if (!isnull)
		input_problem("files", workspace_check_files(DatumGetJsonbP(d)));
	d = heap_getattr(tup, column_of(desc, "repo"), desc, &isnull);
	if (!isnull)
	{
		Jsonb	   *repo = DatumGetJsonbP(d);

		input_problem("repo", workspace_check_repo(repo));
		*repo_secret = json_get_string(&repo->root, "secret");
	}
	d = heap_getattr(tup, column_of(desc, "artifacts"), desc, &isnull);
	if (!isnull)
		input_problem("artifacts", workspace_check_globs(text_array_to_list(d)));
	d = heap_getattr(tup, column_of(desc, "result_schema"), desc, &isnull);
	if (!isnull)
		input_problem("result_schema", jschema_check_schema(DatumGetJsonbP(d)));
}

/*
 * check_run_secrets checks, at INSERT, that the run's owner may use every
 * secret it names (and its repository's), and that none clashes with a
 * name of its envs: an unknown or ungranted secret is an error now.
 */
static void
check_run_secrets(HeapTuple tup, TupleDesc desc, const char *repo_secret, Oid owner,
				  const char *owner_id)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, column_of(desc, "secrets"), desc, &isnull);
	List	   *names = isnull ? NIL : text_array_to_list(d);
	char	   *problem = NULL;

	names = secrets_names_with(names, repo_secret);
	if (names == NIL)
		return;
	if (!secrets_usable_check(names, owner, owner_id, &problem))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("agent run cannot use its secrets: %s", problem),
				 errhint("Its owner must own each secret, or be granted it with sandbox_grant_secret().")));
	d = heap_getattr(tup, column_of(desc, "envs"), desc, &isnull);
	if (!isnull)
	{
		ListCell   *lc;

		foreach(lc, names)
			if (json_get(&DatumGetJsonbP(d)->root, lfirst(lc)) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("\"%s\" is both a secret and a variable of envs of the agent run",
								(char *) lfirst(lc)),
						 errhint("A secret is put in the sandbox's environment under its own name.")));
	}
}

/*
 * check_schedule keeps a non-superuser's run in its place in the queue:
 * its priority within sandbox.max_user_priority of zero (an error beyond),
 * and its run_after not before the transaction's start (an earlier time,
 * -infinity included, becomes now), so that a later flood cannot jump
 * ahead of runs already waiting.  On an UPDATE (oldtup), only what it
 * changes is checked.
 */
static void
check_schedule(HeapTuple tup, HeapTuple oldtup, TupleDesc desc, Datum *values, bool *nulls,
			   bool *repl)
{
	int			prio_att = column_of(desc, "priority");
	int			after_att = column_of(desc, "run_after");
	bool		isnull;
	bool		oldnull;
	Datum		d;

	d = heap_getattr(tup, prio_att, desc, &isnull);
	if (oldtup && !isnull &&
		DatumGetInt32(heap_getattr(oldtup, prio_att, desc, &oldnull)) == DatumGetInt32(d) && !oldnull)
		isnull = true;			/* unchanged */
	if (!isnull && (DatumGetInt32(d) > sandbox_max_user_priority ||
					DatumGetInt32(d) < -sandbox_max_user_priority))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("priority %d is outside the range allowed to users", DatumGetInt32(d)),
				 errdetail("Roles other than superusers may give a run a priority from %d to %d (sandbox.max_user_priority).",
						   -sandbox_max_user_priority, sandbox_max_user_priority)));
	d = heap_getattr(tup, after_att, desc, &isnull);
	if (oldtup && !isnull &&
		DatumGetTimestampTz(heap_getattr(oldtup, after_att, desc, &oldnull)) == DatumGetTimestampTz(d) &&
		!oldnull)
		isnull = true;			/* unchanged */
	if (!isnull && DatumGetTimestampTz(d) < GetCurrentTransactionStartTimestamp())
	{
		repl[after_att - 1] = true;
		nulls[after_att - 1] = false;
		values[after_att - 1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	}
}

/*
 * check_approval checks a new run's approval policy: 'never', 'all',
 * 'commands', or names of tools it may use.
 */
static void
check_approval(HeapTuple tup, TupleDesc desc, Oid owner)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, column_of(desc, "approval"), desc, &isnull);
	ListCell   *lc;

	if (isnull)
		return;					/* the column's NOT NULL says so */
	foreach(lc, text_array_to_list(d))
	{
		const char *p = lfirst(lc);
		bool		exists = false;

		if (strcmp(p, "never") == 0 || strcmp(p, "all") == 0 || strcmp(p, "commands") == 0 ||
			tool_lookup(p) != NULL || sqltool_usable(p, owner, &exists) || exists)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid approval for an agent run: \"%s\"", p),
				 errdetail("An approval policy is 'never', 'all', 'commands' (run_command and run_code), or names of tools."),
				 errhint("For example approval => '{commands}', or ARRAY['write_file'].")));
	}
}

/*
 * check_parent checks a run that continues another (parent_id): the
 * parent is the same owner's (role and identity), has finished, has not
 * been continued already, and its sandbox is still alive (keep_sandbox).
 * The new run joins the parent's thread and its sandbox.  Read as the
 * extension's owner, with the owner checked here, so that a stranger
 * learns nothing but "not yours".
 */
static void
check_parent(HeapTuple tup, TupleDesc desc, Oid owner, const char *owner_id,
			 Datum *values, bool *nulls, bool *repl)
{
	ExtensionInfo ext;
	bool		isnull;
	Datum		parent = heap_getattr(tup, column_of(desc, "parent_id"), desc, &isnull);
	Oid			types[1] = {UUIDOID};
	Datum		args[1];
	char	   *pid;
	char	   *p_owner_id;
	char	   *p_status;
	char	   *p_sandbox;
	char	   *p_root;
	char	   *s_state;
	char	   *child;
	Oid			p_owner;
	bool		found;

	if (isnull)
		return;
	pid = DatumGetCString(DirectFunctionCall1(uuid_out, parent));
	sandbox_extension_info(&ext, false);
	args[0] = parent;
	SPI_connect();
	registry_run_as_owner(&ext,
						  psprintf("SELECT p.owner::pg_catalog.oid, p.owner_id, p.status::pg_catalog.text, p.sandbox_id,"
								   "       COALESCE(p.thread_id, p.id)::pg_catalog.text,"
								   "       (SELECT s.state::pg_catalog.text FROM %1$s.sandboxes s"
								   "         WHERE s.sandbox_id OPERATOR(pg_catalog.=) p.sandbox_id),"
								   "       (SELECT c.id::pg_catalog.text FROM %1$s.agent_runs c"
								   "         WHERE c.parent_id OPERATOR(pg_catalog.=) p.id LIMIT 1)"
								   "  FROM %1$s.agent_runs p WHERE p.id OPERATOR(pg_catalog.=) $1",
								   ext.schema_quoted),
						  1, types, args, NULL, true);
	found = SPI_processed > 0;
	if (found)
	{
		HeapTuple	r = SPI_tuptable->vals[0];
		TupleDesc	rd = SPI_tuptable->tupdesc;

		p_owner = DatumGetObjectId(SPI_getbinval(r, rd, 1, &isnull));
		p_owner_id = SPI_getvalue(r, rd, 2);
		p_status = SPI_getvalue(r, rd, 3);
		p_sandbox = SPI_getvalue(r, rd, 4);
		p_root = SPI_getvalue(r, rd, 5);
		s_state = SPI_getvalue(r, rd, 6);
		child = SPI_getvalue(r, rd, 7);
	}
	SPI_finish();
	if (!found || p_owner != owner || !identity_matches(p_owner_id, owner_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot continue agent run %s: it does not exist or is not yours", pid),
				 errhint("A run can be continued by its owner only (role and identity).")));
	if (strcmp(p_status, "completed") != 0 && strcmp(p_status, "failed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot continue agent run %s: it is %s", pid, p_status),
				 errdetail("Only a completed or failed run can be continued."),
				 strcmp(p_status, "cancelled") == 0 ? 0 :
				 errhint("Wait until it has finished.")));
	if (child)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("cannot continue agent run %s: run %s continues it already", pid, child),
				 errhint("A thread is a line: continue its latest run.")));
	if (p_sandbox == NULL || s_state == NULL || strcmp(s_state, "running") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot continue agent run %s: its sandbox is no longer alive", pid),
				 p_sandbox ? errdetail("Sandbox %s is %s.", p_sandbox, s_state ? s_state : "unknown") :
				 errdetail("It has no sandbox."),
				 errhint("A run's sandbox outlives it for keep_sandbox: set keep_sandbox on runs you want to continue.")));
	repl[column_of(desc, "thread_id") - 1] = true;
	nulls[column_of(desc, "thread_id") - 1] = false;
	values[column_of(desc, "thread_id") - 1] = DirectFunctionCall1(uuid_in, CStringGetDatum(p_root));
	repl[column_of(desc, "sandbox_id") - 1] = true;
	nulls[column_of(desc, "sandbox_id") - 1] = false;
	values[column_of(desc, "sandbox_id") - 1] = CStringGetTextDatum(p_sandbox);
}

/*
 * set_owner_id stamps a new run with the current identity
 * (sandbox.identity_function).  A role that bypasses row-level security
 * (Supabase's service_role) may enqueue a run for a given owner_id.
 */
static void
set_owner_id(HeapTuple tup, TupleDesc desc, Datum *values, bool *nulls, bool *repl)
{
	int			att = column_of(desc, "owner_id");
	bool		given_null;
	char	   *id;

	(void) heap_getattr(tup, att, desc, &given_null);
	if (!given_null && has_bypassrls_privilege(GetUserId()))
	{
		repl[att - 1] = false;
		return;
	}
	id = identity_current();
	repl[att - 1] = true;
	nulls[att - 1] = id == NULL;
	values[att - 1] = id ? CStringGetTextDatum(id) : (Datum) 0;
}

/*
 * record_cancel_event writes the "cancelled" status event of a run, as the
 * extension's owner (users cannot write events themselves).
 */
static void
record_cancel_event(Datum run_id, int seq, int attempt, const char *from)
{
	ExtensionInfo ext;
	Oid			types[4] = {UUIDOID, INT4OID, INT4OID, TEXTOID};
	Datum		values[4];
	StringInfoData data;
	bool		first = true;

	sandbox_extension_info(&ext, false);
	initStringInfo(&data);
	appendStringInfoChar(&data, '{');
	json_append_kv_string(&data, &first, "from", from);
	json_append_kv_string(&data, &first, "to", "cancelled");
	json_append_kv_string(&data, &first, "by", GetUserNameFromId(GetUserId(), false));
	appendStringInfoChar(&data, '}');
	values[0] = run_id;
	values[1] = Int32GetDatum(seq);
	values[2] = Int32GetDatum(attempt);
	values[3] = CStringGetTextDatum(data.data);

	SPI_connect();
	registry_run_as_owner(&ext,
						  psprintf("INSERT INTO %s.agent_run_events (run_id, seq, attempt, kind, data) "
								   "VALUES ($1, $2, $3, 'status', $4::pg_catalog.jsonb)",
								   ext.schema_quoted),
						  4, types, values, NULL, false);
	SPI_finish();
}

/*
 * agent_runs_guard: see the file header.
 */
Datum
agent_runs_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup;
	Datum	   *values;
	bool	   *nulls;
	bool	   *repl;
	bool		su;
	int			natts;
	char	   *new_status;
	char	   *repo_secret = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "agent_runs_guard must be a BEFORE ROW trigger");
	check_trigger_table(td, "agent_runs_guard");
	desc = td->tg_relation->rd_att;
	natts = desc->natts;
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	/* the worker keeps its own rules (conditional, fenced updates) */
	if ((sandbox_is_worker && !sandbox_in_user_sql) || sandbox_trusted_write)
		return PointerGetDatum(newtup);

	su = superuser();
	values = palloc0(natts * sizeof(Datum));
	nulls = palloc0(natts * sizeof(bool));
	repl = palloc0(natts * sizeof(bool));
	new_status = status_of(newtup, desc);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		check_prompt_size(newtup, desc);
		if (su)
		{
			bool		onull;
			bool		inull;
			bool		tnull;
			Datum		o = heap_getattr(newtup, column_of(desc, "owner"), desc, &onull);
			Datum		i = heap_getattr(newtup, column_of(desc, "owner_id"), desc, &inull);
			Oid			owner = onull ? GetUserId() : DatumGetObjectId(o);
			char	   *owner_id = inull ? NULL : TextDatumGetCString(i);

			/*
			 * A row that is not a new pending run is history being loaded (a
			 * restore, whose tables come in any order): taken as it is.
			 */
			if (strcmp(new_status, "pending") != 0)
				return PointerGetDatum(newtup);
			/* a superuser's run is checked for the owner it names */
			check_run_inputs(newtup, desc, &repo_secret, owner);
			check_approval(newtup, desc, owner);
			check_run_secrets(newtup, desc, repo_secret, owner, owner_id);
			/* a restored continuation carries its thread already */
			(void) heap_getattr(newtup, column_of(desc, "thread_id"), desc, &tnull);
			if (tnull)
				check_parent(newtup, desc, owner, owner_id, values, nulls, repl);
			return PointerGetDatum(heap_modify_tuple(newtup, desc, values, nulls, repl));
		}
		check_run_inputs(newtup, desc, &repo_secret, GetUserId());
		check_approval(newtup, desc, GetUserId());
		if (strcmp(new_status, "pending") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("a new agent run must be pending, not %s", new_status),
					 errdetail("Statuses after pending are written by the background worker.")));
		reset_columns_on_insert(desc, values, nulls, repl);
		set_owner_id(newtup, desc, values, nulls, repl);
		check_schedule(newtup, NULL, desc, values, nulls, repl);
		check_run_secrets(newtup, desc, repo_secret, GetUserId(), identity_current());
		{
			int			oid_att = column_of(desc, "owner_id");
			bool		inull;
			Datum		i = repl[oid_att - 1] ? values[oid_att - 1] :
				heap_getattr(newtup, oid_att, desc, &inull);

			if (repl[oid_att - 1])
				inull = nulls[oid_att - 1];
			check_parent(newtup, desc, GetUserId(), inull ? NULL : TextDatumGetCString(i),
						 values, nulls, repl);
		}
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	oldtup = td->tg_trigtuple;
		char	   *old_status = status_of(oldtup, desc);
		bool		cancelling = strcmp(old_status, new_status) != 0 &&
			strcmp(new_status, "cancelled") == 0;

		if (!su)
		{
			for (int i = 0; i < natts; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);
				const char *name = NameStr(att->attname);
				bool		on,
							nn;
				Datum		ov = heap_getattr(oldtup, i + 1, desc, &on);
				Datum		nv = heap_getattr(newtup, i + 1, desc, &nn);

				if (att->attisdropped || strcmp(name, "updated_at") == 0)
					continue;
				if (on == nn && (on || datumIsEqual(ov, nv, att->attbyval, att->attlen)))
					continue;
				if (strcmp(name, "status") == 0 && cancelling)
					continue;
				if (in_list(name, user_pending_columns) && strcmp(old_status, "pending") == 0)
					continue;
				if (strcmp(name, "status") == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("cannot set the status of an agent run to %s", new_status),
							 errdetail("Users may only cancel a run; every other status is written by the background worker."),
							 errhint("UPDATE agent_runs SET status = 'cancelled' WHERE id = ..., or SELECT sandbox_cancel_run(id).")));
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("cannot change column \"%s\" of an agent run", name),
						 in_list(name, user_pending_columns) ?
						 errdetail("It can be changed only while the run is pending.") :
						 errdetail("It is written by the background worker."),
						 errhint("To stop a run, set status = 'cancelled' or call sandbox_cancel_run().")));
			}
			if (strcmp(old_status, "pending") == 0 && !cancelling)
			{
				check_schedule(newtup, oldtup, desc, values, nulls, repl);
				check_approval(newtup, desc, GetUserId());
			}
		}
		if (cancelling)
		{
			int			seq_att = column_of(desc, "last_seq");
			int			att_att = column_of(desc, "attempts");
			int			err_att = column_of(desc, "error");
			int			done_att = column_of(desc, "completed_at");
			int			lease_att = column_of(desc, "lease_until");
			bool		isnull;
			int			seq = DatumGetInt32(heap_getattr(oldtup, seq_att, desc, &isnull)) + 1;
			int			attempt = DatumGetInt32(heap_getattr(oldtup, att_att, desc, &isnull));

			if (is_terminal(old_status))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("agent run has already finished as %s", old_status)));
			repl[seq_att - 1] = true;
			values[seq_att - 1] = Int32GetDatum(seq);
			repl[done_att - 1] = true;
			values[done_att - 1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
			repl[lease_att - 1] = true;
			nulls[lease_att - 1] = true;
			/* a waiting run waits no more */
			repl[column_of(desc, "approval_deadline") - 1] = true;
			nulls[column_of(desc, "approval_deadline") - 1] = true;
			repl[column_of(desc, "approval_call") - 1] = true;
			nulls[column_of(desc, "approval_call") - 1] = true;
			(void) heap_getattr(newtup, err_att, desc, &isnull);
			if (isnull)
			{
				repl[err_att - 1] = true;
				values[err_att - 1] = CStringGetTextDatum(psprintf("cancelled by %s",
																   GetUserNameFromId(GetUserId(), false)));
			}
			record_cancel_event(heap_getattr(oldtup, column_of(desc, "id"), desc, &isnull),
								seq, attempt, old_status);
		}
	}
	repl[column_of(desc, "updated_at") - 1] = true;
	values[column_of(desc, "updated_at") - 1] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	return PointerGetDatum(heap_modify_tuple(newtup, desc, values, nulls, repl));
}

/*
 * warn_if_unserved warns, once per transaction, that a run was queued in a
 * database no worker serves: without it the run would wait forever in
 * silence.
 */
static void
warn_if_unserved(void)
{
	const char *why = NULL;
	const char *hint = NULL;

	if (warned_unserved)
		return;
	if (sandbox_shared == NULL)
	{
		why = "the sandbox library is not in shared_preload_libraries, so no background worker runs.";
		hint = "Add sandbox to shared_preload_libraries and restart the server.";
	}
	else if (sandbox_workers <= 0)
	{
		why = "sandbox.workers is 0.";
		hint = "Set sandbox.workers to 1 or more and restart the server.";
	}
	else if (launcher_enabled())
	{
		const char *w;
		const char *h;

		if (launcher_unserved(&w, &h))
		{
			why = w;
			hint = h;
		}
	}
	else
	{
		char	   *here = get_database_name(MyDatabaseId);

		if (sandbox_database == NULL || here == NULL || strcmp(sandbox_database, here) != 0)
		{
			why = psprintf("The workers serve database \"%s\", not this one.",
						   sandbox_database ? sandbox_database : "");
			hint = psprintf("Set sandbox.database = '%s' and restart the server, or queue runs in database \"%s\".",
							here ? here : "", sandbox_database ? sandbox_database : "");
		}
	}
	if (why == NULL)
		return;
	warned_unserved = true;
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("no sandbox worker serves this database: the run will stay pending"),
			 errdetail_internal("%s", why),
			 errhint("%s", hint)));
}

/*
 * wake_xact_callback wakes the workers once the transaction that queued or
 * cancelled runs has committed.
 */
static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit || cancel_at_commit)
				sandbox_wake_workers(cancel_at_commit);
			wake_at_commit = cancel_at_commit = warned_unserved = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = cancel_at_commit = warned_unserved = false;
			break;
		default:
			break;
	}
}

/*
 * agent_runs_notify: see the file header.
 */
Datum
agent_runs_notify(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	tup;
	char	   *status;
	char	   *old_status = NULL;
	StringInfoData payload;
	bool		first = true;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "agent_runs_notify must be an AFTER ROW trigger");
	check_trigger_table(td, "agent_runs_notify");
	desc = td->tg_relation->rd_att;
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	status = status_of(tup, desc);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		old_status = status_of(td->tg_trigtuple, desc);
		if (strcmp(old_status, status) == 0)
			return PointerGetDatum(NULL);
	}

	initStringInfo(&payload);
	appendStringInfoChar(&payload, '{');
	json_append_kv_string(&payload, &first, "id",
						  SPI_getvalue(tup, desc, column_of(desc, "id")));
	json_append_kv_string(&payload, &first, "status", status);
	appendStringInfoChar(&payload, '}');
	Async_Notify("agent_runs", payload.data);

	if (strcmp(status, "pending") == 0)
	{
		wake_at_commit = true;
		if (!sandbox_is_worker)
			warn_if_unserved();
	}
	else if (strcmp(status, "cancelled") == 0 && !sandbox_is_worker)
		cancel_at_commit = true;
	if ((wake_at_commit || cancel_at_commit || warned_unserved) && !xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_registered = true;
	}
	return PointerGetDatum(NULL);
}
