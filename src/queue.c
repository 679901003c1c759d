/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  The worker's SQL over agent_runs, agent_run_events and sandboxes.
 *
 * Statements are prepared once (per installation of the extension) and
 * kept.  Each run's staged writes are applied in a subtransaction of the
 * worker's loop transaction, so one failing run never costs the others
 * their writes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "json_util.h"
#include "queue.h"
#include "secrets.h"
#include "sandbox.h"
#include "shmem.h"
#include "sql_common.h"
#include "sqltool.h"
#include "tools.h"

typedef enum QueuePlan
{
	QP_CLAIM,
	QP_ADVANCE,
	QP_RECORD_SANDBOX,
	QP_MARK_SANDBOX,
	QP_SANDBOX_EXPIRY,
	QP_STATES,
	QP_RENEW,
	QP_RESCUE,
	QP_RELEASE,
	QP_PRUNE_RUNS,
	QP_HISTORY_SANDBOX,
	QP_HISTORY_LOG,
	QP_ARTIFACT,
	QP_EXPIRE_APPROVALS,
	QP_SANDBOX_PAUSED,
	QP_WAITING_SANDBOXES,
	QP_NUM
} QueuePlan;

static SPIPlanPtr plans[QP_NUM];
static Oid	plans_ext_oid = InvalidOid;
static ExtensionInfo current_ext;	/* schema_quoted in TopMemoryContext */
static Oid	current_runs_oid = InvalidOid;	/* its agent_runs */
static bool current_valid = false;	/* no invalidation since the look-up */
static bool callbacks_registered = false;

/*
 * queue_forget_plans drops the prepared statements (the extension was
 * dropped or re-created).
 */
void
queue_forget_plans(void)
{
	for (int i = 0; i < QP_NUM; i++)
	{
		if (plans[i])
			SPI_freeplan(plans[i]);
		plans[i] = NULL;
	}
	plans_ext_oid = InvalidOid;
}

/*
 * ext_relcache_callback forgets the cached extension when its agent_runs
 * changes: dropping the extension drops the table, and ALTER EXTENSION
 * SET SCHEMA or REASSIGN OWNED rewrite its catalog row.
 */
static void
ext_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == current_runs_oid)
		current_valid = false;
}

/*
 * ext_namespace_callback forgets the cached extension when any schema
 * changes (a renamed schema changes the quoted name in our statements).
 */
static void
ext_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	current_valid = false;
}

/*
 * queue_open checks, inside the loop's transaction, that the extension is
 * installed, and locks it and agent_runs for the rest of the transaction.
 *
 * The extension itself is locked first, and without waiting: DROP
 * EXTENSION locks the extension before any of its tables, so either the
 * drop waits for this short transaction, or we find it under way and step
 * back (QUEUE_BUSY) before touching a table.  Taking table locks first
 * could deadlock with a drop that holds one table and wants another.  A
 * table locked by someone else (ALTER TABLE, LOCK TABLE) is QUEUE_BUSY
 * too: the worker keeps its runs and tries again shortly; only an
 * extension that is gone is QUEUE_ABSENT.
 *
 * The catalog look-ups are done once and cached: taking each lock
 * processes pending invalidations, and the callbacks above clear the
 * cache when the extension's table or any schema changed, so a cache
 * still valid after both locks describes the installed extension.
 */
QueueOpenResult
queue_open(ExtensionInfo *ext)
{
	ExtensionInfo found;
	ExtensionInfo again;
	Oid			rel;
	char	   *quoted;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(ext_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, ext_namespace_callback, (Datum) 0);
		callbacks_registered = true;
	}
	if (current_valid)
	{
		if (!ConditionalLockDatabaseObject(ExtensionRelationId, current_ext.ext_oid, 0, AccessShareLock))
			return QUEUE_BUSY;
		if (current_valid && !ConditionalLockRelationOid(current_runs_oid, AccessShareLock))
			return QUEUE_BUSY;
		if (current_valid)
		{
			*ext = current_ext;
			return QUEUE_OPEN;
		}
	}

	/* look it up, lock it, and look again: a drop may have committed between */
	if (!sandbox_extension_info(&found, true))
		return QUEUE_ABSENT;
	if (!ConditionalLockDatabaseObject(ExtensionRelationId, found.ext_oid, 0, AccessShareLock))
		return QUEUE_BUSY;
	if (!sandbox_extension_info(&again, true) || again.ext_oid != found.ext_oid)
		return QUEUE_ABSENT;
	rel = get_relname_relid("agent_runs", again.schema_oid);
	if (!OidIsValid(rel))
		return QUEUE_ABSENT;

	/* the statements name the schema: a renamed one needs them anew */
	if (plans_ext_oid != again.ext_oid || current_ext.schema_quoted == NULL ||
		strcmp(current_ext.schema_quoted, again.schema_quoted) != 0)
		queue_forget_plans();
	quoted = MemoryContextStrdup(TopMemoryContext, again.schema_quoted);
	if (current_ext.schema_quoted)
		pfree(current_ext.schema_quoted);
	current_ext = again;
	current_ext.schema_quoted = quoted;
	plans_ext_oid = again.ext_oid;

	/*
	 * Valid from here: an invalidation that the next lock processes (a
	 * schema renamed meanwhile) clears it again, and we look again.
	 */
	current_runs_oid = rel;
	current_valid = true;
	if (!ConditionalLockRelationOid(rel, AccessShareLock))
		return QUEUE_BUSY;
	if (!current_valid)
		return QUEUE_BUSY;
	*ext = current_ext;
	return QUEUE_OPEN;
}

/*
 * plan_for prepares (once) and returns a statement; %1$s in sql is the
 * extension's schema.
 */
static SPIPlanPtr
plan_for(QueuePlan which, const char *sql, int nargs, Oid *types)
{
	if (plans[which] == NULL)
	{
		char	   *text = psprintf(sql, current_ext.schema_quoted);
		SPIPlanPtr	p = SPI_prepare(text, nargs, types);

		if (p == NULL)
			elog(ERROR, "could not prepare worker statement: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plans[which] = p;
	}
	return plans[which];
}

/*
 * int_array builds an int4[] datum from C ints.
 */
static Datum
int_array(int *vals, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = Int32GetDatum(vals[i]);
	return PointerGetDatum(construct_array(elems, n, INT4OID, 4, true, TYPALIGN_INT));
}

/*
 * getstr copies column col of an SPI row into cxt as a C string (or NULL).
 */
static char *
getstr(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt)
{
	char	   *s = SPI_getvalue(tup, desc, col);

	return s ? MemoryContextStrdup(cxt, s) : NULL;
}

/*
 * getint reads an int4 column of an SPI row, dflt when NULL.
 */
static int
getint(HeapTuple tup, TupleDesc desc, int col, int dflt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? dflt : DatumGetInt32(d);
}

/*
 * text_array_column reads a text[] column of an SPI row as a List of C
 * strings in cxt (NIL when NULL; NULL elements skipped); *isnull_out, if
 * given, says whether the column was NULL.
 */
static List *
text_array_column(HeapTuple tup, TupleDesc desc, int col, MemoryContext cxt, bool *isnull_out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	List	   *out = NIL;

	if (isnull_out)
		*isnull_out = isnull;
	if (!isnull)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		out = text_array_list(d, false);
		MemoryContextSwitchTo(old);
	}
	return out;
}

