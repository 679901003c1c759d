/*-------------------------------------------------------------------------
 *
 * reaper.c
 *	  Finding sandboxes that nothing live owns, and keeping the `sandboxes`
 *	  table true.
 *
 * Every sandbox.reaper_interval, the worker lists the running and paused
 * sandboxes of this database (metadata pgsandbox_db) page by page, without
 * any transaction open.  Then, inside its loop transaction, it decides:
 *	- a run's sandbox (pgsandbox_run) is killed when the run is unknown,
 *	  finished, or pending or on another attempt than the one that created
 *	  it, unless the run (pending, planning, executing or waiting) records
 *	  it as its sandbox_id (a rescued run resumes in its own sandbox), and
 *	  except a finished run's sandbox that its keep_sandbox still keeps,
 *	  and a sandbox a later run of the same thread uses or keeps (a
 *	  continued run works in its parent's sandbox);
 *	- a sandbox made by sandbox_create() is killed when its row says it is
 *	  killed, expired or lost, or when it has no row and is older than ten
 *	  minutes (its creator's transaction rolled back, or its backend died);
 *	  a paused one the table knows as paused is never killed;
 *	- rows whose sandbox E2B lists as paused (on_timeout 'pause' at its
 *	  timeout) become paused, and paused rows whose sandbox runs again
 *	  (resumed by traffic) become running;
 *	- rows still running or paused whose sandbox E2B no longer lists are
 *	  marked expired (a run's, or one whose metadata names this database);
 *	  rows of sandboxes adopted with sandbox_connect() carry no pgsandbox_db
 *	  of this database, are never listed, and are left alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "json_util.h"
#include "reaper.h"
#include "registry.h"
#include "sandbox.h"
#include "sql_common.h"

#define REAPER_PAGE 100
#define REAPER_MAX_PAGES 100

typedef struct ReapEntry
{
	char	   *sandbox_id;
	char	   *run_id;
	int			attempt;
	char	   *started_at;
	char	   *state;			/* running or paused */
} ReapEntry;

/*
 * reaper_init sets up the reaper with its own memory context.
 */
void
reaper_init(Reaper *r, MemoryContext parent)
{
	memset(r, 0, sizeof(*r));
	r->cxt = AllocSetContextCreate(parent, "sandbox reaper", ALLOCSET_DEFAULT_SIZES);
}

/*
 * reaper_start requests the first page of the listing.
 */
void
reaper_start(Reaper *r, EventLoop *ev)
{
	MemoryContext old;

	MemoryContextReset(r->cxt);
	r->entries = NIL;
	r->pages = 0;
	r->ready = false;
	r->failed = false;
	r->started_at = GetCurrentTimestamp();
	old = MemoryContextSwitchTo(r->cxt);
	r->query = psprintf("%s=%s", METADATA_PREFIX "db", sandbox_database_tag());
	r->req = e2b_list_request(r->query, NULL, REAPER_PAGE, "running,paused");
	r->req->owner = r;
	r->req->owner_tag = REAPER_OWNER_TAG;
	evloop_add(ev, r->req);
	MemoryContextSwitchTo(old);
}

/*
 * reaper_on_done reads one page; asks for the next or marks the listing
 * ready for the decision.
 */
void
reaper_on_done(Reaper *r, EventLoop *ev, HttpRequest *req)
{
	CallError	err;
	Jsonb	   *j;
	JsonbContainer *arr;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	char	   *token;

	r->req = NULL;
	if (call_error_from_http(req, SERVICE_E2B_API, &err))
	{
		r->failed = true;
		r->error = call_error_describe(&err);
		MemoryContextSwitchTo(old);
		return;
	}
	j = json_parse(http_data(req), http_data_len(req));
	arr = json_root(j);
	if (!json_is_array(arr))
	{
		r->failed = true;
		r->error = pstrdup("the sandbox listing is not a JSON array");
		MemoryContextSwitchTo(old);
		return;
	}
	for (int i = 0; i < jarr_length(arr); i++)
	{
		JsonbContainer *o = json_value_container(jarr_get(arr, i));
		JsonbContainer *meta = json_get_object(o, "metadata");
		ReapEntry  *e = palloc0(sizeof(ReapEntry));
		char	   *attempt;

		e->sandbox_id = json_get_string(o, "sandboxID");
		if (e->sandbox_id == NULL)
			continue;
		e->run_id = json_get_string(meta, METADATA_PREFIX "run");
		attempt = json_get_string(meta, METADATA_PREFIX "attempt");
		e->attempt = attempt ? atoi(attempt) : 0;
		e->started_at = json_get_string(o, "startedAt");
		e->state = json_get_string(o, "state");
		if (e->state == NULL || strcmp(e->state, "paused") != 0)
			e->state = "running";
		r->entries = lappend(r->entries, e);
	}
	token = req->next_token[0] ? pstrdup(req->next_token) : NULL;
	http_release(req);
	if (token && ++r->pages < REAPER_MAX_PAGES)
	{
		r->req = e2b_list_request(r->query, token, REAPER_PAGE, "running,paused");
		r->req->owner = r;
		r->req->owner_tag = REAPER_OWNER_TAG;
		evloop_add(ev, r->req);
	}
	else
		r->ready = true;
	MemoryContextSwitchTo(old);
}

/*
 * reaper_decide runs in the worker's transaction once a listing is ready:
 * returns the ids of sandboxes to kill (allocated in cxt), records which
 * listed sandboxes are paused or running again, and marks rows of
 * sandboxes E2B no longer lists as expired.
 */
