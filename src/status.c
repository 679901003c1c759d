/*-------------------------------------------------------------------------
 *
 * status.c
 *	  sandbox_worker_status(): what each agent-run worker is doing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "identity.h"
#include "json_util.h"
#include "ratelimit.h"
#include "launcher.h"
#include "sandbox.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(sandbox_worker_status);

/*
 * state_name names a worker state for sandbox_worker_status().
 */
static const char *
state_name(WorkerState s)
{
	switch (s)
	{
		case WORKER_STOPPED:
			return "stopped";
		case WORKER_STARTING:
			return "starting";
		case WORKER_IDLE_NO_EXTENSION:
			return "waiting for the extension";
		case WORKER_RUNNING:
			return "running";
		case WORKER_STOPPING:
			return "stopping";
	}
	return "unknown";
}

/*
 * breakers_json renders a worker's circuit breakers: per endpoint its
 * state, failures in a row, when it opened, how often it opened and how
 * many requests it held back.
 */
static Datum
breakers_json(WorkerSlot *s)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < BREAKER_NUM; i++)
	{
		bool		first = true;
		uint64		opened = pg_atomic_read_u64(&s->breaker_opened_at[i]);

		if (i > 0)
			appendStringInfoChar(&b, ',');
		json_append_string(&b, breaker_endpoint_name((BreakerEndpoint) i));
		appendStringInfoString(&b, ":{");
		json_append_kv_string(&b, &first, "state",
							  breaker_state_name((BreakerState) pg_atomic_read_u32(&s->breaker_state[i])));
		json_append_kv_int(&b, &first, "failures", pg_atomic_read_u32(&s->breaker_failures[i]));
		if (opened)
			json_append_kv_string(&b, &first, "opened_at", timestamptz_to_str((TimestampTz) opened));
		else
			json_append_kv_raw(&b, &first, "opened_at", "null");
		json_append_kv_int(&b, &first, "opens", (int64) pg_atomic_read_u64(&s->breaker_opens[i]));
		json_append_kv_int(&b, &first, "held", (int64) pg_atomic_read_u64(&s->breaker_held[i]));
		appendStringInfoChar(&b, '}');
	}
	/* the provider limits all workers share (sandbox_limits() has more) */
	appendStringInfoString(&b, ",\"limits\":{");
	for (int k = 0; k < RATE_NUM; k++)
	{
		RateView	v;
		bool		first = true;

		if (!ratelimit_view((RateKind) k, GetCurrentTimestamp(), &v))
			break;
		if (k > 0)
			appendStringInfoChar(&b, ',');
		json_append_string(&b, v.name);
		appendStringInfoString(&b, ":{");
		if (v.rate_per_s > 0)
		{
			json_append_kv_raw(&b, &first, "per_s", psprintf("%g", v.rate_per_s));
			json_append_kv_raw(&b, &first, "available", psprintf("%g", v.available));
		}
		else
			json_append_kv_raw(&b, &first, "per_s", "null");
		if (v.blocked_until)
			json_append_kv_string(&b, &first, "blocked_until", timestamptz_to_str(v.blocked_until));
		json_append_kv_int(&b, &first, "held", (int64) v.held);
		appendStringInfoChar(&b, '}');
	}
	appendStringInfoString(&b, "}}");
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
}

/*
 * serves_here tells whether a slot's worker serves the current database: by
 * OID once it is known, by name before a static worker has connected.
 */
static bool
serves_here(Oid database, const char *dbname, const char *here)
{
	if (dbname[0] == '\0')
		return false;
	if (OidIsValid(database))
		return database == MyDatabaseId;
	return here != NULL && strcmp(dbname, here) == 0;
}

/*
 * sandbox_worker_status returns one row per worker of the current database
 * (other databases' workers, and their names, are not shown: ask in each
 * database, or look at pg_stat_activity), and one row per worker it should
 * have but found no free slot for (several databases).  Without
 * shared_preload_libraries there are no workers, and no rows.  last_error
 * is the latest trouble still current: the worker's own error (until a
 * later database pass succeeds) or the last run that failed (until a run
 * completes).  A run failure's text is shown only to its owner (members of
 * its role with its identity) and superusers; others learn only that a run
 * failed.
 */