/*
 * claim_key_cmp orders owners as the claim walks them: by role oid, then
 * identity ('' for none) bytewise, as the claim's statement and index do
 * (COLLATE "C").
 */
static int
claim_key_cmp(Oid a, const char *a_id, Oid b, const char *b_id)
{
	if (a != b)
		return a < b ? -1 : 1;
	return strcmp(a_id, b_id);
}

/*
 * load_secrets reads the values of the secrets a claimed run names (and
 * its repository's), as its owner may use them now, and adds them to the
 * sandbox's environment.  A secret revoked or dropped since the INSERT
 * leaves c->secret_problem, and the run fails with it.
 */
static void
load_secrets(ClaimedRun *c, MemoryContext cxt)
{
	List	   *names = list_copy(c->secrets);
	char	   *problem = NULL;
	char	   *env;

	if (c->repo_json)
	{
		Jsonb	   *j = json_parse_cstring(c->repo_json);
		char	   *rs = j && json_is_object(json_root(j)) ? json_get_string(json_root(j), "secret") : NULL;

		names = secrets_names_with(names, rs ? MemoryContextStrdup(cxt, rs) : NULL);
	}
	if (names == NIL)
		return;
	c->secret_values = secrets_load(names, c->owner, c->owner_id, cxt, &problem);
	if (problem == NULL)
	{
		env = secrets_env_json(c->envs_json, c->secret_values, &problem);
		if (env)
			c->envs_json = MemoryContextStrdup(cxt, env);
	}
	if (problem)
		c->secret_problem = MemoryContextStrdup(cxt, problem);
}

/*
 * load_history reads, for a run claimed again, its recorded sandbox (with
 * how to reach it) and the events its conversation is rebuilt from: the
 * model's answers, the tool calls and their results, lost sandboxes.
 * Only runs of the same owner (role and identity) count: the INSERT check
 * keeps threads to one owner, and this holds even if a row said otherwise.
 * SPI is connected; everything is copied into cxt.  Not read-only: the
 * reads must see what this transaction wrote before (an approval that
 * timed out, in the same pass that claims the run again).
 */
static void
load_history(ClaimedRun *c, MemoryContext cxt)
{
	static const char *sandbox_sql =
		"SELECT s.state IN ('running', 'paused'), a.access_token, s.domain, a.envd_version,"
		"       s.state = 'paused'"
		"  FROM %1$s.sandboxes s LEFT JOIN %1$s.sandbox_access a USING (sandbox_id)"
		" WHERE s.sandbox_id = $1";
	/*
	 * The run's own events, after those of the runs before it in its
	 * thread (a continued run's conversation goes on from theirs); each run
	 * but the first opens with its prompt (user_message, made here); the
	 * first run's prompt and plan open the conversation.
	 */
	static const char *log_sql =
		"SELECT e.seq, e.kind, e.data, r.id::text, r.prompt, r.plan ->> 'text'"
		"  FROM %1$s.agent_runs me, %1$s.agent_runs r"
		"  LEFT JOIN %1$s.agent_run_events e ON e.run_id = r.id"
		"   AND e.kind = ANY ('{llm_response,tool_call,tool_result,sandbox_lost,repo_cloned,approval,resumed}'::text[])"
		" WHERE me.id = $1::uuid"
		"   AND (r.id = $2::uuid OR r.thread_id = $2::uuid)"
		"   AND (r.id = me.id OR r.created_at < me.created_at)"
		"   AND r.owner = me.owner AND r.owner_id IS NOT DISTINCT FROM me.owner_id"
		" ORDER BY r.created_at, r.id, e.seq";
	RunHistory *h = c->history;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *prev_run = NULL;
	bool		continued = c->thread_root && strcmp(c->thread_root, c->id) != 0;

	if (h->sandbox_id)
	{
		values[0] = CStringGetTextDatum(h->sandbox_id);
		if (SPI_execute_plan(plan_for(QP_HISTORY_SANDBOX, sandbox_sql, 1, types), values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "reading the sandbox of run %s failed", c->id);
		if (SPI_processed > 0)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			h->sandbox_running = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)) && !isnull;
			h->sandbox_paused = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)) && !isnull;
			h->access_token = getstr(tup, desc, 2, cxt);
			h->domain = getstr(tup, desc, 3, cxt);
			h->envd_version = getstr(tup, desc, 4, cxt);
		}
	}
	/* a run's own log needs its plan; a continued run's, its thread's */
	if (h->plan_text == NULL && !continued)
		return;					/* nothing to rebuild: it plans again */
	values[0] = CStringGetTextDatum(c->id);
	values[1] = CStringGetTextDatum(c->thread_root ? c->thread_root : c->id);
	if (SPI_execute_plan(plan_for(QP_HISTORY_LOG, log_sql, 2, types), values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the events of run %s failed", c->id);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		char	   *run_id = SPI_getvalue(tup, desc, 4);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		RunLogEntry *e;

		/* a continued run's conversation opens as its thread's first run's */
		if (continued && prev_run == NULL && strcmp(run_id, c->thread_root) == 0)
		{
			h->plan_text = getstr(tup, desc, 6, cxt);
			h->thread_prompt = getstr(tup, desc, 5, cxt);
		}
		/* where each later run of the thread begins: its prompt */
		if (prev_run == NULL || strcmp(prev_run, run_id) != 0)
		{
			if (prev_run != NULL || (c->thread_root && strcmp(run_id, c->thread_root) != 0))
			{
				StringInfoData m;
				bool		first = true;

				initStringInfo(&m);
				appendStringInfoChar(&m, '{');
				json_append_kv_string(&m, &first, "text", SPI_getvalue(tup, desc, 5));
				appendStringInfoChar(&m, '}');
				e = palloc0(sizeof(RunLogEntry));
				e->kind = pstrdup("user_message");
				e->data = json_parse(m.data, m.len);
				h->log = lappend(h->log, e);
			}
			prev_run = pstrdup(run_id);
		}
		(void) SPI_getbinval(tup, desc, 1, &isnull);
		if (!isnull)
		{
			e = palloc0(sizeof(RunLogEntry));
			e->seq = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			e->kind = pstrdup(SPI_getvalue(tup, desc, 2));
			d = SPI_getbinval(tup, desc, 3, &isnull);
			e->data = isnull ? NULL : DatumGetJsonbPCopy(d);
			h->log = lappend(h->log, e);
		}
		MemoryContextSwitchTo(old);
	}
	/* a thread whose first run has no plan has no conversation to go on from */
	if (h->plan_text == NULL)
	{
		h->thread_prompt = NULL;
		h->log = NIL;
	}
}

/*
 * DUE_SQL(alias): whether the owner of the walk's row alias has a pending
 * run that is due (owners whose runs are all scheduled later take no turn).
 */
#define DUE_SQL(x) \
	"EXISTS (SELECT 1 FROM %1$s.agent_runs d WHERE d.status = 'pending'" \
	" AND d.owner::pg_catalog.oid = " x ".owner" \
	" AND (COALESCE(d.owner_id, '') COLLATE pg_catalog.\"C\") = " x ".oid2" \
	" AND d.run_after <= pg_catalog.clock_timestamp())"

