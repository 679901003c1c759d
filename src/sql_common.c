/*-------------------------------------------------------------------------
 *
 * sql_common.c
 *	  Argument checking and request running shared by the SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "json_util.h"
#include "registry.h"
#include "sandbox.h"
#include "sql_common.h"

/*
 * string_map_to_json turns a jsonb object into a JSON object of strings,
 * as E2B wants metadata and environment variables.  Numbers and booleans
 * become their text; nulls, arrays and nested objects are refused.  With
 * reject_reserved, keys starting with pgsandbox_ are refused (they carry
 * the extension's own bookkeeping).
 */
char *
string_map_to_json(Jsonb *j, const char *argname, bool reject_reserved)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData buf;
	bool		first = true;
	char	   *key = NULL;

	if (j == NULL)
		return NULL;
	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object of strings", argname),
				 errhint("For example: '{\"KEY\": \"value\"}'.")));
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (key[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s may not have an empty key", argname)));
			if (reject_reserved && strncmp(key, METADATA_PREFIX, strlen(METADATA_PREFIX)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("metadata key \"%s\" is reserved", key),
						 errdetail("Keys starting with \"%s\" are set by the extension.", METADATA_PREFIX)));
		}
		else if (tok == WJB_VALUE)
		{
			char	   *s;

			if (v.type == jbvString)
				s = pnstrdup(v.val.string.val, v.val.string.len);
			else if (v.type == jbvNumeric)
				s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
			else if (v.type == jbvBool)
				s = v.val.boolean ? "true" : "false";
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s must be a JSON object of strings", argname),
						 errdetail("The value of key \"%s\" is %s.", key,
								   v.type == jbvNull ? "null" : "an array or object")));
			json_append_kv_string(&buf, &first, key, s);
		}
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * sandbox_metadata_json builds the metadata of a new sandbox: the user's
 * keys plus the extension's own (database tag, owner role, run id), which
 * listing and the reaper rely on.
 */
