/*-------------------------------------------------------------------------
 *
 * agent_sqlcall.c
 *	  A SQL tool's call, as a run makes it: run by the worker inside the
 *	  transaction that writes its result (queue_apply), through sqltool.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "agent_internal.h"
#include "json_util.h"
#include "settings.h"

/*
 * agent_sql_tool_named finds one of the run's SQL tools by name, or NULL.
 */
const SqlTool *
agent_sql_tool_named(List *tools, const char *name)
{
	ListCell   *lc;

	foreach(lc, tools)
	{
		SqlTool    *t = lfirst(lc);

		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

/*
 * agent_sql_call runs the run's pending SQL tool call (sqltool.c: as the
 * run's owner, in a subtransaction of its own) and stages its result.  The
 * caller is queue_apply, inside the subtransaction that writes the run's
 * events: the function's effects and its tool_result commit together or
 * not at all, so a call is never run twice by a resumed attempt, nor lost.
 * mark_* say what to take back if that transaction fails.  Returns false
 * when the run has no call pending.
 */
bool
agent_sql_call(Run *run, int *mark_events, int *mark_results)
{
	LlmToolCall *tc = run->sql_call;
	const SqlTool *t;
	char	   *result = NULL;
	char	   *error = NULL;
	const char *args;
	TimestampTz began = GetCurrentTimestamp();
	bool		ok;
	StringInfoData d;
	bool		first = true;

	if (tc == NULL || run->lost)
		return false;
	*mark_events = list_length(run->events);
	*mark_results = list_length(run->tool_results);
	t = agent_sql_tool_named(run->sql_tools, tc->name);
	args = tc->input ? JsonbToCString(NULL, &tc->input->root, 64) :
		(tc->raw_arguments ? tc->raw_arguments : "{}");
	ok = sqltool_execute(t, run->owner, run->owner_id, args, sandbox_sql_tool_timeout_ms,
						 (size_t) sandbox_sql_tool_max_bytes, &result, &error);
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "id", tc->id);
	json_append_kv_string(&d, &first, "name", tc->name);
	json_append_kv_int(&d, &first, "duration_ms", (GetCurrentTimestamp() - began) / 1000);
	json_append_kv_raw(&d, &first, "sql", "true");
	json_append_kv_raw(&d, &first, "read_only", t->read_only ? "true" : "false");
	if (!ok)
		json_append_kv_string(&d, &first, "error", error ? error : "the SQL tool failed");
	appendStringInfoChar(&d, '}');
	if (ok)
		agent_add_tool_result(run, tc, result, false, d.data);
	else
		agent_add_tool_result(run, tc, psprintf("error: %s", error ? error : "the SQL tool failed"),
						true, d.data);
	return true;
}

/*
 * agent_sql_call_settle: the transaction of a SQL call committed (the run
 * goes on after the commit), or failed (its staged result is taken back,
 * and the call runs again with the next try of the writes).
 */
void
agent_sql_call_settle(Run *run, bool committed, int mark_events, int mark_results)
{
	if (committed)
	{
		run->sql_call = NULL;
		run->sql_continue = true;
		return;
	}
	run->events = list_truncate(run->events, mark_events);
	run->tool_results = list_truncate(run->tool_results, mark_results);
}