/*
 * queue_claim takes up to n runs that are due (by the clock, not by now():
 * a run inserted by a transaction that began after ours is due as soon as
 * its commit is visible to us), fairly across owners (role and identity):
 *
 *	- the owners with pending runs are walked in a fixed order (a loose
 *	  index scan of agent_runs_claim: one probe per owner, however many
 *	  runs each has), starting after *cursor, the last owner served, and
 *	  wrapping around, so that many owners take turns over passes; owners
 *	  whose runs are all scheduled later are passed over (DUE_SQL);
 *	- each owner offers its best runs (priority, then run_after, then
 *	  created_at): about twice its share of the n (so a claim reads about
 *	  2n rows however many owners take turns), and at most
 *	  sandbox.max_runs_per_owner minus its runs in flight when that is set;
 *	- the first of every owner go before the second of any, and so on.
 *
 * So one owner's 100,000 pending runs delay another owner's new run by one
 * pass, not by 100,000 runs.  The chosen rows are locked with FOR UPDATE
 * SKIP LOCKED (several workers never take the same run), moved to planning
 * with a lease and a new attempt number, and get their status events.
 */
List *
queue_claim(int n, int lease_s, ClaimCursor *cursor, MemoryContext cxt)
{
	static const char *sql =
		"WITH RECURSIVE"
		" o1(owner, oid2, due, n) AS ("
		"  SELECT f.owner, f.oid2, e.due, e.due::pg_catalog.int4 FROM"
		"   (SELECT owner::pg_catalog.oid AS owner, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\") AS oid2"
		"      FROM %1$s.agent_runs"
		"     WHERE status = 'pending' AND (owner::pg_catalog.oid, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\")) > ($5, $6)"
		"     ORDER BY owner::pg_catalog.oid, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\") LIMIT 1) f,"
		"   LATERAL (SELECT " DUE_SQL("f") " AS due) e"
		"  UNION ALL"
		"  SELECT x.owner, x.oid2, e.due, o1.n + e.due::pg_catalog.int4 FROM o1, LATERAL ("
		"    SELECT a.owner::pg_catalog.oid AS owner, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\") AS oid2"
		"      FROM %1$s.agent_runs a"
		"     WHERE a.status = 'pending'"
		"       AND (a.owner::pg_catalog.oid, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\")) > (o1.owner, o1.oid2)"
		"     ORDER BY a.owner::pg_catalog.oid, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\") LIMIT 1) x,"
		"    LATERAL (SELECT " DUE_SQL("x") " AS due) e"
		"   WHERE o1.n < $1),"
		" o2(owner, oid2, due, n) AS ("
		"  SELECT f.owner, f.oid2, e.due, e.due::pg_catalog.int4 FROM"
		"   (SELECT owner::pg_catalog.oid AS owner, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\") AS oid2"
		"      FROM %1$s.agent_runs"
		"     WHERE status = 'pending' AND (owner::pg_catalog.oid, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\")) > (0::pg_catalog.oid, '')"
		"       AND (owner::pg_catalog.oid, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\")) <= ($5, $6)"
		"     ORDER BY owner::pg_catalog.oid, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\") LIMIT 1) f,"
		"   LATERAL (SELECT " DUE_SQL("f") " AS due) e"
		"  UNION ALL"
		"  SELECT x.owner, x.oid2, e.due, o2.n + e.due::pg_catalog.int4 FROM o2, LATERAL ("
		"    SELECT a.owner::pg_catalog.oid AS owner, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\") AS oid2"
		"      FROM %1$s.agent_runs a"
		"     WHERE a.status = 'pending'"
		"       AND (a.owner::pg_catalog.oid, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\")) > (o2.owner, o2.oid2)"
		"       AND (a.owner::pg_catalog.oid, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\")) <= ($5, $6)"
		"     ORDER BY a.owner::pg_catalog.oid, (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\") LIMIT 1) x,"
		"    LATERAL (SELECT " DUE_SQL("x") " AS due) e"
		"   WHERE o2.n < $1),"
		" o AS (SELECT owner, oid2, n FROM o1 WHERE due"
		"       UNION ALL SELECT owner, oid2, $1 + n FROM o2 WHERE due LIMIT $1),"
		" busy AS ("
		"  SELECT owner::pg_catalog.oid AS owner, (COALESCE(owner_id, '') COLLATE pg_catalog.\"C\") AS oid2, pg_catalog.count(*) AS n"
		"    FROM %1$s.agent_runs"
		"   WHERE $7 > 0 AND status IN ('planning', 'executing', 'waiting') GROUP BY 1, 2),"
		" sh AS (SELECT pg_catalog.int8smaller($1, pg_catalog.ceil(2.0 * $1 /"
		"          GREATEST(1, (SELECT pg_catalog.count(*) FROM o)))::pg_catalog.int8) AS share),"
		" cand AS ("
		"  SELECT x.id, x.rk, o.n AS turn, x.priority, x.run_after FROM o, sh, LATERAL ("
		"    SELECT a.id, a.priority, a.run_after, pg_catalog.row_number() OVER"
		"           (ORDER BY a.priority DESC, a.run_after, a.created_at) AS rk"
		"      FROM %1$s.agent_runs a"
		"     WHERE a.status = 'pending' AND a.owner::pg_catalog.oid = o.owner"
		"       AND (COALESCE(a.owner_id, '') COLLATE pg_catalog.\"C\") = o.oid2"
		"       AND a.run_after <= pg_catalog.clock_timestamp()"
		"     ORDER BY a.priority DESC, a.run_after, a.created_at"
		"     LIMIT pg_catalog.int8smaller(sh.share, CASE WHEN $7 > 0 THEN pg_catalog.int8larger(0, $7 - COALESCE("
		"             (SELECT b.n FROM busy b WHERE b.owner = o.owner AND b.oid2 = o.oid2), 0))"
		"           ELSE $1 END)) x),"
		" c AS ("
		"  SELECT a.id FROM %1$s.agent_runs a"
		"    JOIN (SELECT id, rk, turn FROM cand ORDER BY rk, turn LIMIT 2 * $1) k ON k.id = a.id"
		"   WHERE a.status = 'pending'"
		"   ORDER BY k.rk, k.turn"
		"   LIMIT $1 FOR UPDATE OF a SKIP LOCKED),"
		" u AS ("
		"  UPDATE %1$s.agent_runs r SET status = 'planning', attempts = r.attempts + 1,"
		"    started_at = COALESCE(r.started_at, pg_catalog.now()),"
		"    lease_until = pg_catalog.now() + pg_catalog.make_interval(secs => $2),"
		"    deadline_at = pg_catalog.now() + pg_catalog.make_interval(secs => COALESCE(r.timeout_s, $3)),"
		"    worker_pid = $4, last_seq = r.last_seq + 1, error = NULL, updated_at = pg_catalog.now()"
		"   FROM c WHERE r.id = c.id"
		"   RETURNING r.*),"
		" e AS ("
		"  INSERT INTO %1$s.agent_run_events (run_id, seq, attempt, kind, data)"
		"  SELECT id, last_seq, attempts, 'status',"
		"         pg_catalog.jsonb_build_object('from', 'pending', 'to', 'planning',"
		"                                       'attempt', attempts, 'worker_pid', $4)"
		"    FROM u)"
		" SELECT id::text, prompt, model, template, max_turns, attempts, owner::oid,"
		"        deadline_at, owner::text, owner_id, on_sandbox_lost = 'fail',"
		"        plan ->> 'text', sandbox_id, llm_calls, input_tokens, output_tokens,"
		"        system_prompt, tools,"
		"        CASE WHEN pg_catalog.jsonb_typeof(envs) = 'object' THEN"
		"          (SELECT pg_catalog.jsonb_object_agg(e.key, e.value)"
		"             FROM pg_catalog.jsonb_each_text(envs) e)::text END,"
		"        max_cost_usd::pg_catalog.float8, max_tokens, cost_usd::pg_catalog.float8,"
		"        cache_read_tokens, cache_write_tokens,"
		"        pg_catalog.date_part('epoch', keep_sandbox)::pg_catalog.int4,"
		"        files::text, repo::text, artifacts, result_schema::text, secrets,"
		"        (SELECT ARRAY[p.input_per_mtok, p.output_per_mtok,"
		"                      COALESCE(p.cache_write_per_mtok, p.input_per_mtok),"
		"                      COALESCE(p.cache_read_per_mtok, p.input_per_mtok)]::pg_catalog.float8[]"
		"           FROM %1$s.sandbox_model_prices p"
		"          WHERE pg_catalog.starts_with(COALESCE(u.model, $8), p.model)"
		"          ORDER BY pg_catalog.length(p.model) DESC LIMIT 1),"
		"        approval, pg_catalog.date_part('epoch', approval_timeout)::pg_catalog.int4,"
		"        parent_id::text, COALESCE(thread_id, id)::text"
		"   FROM u";
	Oid			types[8] = {INT4OID, INT4OID, INT4OID, INT4OID, OIDOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[8];
	ClaimCursor next = *cursor;
	bool		wrapped = false;
	List	   *claimed = NIL;
	ListCell   *lc;

	values[0] = Int32GetDatum(n);
	values[1] = Int32GetDatum(lease_s);
	values[2] = Int32GetDatum(sandbox_run_timeout);
	values[3] = Int32GetDatum(MyProcPid);
	values[4] = ObjectIdGetDatum(cursor->owner);
	values[5] = CStringGetTextDatum(cursor->owner_id);
	values[6] = Int32GetDatum(sandbox_max_runs_per_owner);
	values[7] = CStringGetTextDatum(sandbox_llm_model);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_CLAIM, sql, 8, types), values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "claiming runs failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ClaimedRun *c = MemoryContextAllocZero(cxt, sizeof(ClaimedRun));
		char	   *id = SPI_getvalue(tup, desc, 1);
		bool		isnull;

		strlcpy(c->id, id, sizeof(c->id));
		c->prompt = getstr(tup, desc, 2, cxt);
		c->model = getstr(tup, desc, 3, cxt);
		c->template_id = getstr(tup, desc, 4, cxt);
		c->max_turns = getint(tup, desc, 5, 0);
		c->attempt = getint(tup, desc, 6, 1);
		c->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 7, &isnull));
		c->deadline = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
		c->owner_name = getstr(tup, desc, 9, cxt);
		c->owner_id = getstr(tup, desc, 10, cxt);
		c->lost_fails = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull)) && !isnull;
		c->system_prompt = getstr(tup, desc, 17, cxt);
		c->envs_json = getstr(tup, desc, 19, cxt);
		{
			Datum		d;

			d = SPI_getbinval(tup, desc, 20, &isnull);
			c->max_cost_usd = isnull ? 0 : DatumGetFloat8(d);
			d = SPI_getbinval(tup, desc, 21, &isnull);
			c->max_tokens = isnull ? 0 : DatumGetInt64(d);
			d = SPI_getbinval(tup, desc, 22, &isnull);
			c->cost_usd = isnull ? 0 : DatumGetFloat8(d);
			d = SPI_getbinval(tup, desc, 23, &isnull);
			c->cache_read_tokens = isnull ? 0 : DatumGetInt64(d);
			d = SPI_getbinval(tup, desc, 24, &isnull);
			c->cache_write_tokens = isnull ? 0 : DatumGetInt64(d);
			d = SPI_getbinval(tup, desc, 25, &isnull);
			c->keep_sandbox_s = isnull ? 0 : DatumGetInt32(d);
			c->files_json = getstr(tup, desc, 26, cxt);
			c->repo_json = getstr(tup, desc, 27, cxt);
			c->artifacts = text_array_column(tup, desc, 28, cxt, NULL);
			c->result_schema = getstr(tup, desc, 29, cxt);
			c->secrets = text_array_column(tup, desc, 30, cxt, NULL);
			d = SPI_getbinval(tup, desc, 31, &isnull);
			if (!isnull)
			{
				Datum	   *elems;
				bool	   *enulls;
				int			ne;

				deconstruct_array(DatumGetArrayTypeP(d), FLOAT8OID, 8, FLOAT8PASSBYVAL,
								  TYPALIGN_DOUBLE, &elems, &enulls, &ne);
				if (ne == 4)
				{
					c->price.known = true;
					c->price.input = DatumGetFloat8(elems[0]);
					c->price.output = DatumGetFloat8(elems[1]);
					c->price.cache_write = DatumGetFloat8(elems[2]);
					c->price.cache_read = DatumGetFloat8(elems[3]);
				}
			}
		}
		c->tools = text_array_column(tup, desc, 18, cxt, &isnull);
		c->tools_given = !isnull;
		c->approval = text_array_column(tup, desc, 32, cxt, NULL);
		c->approval_timeout_s = getint(tup, desc, 33, 3600);
		c->parent_id = getstr(tup, desc, 34, cxt);
		c->thread_root = getstr(tup, desc, 35, cxt);
		/* the rotation: the last owner served, in the order walked */
		{
			const char *oid2 = c->owner_id ? c->owner_id : "";
			bool		after = claim_key_cmp(c->owner, oid2, cursor->owner, cursor->owner_id) > 0;

			if (!after && (!wrapped || claim_key_cmp(c->owner, oid2, next.owner, next.owner_id) > 0))
			{
				next.owner = c->owner;
				strlcpy(next.owner_id, oid2, sizeof(next.owner_id));
				wrapped = true;
			}
			else if (after && !wrapped && claim_key_cmp(c->owner, oid2, next.owner, next.owner_id) > 0)
			{
				next.owner = c->owner;
				strlcpy(next.owner_id, oid2, sizeof(next.owner_id));
			}
		}
		/* a later attempt, or a thread's next run: what came before */
		if (c->attempt > 1 || c->parent_id != NULL)
		{
			RunHistory *h = MemoryContextAllocZero(cxt, sizeof(RunHistory));

			h->plan_text = getstr(tup, desc, 12, cxt);
			h->sandbox_id = getstr(tup, desc, 13, cxt);
			h->llm_calls = getint(tup, desc, 14, 0);
			h->input_tokens = DatumGetInt64(SPI_getbinval(tup, desc, 15, &isnull));
			h->output_tokens = DatumGetInt64(SPI_getbinval(tup, desc, 16, &isnull));
			c->history = h;
		}
		{
			/* the list must outlive SPI's memory */
			MemoryContext old = MemoryContextSwitchTo(cxt);

			claimed = lappend(claimed, c);
			MemoryContextSwitchTo(old);
		}
	}
	if (claimed != NIL)
		*cursor = next;
	/* the secrets each run puts in its sandbox, for its owner */
	foreach(lc, claimed)
	{
		ClaimedRun *c = lfirst(lc);

		load_secrets(c, cxt);
	}
	/* later attempts resume: what their earlier attempts left */
	foreach(lc, claimed)
	{
		ClaimedRun *c = lfirst(lc);

		if (c->history)
			load_history(c, cxt);
		/* the SQL functions among its tools, if its owner may call them */
		if (c->tools_given)
		{
			ListCell   *tc;

			c->sql_tools = sqltool_load(c->tools, c->owner, cxt, &c->sql_tools_problem);
			/* a name neither built in nor a SQL tool (a superuser's INSERT) */
			foreach(tc, c->tools)
			{
				const char *name = lfirst(tc);
				ListCell   *sc;
				bool		found = tool_lookup(name) != NULL;

				foreach(sc, c->sql_tools)
					found = found || strcmp(((SqlTool *) lfirst(sc))->name, name) == 0;
				if (!found && c->sql_tools_problem == NULL)
					c->sql_tools_problem = MemoryContextStrdup(cxt,
															   psprintf("unknown tool \"%s\" in tools", name));
			}
		}
	}
	SPI_finish();
	return claimed;
}

