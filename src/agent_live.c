/*-------------------------------------------------------------------------
 *
 * agent_live.c
 *	  Live output: what a running command (or code) prints becomes
 *	  tool_output events as it comes, at most one per run per
 *	  sandbox.live_output_interval, each committed with a NOTIFY.
 *
 * The stream decoders fill the run's sink (live.c) as bytes arrive; the
 * worker calls agent_live_flush after each round of the event loop, and
 * the call's end takes what is left before its tool_result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "agent_internal.h"
#include "json_util.h"
#include "secrets.h"
#include "settings.h"

/*
 * live_note files the run on the worker's list of runs with live output
 * to show (agent_live_flush), once its sink holds something.
 */
static void
live_note(Run *run)
{
	if (!run->live_linked && live_pending(&run->live))
	{
		dlist_push_tail(&run->env->live, &run->live_node);
		run->live_linked = true;
	}
}

/*
 * live_exec_feed is a command stream's HttpStreamFn: the decoder fills the
 * ExecState and the run's sink, then the run is noted.
 */
static void
live_exec_feed(HttpRequest *req, void *arg)
{
	RunOp	   *op = (RunOp *) arg;

	exec_state_feed(req, &op->exec);
	live_note(op->run);
}

/*
 * live_code_feed is the same for a code interpreter's stream.
 */
static void
live_code_feed(HttpRequest *req, void *arg)
{
	RunOp	   *op = (RunOp *) arg;

	code_state_feed(req, &op->code);
	live_note(op->run);
}

/*
 * agent_live_attach points a tool's streamed request at the run's sink (unless
 * live output is off, sandbox.max_live_output_bytes = 0).
 */
void
agent_live_attach(Run *run, RunOp *op, HttpRequest *req)
{
	if (req == NULL || sandbox_max_live_output_bytes <= 0)
		return;
	if (req->stream_fn == exec_state_feed)
	{
		op->exec.live = &run->live;
		req->stream_fn = live_exec_feed;
		req->stream_arg = op;
	}
	else if (req->stream_fn == code_state_feed)
	{
		op->code.live = &run->live;
		req->stream_fn = live_code_feed;
		req->stream_arg = op;
	}
}

/*
 * agent_live_stage stages one tool_output event with what the sink holds
 * (all of it when final; otherwise a tail as long as the longest secret
 * stays, so that a value split between two pieces is still redacted
 * whole).  Live output counts against its own budget, not the run's
 * event budget; what was dropped is said in the event.
 */
void
agent_live_stage(Run *run, LlmToolCall *tc, bool final)
{
	LiveChunk	c;
	StringInfoData d;
	bool		first = true;

	if (!live_take(&run->live, final ? 0 : run->live_holdback, &c))
		return;
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	if (tc)
	{
		json_append_kv_string(&d, &first, "call_id", tc->id);
		json_append_kv_string(&d, &first, "tool", tc->name);
	}
	if (c.out)
		json_append_kv_string(&d, &first, "stdout",
							  run->secret_values ? secrets_redact(c.out, run->secret_values) : c.out);
	if (c.err)
		json_append_kv_string(&d, &first, "stderr",
							  run->secret_values ? secrets_redact(c.err, run->secret_values) : c.err);
	if (c.dropped > 0)
	{
		json_append_kv_int(&d, &first, "dropped", c.dropped);
		json_append_kv_string(&d, &first, "dropped_reason",
							  run->live.budget <= 0 ?
							  "the run's live output reached sandbox.max_live_output_bytes" :
							  "more than 64 kB came between two events");
	}
	appendStringInfoChar(&d, '}');
	agent_stage_event_ex(run, "tool_output", d.data, false);
	run->live_last = GetCurrentTimestamp();
}

/*
 * agent_live_reset empties the sink for a new call (what an earlier call left
 * unshown is dropped with it).
 */
void
agent_live_reset(Run *run)
{
	resetStringInfo(&run->live.out);
	resetStringInfo(&run->live.err);
	run->live.dropped = 0;
	if (run->live_linked)
	{
		dlist_delete(&run->live_node);
		run->live_linked = false;
	}
}

/*
 * agent_live_flush stages a tool_output event for every run whose sink
 * holds output and whose last event is at least
 * sandbox.live_output_interval old (at most one event per run per
 * interval).  Returns when the next one is due, or 0.
 */
TimestampTz
agent_live_flush(AgentEnv *env, TimestampTz now)
{
	TimestampTz next = 0;
	dlist_mutable_iter it;
	TimestampTz interval = (TimestampTz) sandbox_live_output_interval * 1000;

	dlist_foreach_modify(it, &env->live)
	{
		Run		   *run = dlist_container(Run, live_node, it.cur);
		RunOp	   *op = &run->ops[OP_TOOL];
		TimestampTz due = run->live_last + interval;

		if (run->lost || run->phase != PHASE_EXECUTING || op->tool == NULL)
		{
			dlist_delete(&run->live_node);
			run->live_linked = false;
			continue;
		}
		if (due > now)
		{
			if (next == 0 || due < next)
				next = due;
			continue;
		}
		agent_live_stage(run, op->tool, false);
		/* a held-back tail waits for more output, or the call's end */
		dlist_delete(&run->live_node);
		run->live_linked = false;
	}
	return next;
}
