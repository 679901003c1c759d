/*-------------------------------------------------------------------------
 *
 * agent_approval.c
 *	  A tool call that waits for a person: the run's approval policy, the
 *	  move to waiting, and what the model is told of a rejected call.
 *
 * The decision itself is sandbox_approve's (sql_approval.c) or the
 * worker's, when approval_timeout passes (queue.c); the attempt that
 * claims the run again finds it in the log (resume.c) and acts on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "agent_internal.h"
#include "json_util.h"

/*
 * agent_needs_approval applies the run's approval policy to a call: 'never',
 * 'all', 'commands' (run_command and run_code: they execute code), or
 * the names of tools.  A call a person approved runs without asking again.
 */
bool
agent_needs_approval(Run *run, LlmToolCall *tc)
{
	ListCell   *lc;

	if (run->approved_call && strcmp(run->approved_call, tc->id) == 0)
		return false;
	foreach(lc, run->approval)
	{
		const char *p = lfirst(lc);

		if (strcmp(p, "all") == 0 || strcmp(p, tc->name) == 0)
			return true;
		if (strcmp(p, "commands") == 0 &&
			(strcmp(tc->name, "run_command") == 0 || strcmp(tc->name, "run_code") == 0))
			return true;
	}
	return false;
}

/*
 * agent_park stages executing -> waiting with an
 * approval_requested event holding the call.  Once that is committed the
 * run keeps its sandbox alive for the wait (agent_after_commit) and the
 * worker lets it go: sandbox_approve (or the approval_timeout) puts it
 * back in the queue, and the attempt that claims it resumes at this call.
 */
void
agent_park(Run *run, LlmToolCall *tc)
{
	StringInfoData d;
	bool		first = true;
	TimestampTz deadline = GetCurrentTimestamp() + (TimestampTz) run->approval_timeout_s * USECS_PER_SEC;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "call_id", tc->id);
	json_append_kv_string(&d, &first, "tool", tc->name);
	if (tc->input)
		json_append_kv_raw(&d, &first, "input", JsonbToCString(NULL, &tc->input->root, 64));
	else
		json_append_kv_string(&d, &first, "raw_arguments", tc->raw_arguments);
	json_append_kv_string(&d, &first, "deadline", timestamptz_to_str(deadline));
	json_append_kv_int(&d, &first, "timeout_s", run->approval_timeout_s);
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "approval_requested", d.data);
	agent_stage_transition(run, RS_WAITING);
	run->set_waiting_call = agent_stage_strdup(run, tc->id);
	run->phase = PHASE_PARKING;
}

/*
 * agent_answer_rejected answers a call a person rejected (or that no one
 * approved in time): the model is told, with the person's note.
 */
void
agent_answer_rejected(Run *run, LlmToolCall *tc)
{
	StringInfoData d;
	bool		first = true;
	char	   *content;

	if (run->decided_timed_out)
		content = psprintf("error: this call was not run: no one approved it within the run's approval_timeout (%d s). "
						   "Go on without it, or try another way.", run->approval_timeout_s);
	else
		content = psprintf("error: this call was not run: the user rejected it%s%s. "
						   "Go on without it, taking the note into account.",
						   run->decided_note ? ", with the note: " : "",
						   run->decided_note ? run->decided_note : "");
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "id", tc->id);
	json_append_kv_string(&d, &first, "name", tc->name);
	json_append_kv_string(&d, &first, "error", run->decided_timed_out ? "approval timed out" : "rejected");
	json_append_kv_raw(&d, &first, "rejected", "true");
	if (run->decided_note)
		json_append_kv_string(&d, &first, "note", run->decided_note);
	appendStringInfoChar(&d, '}');
	agent_add_tool_result(run, tc, content, true, d.data);
}