/*
 * record_sandbox writes the run's sandbox into `sandboxes` (owner = the
 * run's owner).  Not fenced: the sandbox exists whatever became of the
 * run, so it must be tracked.
 */
static void
record_sandbox(Run *run)
{
	static const char *sql =
		"WITH s AS ("
		"  INSERT INTO %1$s.sandboxes (sandbox_id, owner, run_id, template, metadata,"
		"                              expires_at, domain, last_used_at, owner_id)"
		"  VALUES ($1, $2::pg_catalog.regrole, $3::uuid, $4,"
		"          pg_catalog.jsonb_build_object('pgsandbox_run', $3::text),"
		"          $5, $6, pg_catalog.now(), $9)"
		"  ON CONFLICT (sandbox_id) DO NOTHING RETURNING sandbox_id)"
		" INSERT INTO %1$s.sandbox_access (sandbox_id, access_token, envd_version)"
		" SELECT sandbox_id, $7, $8 FROM s";
	Oid			types[9] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (run->owner_id)
		values[8] = CStringGetTextDatum(run->owner_id);
	else
		nulls[8] = 'n';
	values[0] = CStringGetTextDatum(run->sandbox.sandbox_id);
	values[1] = ObjectIdGetDatum(run->owner);
	values[2] = CStringGetTextDatum(run->id);
	values[3] = CStringGetTextDatum(run->template_id);
	values[4] = TimestampTzGetDatum(run->sandbox_expires);
	if (run->sandbox.domain)
		values[5] = CStringGetTextDatum(run->sandbox.domain);
	else
		nulls[5] = 'n';
	if (run->sandbox.access_token)
		values[6] = CStringGetTextDatum(run->sandbox.access_token);
	else
		nulls[6] = 'n';
	if (run->sandbox.envd_version)
		values[7] = CStringGetTextDatum(run->sandbox.envd_version);
	else
		nulls[7] = 'n';
	if (SPI_execute_plan(plan_for(QP_RECORD_SANDBOX, sql, 9, types), values, nulls, false, 0) < 0)
		elog(ERROR, "recording sandbox failed");
}

