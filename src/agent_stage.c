/*-------------------------------------------------------------------------
 *
 * agent_stage.c
 *	  Staging a run's writes: its events, its status change and the tool
 *	  results it owes the model, kept until the worker's next commit applies
 *	  them (queue_apply) in one fenced statement.
 *
 * Everything the run state machine writes goes through here (agent.c,
 * agent_live.c, agent_approval.c, agent_sqlcall.c), so the rules hold in
 * one place: a secret's value never reaches a staged event, an attempt's
 * events stay within sandbox.max_run_event_bytes (live output has a
 * budget of its own), and a run with staged writes is on the worker's
 * dirty list.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "agent_internal.h"
#include "json_util.h"
#include "secrets.h"
#include "settings.h"

/*
 * agent_mark_dirty puts the run on the worker's list of runs with staged writes,
 * so that the commit looks at these runs only.
 */
void
agent_mark_dirty(Run *run)
{
	if (!run->dirty_linked)
	{
		dlist_push_tail(&run->env->dirty, &run->dirty_node);
		run->dirty_linked = true;
	}
}

/*
 * agent_stage_event queues an event; data is a JSON object text.  It counts
 * against sandbox.max_run_event_bytes.
 */
void
agent_stage_event(Run *run, const char *kind, const char *data)
{
	agent_stage_event_ex(run, kind, data, true);
}

/*
 * agent_stage_event_ex queues an event; counted or not against the run's event
 * budget (live output has a budget of its own, so that a chatty command
 * never cuts the events a resumed attempt needs).
 */
void
agent_stage_event_ex(Run *run, const char *kind, const char *data, bool counted)
{
	MemoryContext old = MemoryContextSwitchTo(run->stage_cxt);
	RunEvent   *e = palloc(sizeof(RunEvent));
	size_t		len = strlen(data);

	e->kind = pstrdup(kind);
	/* a secret's value never reaches the table: [secret:NAME] instead */
	if (run->secret_values != NIL)
	{
		data = secrets_redact(data, run->secret_values);
		len = strlen(data);
	}
	/* past the run's budget, an event keeps its kind and says what was cut */
	if (counted && run->event_bytes + len > (size_t) sandbox_max_run_event_bytes &&
		strcmp(kind, "status") != 0 && strcmp(kind, "error") != 0)
		e->data = psprintf("{\"cut\": true, \"bytes\": %zu, \"reason\": \"the run's events reached sandbox.max_run_event_bytes (%d)\"}",
						   len, sandbox_max_run_event_bytes);
	else
		e->data = pstrdup(data);
	if (counted)
		run->event_bytes += strlen(e->data);
	run->events = lappend(run->events, e);
	MemoryContextSwitchTo(old);
	agent_mark_dirty(run);
}

/*
 * agent_stage_transition queues a status change (committed with the events).
 */
void
agent_stage_transition(Run *run, RunStatus to)
{
	StringInfoData d;
	bool		first = true;

	run->transition = true;
	run->new_status = to;
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "from", run_status_name(run->status));
	json_append_kv_string(&d, &first, "to", run_status_name(to));
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "status", d.data);
}

/*
 * agent_stage_strdup copies a string into the run's staging memory (freed after
 * the commit), or returns NULL.
 */
char *
agent_stage_strdup(Run *run, const char *s)
{
	return s ? MemoryContextStrdup(run->stage_cxt, s) : NULL;
}

/*
 * agent_has_staged tells whether the run has writes waiting for a commit.
 */
bool
agent_has_staged(Run *run)
{
	return run->events != NIL || run->transition || run->record_sandbox || run->sql_call != NULL ||
		run->sandbox_extended || run->mark_sandbox != NULL || run->lost_sandbox_id != NULL ||
		run->set_paused != 0 ||
		run->artifact_rows != NIL;
}

/*
 * agent_clear_staged forgets staged writes after the commit applied them
 * (or found them fenced).
 */
void
agent_clear_staged(Run *run)
{
	run->events = NIL;
	run->transition = false;
	run->set_plan = run->set_result = run->set_error = NULL;
	run->set_commit_id = NULL;
	run->set_waiting_call = NULL;
	run->record_sandbox = false;
	run->sandbox_extended = false;
	run->mark_sandbox = NULL;
	run->set_paused = 0;
	run->lost_sandbox_id = NULL;
	run->artifact_rows = NIL;
	run->add_calls = run->add_in = run->add_out = 0;
	run->add_cache_read = run->add_cache_write = 0;
	run->add_cost = 0;
	MemoryContextReset(run->stage_cxt);
	if (run->dirty_linked)
	{
		dlist_delete(&run->dirty_node);
		run->dirty_linked = false;
	}
}

/*
 * agent_add_tool_result keeps a tool's outcome for the next model turn and
 * stages its event.
 */
void
agent_add_tool_result(Run *run, LlmToolCall *tc, const char *content, bool is_error,
				const char *event_json)
{
	MemoryContext old;
	LlmToolResult *r;
	StringInfoData d;
	size_t		n = strlen(event_json);
	bool		first;

	/* the model never sees a secret's value in a tool's output */
	if (run->secret_values != NIL)
		content = secrets_redact(content, run->secret_values);
	old = MemoryContextSwitchTo(run->cxt);
	r = palloc0(sizeof(LlmToolResult));

	r->tool_call_id = pstrdup(tc->id);
	r->content = pstrdup(content);
	r->is_error = is_error;
	run->tool_results = lappend(run->tool_results, r);
	MemoryContextSwitchTo(old);

	/* the durable log: what the model is sent, for a resumed attempt */
	Assert(n >= 2 && event_json[n - 1] == '}');
	initStringInfo(&d);
	appendBinaryStringInfo(&d, event_json, (int) n - 1);
	first = (n == 2);
	json_append_kv_string(&d, &first, "content", content);
	json_append_kv_raw(&d, &first, "is_error", is_error ? "true" : "false");
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "tool_result", d.data);
}

/*
 * agent_answer_error answers a call with an error no tool step produced (an
 * invalid call, a result that does not match, a call a lost sandbox or a
 * stopped worker left): content for the model ("error: <error>" when
 * NULL), and a tool_result event {id, name, error}, with flag (or NULL)
 * set to true.
 */
void
agent_answer_error(Run *run, LlmToolCall *tc, const char *content, const char *error, const char *flag)
{
	StringInfoData d;
	bool		first = true;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "id", tc->id);
	json_append_kv_string(&d, &first, "name", tc->name);
	json_append_kv_string(&d, &first, "error", error);
	if (flag)
		json_append_kv_raw(&d, &first, flag, "true");
	appendStringInfoChar(&d, '}');
	agent_add_tool_result(run, tc, content ? content : psprintf("error: %s", error), true, d.data);
}