List *
reaper_decide(Reaper *r, const char *schema, MemoryContext cxt)
{
	static const char *decide_sql =
		"SELECT c.sandbox_id FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
		"       pg_catalog.unnest($3), pg_catalog.unnest($4)) AS c(sandbox_id, run_id, attempt, started)"
		"  LEFT JOIN %1$s.agent_runs r ON c.run_id IS NOT NULL AND r.id = c.run_id::pg_catalog.uuid"
		"  LEFT JOIN %1$s.sandboxes s ON s.sandbox_id = c.sandbox_id"
		" WHERE CASE WHEN c.run_id IS NOT NULL THEN"
		"         (r.id IS NULL OR r.status NOT IN ('pending', 'planning', 'executing', 'waiting')"
		"          OR (r.sandbox_id IS DISTINCT FROM c.sandbox_id AND (r.status = 'pending'"
		"              OR (c.attempt::pg_catalog.int4 > 0 AND r.attempts <> c.attempt::pg_catalog.int4))))"
		"         AND NOT (r.keep_sandbox IS NOT NULL AND r.status IN ('completed', 'failed')"
		"                  AND r.sandbox_id = c.sandbox_id"
		"                  AND r.completed_at + r.keep_sandbox > pg_catalog.now())"
		"         AND NOT EXISTS (SELECT 1 FROM %1$s.agent_runs t"
		"                  WHERE r.id IS NOT NULL AND t.thread_id = COALESCE(r.thread_id, r.id)"
		"                    AND t.sandbox_id = c.sandbox_id"
		"                    AND (t.completed_at IS NULL OR (t.keep_sandbox IS NOT NULL"
		"                         AND t.status IN ('completed', 'failed')"
		"                         AND t.completed_at + t.keep_sandbox > pg_catalog.now())))"
		"       ELSE (s.sandbox_id IS NOT NULL AND s.state NOT IN ('running', 'paused'))"
		"         OR (s.sandbox_id IS NULL AND"
		"             COALESCE(c.started::pg_catalog.timestamptz, pg_catalog.now()) < pg_catalog.now() - interval '10 minutes')"
		"       END";
	/* listed states: running rows paused by E2B, paused rows resumed */
	static const char *state_sql =
		"UPDATE %1$s.sandboxes s SET state = c.state::%1$s.sandbox_state,"
		"       paused_at = CASE WHEN c.state = 'paused' THEN pg_catalog.now() END"
		"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS c(sandbox_id, state)"
		" WHERE s.sandbox_id = c.sandbox_id AND s.state IN ('running', 'paused')"
		"   AND s.state::pg_catalog.text <> c.state"
		"   AND CASE WHEN c.state = 'paused' THEN COALESCE(s.last_used_at, s.created_at) < $3"
		"            ELSE COALESCE(s.paused_at, s.created_at) < $3 END";
	static const char *expire_sql =
		"UPDATE %1$s.sandboxes SET state = 'expired', killed_at = pg_catalog.now()"
		" WHERE state IN ('running', 'paused') AND created_at < $2"
		"   AND (run_id IS NOT NULL OR metadata->>'pgsandbox_db' = $3)"
		"   AND NOT (sandbox_id = ANY ($1))";
	Oid			types[4] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	List	   *ids = NIL,
			   *runs = NIL,
			   *attempts = NIL,
			   *started = NIL,
			   *states = NIL;
	List	   *kill = NIL;
	ListCell   *lc;
	Oid			etypes[3] = {TEXTARRAYOID, TIMESTAMPTZOID, TEXTOID};
	Datum		evalues[3];
	Oid			stypes[3] = {TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZOID};
	Datum		svalues[3];

	foreach(lc, r->entries)
	{
		ReapEntry  *e = lfirst(lc);

		ids = lappend(ids, e->sandbox_id);
		runs = lappend(runs, e->run_id);
		attempts = lappend(attempts, psprintf("%d", e->attempt));
		started = lappend(started, e->started_at);
		states = lappend(states, e->state);
	}
	values[0] = text_array_datum(ids);
	values[1] = text_array_datum(runs);
	values[2] = text_array_datum(attempts);
	values[3] = text_array_datum(started);

	SPI_connect();
	if (SPI_execute_with_args(psprintf(decide_sql, schema), 4, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reaper: deciding failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		kill = lappend(kill, pstrdup(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		MemoryContextSwitchTo(old);
	}

	/*
	 * A row's state is only changed from a listing that began after the
	 * row was last paused or resumed (both record the clock's time on this
	 * host; a second of margin): a sandbox paused or resumed by a backend
	 * while the listing was under way keeps its row until the next one.
	 */
	svalues[0] = values[0];
	svalues[1] = text_array_datum(states);
	svalues[2] = TimestampTzGetDatum(r->started_at - USECS_PER_SEC);
	if (SPI_execute_with_args(psprintf(state_sql, schema), 3, stypes, svalues, NULL, false, 0) < 0)
		elog(ERROR, "reaper: recording paused sandboxes failed");

	/*
	 * Rows of sandboxes that were already gone when the listing began.  A
	 * row is written after its sandbox was created, so a row older than the
	 * listing (with a margin for clock skew) names a sandbox E2B would have
	 * listed had it been alive: a run's, or one whose metadata names this
	 * database.  A sandbox adopted with sandbox_connect() has no such
	 * metadata (or another database's), is never listed, and keeps its row.
	 */
	evalues[0] = values[0];
	evalues[1] = TimestampTzGetDatum(r->started_at - 10 * USECS_PER_SEC);
	evalues[2] = CStringGetTextDatum(sandbox_database_tag());
	if (SPI_execute_with_args(psprintf(expire_sql, schema), 3, etypes, evalues, NULL, false, 0) < 0)
		elog(ERROR, "reaper: marking expired sandboxes failed");
	r->expired = SPI_processed;
	SPI_finish();
	r->ready = false;
	r->entries = NIL;
	return kill;
}