/*
 * queue_mark_sandbox sets a sandbox's state (killed, lost...).
 */
void
queue_mark_sandbox(const char *sandbox_id, const char *state)
{
	static const char *sql =
		"UPDATE %1$s.sandboxes SET state = $2::%1$s.sandbox_state,"
		"       killed_at = COALESCE(killed_at, pg_catalog.now())"
		" WHERE sandbox_id = $1 AND state = 'running'";
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(sandbox_id);
	values[1] = CStringGetTextDatum(state);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_MARK_SANDBOX, sql, 2, types), values, NULL, false, 0) < 0)
		elog(ERROR, "marking sandbox failed");
	SPI_finish();
}

/*
 * queue_sandbox_paused records that a waiting run's sandbox was paused, or
 * that its run resumed it.
 */
static void
queue_sandbox_paused(const char *sandbox_id, bool paused)
{
	static const char *sql =
		"UPDATE %1$s.sandboxes SET state = CASE WHEN $2 THEN 'paused' ELSE 'running' END::%1$s.sandbox_state,"
		"       paused_at = CASE WHEN $2 THEN pg_catalog.now() END"
		" WHERE sandbox_id = $1 AND state IN ('running', 'paused')";
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(sandbox_id);
	values[1] = BoolGetDatum(paused);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_SANDBOX_PAUSED, sql, 2, types), values, NULL, false, 0) < 0)
		elog(ERROR, "recording a paused sandbox failed");
	SPI_finish();
}

/*
 * set_sandbox_expiry records a run's sandbox's new E2B expiry after an
 * extension, so that the sandboxes table stays true.  SPI is connected.
 */
static void
set_sandbox_expiry(Run *run)
{
	static const char *sql =
		"UPDATE %1$s.sandboxes SET expires_at = $2"
		" WHERE sandbox_id = $1 AND state = 'running'";
	Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(run->sandbox.sandbox_id);
	values[1] = TimestampTzGetDatum(run->sandbox_expires);
	if (SPI_execute_plan(plan_for(QP_SANDBOX_EXPIRY, sql, 2, types), values, NULL, false, 0) < 0)
		elog(ERROR, "recording the sandbox's expiry failed");
}

/*
 * advance applies a run's fenced writes: the optional transition, its
 * columns and its events, in one statement that matches only while the
 * row still has the status and attempt we hold.  Returns whether it
 * matched.
 */
static bool
advance(Run *run, int lease_s)
{
	static const char *sql =
		"WITH r AS ("
		"  UPDATE %1$s.agent_runs SET"
		"    status = $4::%1$s.agent_run_status,"
		"    plan = COALESCE($5::pg_catalog.jsonb, plan),"
		"    plan_version = plan_version + CASE WHEN $5 IS NULL THEN 0 ELSE 1 END,"
		"    result = COALESCE($6::pg_catalog.jsonb, result),"
		"    error = COALESCE($7, error),"
		"    sandbox_id = COALESCE($8, sandbox_id),"
		"    completed_at = CASE WHEN $4 IN ('completed', 'failed', 'cancelled')"
		"                        THEN COALESCE(completed_at, pg_catalog.now()) END,"
		"    lease_until = CASE WHEN $4 IN ('completed', 'failed', 'cancelled', 'waiting') THEN NULL"
		"                       ELSE pg_catalog.now() + pg_catalog.make_interval(secs => $9) END,"
		"    worker_pid = CASE WHEN $4 = 'waiting' THEN NULL ELSE worker_pid END,"
		"    approval_call = CASE WHEN $4 = 'waiting' THEN $19 END,"
		"    approval_deadline = CASE WHEN $4 = 'waiting' THEN pg_catalog.now() + approval_timeout END,"
		"    llm_calls = llm_calls + $10, input_tokens = input_tokens + $11,"
		"    output_tokens = output_tokens + $12,"
		"    cache_read_tokens = cache_read_tokens + $15, cache_write_tokens = cache_write_tokens + $16,"
		"    cost_usd = cost_usd + $17::pg_catalog.numeric, commit_id = COALESCE($18, commit_id),"
		"    last_seq = last_seq + pg_catalog.cardinality($13), updated_at = pg_catalog.now()"
		"  WHERE id = $1::uuid AND status = $2::%1$s.agent_run_status AND attempts = $3"
		"  RETURNING last_seq)"
		" INSERT INTO %1$s.agent_run_events (run_id, seq, attempt, kind, data)"
		" SELECT $1::uuid, r.last_seq - pg_catalog.cardinality($13) + e.ord::int, $3, e.kind,"
		"        e.data::pg_catalog.jsonb"
		"   FROM r, ROWS FROM (pg_catalog.unnest($13), pg_catalog.unnest($14))"
		"        WITH ORDINALITY AS e(kind, data, ord)"
		" RETURNING seq";
	Oid			types[19] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, INT4OID, INT4OID, INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID,
	INT8OID, INT8OID, FLOAT8OID, TEXTOID, TEXTOID};
	Datum		values[19];
	char		nulls[19];
	List	   *kinds = NIL;
	List	   *datas = NIL;
	ListCell   *lc;
	RunStatus	to = run->transition ? run->new_status : run->status;
	int			rc;

	Assert(run->events != NIL);
	memset(nulls, ' ', sizeof(nulls));
	foreach(lc, run->events)
	{
		RunEvent   *e = lfirst(lc);

		kinds = lappend(kinds, e->kind);
		datas = lappend(datas, e->data);
	}
	values[0] = CStringGetTextDatum(run->id);
	values[1] = CStringGetTextDatum(run_status_name(run->status));
	values[2] = Int32GetDatum(run->attempt);
	values[3] = CStringGetTextDatum(run_status_name(to));
