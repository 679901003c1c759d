/*-------------------------------------------------------------------------
 *
 * sql_approval.c
 *	  sandbox_approve(): a person's answer to the tool call a waiting run
 *	  waits on.
 *
 * A run that reaches a call its approval policy names moves to `waiting`
 * (the worker records the call in approval_call and lets the run go).
 * This function, called by the run's owner, records the decision as an
 * `approval` event and puts the run back in the queue; the attempt that
 * claims it runs the call, or tells the model it was rejected.  Users may
 * not write run rows or events themselves, so the one statement runs as
 * the extension's owner, after the caller was checked here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "identity.h"
#include "registry.h"
#include "sandbox.h"
#include "sql_common.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(sandbox_approve);

#define MAX_NOTE_BYTES 4096

/*
 * sandbox_approve(run_id, call_id, approved, note): see the file header.
 * Returns true when this call decided the call, false when the run no
 * longer waits (decided already, cancelled, timed out).
 */
Datum
sandbox_approve(PG_FUNCTION_ARGS)
{
	ExtensionInfo ext;
	Datum		run_id;
	char	   *run_text;
	char	   *call_id;
	bool		approved;
	char	   *note = NULL;
	Oid			owner = InvalidOid;
	char	   *owner_id = NULL;
	char	   *status = NULL;
	char	   *waiting_call = NULL;
	bool		found;
	bool		isnull;
	uint64		n = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("run_id, call_id and approved must not be NULL")));
	run_id = PG_GETARG_DATUM(0);
	run_text = DatumGetCString(DirectFunctionCall1(uuid_out, run_id));
	call_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	approved = PG_GETARG_BOOL(2);
	if (!PG_ARGISNULL(3))
	{
		note = text_to_cstring(PG_GETARG_TEXT_PP(3));
		if (strlen(note) > MAX_NOTE_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the note is too long: %zu bytes", strlen(note)),
					 errdetail("A note is at most %d bytes.", MAX_NOTE_BYTES)));
	}

	sandbox_extension_info(&ext, false);
	SPI_connect();

	/* the run, locked: who owns it and what it waits on */
	{
		Oid			types[1] = {UUIDOID};
		Datum		values[1] = {run_id};

		registry_run_as_owner(&ext,
							  psprintf("SELECT owner::pg_catalog.oid, owner_id, status::pg_catalog.text, approval_call"
									   "  FROM %s.agent_runs WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
									   ext.schema_quoted),
							  1, types, values, NULL, false);
		found = SPI_processed > 0;
		if (found)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;

			owner = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
			owner_id = SPI_getvalue(tup, desc, 2);
			status = SPI_getvalue(tup, desc, 3);
			waiting_call = SPI_getvalue(tup, desc, 4);
		}
	}
	/* the run's owner only: its role (or a member) and its identity */
	if (!found || !has_privs_of_role(GetUserId(), owner) ||
		!identity_matches(owner_id, identity_current()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot decide on agent run %s: it does not exist or is not yours", run_text),
				 errhint("Only a run's owner (role and identity) can approve its calls.")));
	if (strcmp(status, "waiting") != 0)
	{
		SPI_finish();
		ereport(NOTICE,
				(errmsg("agent run %s is not waiting for an approval (it is %s)", run_text, status)));
		PG_RETURN_BOOL(false);
	}
	if (waiting_call == NULL || strcmp(waiting_call, call_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("agent run %s waits on call %s, not on %s", run_text,
						waiting_call ? waiting_call : "(none)", call_id),
				 errhint("The call is in the run's last approval_requested event.")));

	/* the decision, and back to the queue */
	{
		Oid			types[5] = {UUIDOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID};
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

		values[0] = run_id;
		values[1] = CStringGetTextDatum(call_id);
		values[2] = BoolGetDatum(approved);
		if (note)
			values[3] = CStringGetTextDatum(note);
		else
			nulls[3] = 'n';
		values[4] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
		sandbox_trusted_write = true;
		PG_TRY();
		{
			n = registry_run_as_owner(&ext,
									  psprintf("WITH u AS ("
											   "  UPDATE %1$s.agent_runs SET status = 'pending', approval_call = NULL,"
											   "         approval_deadline = NULL, run_after = pg_catalog.now(),"
											   "         waits = waits OPERATOR(pg_catalog.+) 1,"
											   "         last_seq = last_seq OPERATOR(pg_catalog.+) 1, updated_at = pg_catalog.now()"
											   "   WHERE id OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'waiting'"
											   "     AND approval_call OPERATOR(pg_catalog.=) $2"
											   "   RETURNING id, attempts, last_seq)"
											   " INSERT INTO %1$s.agent_run_events (run_id, seq, attempt, kind, data)"
											   " SELECT id, last_seq, attempts, 'approval',"
											   "        pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object("
											   "          'call_id', $2, 'approved', $3, 'note', $4, 'by', $5,"
											   "          'timed_out', false, 'to', 'pending'))"
											   "   FROM u RETURNING seq",
											   ext.schema_quoted),
									  5, types, values, nulls, false);
		}
		PG_FINALLY();
		{
			sandbox_trusted_write = false;
		}
		PG_END_TRY();
		if (n > 0)
			notify_run_events(run_text, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
																	SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}