char *
sandbox_metadata_json(Jsonb *user_metadata, const char *run_id)
{
	char	   *user = string_map_to_json(user_metadata, "metadata", true);
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	json_append_kv_string(&buf, &first, METADATA_PREFIX "db", sandbox_database_tag());
	json_append_kv_string(&buf, &first, METADATA_PREFIX "owner", GetUserNameFromId(GetUserId(), false));
	if (run_id)
		json_append_kv_string(&buf, &first, METADATA_PREFIX "run", run_id);
	if (user && strcmp(user, "{}") != 0)
	{
		appendStringInfoChar(&buf, ',');
		appendBinaryStringInfo(&buf, user + 1, strlen(user) - 2);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * arg_text_or_null returns argument n as a C string, or NULL when it is
 * NULL or absent.
 */
char *
arg_text_or_null(FunctionCallInfo fcinfo, int n)
{
	if (PG_NARGS() <= n || PG_ARGISNULL(n))
		return NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * arg_text_required returns argument n as a C string, refusing NULL or ''.
 */
char *
arg_text_required(FunctionCallInfo fcinfo, int n, const char *argname)
{
	char	   *s = arg_text_or_null(fcinfo, n);

	if (s == NULL || s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null or empty", argname)));
	return s;
}

/*
 * check_command_length refuses a command that Linux would refuse with
 * "Argument list too long" (E2BIG): it runs as one argument of bash -c.
 */
void
check_command_length(const char *command)
{
	size_t		len = strlen(command);

	if (len > E2B_MAX_COMMAND_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("command is too long: %zu bytes", len),
				 errdetail("A command runs as one argument of /bin/bash -l -c, and Linux limits one argument to %d bytes.",
						   E2B_MAX_COMMAND_BYTES),
				 errhint("Write the script to a file with sandbox_write_file() and run that file.")));
}

/*
 * check_timeout_s validates a sandbox lifetime in seconds (E2B allows up to
 * 24 hours on its largest plans).
 */
int
check_timeout_s(int timeout_s, const char *argname)
{
	if (timeout_s <= 0 || timeout_s > 86400)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and 86400 seconds, not %d", argname, timeout_s)));
	return timeout_s;
}

/*
 * sandbox_gone reports whether a call to a sandbox's own ports failed
 * because E2B's proxy has no such running sandbox (502 "not found"): it
 * was killed, expired, or paused.
 */
bool
sandbox_gone(const CallError *err)
{
	return err->kind == CALL_NOT_FOUND && err->status == 502 &&
		(err->service == SERVICE_ENVD || err->service == SERVICE_INTERPRETER);
}

/*
 * raise_sandbox_call_error raises a failed call to a sandbox; when the
 * sandbox was not found, or a stream to it ended as unavailable (E2B stops
 * a sandbox it pauses), and the table or E2B says it is paused (by another
 * session, or by E2B at its timeout), the error says so.
 */
void
raise_sandbox_call_error(const CallError *err, const char *action, const char *sandbox_id)
{
	if (sandbox_id && (sandbox_gone(err) ||
					   (err->code && strcmp(err->code, "unavailable") == 0)))
		registry_check_paused(sandbox_id);
	call_error_raise(err, action, sandbox_id);
}

/*
 * perform_or_raise runs a request and raises its error, if any.
 */
void
perform_or_raise(HttpRequest *req, const char *action, const char *sandbox_id,
				 CallService service)
{
	CallError	err;

	http_perform_sync(req, NULL, NULL);
	if (call_error_from_http(req, service, &err))
		raise_sandbox_call_error(&err, action, sandbox_id);
}

/*
 * best_effort runs a clean-up request while an error is being handled: it
 * swallows any failure, holds off interrupts (a second cancel must not
 * stop the clean-up) and allows only a few seconds.
 */
void
best_effort(HttpRequest *req)
{
	MemoryContext cxt = CurrentMemoryContext;
	uint32		saved_holdoff = InterruptHoldoffCount;

	HOLD_INTERRUPTS();
	PG_TRY();
	{
		http_set_timeouts(req, 2000, 5000, 0);
		http_perform_sync(req, NULL, NULL);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	/* an error resets the holdoff count, so restore it rather than decrement */
	InterruptHoldoffCount = saved_holdoff;
}

/*
 * kill_sandbox_quietly kills a sandbox during error handling.
 */
void
kill_sandbox_quietly(const char *sandbox_id)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		best_effort(e2b_kill_request(sandbox_id));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
}

/*
 * parse_rfc3339 reads an RFC 3339 timestamp from a provider's answer as a
 * timestamptz, or sets *isnull when it is absent or unreadable: a strange
 * date must not fail a listing.
 */
Datum
parse_rfc3339(const char *s, bool *isnull)
{
	volatile Datum d = (Datum) 0;
	MemoryContext cxt = CurrentMemoryContext;

	*isnull = true;
	if (s == NULL || s[0] == '\0')
		return d;
	PG_TRY();
	{
		d = DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		*isnull = false;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
	}
	PG_END_TRY();
	return d;
}

/*
 * text_array_list reads a text[] datum as a List of C strings, the inverse
 * of text_array_datum: SQL NULLs become NULL entries with keep_nulls, and
 * are left out without.
 */
List *
text_array_list(Datum d, bool keep_nulls)
{
	Datum	   *elems;
	bool	   *enulls;
	int			n;
	List	   *out = NIL;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
	for (int i = 0; i < n; i++)
		if (!enulls[i] || keep_nulls)
			out = lappend(out, enulls[i] ? NULL : TextDatumGetCString(elems[i]));
	return out;
}

/*
 * text_array_datum builds a text[] datum from a List of C strings; NULL
 * entries become SQL NULLs.
 */
Datum
text_array_datum(List *strings)
{
	int			n = list_length(strings);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i = 0;
	ListCell   *lc;

	foreach(lc, strings)
	{
		char	   *s = lfirst(lc);

		nulls[i] = s == NULL;
		d[i++] = s ? CStringGetTextDatum(s) : (Datum) 0;
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * notify_run_events sends NOTIFY agent_run_events '{"id":..,"seq":N}' (sent at
 * commit): the run's events up to seq N exist.  One per run and commit,
 * however many events it wrote; the payload names no content, which the
 * listener reads from agent_run_events under its row-level security.
 */
void
notify_run_events(const char *run_id, int seq)
{
	char		payload[96];

	snprintf(payload, sizeof(payload), "{\"id\":\"%s\",\"seq\":%d}", run_id, seq);
	Async_Notify("agent_run_events", payload);
}