#define TEXT_OR_NULL(i, s) do { if (s) values[i] = CStringGetTextDatum(s); else nulls[i] = 'n'; } while (0)
	TEXT_OR_NULL(4, run->set_plan);
	TEXT_OR_NULL(5, run->set_result);
	TEXT_OR_NULL(6, run->set_error);
	TEXT_OR_NULL(7, run->record_sandbox ? run->sandbox.sandbox_id : NULL);
#undef TEXT_OR_NULL
	values[8] = Int32GetDatum(lease_s);
	values[9] = Int32GetDatum((int32) run->add_calls);
	values[10] = Int64GetDatum(run->add_in);
	values[11] = Int64GetDatum(run->add_out);
	values[12] = text_array_datum(kinds);
	values[13] = text_array_datum(datas);
	values[14] = Int64GetDatum(run->add_cache_read);
	values[15] = Int64GetDatum(run->add_cache_write);
	values[16] = Float8GetDatum(run->add_cost);
	if (run->set_commit_id)
		values[17] = CStringGetTextDatum(run->set_commit_id);
	else
		nulls[17] = 'n';
	if (run->set_waiting_call)
		values[18] = CStringGetTextDatum(run->set_waiting_call);
	else
		nulls[18] = 'n';
	rc = SPI_execute_plan(plan_for(QP_ADVANCE, sql, 19, types), values, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "advancing run %s failed: %s", run->id, SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		int			last = 0;
		bool		isnull;

		for (uint64 i = 0; i < SPI_processed; i++)
			last = Max(last, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1, &isnull)));
		notify_run_events(run->id, last);
	}
	return SPI_processed > 0;
}

/*
 * insert_artifacts writes the artifacts a run collected (a path collected
 * again replaces the row: a resumed run collects once more).
 */
static void
insert_artifacts(Run *run)
{
	static const char *sql =
		"INSERT INTO %1$s.agent_run_artifacts (run_id, path, kind, content, size, sha256, cut)"
		" VALUES ($1::uuid, $2, $3, $4, $5,"
		"         pg_catalog.encode(pg_catalog.sha256($4), 'hex'), $6)"
		" ON CONFLICT (run_id, path) DO UPDATE SET kind = excluded.kind, content = excluded.content,"
		"   size = excluded.size, sha256 = excluded.sha256, cut = excluded.cut,"
		"   created_at = pg_catalog.now()";
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, BYTEAOID, INT8OID, TEXTOID};
	ListCell   *lc;

	SPI_connect();
	foreach(lc, run->artifact_rows)
	{
		WsArtifact *a = lfirst(lc);
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(run->id);
		values[1] = CStringGetTextDatum(a->path);
		values[2] = CStringGetTextDatum(a->kind);
		if (a->content)
		{
			bytea	   *b = palloc(VARHDRSZ + a->len);

			SET_VARSIZE(b, VARHDRSZ + a->len);
			memcpy(VARDATA(b), a->content, a->len);
			values[3] = PointerGetDatum(b);
		}
		else
			nulls[3] = 'n';
		values[4] = Int64GetDatum(a->size);
		if (a->cut)
			values[5] = CStringGetTextDatum(a->cut);
		else
			nulls[5] = 'n';
		if (SPI_execute_plan(plan_for(QP_ARTIFACT, sql, 6, types), values, nulls, false, 0) < 0)
			elog(ERROR, "writing an artifact of run %s failed", run->id);
	}
	SPI_finish();
}

/*
 * queue_apply applies a run's staged writes in a subtransaction: record
 * its sandbox (always), its fenced transition and events, and a sandbox
 * killed.  Returns false when an error prevented it (the writes stay
 * staged for the next pass); *fenced_out tells that the fenced part did
 * not match (the run is no longer ours to write).
 */
bool
queue_apply(Run *run, int lease_s, bool *fenced_out)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;
	volatile bool fenced = false;
	volatile bool sql_ran = false;
	int			mark_events = 0;
	int			mark_results = 0;

	*fenced_out = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		/* a SQL tool's call: its effects commit with its result, or neither */
		if (run->sql_call)
			sql_ran = agent_sql_call(run, &mark_events, &mark_results);
		MemoryContextSwitchTo(cxt);
		SPI_connect();
		if (run->record_sandbox && run->have_sandbox)
			record_sandbox(run);
		if (run->sandbox_extended && run->have_sandbox && !run->lost)
			set_sandbox_expiry(run);
		if (run->events != NIL && (!run->lost || run->cancelled))
			fenced = !advance(run, lease_s);
		SPI_finish();
		if (run->mark_sandbox && run->have_sandbox)
			queue_mark_sandbox(run->sandbox.sandbox_id, run->mark_sandbox);
		if (run->lost_sandbox_id)
			queue_mark_sandbox(run->lost_sandbox_id, "lost");
		if (run->set_paused && run->have_sandbox)
			queue_sandbox_paused(run->sandbox.sandbox_id, run->set_paused == 1);
		if (run->artifact_rows != NIL && !fenced && (!run->lost || run->cancelled))
			insert_artifacts(run);
		if (fenced && sql_ran)
			RollbackAndReleaseCurrentSubTransaction();	/* not ours: undo the call */
		else
			ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errmsg("sandbox worker: could not write run %s: %s", run->id, edata->message)));
		ok = false;
	}
	PG_END_TRY();
	if (sql_ran)
		agent_sql_call_settle(run, ok && !fenced, mark_events, mark_results);
	*fenced_out = fenced;
	return ok;
}

/*
 * runs_arrays builds the id and attempt arrays of a list of runs.
 */