Datum
sandbox_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		identity_known = false;
	char	   *identity = NULL;
	char	   *here;
	int			missing;
	int			natts;
	NameData	here_name;

	InitMaterializedSRF(fcinfo, 0);
	if (sandbox_shared == NULL)
		return (Datum) 0;
	natts = rsinfo->setDesc->natts;
	here = get_database_name(MyDatabaseId);
	namestrcpy(&here_name, here ? here : "");
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
	{
		WorkerSlot *s = &sandbox_shared->slots[i];
		Datum		values[19];
		bool		nulls[19] = {0};
		pid_t		pid;
		TimestampTz started;
		char		last_error[256];
		TimestampTz last_error_at;
		char		last_failure[256];
		TimestampTz last_failure_at;
		Oid			failure_owner;
		char		failure_owner_id[128];
		Oid			database;
		char		dbname[NAMEDATALEN];

		SpinLockAcquire(&s->mutex);
		pid = s->pid;
		database = s->database;
		strlcpy(dbname, s->dbname, sizeof(dbname));
		started = s->started_at;
		strlcpy(last_error, s->last_error, sizeof(last_error));
		last_error_at = s->last_error_at;
		strlcpy(last_failure, s->last_failure, sizeof(last_failure));
		last_failure_at = s->last_failure_at;
		failure_owner = s->last_failure_owner;
		strlcpy(failure_owner_id, s->last_failure_owner_id, sizeof(failure_owner_id));
		SpinLockRelease(&s->mutex);
		if (!serves_here(database, dbname, here))
			continue;

		if (last_failure_at > last_error_at)
		{
			/* the caller's identity, asked once per call, and only if needed */
			if (!identity_known && !superuser())
			{
				identity = identity_current();
				identity_known = true;
			}
			if (superuser() || (OidIsValid(failure_owner) &&
								has_privs_of_role(GetUserId(), failure_owner) &&
								identity_matches(failure_owner_id[0] ? failure_owner_id : NULL,
												 identity)))
				strlcpy(last_error, last_failure, sizeof(last_error));
			else
				strlcpy(last_error, "a run of another role failed", sizeof(last_error));
			last_error_at = last_failure_at;
		}

		values[0] = Int32GetDatum(i + 1);
		values[1] = Int32GetDatum(pid);
		nulls[1] = pid == 0;
		values[2] = CStringGetTextDatum(state_name((WorkerState) pg_atomic_read_u32(&s->state)));
		values[3] = TimestampTzGetDatum(started);
		nulls[3] = started == 0;
		values[4] = Int32GetDatum((int32) pg_atomic_read_u32(&s->runs_in_flight));
		values[5] = Int32GetDatum((int32) pg_atomic_read_u32(&s->requests_in_flight));
		for (int c = 0; c < WC_NUM_COUNTERS; c++)
			values[6 + c] = Int64GetDatum((int64) pg_atomic_read_u64(&s->counters[c]));
		values[15] = CStringGetTextDatum(last_error);
		nulls[15] = last_error[0] == '\0';
		values[16] = TimestampTzGetDatum(last_error_at);
		nulls[16] = last_error_at == 0;
		/* a 1.1 schema has the breakers and database columns */
		if (natts > 17)
			values[17] = breakers_json(s);
		if (natts > 18)
			values[18] = NameGetDatum(&here_name);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/* workers this database should have, for which no slot was free */
	missing = launcher_missing_workers(MyDatabaseId);
	for (int i = 0; i < missing; i++)
	{
		Datum		values[19];
		bool		nulls[19];

		memset(nulls, true, sizeof(nulls));
		values[2] = CStringGetTextDatum("no free slot");
		nulls[2] = false;
		values[15] = CStringGetTextDatum(psprintf("this database lacks %d of its %d workers: the %d worker slots are taken by other databases (lower sandbox.workers or serve fewer databases)",
												  missing, sandbox_workers, SANDBOX_MAX_WORKERS));
		nulls[15] = false;
		if (natts > 18)
		{
			values[18] = NameGetDatum(&here_name);
			nulls[18] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