static void
runs_arrays(List *runs, Datum *ids, Datum *attempts)
{
	List	   *idl = NIL;
	int		   *att = palloc(sizeof(int) * Max(list_length(runs), 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, runs)
	{
		Run		   *r = lfirst(lc);

		idl = lappend(idl, r->id);
		att[i++] = r->attempt;
	}
	*ids = text_array_datum(idl);
	*attempts = int_array(att, i);
}

/*
 * queue_find_lost looks at the rows of runs we hold and returns those that
 * were cancelled or taken over (as LostRun *).
 */
List *
queue_find_lost(List *runs, MemoryContext cxt)
{
	static const char *sql =
		"SELECT x.id, r.status::text, r.attempts"
		"  FROM pg_catalog.unnest($1) AS x(id)"
		"  LEFT JOIN %1$s.agent_runs r ON r.id = x.id::uuid";
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1];
	Datum		dummy;
	List	   *lost = NIL;

	if (runs == NIL)
		return NIL;
	runs_arrays(runs, &values[0], &dummy);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_STATES, sql, 1, types), values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading run states failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = SPI_getvalue(tup, desc, 1);
		char	   *status = SPI_getvalue(tup, desc, 2);
		int			attempts = getint(tup, desc, 3, -1);
		ListCell   *lc;

		foreach(lc, runs)
		{
			Run		   *r = lfirst(lc);
			LostRun    *l;

			if (strcmp(r->id, id) != 0)
				continue;
			if (status != NULL && attempts == r->attempt &&
				(strcmp(status, run_status_name(r->status)) == 0 ||
				 (r->transition && strcmp(status, run_status_name(r->new_status)) == 0)))
				break;
			l = MemoryContextAllocZero(cxt, sizeof(LostRun));
			l->run = r;
			l->cancelled = status != NULL && attempts == r->attempt && strcmp(status, "cancelled") == 0;
			/* taken over by an attempt that is live or waits: it resumes there */
			l->keep_sandbox = status != NULL && attempts != r->attempt &&
				(strcmp(status, "pending") == 0 || strcmp(status, "planning") == 0 ||
				 strcmp(status, "executing") == 0);
			l->why = MemoryContextStrdup(cxt, status == NULL ? "the run was deleted" :
										 l->cancelled ? "cancelled by a user" :
										 attempts != r->attempt ? "another attempt took the run over" :
										 psprintf("its status became %s elsewhere", status));
			{
				MemoryContext old = MemoryContextSwitchTo(cxt);

				lost = lappend(lost, l);
				MemoryContextSwitchTo(old);
			}
			break;
		}
	}
	SPI_finish();
	return lost;
}

/*
 * queue_renew extends the leases of runs in flight; returns those whose
 * lease could not be renewed (their row moved on), as Run *.  The
 * statement itself answers with the ids it could not renew (usually none),
 * so the cost stays linear in the runs in flight.
 */
List *
queue_renew(List *runs, int lease_s, MemoryContext cxt)
{
	static const char *sql =
		"WITH x AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS x(id, attempt)),"
		" u AS (UPDATE %1$s.agent_runs r"
		"          SET lease_until = pg_catalog.now() + pg_catalog.make_interval(secs => $3)"
		"         FROM x"
		"        WHERE r.id = x.id::uuid AND r.attempts = x.attempt"
		"          AND r.status IN ('planning', 'executing')"
		"    RETURNING r.id)"
		" SELECT x.id FROM x WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.id = x.id::uuid)";
	Oid			types[3] = {TEXTARRAYOID, INT4ARRAYOID, INT4OID};
	Datum		values[3];
	List	   *missing = NIL;
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	if (runs == NIL)
		return NIL;
	runs_arrays(runs, &values[0], &values[1]);
	values[2] = Int32GetDatum(lease_s);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_RENEW, sql, 3, types), values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "renewing leases failed");
	foreach(lc, runs)
	{
		Run		   *r = lfirst(lc);
		bool		found = false;

		for (uint64 i = 0; i < SPI_processed && !found; i++)
			found = strcmp(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1), r->id) == 0;
		if (found)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			missing = lappend(missing, r);
			MemoryContextSwitchTo(old);
		}
		else
			r->last_lease = now;
	}
	SPI_finish();
	return missing;
}

/*
 * worker_pids returns the pids of the running workers, as int4[]: all of
 * them, or (healthy_s > 0) only those whose loop went round within the
 * last healthy_s seconds.
 */
static Datum
worker_pids(int healthy_s)
{
	int			pids[SANDBOX_MAX_WORKERS];
	int			n = 0;
	TimestampTz since = GetCurrentTimestamp() - (TimestampTz) healthy_s * USECS_PER_SEC;

	for (int i = 0; i < SANDBOX_MAX_WORKERS && sandbox_shared; i++)
	{
		WorkerSlot *s = &sandbox_shared->slots[i];
		pid_t		pid;
		Oid			db;

		SpinLockAcquire(&s->mutex);
		pid = s->pid;
		db = s->database;
		SpinLockRelease(&s->mutex);
		/* only this database's workers hold its runs */
		if (pid == 0 || (OidIsValid(db) && db != MyDatabaseId))
			continue;
		if (healthy_s > 0 && (TimestampTz) pg_atomic_read_u64(&s->heartbeat) < since)
			continue;
		pids[n++] = pid;
	}
	return int_array(pids, n);
}

/*
 * queue_rescue finds runs in flight that no worker will finish, and puts
 * them back to pending with a backoff, or to failed when they used
 * sandbox.max_attempts.  Each gets a "rescued" event.  Returns the ids of
 * the sandboxes of runs that failed for good, to be killed; a run put back
 * to pending keeps its sandbox, where its next attempt resumes.  A run is
 * rescued when
 *   - its worker process is gone (crash, kill -9, restart), or
 *   - its lease lapsed and its worker has not gone round its loop with
 *     a working database pass for a lease (a stalled or failing worker), or
 *   - its lease lapsed, it names this worker, and this worker does not
 *     hold that attempt of it (held: forgotten after an error).
 * A lapsed lease alone is not enough while the worker is alive and
 * looping: a lock on agent_runs held longer than the lease (VACUUM FULL,
 * a table rewrite) stalls every worker's writes, and taking the runs of a
 * live worker then would run their commands twice.
 */
List *
queue_rescue(int max_attempts, List *held, int lease_s, MemoryContext cxt, int *rescued)
{
	static const char *sql =
		"WITH lapsed AS ("
		"  SELECT a.id, a.status AS old_status, a.worker_pid AS old_pid,"
		"         a.lease_until < pg_catalog.now() AS expired"
		"    FROM %1$s.agent_runs a"
		"   WHERE a.status IN ('planning', 'executing')"
		"     AND (NOT (COALESCE(a.worker_pid, 0) = ANY ($2))"
		"          OR (a.lease_until < pg_catalog.now() AND NOT (a.worker_pid = ANY ($3)))"
		"          OR (a.lease_until < pg_catalog.now() AND a.worker_pid = $4"
		"              AND NOT EXISTS (SELECT 1 FROM ROWS FROM (pg_catalog.unnest($5), pg_catalog.unnest($6)) AS h(id, attempt)"
		"                               WHERE h.id = a.id::text AND h.attempt = a.attempts)))"
		"   ORDER BY lease_until LIMIT 500 FOR UPDATE SKIP LOCKED),"
		" u AS ("
		"  UPDATE %1$s.agent_runs r SET"
		"    status = CASE WHEN r.attempts - r.waits >= $1 THEN 'failed' ELSE 'pending' END::%1$s.agent_run_status,"
		"    run_after = pg_catalog.now() + pg_catalog.make_interval(secs =>"
		"                LEAST(pg_catalog.power(2, r.attempts), 60) * (0.5 + pg_catalog.random() / 2)),"
		"    lease_until = NULL, worker_pid = NULL,"
		"    error = CASE WHEN r.attempts - r.waits >= $1 THEN pg_catalog.format("
		"      'attempt %%s did not finish: its worker stopped (%%s), and sandbox.max_attempts (%%s) is used up',"
		"      r.attempts, CASE WHEN l.expired THEN 'lease expired' ELSE 'process gone' END, $1) END,"
		"    completed_at = CASE WHEN r.attempts - r.waits >= $1 THEN pg_catalog.now() END,"
		"    last_seq = r.last_seq + 1, updated_at = pg_catalog.now()"
		"   FROM lapsed l WHERE r.id = l.id"
		"   RETURNING r.id, r.status, r.attempts, r.last_seq, r.run_after, l.old_status,"
		"             l.old_pid, l.expired),"
		" e AS ("
		"  INSERT INTO %1$s.agent_run_events (run_id, seq, attempt, kind, data)"
		"  SELECT id, last_seq, attempts, 'rescued', pg_catalog.jsonb_build_object("
		"           'from', old_status, 'to', status, 'attempt', attempts,"
		"           'reason', CASE WHEN expired THEN 'lease expired' ELSE 'worker process gone' END,"
		"           'worker_pid', old_pid,"
		"           'next_try_at', CASE WHEN status = 'pending' THEN run_after END)"
		"    FROM u)"
		" SELECT u.id::text, s.sandbox_id"
		"   FROM u LEFT JOIN %1$s.sandboxes s ON s.run_id = u.id AND s.state = 'running'"
		"        AND u.status = 'failed'";
	Oid			types[6] = {INT4OID, INT4ARRAYOID, INT4ARRAYOID, INT4OID, TEXTARRAYOID, INT4ARRAYOID};
	Datum		values[6];
	List	   *orphans = NIL;
	List	   *seen = NIL;

	values[0] = Int32GetDatum(max_attempts);
	values[1] = worker_pids(0);
	values[2] = worker_pids(lease_s);
	values[3] = Int32GetDatum(MyProcPid);
	runs_arrays(held, &values[4], &values[5]);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_RESCUE, sql, 6, types), values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "rescuing runs failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *id = SPI_getvalue(tup, desc, 1);
		char	   *sb = SPI_getvalue(tup, desc, 2);

		if (!list_member(seen, makeString(id)))
			seen = lappend(seen, makeString(id));
		if (sb)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			orphans = lappend(orphans, pstrdup(sb));
			MemoryContextSwitchTo(old);
		}
	}
	*rescued = list_length(seen);
	SPI_finish();
	return orphans;
}

/*
 * queue_release puts a run we hold back to pending because the worker is
 * stopping (SIGTERM); another worker, or this one after its restart, takes
 * it again.
 */
void
queue_release(Run *run, const char *why)
{
	static const char *sql =
		"WITH u AS ("
		"  UPDATE %1$s.agent_runs SET status = 'pending', lease_until = NULL, worker_pid = NULL,"
		"         run_after = pg_catalog.now(), last_seq = last_seq + 1, updated_at = pg_catalog.now()"
		"   WHERE id = $1::uuid AND attempts = $2 AND status IN ('planning', 'executing')"
		"   RETURNING id, status, attempts, last_seq)"
		" INSERT INTO %1$s.agent_run_events (run_id, seq, attempt, kind, data)"
		" SELECT id, last_seq, attempts, 'released',"
		"        pg_catalog.jsonb_build_object('to', status, 'reason', $3::text) FROM u";
	Oid			types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		values[3];

	values[0] = CStringGetTextDatum(run->id);
	values[1] = Int32GetDatum(run->attempt);
	values[2] = CStringGetTextDatum(why);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_RELEASE, sql, 3, types), values, NULL, false, 0) < 0)
		elog(ERROR, "releasing run failed");
	SPI_finish();
}

/*
 * queue_prune deletes up to `batch` finished runs (and, by cascade, their
 * events) older than the retention; small batches keep locks short.
 */
void
queue_prune(int retention_s, int batch)
{
	static const char *sql =
		"WITH old AS ("
		"  SELECT id FROM %1$s.agent_runs"
		"   WHERE completed_at < pg_catalog.now() - pg_catalog.make_interval(secs => $1)"
		"   ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
		" DELETE FROM %1$s.agent_runs r USING old WHERE r.id = old.id";
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2];

	values[0] = Int32GetDatum(retention_s);
	values[1] = Int32GetDatum(batch);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_PRUNE_RUNS, sql, 2, types), values, NULL, false, 0) < 0)
		elog(ERROR, "pruning runs failed");
	SPI_finish();
}

/*
 * queue_expire_approvals rejects the calls of up to `batch` runs that
 * waited longer than their approval_timeout: each goes back to pending
 * with an "approval" event {approved: false, timed_out: true}, and the
 * attempt that claims it tells the model.  Returns how many.
 */
int
queue_expire_approvals(int batch)
{
	static const char *sql =
		"WITH w AS ("
		"  SELECT id, approval_call FROM %1$s.agent_runs"
		"   WHERE approval_deadline <= pg_catalog.now() AND status = 'waiting'"
		"   ORDER BY approval_deadline LIMIT $1 FOR UPDATE SKIP LOCKED),"
		" u AS ("
		"  UPDATE %1$s.agent_runs r SET status = 'pending', approval_call = NULL,"
		"         approval_deadline = NULL, run_after = pg_catalog.now(), waits = r.waits + 1,"
		"         last_seq = r.last_seq + 1, updated_at = pg_catalog.now()"
		"    FROM w WHERE r.id = w.id"
		"   RETURNING r.id, r.attempts, r.last_seq, w.approval_call,"
		"             pg_catalog.date_part('epoch', r.approval_timeout)::pg_catalog.int4 AS timeout_s)"
		" INSERT INTO %1$s.agent_run_events (run_id, seq, attempt, kind, data)"
		" SELECT id, last_seq, attempts, 'approval',"
		"        pg_catalog.jsonb_build_object('call_id', approval_call, 'approved', false,"
		"          'timed_out', true, 'to', 'pending',"
		"          'note', pg_catalog.format('no answer within approval_timeout (%%s s)', timeout_s))"
		"   FROM u RETURNING run_id::text, seq";
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	int			n;

	values[0] = Int32GetDatum(batch);
	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_EXPIRE_APPROVALS, sql, 1, types), values, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "expiring approvals failed");
	n = (int) SPI_processed;
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		notify_run_events(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
					  DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)));
	}
	SPI_finish();
	return n;
}

/*
 * queue_waiting_sandboxes counts the sandboxes kept running for runs that
 * wait for an approval (a paused one costs no capacity): no worker holds
 * those runs, yet their sandboxes count in sandbox.e2b_max_sandboxes.
 */
uint32
queue_waiting_sandboxes(void)
{
	static const char *sql =
		"SELECT pg_catalog.count(*)::pg_catalog.int4 FROM %1$s.agent_runs r"
		"  JOIN %1$s.sandboxes s ON s.sandbox_id = r.sandbox_id"
		" WHERE r.approval_deadline IS NOT NULL AND r.status = 'waiting' AND s.state = 'running'";
	uint32		n = 0;
	bool		isnull;

	SPI_connect();
	if (SPI_execute_plan(plan_for(QP_WAITING_SANDBOXES, sql, 0, NULL), NULL, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "counting waiting runs' sandboxes failed");
	if (SPI_processed > 0)
		n = (uint32) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return n;
}
