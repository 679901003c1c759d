/*-------------------------------------------------------------------------
 *
 * agent.c
 *	  The run state machine: set-up (sandbox + plan in parallel), the
 *	  tool-using loop, and the end (terminal status, then the sandbox is
 *	  killed).  See agent.h for the rules it keeps.
 *
 * Everything here runs in the worker process outside any transaction; a
 * run's database writes are staged (events, transition) and applied by the
 * worker's next commit.  Nothing here blocks: HTTP goes through the
 * worker's event loop.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "agent.h"
#include "agent_internal.h"
#include "jschema.h"
#include "json_util.h"
#include "ratelimit.h"
#include "registry.h"
#include "resume.h"
#include "sandbox.h"
#include "secrets.h"
#include "sql_common.h"
#include "sqltool.h"
#include "tools.h"

#define MAX_TRIES_E2B 6
#define MAX_TRIES_LLM 6
#define MAX_TRIES_KILL 4
#define MAX_RECONNECTS 2
#define MAX_SANDBOX_RESTARTS 3	/* fresh sandboxes after lost ones, per attempt */
#define RETRY_BASE_MS 500
#define RETRY_CAP_MS 30000
#define EXCERPT_BYTES 2000
#define SANDBOX_GRACE_S 120		/* a run's sandbox outlives its deadline by this */
#define SANDBOX_EXTEND_AHEAD_S 300	/* extend at most this long before expiry */

static const char *const op_names[OP_NUM_KINDS] = {
	"create_sandbox", "plan", "llm", "tool", "kill_sandbox", "extend_sandbox",
	"reconnect_sandbox", "workspace"
};

/* the tool through which Anthropic models give a structured result */
#define RESULT_TOOL "final_result"

/* what follows the filling of a fresh sandbox */
#define WS_THEN_LLM 0			/* the first model turn */
#define WS_THEN_NEXT 1			/* back to the tool loop (after a lost sandbox) */

static const char *const status_names[] = {
	"pending", "planning", "executing", "waiting", "completed", "failed", "cancelled"
};

static const char *const planner_system =
"You plan tasks for an agent that works in an isolated Linux sandbox. "
"Answer with a short numbered plan, one line per step, and nothing else.";

static const char *const executor_system =
"You are an agent that carries out a task in an isolated Linux sandbox (an E2B sandbox, "
"user home /home/user). Use the tools to run commands and to write and read files; "
"they really execute. Follow the plan, check results, and fix what fails. "
"When the task is done, answer with a short final report quoting the relevant output, "
"without calling a tool.";

/*
 * run_status_name returns the SQL name of a run status.
 */
const char *
run_status_name(RunStatus s)
{
	return status_names[s];
}

/*
 * run_status_from_name maps an SQL status name back to the enum.
 */
RunStatus
run_status_from_name(const char *s)
{
	for (int i = 0; i < (int) lengthof(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (RunStatus) i;
	elog(ERROR, "unknown run status \"%s\"", s);
	return RS_FAILED;			/* keep compiler quiet */
}

/*
 * agent_new creates an empty run with its memory contexts.
 */
Run *
agent_new(MemoryContext parent, AgentEnv *env)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "sandbox run", ALLOCSET_DEFAULT_SIZES);
	Run		   *run = MemoryContextAllocZero(cxt, sizeof(Run));

	run->cxt = cxt;
	run->env = env;
	run->stage_cxt = AllocSetContextCreate(cxt, "sandbox run staging", ALLOCSET_SMALL_SIZES);
	for (int i = 0; i < OP_NUM_KINDS; i++)
	{
		run->ops[i].kind = (OpKind) i;
		run->ops[i].run = run;
		run->ops[i].cxt = AllocSetContextCreate(cxt, "sandbox run op", ALLOCSET_DEFAULT_SIZES);
	}
	return run;
}

/*
 * agent_free releases everything the run holds, including its libcurl
 * handles (through the memory-context callbacks of its requests).
 */
void
agent_free(Run *run)
{
	if (run->dirty_linked)
		dlist_delete(&run->dirty_node);
	if (run->live_linked)
		dlist_delete(&run->live_node);
	MemoryContextDelete(run->cxt);
}

/*
 * set_done marks a run finished with, so the worker frees it.
 */
static void
set_done(Run *run)
{
	run->phase = PHASE_DONE;
	run->env->some_done = true;
}

/*
 * excerpt returns at most EXCERPT_BYTES of s for an event.
 */
static char *
excerpt(const char *s)
{
	if (s == NULL)
		return pstrdup("");
	return sandbox_truncate_for_message(s, strlen(s), EXCERPT_BYTES);
}

/* ---------------------------------------------------------------------
 * Operations
 * --------------------------------------------------------------------- */

static void start_op(AgentEnv *env, Run *run, OpKind kind);
static void finish_run(AgentEnv *env, Run *run, RunStatus to, const char *result, const char *error);

/*
 * defer_op marks an operation to start once the staged writes committed.
 */
static void
defer_op(Run *run, OpKind kind)
{
	run->ops[kind].deferred = true;
	run->ops[kind].retry_at = 0;
}

/*
 * op_busy tells whether an operation is in flight or waiting to start.
 */
static bool
op_busy(RunOp *op)
{
	return op->req != NULL || op->retry_at != 0 || op->deferred;
}

/*
 * stop_op cancels an operation in flight or waiting.
 */
static void
stop_op(AgentEnv *env, RunOp *op)
{
	if (op->req)
	{
		evloop_remove(env->ev, op->req);
		http_release(op->req);
		op->req = NULL;
		pg_atomic_fetch_sub_u32(&env->slot->requests_in_flight, 1);
	}
	op->retry_at = 0;
	op->deferred = false;
}

/*
 * agent_stop_ops stops every operation of a run except a sandbox creation in
 * flight: E2B may create the sandbox anyway, so we wait for its answer to
 * record and kill it rather than leak it.
 */
static void
agent_stop_ops(AgentEnv *env, Run *run)
{
	for (int i = 0; i < OP_NUM_KINDS; i++)
		if (i != OP_CREATE || run->ops[i].req == NULL)
			stop_op(env, &run->ops[i]);
}

static E2BTarget
run_target(Run *run)
{
	E2BTarget	t;

	t.sandbox_id = run->sandbox.sandbox_id;
	t.access_token = run->sandbox.access_token;
	t.domain = run->sandbox.domain;
	return t;
}

/*
 * remaining_ms returns the time left before the run's deadline.
 */
static long
remaining_ms(Run *run)
{
	TimestampTz now = GetCurrentTimestamp();

	if (run->deadline <= now)
		return 0;
	return (long) ((run->deadline - now) / 1000);
}

/*
 * sandbox_life_s is the E2B timeout we give the run's sandbox: a little
 * beyond the run's deadline, so it never outlives the run by much.
 */
static int
sandbox_life_s(Run *run)
{
	return (int) Min(sandbox_max_sandbox_lifetime, remaining_ms(run) / 1000 + SANDBOX_GRACE_S);
}

/*
 * extend_ahead is how long before its sandbox's expiry a run extends it:
 * a third of the longest lifetime, at most five minutes, so that a failed
 * extension still leaves time for its retries.
 */
static TimestampTz
extend_ahead(void)
{
	return (TimestampTz) Min(SANDBOX_EXTEND_AHEAD_S, sandbox_max_sandbox_lifetime / 3) * USECS_PER_SEC;
}

/*
 * wants_extension says whether the run's sandbox should have its E2B
 * timeout pushed further now: the run is live, the sandbox expires within
 * extend_ahead() and before the run's own deadline plus half the grace.
 * (A sandbox given the run's whole remaining time expires at the deadline
 * plus the grace, give or take the rounding to seconds: half the grace
 * keeps that from asking again and again.)
 */
static bool
wants_extension(Run *run, TimestampTz at)
{
	return (run->phase == PHASE_SETUP || run->phase == PHASE_EXECUTING) &&
		run->have_sandbox && !run->sandbox_gone && !run->extend_refused &&
		!op_busy(&run->ops[OP_EXTEND]) &&
		run->sandbox_expires - at <= extend_ahead() &&
		run->sandbox_expires < run->deadline + (TimestampTz) SANDBOX_GRACE_S * USECS_PER_SEC / 2;
}

/*
 * run_metadata is the metadata of the run's sandbox: the database tag, the
 * owner and the run id, which the reaper matches against live runs.
 */
static char *
run_metadata(Run *run)
{
	StringInfoData b;
	bool		first = true;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_append_kv_string(&b, &first, METADATA_PREFIX "db", sandbox_database_tag());
	json_append_kv_string(&b, &first, METADATA_PREFIX "owner", run->owner_name);
	json_append_kv_string(&b, &first, METADATA_PREFIX "run", run->id);
	json_append_kv_string(&b, &first, METADATA_PREFIX "attempt", psprintf("%d", run->attempt));
	appendStringInfoChar(&b, '}');
	return b.data;
}

/*
 * tool_timeout_ms is a tool call's time limit: its own, the setting's, and
 * never past the run's deadline.
 */
static int
tool_timeout_ms(Run *run, RunOp *op)
{
	long		t = sandbox_command_timeout > 0 ? sandbox_command_timeout : 3600000;
	int64		asked;

	if (op->tool && op->tool->input &&
		json_get_int64(&op->tool->input->root, "timeout_ms", &asked) && asked > 0)
		t = Min(t, asked);
	t = Min(t, remaining_ms(run));
	return (int) Max(t, 1000);
}

static char *tool_tag(Run *run, LlmToolCall *tc);

/*
 * tool_step is what a tool's functions see of the call in progress.
 */
static ToolStep
tool_step(Run *run, RunOp *op)
{
	ToolStep	st;

	memset(&st, 0, sizeof(st));
	st.call = op->tool;
	st.target = run_target(run);
	st.timeout_ms = tool_timeout_ms(run, op);
	st.step = op->step;
	st.tag = tool_tag(run, op->tool);
	st.exec = &op->exec;
	st.code = &op->code;
	st.scratch = &op->scratch;
	st.scratch_len = &op->scratch_len;
	st.reconnects = op->reconnects;
	st.reattached = op->reattached;
	return st;
}

/*
 * begin_tool sets the tool operation up for a new call.
 */
static void
begin_tool(Run *run, RunOp *op, LlmToolCall *tc, const ToolDef *def)
{
	op->tool = tc;
	op->tool_def = def;
	op->step = 0;
	op->tries = 0;
	op->reconnects = 0;
	op->follow = false;
	op->follow_cause = NULL;
	op->listing = false;
	op->reattached = false;
	op->scratch = NULL;
	op->scratch_len = 0;
	agent_live_reset(run);
}

/*
 * tool_tag is the envd tag of a tool call's process: a resumed attempt
 * finds a command its predecessor started by this tag, and follows it
 * instead of starting it again.
 */
static char *
tool_tag(Run *run, LlmToolCall *tc)
{
	return psprintf("pgsandbox-run-%s-%s", run->id, tc->id);
}

/*
 * build_request creates the HTTP request of an operation (in op->cxt).
 */
static HttpRequest *
build_request(AgentEnv *env, Run *run, RunOp *op)
{
	E2BTarget	t = run_target(run);
	HttpRequest *req = NULL;

	switch (op->kind)
	{
		case OP_CREATE:
			req = e2b_create_request(run->template_id, sandbox_life_s(run),
									 run_metadata(run), run->envs_json);
			break;
		case OP_PLAN:
			{
				LlmConversation c;

				llm_conversation_init(&c, run->provider);
				llm_add_user_text(&c, psprintf("Task:\n%s\n\nWrite the plan.", run->prompt));
				/* the run's own instructions shape the plan too */
				req = llm_request(run->provider, run->model,
								  run->system_prompt ?
								  psprintf("%s\n\n%s", planner_system, run->system_prompt) :
								  planner_system,
								  &c, NIL, NULL);
				break;
			}
		case OP_LLM:
			{
				List	   *decls = tool_declarations(run->tools);
				LlmResultAsk ask = {NULL, NULL};
				ListCell   *lc;
				char	   *system = run->system_prompt ?
					psprintf("%s\n\n%s", executor_system, run->system_prompt) :
					pstrdup(executor_system);

				/* the user's SQL functions the run may call */
				foreach(lc, run->sql_tools)
				{
					SqlTool    *t = lfirst(lc);
					LlmToolDecl *d = palloc(sizeof(LlmToolDecl));

					d->name = t->name;
					d->description = t->description;
					d->schema = t->schema_json;
					decls = lappend(decls, d);
				}
				/* a structured result: a tool for Anthropic, a format for OpenAI */
				if (run->result_schema && run->provider == LLM_PROVIDER_ANTHROPIC)
				{
					LlmToolDecl *d = palloc(sizeof(LlmToolDecl));

					d->name = RESULT_TOOL;
					d->description = "Give the final result of the task, as the JSON its schema describes. Call it once, when the task is done, instead of answering in text.";
					d->schema = run->result_schema;
					decls = lappend(decls, d);
					system = psprintf("%s\n\nWhen the task is done, call the %s tool with the result.", system, RESULT_TOOL);
					ask.force_tool = run->result_forced ? RESULT_TOOL : NULL;
				}
				else if (run->result_schema)
				{
					ask.json_schema = run->result_schema;
					system = psprintf("%s\n\nWhen the task is done, answer with only the JSON of the result, as the response format describes.", system);
				}
				req = llm_request(run->provider, run->model, system, &run->conv, decls, &ask);
			}
			break;
		case OP_TOOL:
			if (op->follow)
			{
				/* a resumed call that may be running: look for its process */
				req = e2b_process_list_request(&t);
				op->listing = true;
				break;
			}
			{
				ToolStep	st = tool_step(run, op);

				req = op->tool_def->start(&st);
				agent_live_attach(run, op, req);
				break;
			}
		case OP_KILL:
			req = e2b_kill_request(run->sandbox.sandbox_id);
			break;
		case OP_EXTEND:
		case OP_RECONNECT:
			/* E2B keeps a sandbox at most 24 hours at a time */
			op->timeout_s = run->phase == PHASE_PARKING ?
				Min(run->approval_timeout_s + SANDBOX_GRACE_S, 24 * 3600) :
				run->keeping ? run->keep_sandbox_s : sandbox_life_s(run);
			if (run->pausing)
				req = e2b_pause_request(run->sandbox.sandbox_id);	/* a waiting run's */
			else if (op->kind == OP_RECONNECT &&
					 (run->sandbox_paused || sandbox_pause_waiting_sandboxes))	/* connect resumes it */
				req = e2b_resume_request(run->sandbox.sandbox_id, op->timeout_s);
			else
				req = e2b_timeout_request(run->sandbox.sandbox_id, op->timeout_s);
			break;
		case OP_WORKSPACE:
			{
				WsStep	   *ws = linitial(run->ws_steps);

				switch (ws->kind)
				{
					case WS_WRITE:
						req = e2b_write_file_request(&t, ws->path, ws->data, ws->len);
						break;
					case WS_READ:
						req = e2b_read_file_request(&t, ws->path);
						req->max_body = (size_t) sandbox_artifact_max_bytes + 1;
						break;
					case WS_COMMAND:
						req = e2b_start_request(&t, ws->command, NULL, ws->envs_json,
												(int) Max(1000, Min(remaining_ms(run),
																	sandbox_command_timeout > 0 ? sandbox_command_timeout : 3600000)),
												NULL, false);
						exec_state_init(&op->exec, (size_t) sandbox_max_output_bytes);
						req->stream_fn = exec_state_feed;
						req->stream_arg = &op->exec;
						break;
				}
				break;
			}
		case OP_NUM_KINDS:
			break;
	}
	return req;
}

/*
 * op_breaker is the circuit breaker of the endpoint an operation calls.
 */
static Breaker *
op_breaker(AgentEnv *env, RunOp *op)
{
	switch (op->kind)
	{
		case OP_PLAN:
		case OP_LLM:
			return &env->breakers[BREAKER_MODEL];
		case OP_TOOL:
		case OP_WORKSPACE:
			return &env->breakers[BREAKER_ENVD];
		default:
			return &env->breakers[BREAKER_E2B_API];
	}
}

/*
 * note_outcome tells an operation's breaker what its answer says of the
 * endpoint: no answer or a 5xx is a transient failure; any other answer
 * shows the endpoint works.  A 429 says nothing of an outage, nor does
 * envd's 502 for a sandbox that is gone.
 */
static void
note_outcome(AgentEnv *env, RunOp *op, HttpRequest *req)
{
	Breaker    *b = op_breaker(env, op);

	if (req->result != CURLE_OK && !req->too_large && !req->oom)
		breaker_failure(b, GetCurrentTimestamp());
	else if (req->status == 429 ||
			 ((op->kind == OP_TOOL || op->kind == OP_WORKSPACE) && req->status == 502))
		return;
	else if (req->status >= 500)
		breaker_failure(b, GetCurrentTimestamp());
	else if (req->status > 0)
		breaker_success(b);
}

/*
 * worker_index is this worker's slot number, which the shared sandbox
 * count is kept by.
 */
static int
worker_index(AgentEnv *env)
{
	return sandbox_shared ? (int) (env->slot - sandbox_shared->slots) : -1;
}

/*
 * within_limits takes what an operation needs from the provider limits
 * (ratelimit.c), or sets *retry_at and returns false: a model call takes
 * a request and its estimated input tokens (a quarter of its text), a
 * sandbox creation takes a creation and needs room under
 * sandbox.e2b_max_sandboxes.  Nothing else is limited.
 */
static bool
within_limits(AgentEnv *env, Run *run, RunOp *op, TimestampTz now, TimestampTz *retry_at)
{
	switch (op->kind)
	{
		case OP_PLAN:
		case OP_LLM:
			{
				double		est = (double) (op->kind == OP_PLAN ? strlen(run->prompt) :
											run->conv.messages.len) / 4.0 + 500;

				if (sandbox_llm_input_tokens_per_minute > 0 &&
					!ratelimit_take(RATE_LLM_INPUT_TOKENS, est, now, retry_at))
					return false;
				if (!ratelimit_take(RATE_LLM_REQUESTS, 1, now, retry_at))
				{
					if (sandbox_llm_input_tokens_per_minute > 0)
						ratelimit_give_back(RATE_LLM_INPUT_TOKENS, est);
					return false;
				}
				return true;
			}
		case OP_CREATE:
			if (!ratelimit_sandbox_room(worker_index(env), env->sandboxes_held))
			{
				*retry_at = now + 500 * 1000;
				return false;
			}
			if (!ratelimit_take(RATE_E2B_CREATES, 1, now, retry_at))
				return false;
			env->sandboxes_held++;	/* counted until the next census */
			return true;
		default:
			return true;
	}
}

/*
 * rfc3339_or_zero reads a header's RFC 3339 time ("2026-11-30T12:00:30Z",
 * an offset or fractional seconds allowed), or returns 0: a malformed
 * header is ignored, never an error.
 */
static TimestampTz
rfc3339_or_zero(const char *s)
{
	struct pg_tm tm;
	int			consumed = 0;
	const char *p;
	int			offset_s = 0;
	TimestampTz t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
							&tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
		return 0;
	p = s + consumed;
	if (*p == '.')
		while (*++p >= '0' && *p <= '9')
			;
	if ((*p == '+' || *p == '-') && strlen(p) >= 6)
	{
		int			h = 0,
					m = 0;

		if (sscanf(p + 1, "%2d:%2d", &h, &m) == 2)
			offset_s = (*p == '+' ? 1 : -1) * (h * 3600 + m * 60);
	}
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
		tm2timestamp(&tm, 0, NULL, &t) != 0)
		return 0;
	return t - (TimestampTz) offset_s * USECS_PER_SEC;
}

/*
 * note_limits hears what a provider says of its limits: a 429 blocks that
 * kind of call for everyone until its Retry-After (1 s without one);
 * Anthropic's anthropic-ratelimit-*-remaining at 0 blocks until its reset.
 */
static void
note_limits(RunOp *op, HttpRequest *req)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		model = op->kind == OP_PLAN || op->kind == OP_LLM;

	if (!model && op->kind != OP_CREATE)
		return;
	if (req->status == 429)
	{
		int			ms = http_retry_after_ms(req);

		ratelimit_block(model ? RATE_LLM_REQUESTS : RATE_E2B_CREATES,
						now + (TimestampTz) (ms >= 0 ? Min(ms, 300000) : 1000) * 1000);
	}
	if (model)
	{
		TimestampTz reset;

		/*
		 * None left: the reset is when the bucket is full again, but one
		 * request comes back after a minute over the limit, so that long
		 * (a second for input tokens); a 429 says more if we go too soon.
		 */
		if (strcmp(req->rl_requests_remaining, "0") == 0 &&
			(reset = rfc3339_or_zero(req->rl_requests_reset)) > now)
		{
			long		limit = strtol(req->rl_requests_limit, NULL, 10);
			TimestampTz one = limit > 0 ? (TimestampTz) (60 * USECS_PER_SEC / limit) : USECS_PER_SEC;

			ratelimit_block(RATE_LLM_REQUESTS, Min(reset, now + Max(one, 100000)));
		}
		if (strcmp(req->rl_input_remaining, "0") == 0 &&
			(reset = rfc3339_or_zero(req->rl_input_reset)) > now)
			ratelimit_block(RATE_LLM_INPUT_TOKENS, Min(reset, now + USECS_PER_SEC));
	}
}

/*
 * agent_census counts the runs' sandboxes this worker holds (alive, or
 * being created) and publishes it for sandbox.e2b_max_sandboxes.
 */
void
agent_census(AgentEnv *env, int held)
{
	env->sandboxes_held = held;
	ratelimit_set_sandboxes(worker_index(env), (uint32) held);
}

/*
 * agent_holds_sandbox tells whether a run counts against
 * sandbox.e2b_max_sandboxes: its sandbox is alive or being created.
 */
bool
agent_holds_sandbox(Run *run)
{
	return (run->have_sandbox && !run->sandbox_gone) || run->ops[OP_CREATE].req != NULL;
}

/*
 * agent_claim_limit is how many new runs the worker may claim now, given
 * its capacity: none while an endpoint is in an outage (a breaker open and
 * its probe not due), one at a time while a probe is due or out, so that
 * a worker with nothing in flight still finds out when the outage ends.
 */
int
agent_claim_limit(AgentEnv *env, int capacity, TimestampTz now)
{
	int			limit = capacity;

	for (int i = 0; i < BREAKER_NUM; i++)
	{
		Breaker    *b = &env->breakers[i];

		if (b->state == BREAKER_OPEN && now < b->probe_at)
			return 0;
		if (b->state != BREAKER_CLOSED)
			limit = Min(limit, 1);
	}
	return limit;
}

/*
 * agent_publish_breakers copies the breakers into the worker's slot, where
 * sandbox_worker_status() reads them.
 */
void
agent_publish_breakers(AgentEnv *env)
{
	for (int i = 0; i < BREAKER_NUM; i++)
	{
		Breaker    *b = &env->breakers[i];

		pg_atomic_write_u32(&env->slot->breaker_state[i], (uint32) b->state);
		pg_atomic_write_u32(&env->slot->breaker_failures[i], (uint32) b->failures);
		pg_atomic_write_u64(&env->slot->breaker_opened_at[i],
							b->state == BREAKER_CLOSED ? 0 : (uint64) b->opened_at);
		pg_atomic_write_u64(&env->slot->breaker_opens[i], b->opens);
		pg_atomic_write_u64(&env->slot->breaker_held[i], b->held);
	}
}

/*
 * start_op sends an operation's request now.  A request that cannot even
 * be built (no API key, say) fails the run with that error.
 */
static void
start_op(AgentEnv *env, Run *run, OpKind kind)
{
	RunOp	   *op = &run->ops[kind];
	MemoryContext old;
	MemoryContext caller = CurrentMemoryContext;
	HttpRequest *volatile req = NULL;

	/*
	 * Started again while its finished request is still being read (a next
	 * step): the request lives in op->cxt, which starting resets, so the
	 * start waits for the next pass of the timers instead.
	 */
	if (op->in_callback)
	{
		op->retry_at = GetCurrentTimestamp();
		return;
	}
	stop_op(env, op);
	/* an endpoint in an outage: wait for its probe, using up no try */
	if (!breaker_allows(op_breaker(env, op), GetCurrentTimestamp()))
	{
		TimestampTz now = GetCurrentTimestamp();

		op->retry_at = breaker_next_try(op_breaker(env, op), now) +
			(TimestampTz) (1000000 * pg_prng_double(&pg_global_prng_state));
		return;
	}
	/* a provider limit: wait for room, using up no try either */
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz retry_at = 0;

		if (!within_limits(env, run, op, now, &retry_at))
		{
			op->retry_at = Max(retry_at, now + 1000) +
				(TimestampTz) (50000 * pg_prng_double(&pg_global_prng_state));
			return;
		}
	}
	MemoryContextReset(op->cxt);
	old = MemoryContextSwitchTo(op->cxt);
	PG_TRY();
	{
		req = build_request(env, run, op);
		req->owner = op;
		evloop_add(env->ev, req);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		FlushErrorState();
		MemoryContextSwitchTo(old);
		/* housekeeping is tried again later rather than failing the run */
		if (op->kind == OP_EXTEND ||
			(op->kind == OP_KILL && ++op->tries < MAX_TRIES_KILL))
		{
			op->retry_at = GetCurrentTimestamp() + 5 * USECS_PER_SEC;
			return;
		}
		if (op->kind == OP_KILL)
		{
			/* the reaper and the sandbox's own timeout remain */
			set_done(run);
			return;
		}
		agent_fail(env, run, "could not start %s: %s", op_names[kind], edata->message);
		return;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	op->req = req;
	op->tries++;
	op->began = GetCurrentTimestamp();
	pg_atomic_fetch_add_u32(&env->slot->requests_in_flight, 1);
	sandbox_counter_add(env->slot, WC_HTTP_REQUESTS, 1);
}

/*
 * retry_delay_ms is how long to wait before the next try of a failed
 * operation: the provider's Retry-After (at most 5 min), or exponential
 * backoff with "equal jitter" (half fixed, half random).
 */
static long
retry_delay_ms(RunOp *op, CallError *err)
{
	double		base;

	if (err->retry_after_ms >= 0)
		return Min(err->retry_after_ms, 300000);
	base = Min((double) RETRY_CAP_MS, RETRY_BASE_MS * pow(2.0, op->tries - 1));
	return (long) (base / 2 + (base / 2) * pg_prng_double(&pg_global_prng_state));
}

/*
 * schedule_retry sets a failed operation to be tried again after delay_ms,
 * and records the retry as an event.
 */
static void
schedule_retry(AgentEnv *env, Run *run, RunOp *op, CallError *err, long delay)
{
	StringInfoData d;
	bool		first = true;

	op->retry_at = GetCurrentTimestamp() + (TimestampTz) delay * 1000;
	sandbox_counter_add(env->slot, WC_HTTP_RETRIES, 1);

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "op", op_names[op->kind]);
	json_append_kv_int(&d, &first, "try", op->tries);
	json_append_kv_int(&d, &first, "delay_ms", delay);
	json_append_kv_string(&d, &first, "error", call_error_describe(err));
	if (err->status > 0)
		json_append_kv_int(&d, &first, "status", err->status);
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "retry", d.data);
}

/*
 * retry_later schedules another try of a failed operation when the error
 * is transient, tries remain and the deadline allows; returns false when
 * the caller must give up.  Every retry is an event.
 */
static bool
retry_later(AgentEnv *env, Run *run, RunOp *op, CallError *err, int max_tries)
{
	long		delay;
	Breaker    *b = op_breaker(env, op);

	/*
	 * An outage of the endpoint (its breaker is open) holds the operation
	 * until the breaker's probe, without using up its tries: the run waits
	 * as long as its deadline allows.
	 */
	if (call_error_retryable(err) && b->state != BREAKER_CLOSED)
	{
		TimestampTz now = GetCurrentTimestamp();

		delay = (long) ((breaker_next_try(b, now) - now) / 1000) +
			(long) (1000 * pg_prng_double(&pg_global_prng_state));
		if (delay >= remaining_ms(run))
			return false;
		op->tries = Max(op->tries - 1, 0);
		schedule_retry(env, run, op, err, delay);
		return true;
	}
	if (!call_error_retryable(err) || op->tries >= max_tries)
		return false;
	delay = retry_delay_ms(op, err);
	if (delay >= remaining_ms(run))
		return false;
	schedule_retry(env, run, op, err, delay);
	return true;
}

/* ---------------------------------------------------------------------
 * Life of a run
 * --------------------------------------------------------------------- */

static void lost_sandbox(AgentEnv *env, Run *run, const char *why);
static void continue_resumed(AgentEnv *env, Run *run);
static void next_tool(AgentEnv *env, Run *run);
static void tool_interrupted(Run *run, LlmToolCall *tc, const char *cause, const char *why);
static bool attach_command(AgentEnv *env, Run *run, RunOp *op, long left_ms);
static bool start_inputs(Run *run, int then);
static bool start_outputs(Run *run, const char *final_text);
static void complete_run(AgentEnv *env, Run *run, const char *result, const char *final_text);
static bool structured_result(AgentEnv *env, Run *run, const char *json, char **problem);
static void structured_text_answer(AgentEnv *env, Run *run, const char *text);
static void after_inputs(AgentEnv *env, Run *run);

/*
 * first_user_message is the conversation's opening: the task and the plan.
 * A resumed attempt makes it again from the recorded plan; a continued run
 * from its thread's first prompt (and that run's plan).
 */
static char *
first_user_message(const char *prompt, const char *plan)
{
	return psprintf("Task:\n%s\n\nPlan:\n%s\n\nCarry out the task now.", prompt, plan);
}

/*
 * agent_start begins a freshly claimed run (its claim is committed):
 * create the sandbox and ask for the plan at the same time.
 */
void
agent_start(AgentEnv *env, Run *run)
{
	MemoryContext old = MemoryContextSwitchTo(run->cxt);
	RunHistory *h = run->history;
	char	   *problem = NULL;

	/* the conversation, and its provider, live as long as the run */
	run->provider = env->provider;
	llm_conversation_init(&run->conv, run->provider);
	run->phase = PHASE_SETUP;
	live_init(&run->live, sandbox_max_live_output_bytes);
	{
		ListCell   *lc;

		/* a secret split between two pieces of output is redacted whole */
		foreach(lc, run->secret_values)
		{
			size_t		n = strlen(((SecretValue *) lfirst(lc))->value);

			run->live_holdback = Max(run->live_holdback, n > 0 ? n - 1 : 0);
		}
	}
	if (run->repo_json)
		(void) workspace_parse_repo(run->repo_json, run->id, &run->repo);
	if (h)
	{
		/* the run's totals so far, for its result */
		run->llm_calls = (int) h->llm_calls;
		run->in_tokens = h->input_tokens;
		run->out_tokens = h->output_tokens;
		if (h->plan_text)
		{
			run->plan_text = pstrdup(h->plan_text);
			run->resuming = true;
			if (resume_rebuild(run, first_user_message(h->thread_prompt ? h->thread_prompt : run->prompt,
														   run->plan_text),
							   &run->resume_pending, &problem))
				run->resume_from = run->tool_calls - list_length(run->tool_queue) + 1;
			resume_forget_log(h);
		}
		if (h->sandbox_id)
		{
			run->sandbox.sandbox_id = pstrdup(h->sandbox_id);
			run->sandbox.access_token = h->access_token ? pstrdup(h->access_token) : NULL;
			run->sandbox.domain = h->domain ? pstrdup(h->domain) : NULL;
			run->sandbox.envd_version = h->envd_version ? pstrdup(h->envd_version) : NULL;
			run->sandbox_paused = h->sandbox_paused;
		}
	}
	MemoryContextSwitchTo(old);

	if (problem)
	{
		agent_fail(env, run, "attempt %d cannot resume the run: %s; its earlier tool calls are not run again",
				   run->attempt, problem);
		return;
	}
	if (run->secret_problem)
	{
		agent_fail(env, run, "the run's secrets could not be put in its sandbox: %s", run->secret_problem);
		return;
	}
	if (run->tools_problem)
	{
		agent_fail(env, run, "the run's tools cannot be used: %s", run->tools_problem);
		return;
	}
	if (h && h->sandbox_id && h->sandbox_running)
		start_op(env, run, OP_RECONNECT);	/* its own sandbox, if alive */
	else if (h && h->sandbox_id)
		lost_sandbox(env, run, "its row in sandboxes says it is no longer running");
	else
		start_op(env, run, OP_CREATE);
	if (run->phase == PHASE_SETUP && run->plan_text == NULL)
		start_op(env, run, OP_PLAN);
}

/*
 * agent_fail ends the run as failed with a message (staged; the sandbox is
 * killed once the status is committed).
 */
void
agent_fail(AgentEnv *env, Run *run, const char *fmt,...)
{
	va_list		ap;
	char	   *msg;

	if (run->phase == PHASE_FINISHING || run->phase == PHASE_ABANDONING ||
		run->phase == PHASE_DONE)
		return;
	va_start(ap, fmt);
	msg = sandbox_vformat(fmt, ap);
	va_end(ap);
	finish_run(env, run, RS_FAILED, NULL, msg);
}

/*
 * finish_run stages the terminal transition and stops every operation.
 * After the commit, agent_after_commit kills the sandbox.
 */
static void
finish_run(AgentEnv *env, Run *run, RunStatus to, const char *result, const char *error)
{
	agent_stop_ops(env, run);
	run->phase = PHASE_FINISHING;
	agent_stage_transition(run, to);
	if (run->secret_values != NIL)
	{
		result = secrets_redact(result, run->secret_values);
		error = secrets_redact(error, run->secret_values);
	}
	run->set_result = agent_stage_strdup(run, result);
	run->set_error = agent_stage_strdup(run, error);
	if (error)
	{
		StringInfoData d;
		bool		first = true;

		initStringInfo(&d);
		appendStringInfoChar(&d, '{');
		json_append_kv_string(&d, &first, "error", error);
		appendStringInfoChar(&d, '}');
		agent_stage_event(run, "error", d.data);
	}
}

/*
 * usage_json renders the run's token usage.
 */
static char *
usage_json(Run *run)
{
	return psprintf("{\"llm_calls\":%d,\"input_tokens\":" INT64_FORMAT ",\"output_tokens\":" INT64_FORMAT
					",\"cache_read_tokens\":" INT64_FORMAT ",\"cache_write_tokens\":" INT64_FORMAT
					",\"cost_usd\":%s}",
					run->llm_calls, run->in_tokens, run->out_tokens,
					run->cache_read_tokens, run->cache_write_tokens,
					run->price.known ? psprintf("%.6f", run->cost_usd) : "null");
}

/*
 * begin_execution stages planning -> executing once both the sandbox and
 * the plan are there, and defers the first model turn to after the commit
 * (so the sandbox is recorded before any command can run in it).
 */
static void
maybe_begin_execution(AgentEnv *env, Run *run)
{
	StringInfoData plan;
	bool		first = true;

	if (run->phase != PHASE_SETUP || !run->have_sandbox || run->plan_text == NULL)
		return;
	if (run->resuming)
	{
		continue_resumed(env, run);
		return;
	}
	initStringInfo(&plan);
	appendStringInfoChar(&plan, '{');
	json_append_kv_string(&plan, &first, "text", run->plan_text);
	json_append_kv_string(&plan, &first, "model", run->plan_model ? run->plan_model : run->model);
	json_append_kv_raw(&plan, &first, "usage",
					   psprintf("{\"input_tokens\":" INT64_FORMAT ",\"output_tokens\":" INT64_FORMAT "}",
								run->plan_in_tokens, run->plan_out_tokens));
	appendStringInfoChar(&plan, '}');
	agent_stage_transition(run, RS_EXECUTING);
	run->set_plan = agent_stage_strdup(run, plan.data);
	run->phase = PHASE_EXECUTING;
	{
		MemoryContext old = MemoryContextSwitchTo(run->cxt);

		llm_add_user_text(&run->conv, first_user_message(run->prompt, run->plan_text));
		MemoryContextSwitchTo(old);
	}
	/* files and the repository go in before the first turn */
	if (start_inputs(run, WS_THEN_LLM))
		defer_op(run, OP_WORKSPACE);
	else
		defer_op(run, OP_LLM);
}

/*
 * continue_resumed moves a resumed run to executing once its sandbox is
 * back (its own, or a fresh one), says so in a "resumed" event, and goes
 * on at the next step: the call that may have started is followed (a
 * command), reported interrupted (code), or repeated (file calls, which
 * are idempotent); otherwise the remaining calls run, or the model is
 * asked again.
 */
static void
continue_resumed(AgentEnv *env, Run *run)
{
	StringInfoData d;
	bool		first = true;
	LlmToolCall *tc = run->resume_pending;

	agent_stage_transition(run, RS_EXECUTING);
	run->phase = PHASE_EXECUTING;
	run->resuming = false;
	run->resume_pending = NULL;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_int(&d, &first, "attempt", run->attempt);
	json_append_kv_string(&d, &first, "sandbox_id", run->sandbox.sandbox_id);
	json_append_kv_raw(&d, &first, "same_sandbox",
					   run->sandbox_restarts == 0 ? "true" : "false");
	json_append_kv_int(&d, &first, "from_step", run->resume_from);
	json_append_kv_int(&d, &first, "turn", run->turns);
	if (tc)
	{
		json_append_kv_string(&d, &first, "pending_call", tc->id);
		json_append_kv_string(&d, &first, "pending_tool", tc->name);
	}
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "resumed", d.data);

	/* in a fresh sandbox (its own was lost), the inputs go in again first */
	if (run->sandbox_restarts > 0 && start_inputs(run, WS_THEN_NEXT))
	{
		defer_op(run, OP_WORKSPACE);
		return;
	}
	/* a continued run (or one whose log ends with the user's turn): ask */
	if (run->awaiting_model)
	{
		run->awaiting_model = false;
		run->ops[OP_LLM].tries = 0;
		defer_op(run, OP_LLM);
		return;
	}
	/* the call a person decided on while the run waited */
	if (tc && run->decided_call && strcmp(tc->id, run->decided_call) == 0)
	{
		if (!run->decided_approved)
		{
			run->tool_queue = list_delete_first(run->tool_queue);
			agent_answer_rejected(run, tc);
			tc = NULL;
		}
		else
		{
			run->approved_call = run->decided_call;
			/* decided and nothing since: it never started, so it starts now */
			if (run->decided_fresh)
				tc = NULL;
		}
	}
	else if (tc && agent_needs_approval(run, tc))
		tc = NULL;				/* it waited for approval: it never started */
	/* a SQL call's effects commit with its result: without one, it had none */
	if (tc && tool_lookup(tc->name) == NULL && agent_sql_tool_named(run->sql_tools, tc->name) != NULL)
	{
		run->tool_queue = list_delete_first(run->tool_queue);
		agent_answer_error(run, tc,
					 "error: interrupted: the worker driving this run stopped before this SQL tool call "
					 "committed, so it had no effect. It was not run again (a call that never ends would "
					 "stop the worker each time); call it again if it is still needed.",
					 "the worker stopped before the call committed", "interrupted");
		tc = NULL;
	}
	if (tc && tool_check(tool_lookup(tc->name), tc, run->tools) == NULL)
	{
		const ToolDef *def = tool_lookup(tc->name);

		if (def->resume == RESUME_FOLLOW)
		{
			RunOp	   *op = &run->ops[OP_TOOL];

			run->tool_queue = list_delete_first(run->tool_queue);
			begin_tool(run, op, tc, def);
			op->follow = true;
			defer_op(run, OP_TOOL);
			return;
		}
		if (def->resume == RESUME_INTERRUPTED)
		{
			run->tool_queue = list_delete_first(run->tool_queue);
			tool_interrupted(run, tc, NULL, psprintf("%s runs at most once", def->name));
		}
	}
	if (run->turns == 0 && run->tool_queue == NIL && run->tool_results == NIL)
	{
		run->ops[OP_LLM].tries = 0;
		defer_op(run, OP_LLM);
		return;
	}
	next_tool(env, run);
}

/*
 * on_create_done handles the answer to "create a sandbox".
 */
static void
on_create_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	E2BSandbox	sb;
	CallError	err;
	StringInfoData d;
	bool		first = true;
	MemoryContext old;

	if (!e2b_parse_sandbox(req, &sb, &err))
	{
		/*
		 * E2B's concurrent-sandbox limit: wait for capacity, as long as the
		 * deadline allows, without using up the tries meant for failures.
		 */
		if (err.status == 429)
		{
			long		delay = err.retry_after_ms >= 0 ? Min(err.retry_after_ms, 30000) :
				1000 + (long) (2000 * pg_prng_double(&pg_global_prng_state));

			if (delay < remaining_ms(run))
			{
				op->tries = Max(op->tries - 1, 0);
				schedule_retry(env, run, op, &err, delay);
				return;
			}
		}
		if (!retry_later(env, run, op, &err, MAX_TRIES_E2B))
			agent_fail(env, run, "could not create a sandbox: %s", call_error_describe(&err));
		return;
	}
	run->sandbox_expires = GetCurrentTimestamp() + (TimestampTz) sandbox_life_s(run) * USECS_PER_SEC;
	old = MemoryContextSwitchTo(run->cxt);
	run->sandbox.sandbox_id = pstrdup(sb.sandbox_id);
	run->sandbox.template_id = sb.template_id ? pstrdup(sb.template_id) : NULL;
	run->sandbox.envd_version = sb.envd_version ? pstrdup(sb.envd_version) : NULL;
	run->sandbox.access_token = sb.access_token ? pstrdup(sb.access_token) : NULL;
	run->sandbox.domain = sb.domain ? pstrdup(sb.domain) : NULL;
	MemoryContextSwitchTo(old);
	run->have_sandbox = true;
	run->record_sandbox = true;
	agent_mark_dirty(run);
	sandbox_counter_add(env->slot, WC_SANDBOXES_CREATED, 1);

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "sandbox_id", sb.sandbox_id);
	json_append_kv_string(&d, &first, "template", run->template_id);
	json_append_kv_int(&d, &first, "timeout_s", sandbox_life_s(run));
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "sandbox_created", d.data);

	/* a run that failed or was abandoned meanwhile records it, then kills it */
	if (run->phase == PHASE_SETUP)
		maybe_begin_execution(env, run);
	else if (run->phase == PHASE_EXECUTING)
	{
		/* a fresh sandbox for a lost one: filled again, then back to the model */
		if (start_inputs(run, WS_THEN_NEXT))
			defer_op(run, OP_WORKSPACE);
		else
			after_inputs(env, run);
	}
	else if (run->phase == PHASE_FINISHING || run->phase == PHASE_ABANDONING)
		start_op(env, run, OP_KILL);
}

/*
 * llm_response_event stages the event describing a model answer.
 */
static void
llm_response_event(Run *run, const char *purpose, LlmAnswer *a, double ms)
{
	StringInfoData d;
	StringInfoData names;
	bool		first = true;
	ListCell   *lc;

	initStringInfo(&names);
	appendStringInfoChar(&names, '[');
	foreach(lc, a->tool_calls)
	{
		LlmToolCall *tc = lfirst(lc);

		if (names.len > 1)
			appendStringInfoChar(&names, ',');
		json_append_string(&names, tc->name);
	}
	appendStringInfoChar(&names, ']');

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "purpose", purpose);
	json_append_kv_int(&d, &first, "turn", run->turns);
	json_append_kv_string(&d, &first, "model", a->model ? a->model : run->model);
	json_append_kv_string(&d, &first, "stop_reason", a->stop_reason);
	json_append_kv_string(&d, &first, "text", excerpt(a->text));
	json_append_kv_raw(&d, &first, "tool_calls", names.data);
	json_append_kv_raw(&d, &first, "usage",
					   psprintf("{\"input_tokens\":" INT64_FORMAT ",\"output_tokens\":" INT64_FORMAT
								",\"cache_read_tokens\":" INT64_FORMAT ",\"cache_write_tokens\":" INT64_FORMAT "}",
								a->input_tokens, a->output_tokens, a->cache_read_tokens,
								a->cache_write_tokens));
	json_append_kv_int(&d, &first, "duration_ms", (int64) ms);
	/* the durable log: the turn as the conversation holds it (resume.c) */
	if (strcmp(purpose, "execute") == 0 && a->assistant_json)
		json_append_kv_raw(&d, &first, "message", a->assistant_json);
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "llm_response", d.data);
}

/*
 * count_llm_call adds one answered call's usage to the run.
 */
static void
count_llm_call(Run *run, LlmAnswer *a)
{
	int64		in = Max(a->input_tokens, 0);
	int64		out = Max(a->output_tokens, 0);
	int64		cr = Max(a->cache_read_tokens, 0);
	int64		cw = Max(a->cache_write_tokens, 0);
	double		cost = 0;

	if (run->price.known)
		cost = (in * run->price.input + out * run->price.output +
				cr * run->price.cache_read + cw * run->price.cache_write) / 1e6;
	run->llm_calls++;
	run->in_tokens += in;
	run->out_tokens += out;
	run->cache_read_tokens += cr;
	run->cache_write_tokens += cw;
	run->cost_usd += cost;
	run->add_calls++;
	run->add_in += in;
	run->add_out += out;
	run->add_cache_read += cr;
	run->add_cache_write += cw;
	run->add_cost += cost;
}

/*
 * over_budget fails a run that used more than its max_tokens (input,
 * output, cache reads and writes together) or its max_cost_usd; what it
 * did so far stays (its events, its usage and cost).  Returns whether it
 * did.
 */
static bool
over_budget(AgentEnv *env, Run *run)
{
	int64		tokens = run->in_tokens + run->out_tokens + run->cache_read_tokens +
		run->cache_write_tokens;

	if (run->max_tokens > 0 && tokens > run->max_tokens)
	{
		agent_fail(env, run, "the run used " INT64_FORMAT " tokens, more than its max_tokens (" INT64_FORMAT ")",
				   tokens, run->max_tokens);
		return true;
	}
	if (run->max_cost_usd > 0 && run->cost_usd > run->max_cost_usd)
	{
		agent_fail(env, run, "the run cost $%.6g, more than its max_cost_usd ($%.6g)%s",
				   run->cost_usd, run->max_cost_usd,
				   run->price.known ? "" : " (its model has no price)");
		return true;
	}
	return false;
}

/*
 * on_plan_done handles the planning answer.
 */
static void
on_plan_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	LlmAnswer	a;
	CallError	err;

	if (!llm_parse(run->provider, req, &a, &err))
	{
		if (!retry_later(env, run, op, &err, MAX_TRIES_LLM))
			agent_fail(env, run, "the planning call failed: %s", call_error_describe(&err));
		return;
	}
	count_llm_call(run, &a);
	llm_response_event(run, "plan", &a, req->elapsed_ms);
	if (over_budget(env, run))
		return;
	if (a.text == NULL || a.text[0] == '\0')
	{
		agent_fail(env, run, "the model returned an empty plan (stop_reason %s)", a.stop_reason);
		return;
	}
	run->plan_text = MemoryContextStrdup(run->cxt, a.text);
	run->plan_model = a.model ? MemoryContextStrdup(run->cxt, a.model) : NULL;
	run->plan_in_tokens = a.input_tokens;
	run->plan_out_tokens = a.output_tokens;
	maybe_begin_execution(env, run);
}

/*
 * copy_tool_call deep-copies a tool call into the run's memory.
 */
static LlmToolCall *
copy_tool_call(Run *run, LlmToolCall *tc)
{
	MemoryContext old = MemoryContextSwitchTo(run->cxt);
	LlmToolCall *c = palloc0(sizeof(LlmToolCall));

	c->id = pstrdup(tc->id);
	c->name = pstrdup(tc->name);
	c->raw_arguments = tc->raw_arguments ? pstrdup(tc->raw_arguments) : NULL;
	if (tc->input)
	{
		c->input = palloc(VARSIZE(tc->input));
		memcpy(c->input, tc->input, VARSIZE(tc->input));
	}
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * tool_interrupted answers a call that a stopped worker may have started
 * and whose outcome is unknown: it is never started again (at most once).
 */
static void
tool_interrupted(Run *run, LlmToolCall *tc, const char *cause, const char *why)
{
	agent_answer_error(run, tc,
				 psprintf("error: interrupted: %s, and %s. "
						  "It was not started again: it may have completed fully, partly or not at all, "
						  "so check its effects before repeating it.",
						  cause ? cause : "the worker driving this run stopped while this call may have been running",
						  why),
				 why, "interrupted");
}

/*
 * next_tool starts the next queued tool call of this turn, answering the
 * invalid ones directly; when none is left, it sends the results back to
 * the model (deferred to after the commit of the tool events).
 */
static void
next_tool(AgentEnv *env, Run *run)
{
	while (run->tool_queue != NIL)
	{
		LlmToolCall *tc = linitial(run->tool_queue);
		const ToolDef *def = tool_lookup(tc->name);
		char	   *problem = tool_check(def, tc, run->tools);
		RunOp	   *op = &run->ops[OP_TOOL];

		run->tool_queue = list_delete_first(run->tool_queue);
		/* the structured result, given through its tool (Anthropic) */
		if (run->result_schema && strcmp(tc->name, RESULT_TOOL) == 0)
		{
			char	   *json = tc->input ? JsonbToCString(NULL, &tc->input->root, 0) : tc->raw_arguments;
			char	   *why;

			if (structured_result(env, run, json, &why))
				return;
			agent_answer_error(run, tc,
						 psprintf("error: the result does not match its schema: %s. Call %s again with a result that matches.",
								  why, RESULT_TOOL), why, NULL);
			continue;
		}
		if (def == NULL && agent_sql_tool_named(run->sql_tools, tc->name) != NULL)
			problem = NULL;		/* one of the run's SQL tools */
		if (problem)
		{
			agent_answer_error(run, tc, NULL, problem, NULL);
			continue;
		}
		/* a person decides first: the run waits, holding no slot */
		if (agent_needs_approval(run, tc))
		{
			agent_stop_ops(env, run);
			if (sandbox_pause_waiting_sandboxes && run->have_sandbox && !run->sandbox_gone)
			{
				/*
				 * Paused first, then the wait committed: once anyone can see
				 * the run waiting (and approve it), its sandbox is paused and
				 * its row says so, so the attempt that goes on resumes it.
				 */
				run->park_call = tc;
				run->phase = PHASE_PARKING;
				run->keeping = true;
				run->pausing = true;
				run->ops[OP_EXTEND].tries = 0;
				start_op(env, run, OP_EXTEND);
			}
			else
				agent_park(run, tc);
			return;
		}
		if (def == NULL)
		{
			/*
			 * A SQL tool: the worker runs it in the transaction of its
			 * result, once the call's own event is committed (a call that
			 * stops the worker is then known, and not run again).
			 */
			if (run->events != NIL)
				run->sql_pending = tc;
			else
			{
				run->sql_call = tc;
				agent_mark_dirty(run);
			}
			return;
		}
		begin_tool(run, op, tc, def);
		defer_op(run, OP_TOOL);
		return;
	}
	/* all tools of this turn are done: back to the model */
	{
		MemoryContext old = MemoryContextSwitchTo(run->cxt);

		run->last_results = run->tool_results;
		run->last_results_n = run->conv.nmessages;
		run->last_results_len = run->conv.messages.len;
		llm_add_tool_results(&run->conv, run->tool_results, run->lost_note);
		run->lost_note = NULL;
		run->tool_results = NIL;
		MemoryContextSwitchTo(old);
	}
	run->ops[OP_LLM].tries = 0;
	defer_op(run, OP_LLM);
}

/*
 * on_llm_done handles one execution turn of the model.
 */
static void
on_llm_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	LlmAnswer	a;
	CallError	err;
	ListCell   *lc;

	if (!llm_parse(run->provider, req, &a, &err))
	{
		if (!retry_later(env, run, op, &err, MAX_TRIES_LLM))
			agent_fail(env, run, "the model call failed: %s", call_error_describe(&err));
		return;
	}
	run->turns++;
	count_llm_call(run, &a);
	llm_response_event(run, "execute", &a, req->elapsed_ms);
	if (a.text && a.text[0])
	{
		if (run->last_text)
			pfree(run->last_text);
		run->last_text = MemoryContextStrdup(run->cxt, a.text);
	}
	if (over_budget(env, run))
		return;
	{
		MemoryContext old = MemoryContextSwitchTo(run->cxt);

		llm_add_assistant(&run->conv, &a);
		MemoryContextSwitchTo(old);
	}

	if (a.stop == LLM_STOP_TOOL_USE)
	{
		if (run->turns >= run->max_turns)
		{
			agent_fail(env, run, "max_turns (%d) reached before the model finished; it still wanted to call %s",
					   run->max_turns, ((LlmToolCall *) linitial(a.tool_calls))->name);
			return;
		}
		foreach(lc, a.tool_calls)
		{
			LlmToolCall *tc = lfirst(lc);
			StringInfoData d;
			bool		first = true;

			initStringInfo(&d);
			appendStringInfoChar(&d, '{');
			json_append_kv_int(&d, &first, "turn", run->turns);
			json_append_kv_string(&d, &first, "id", tc->id);
			json_append_kv_string(&d, &first, "name", tc->name);
			if (tc->input)
				json_append_kv_raw(&d, &first, "input", JsonbToCString(NULL, &tc->input->root, 64));
			else
				json_append_kv_string(&d, &first, "raw_arguments", tc->raw_arguments);
			appendStringInfoChar(&d, '}');
			agent_stage_event(run, "tool_call", d.data);
			{
				MemoryContext old = MemoryContextSwitchTo(run->cxt);

				run->tool_queue = lappend(run->tool_queue, copy_tool_call(run, tc));
				MemoryContextSwitchTo(old);
			}
			run->tool_calls++;
		}
		next_tool(env, run);
		return;
	}
	if (a.stop == LLM_STOP_MAX_TOKENS)
	{
		agent_fail(env, run, "the model's answer was cut at max_tokens (%d) on turn %d; raise sandbox.llm_max_tokens",
				   sandbox_llm_max_tokens, run->turns);
		return;
	}
	/* a structured result is asked for, not text */
	if (run->result_schema)
	{
		structured_text_answer(env, run, a.text);
		return;
	}
	/* the final answer */
	{
		StringInfoData r;
		bool		first = true;

		initStringInfo(&r);
		appendStringInfoChar(&r, '{');
		json_append_kv_string(&r, &first, "text", a.text);
		json_append_kv_int(&r, &first, "turns", run->turns);
		json_append_kv_int(&r, &first, "tool_calls", run->tool_calls);
		json_append_kv_string(&r, &first, "stop_reason", a.stop_reason);
		json_append_kv_string(&r, &first, "model", a.model ? a.model : run->model);
		json_append_kv_string(&r, &first, "provider", llm_provider_name(run->provider));
		json_append_kv_string(&r, &first, "sandbox_id", run->sandbox.sandbox_id);
		json_append_kv_raw(&r, &first, "usage", usage_json(run));
		appendStringInfoChar(&r, '}');
		complete_run(env, run, r.data, a.text);
	}
}

/*
 * complete_run ends a run that has its result: its work is collected
 * first (the repository's diff and push, the artifacts), then it
 * completes.  final_text gives the commit's message.
 */
static void
complete_run(AgentEnv *env, Run *run, const char *result, const char *final_text)
{
	if (start_outputs(run, final_text))
	{
		run->final_result = MemoryContextStrdup(run->cxt, result);
		start_op(env, run, OP_WORKSPACE);
		return;
	}
	finish_run(env, run, RS_COMPLETED, result, NULL);
}

/*
 * structured_result checks a structured answer (JSON text) against the
 * run's result_schema.  It matches: the run completes with it as its
 * result.  It does not: NULL is returned with *problem set, once; the
 * second time the run fails.
 */
static bool
structured_result(AgentEnv *env, Run *run, const char *json, char **problem)
{
	*problem = json ? jschema_validate(run->result_schema, json) : pstrdup("there is no answer");
	if (*problem == NULL)
	{
		complete_run(env, run, json, run->last_text);
		return true;
	}
	if (++run->result_invalid >= 2)
	{
		agent_fail(env, run, "the model's structured result does not match result_schema: %s", *problem);
		return true;
	}
	return false;
}

/*
 * structured_text_answer handles a text answer of a run that wants a
 * structured result: OpenAI's is the JSON itself (checked); Anthropic's
 * should have been the result tool's call, so the model is asked once
 * more with that tool forced.
 */
static void
structured_text_answer(AgentEnv *env, Run *run, const char *text)
{
	char	   *problem = NULL;
	MemoryContext old;

	if (run->provider == LLM_PROVIDER_OPENAI)
	{
		if (structured_result(env, run, text, &problem))
			return;
		old = MemoryContextSwitchTo(run->cxt);
		llm_add_user_text(&run->conv,
						  psprintf("That answer does not match the JSON schema of the result: %s. "
								   "Answer again with only JSON that matches it.", problem));
		MemoryContextSwitchTo(old);
	}
	else
	{
		if (run->result_forced)
		{
			agent_fail(env, run, "the model's structured result does not match result_schema: it answered in text, not with the %s tool",
					   RESULT_TOOL);
			return;
		}
		run->result_forced = true;
		old = MemoryContextSwitchTo(run->cxt);
		llm_add_user_text(&run->conv, psprintf("Give the final result now: call the %s tool with it.", RESULT_TOOL));
		MemoryContextSwitchTo(old);
	}
	run->ops[OP_LLM].tries = 0;
	defer_op(run, OP_LLM);
}

/*
 * lost_call_answer answers a call that a lost sandbox leaves unfinished or
 * never started.
 */
static void
lost_call_answer(Run *run, LlmToolCall *tc, const char *sandbox_id, bool started)
{
	agent_answer_error(run, tc, NULL,
				 started ?
				 psprintf("not completed: sandbox %s was lost while this call ran", sandbox_id) :
				 psprintf("not run: sandbox %s was lost before this call", sandbox_id),
				 "sandbox_lost");
}

/*
 * lost_sandbox handles a run whose sandbox vanished (expired, or killed
 * behind our back), found by a call to it or when a resumed attempt looks
 * for it.  The run's on_sandbox_lost decides: 'fail' ends the run; the
 * default 'restart' answers the calls it leaves unfinished, creates a fresh
 * sandbox and tells the model with the next tool results that the
 * workspace is gone (at most MAX_SANDBOX_RESTARTS times an attempt).
 */
static void
lost_sandbox(AgentEnv *env, Run *run, const char *why)
{
	char	   *id = run->sandbox.sandbox_id ? pstrdup(run->sandbox.sandbox_id) : pstrdup("?");
	RunOp	   *tool = &run->ops[OP_TOOL];
	StringInfoData d;
	bool		first = true;
	bool		restart = !run->lost_fails && run->sandbox_restarts < MAX_SANDBOX_RESTARTS;
	char	   *note = NULL;
	ListCell   *lc;

	run->sandbox_gone = true;
	run->lost_sandbox_id = agent_stage_strdup(run, id);
	agent_mark_dirty(run);
	if (run->turns > 0 && restart)
		note = psprintf("Note: your sandbox %s was lost (%s) and replaced by a fresh one. "
						"Files, installed packages and processes from before are gone; "
						"calls that had not finished were not completed.", id, why);
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "sandbox_id", id);
	json_append_kv_string(&d, &first, "policy", run->lost_fails ? "fail" : "restart");
	json_append_kv_string(&d, &first, "error", why);
	json_append_kv_int(&d, &first, "restarts", run->sandbox_restarts);
	if (note)
		json_append_kv_string(&d, &first, "note", note);
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "sandbox_lost", d.data);

	if (!restart)
	{
		if (run->lost_fails)
			agent_fail(env, run, "sandbox \"%s\" was lost (%s), and the run's on_sandbox_lost is 'fail'",
					   id, why);
		else
			agent_fail(env, run, "sandbox \"%s\" was lost (%s); %d sandboxes were lost already in this attempt, so it gives up",
					   id, why, run->sandbox_restarts);
		return;
	}

	/* every operation waits for the fresh sandbox */
	for (int i = 0; i < OP_NUM_KINDS; i++)
		if (i != OP_CREATE)
			stop_op(env, &run->ops[i]);
	if (run->phase == PHASE_EXECUTING)
	{
		/* the unfinished calls are answered; the others of the turn never run */
		if (tool->tool)
			lost_call_answer(run, tool->tool, id, true);
		tool->tool = NULL;
		tool->follow = tool->listing = tool->reattached = false;
		foreach(lc, run->tool_queue)
			lost_call_answer(run, lfirst(lc), id, false);
		run->tool_queue = NIL;
		if (run->tool_results == NIL && run->turns > 0)
		{
			/* the model had its results already: send them again with the note */
			llm_conversation_truncate(&run->conv, run->last_results_n, run->last_results_len);
			run->tool_results = run->last_results;
		}
	}
	else if (run->resume_pending)
	{
		/* resuming: the call that may have started cannot be followed */
		foreach(lc, run->tool_queue)
			lost_call_answer(run, lfirst(lc), id, lfirst(lc) == run->resume_pending);
		run->tool_queue = NIL;
		run->resume_pending = NULL;
	}
	if (note)
		run->lost_note = MemoryContextStrdup(run->cxt, note);
	run->sandbox_restarts++;
	memset(&run->sandbox, 0, sizeof(run->sandbox));
	run->have_sandbox = false;
	run->sandbox_recorded = false;
	run->sandbox_gone = false;
	run->extend_refused = false;
	run->ops[OP_CREATE].tries = 0;
	start_op(env, run, OP_CREATE);
}

/*
 * reconnect_command reattaches to a command whose output stream broke
 * after it started (a dropped connection, a proxy hiccup): rather than
 * report a failure while the process may still run, or run it twice, we
 * follow the same process by pid.  Returns false when that cannot be
 * tried.
 */
static bool
reconnect_command(AgentEnv *env, Run *run, RunOp *op, CallError *err)
{
	long		left = tool_timeout_ms(run, op) -
		(long) ((GetCurrentTimestamp() - op->began) / 1000);
	StringInfoData d;
	bool		first = true;

	if (op->reconnects >= MAX_RECONNECTS || op->exec.pid <= 0 || left < 1000)
		return false;
	if (!attach_command(env, run, op, left))
		return false;
	op->reconnects++;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "op", "reattach_command");
	json_append_kv_string(&d, &first, "id", op->tool->id);
	json_append_kv_int(&d, &first, "pid", op->exec.pid);
	json_append_kv_string(&d, &first, "error", call_error_describe(err));
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "retry", d.data);
	return true;
}

/*
 * attach_command follows the process op->exec.pid with envd's Connect for
 * up to left_ms: its output from now on, and its end.  Returns false when
 * the request cannot be made.
 */
static bool
attach_command(AgentEnv *env, Run *run, RunOp *op, long left_ms)
{
	E2BTarget	t = run_target(run);
	MemoryContext old;
	MemoryContext caller = CurrentMemoryContext;
	HttpRequest *volatile req = NULL;
	long		left = left_ms;

	old = MemoryContextSwitchTo(op->cxt);
	PG_TRY();
	{
		req = e2b_connect_request(&t, op->exec.pid, (int) left);
		exec_state_resume(&op->exec);
		req->stream_fn = exec_state_feed;
		req->stream_arg = &op->exec;
		agent_live_attach(run, op, req);
		req->owner = op;
		evloop_add(env->ev, req);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		req = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	if (req == NULL)
		return false;
	op->req = req;
	pg_atomic_fetch_add_u32(&env->slot->requests_in_flight, 1);
	sandbox_counter_add(env->slot, WC_HTTP_REQUESTS, 1);
	return true;
}

/*
 * on_follow_listed handles the process list of a resumed run's sandbox:
 * the command its predecessor may have started is followed by its tag
 * while it still runs, and otherwise reported interrupted.  Returns true
 * when the tool goes on (followed, or retried), false when it is answered.
 */
static bool
on_follow_listed(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	List	   *procs = NIL;
	CallError	err;
	char	   *tag = tool_tag(run, op->tool);
	ListCell   *lc;
	int64		pid = 0;

	op->listing = false;
	if (!e2b_parse_process_list(req, &procs, &err))
	{
		if (err.kind == CALL_NOT_FOUND && err.status == 502)
		{
			lost_sandbox(env, run, call_error_describe(&err));
			return true;
		}
		if (retry_later(env, run, op, &err, MAX_TRIES_E2B))
			return true;
		tool_interrupted(run, op->tool, op->follow_cause,
						 psprintf("its process could not be looked for (%s)", call_error_describe(&err)));
		return false;
	}
	foreach(lc, procs)
	{
		E2BProcess *p = lfirst(lc);

		if (p->tag && strcmp(p->tag, tag) == 0)
			pid = p->pid;
	}
	if (pid <= 0)
	{
		tool_interrupted(run, op->tool, op->follow_cause,
						 op->follow_cause ? "no process of it was running afterwards" :
						 "its process was no longer running when the run resumed");
		return false;
	}
	{
		MemoryContext old = MemoryContextSwitchTo(op->cxt);

		exec_state_init(&op->exec, (size_t) sandbox_max_output_bytes);
		op->exec.pid = pid;
		MemoryContextSwitchTo(old);
	}
	op->follow = false;
	op->began = GetCurrentTimestamp();
	if (!attach_command(env, run, op, tool_timeout_ms(run, op)))
	{
		tool_interrupted(run, op->tool, op->follow_cause, "its running process could not be followed");
		return false;
	}
	op->reattached = true;
	return true;
}

/*
 * on_tool_done turns a finished step of a tool into what comes next: the
 * call's result, its next step, a retry of a step that had no effect, a
 * reattachment to a command whose stream broke, or a lost sandbox.  What
 * each tool's answer means is its own business (tools.c).
 */
static void
on_tool_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	ToolResult	out;
	ToolStep	st;
	ToolVerdict verdict;

	if (op->follow && op->listing)
	{
		if (!on_follow_listed(env, run, op, req))
		{
			op->tool = NULL;
			op->follow = false;
			next_tool(env, run);
		}
		return;
	}
	tool_result_init(&out);
	st = tool_step(run, op);
	verdict = op->tool_def->finish(&st, req, &out);
	switch (verdict)
	{
		case TOOL_NEXT_STEP:
			{
				/* what the step left for the next one outlives the step's memory */
				char	   *keep = MemoryContextAlloc(run->cxt, op->scratch_len + 1);

				memcpy(keep, op->scratch, op->scratch_len);
				keep[op->scratch_len] = '\0';
				op->scratch = keep;
				op->step++;
				op->tries = 0;
				start_op(env, run, OP_TOOL);
				return;
			}
		case TOOL_REATTACH:
			if (reconnect_command(env, run, op, &out.err))
				return;
			tool_failure_result(&out, &out.err, op->reconnects > 0 ?
								psprintf("the command's output stream broke and it could not be followed again (%s); it may or may not have finished",
										 out.err.message ? out.err.message : call_error_kind_name(out.err.kind)) :
								NULL);
			break;
		case TOOL_SANDBOX_GONE:
			lost_sandbox(env, run, call_error_describe(&out.err));
			return;
		case TOOL_FIND:
			/* it may have started: follow it if it runs, never start it again */
			op->follow = true;
			op->follow_cause = "its output stream broke before envd said the command had started";
			op->tries = 0;
			start_op(env, run, OP_TOOL);
			return;
		case TOOL_FAILED:
			if (op->tool_def->retry_safe && retry_later(env, run, op, &out.err, MAX_TRIES_E2B))
				return;
			tool_failure_result(&out, &out.err, NULL);
			break;
		case TOOL_ANSWERED:
			break;
	}
	{
		StringInfoData d;
		bool		first = true;

		/* the rest of the live output goes before the result */
		agent_live_stage(run, op->tool, true);
		agent_live_reset(run);
		initStringInfo(&d);
		appendStringInfoChar(&d, '{');
		json_append_kv_string(&d, &first, "id", op->tool->id);
		json_append_kv_string(&d, &first, "name", op->tool->name);
		json_append_kv_int(&d, &first, "duration_ms", (int64) req->elapsed_ms);
		if (out.event.len > 0)
			appendStringInfo(&d, ",%s", out.event.data);
		appendStringInfoChar(&d, '}');
		agent_add_tool_result(run, op->tool, out.content.data, out.is_error, d.data);
	}
	op->tool = NULL;
	op->reattached = false;
	if (op->scratch && op->step > 0)
		pfree(op->scratch);
	op->scratch = NULL;
	next_tool(env, run);
}

/*
 * sandbox_op_error is the data of the "error" event of a housekeeping
 * operation on the run's sandbox (kill, extend) that gave up.
 */
static char *
sandbox_op_error(Run *run, const char *op, CallError *err)
{
	StringInfoData d;
	bool		first = true;

	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "op", op);
	json_append_kv_string(&d, &first, "sandbox_id", run->sandbox.sandbox_id);
	json_append_kv_string(&d, &first, "error", call_error_describe(err));
	appendStringInfoChar(&d, '}');
	return d.data;
}

/*
 * on_kill_done handles the answer to "kill the sandbox"; a 404 means it
 * was already gone, which is as good.
 */
static void
on_kill_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	CallError	err;
	StringInfoData d;
	bool		first = true;
	bool		failed = call_error_from_http(req, SERVICE_E2B_API, &err);

	if (failed && err.kind != CALL_NOT_FOUND)
	{
		if (op->tries < MAX_TRIES_KILL && call_error_retryable(&err))
		{
			long		delay = 1000L << Min(op->tries, 4);

			op->retry_at = GetCurrentTimestamp() + (TimestampTz) delay * 1000;
			return;
		}
		/* give up: the reaper and the sandbox's own timeout remain */
		if (!run->lost || run->cancelled)
			agent_stage_event(run, "error", sandbox_op_error(run, "kill_sandbox", &err));
		set_done(run);
		return;
	}
	sandbox_counter_add(env->slot, WC_SANDBOXES_KILLED, 1);
	run->sandbox_gone = true;
	run->mark_sandbox = failed ? "expired" : "killed";
	agent_mark_dirty(run);
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "sandbox_id", run->sandbox.sandbox_id);
	json_append_kv_raw(&d, &first, "existed", failed ? "false" : "true");
	appendStringInfoChar(&d, '}');
	/* a run taken over by another attempt gets no events from us */
	if (!run->lost || run->cancelled)
		agent_stage_event(run, "sandbox_killed", d.data);
	set_done(run);
}

/*
 * on_keep_done handles the E2B timeout set for a finished run's sandbox
 * that keep_sandbox keeps: its row stays running until then (the owner
 * can exec in it, read its files), and the reaper kills it after.  If
 * E2B refuses, the sandbox still lives until its earlier timeout.
 */
static void
on_keep_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	CallError	err;
	StringInfoData d;
	bool		first = true;
	bool		parked = run->phase == PHASE_PARKING;

	if (parked && run->pausing)
	{
		bool		paused_now;

		if (e2b_parse_pause(req, &paused_now, &err))
		{
			/* paused: now the wait is committed, with the row saying paused */
			run->set_paused = 1;
			run->kept = true;
			agent_park(run, run->park_call);
			return;
		}
		if (call_error_retryable(&err) && op->tries < MAX_TRIES_E2B)
		{
			schedule_retry(env, run, op, &err, retry_delay_ms(op, &err));
			return;
		}
		/* not paused: the wait is committed, and the sandbox kept running through it */
		ereport(LOG, (errmsg("sandbox worker: could not pause the sandbox of waiting run %s (%s): keeping it running",
							 run->id, call_error_describe(&err))));
		run->pausing = false;
		run->keeping = false;
		agent_park(run, run->park_call);
		return;
	}
	if (call_error_from_http(req, SERVICE_E2B_API, &err))
	{
		if (call_error_retryable(&err) && op->tries < MAX_TRIES_E2B)
		{
			schedule_retry(env, run, op, &err, retry_delay_ms(op, &err));
			return;
		}
		/* a waiting run is no longer ours to write to: the log says nothing */
		if (!parked)
			agent_stage_event(run, "error", sandbox_op_error(run, "keep_sandbox", &err));
		else
			ereport(LOG, (errmsg("sandbox worker: could not keep the sandbox of waiting run %s: %s",
								 run->id, call_error_describe(&err))));
		run->kept = true;
		set_done(run);
		return;
	}
	run->kept = true;
	run->sandbox_expires = op->began + (TimestampTz) op->timeout_s * USECS_PER_SEC;
	run->sandbox_extended = true;
	if (parked)
	{
		/* only the sandbox's row (not fenced) learns its new expiry */
		agent_mark_dirty(run);
		set_done(run);
		return;
	}
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "sandbox_id", run->sandbox.sandbox_id);
	json_append_kv_string(&d, &first, "until", timestamptz_to_str(run->sandbox_expires));
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "sandbox_kept", d.data);
	set_done(run);
}

/*
 * on_extend_done handles the answer to "extend the sandbox's timeout":
 * the new expiry counts from when the request was sent.  Transient errors
 * are retried; a sandbox that is gone fails the run; any other refusal
 * (a timeout beyond the plan's limit, say) is recorded and not tried
 * again, so the run goes on until its sandbox expires.
 */
static void
on_extend_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	CallError	err;
	StringInfoData d;
	bool		first = true;

	if (run->keeping)
	{
		on_keep_done(env, run, op, req);
		return;
	}

	if (call_error_from_http(req, SERVICE_E2B_API, &err))
	{
		TimestampTz now = GetCurrentTimestamp();

		/*
		 * A transient error is tried again for as long as the sandbox lives,
		 * however many tries that takes, each time within half of the time
		 * it has left.
		 */
		if (call_error_retryable(&err) && now < run->sandbox_expires)
		{
			long		left = (long) ((run->sandbox_expires - now) / 1000);

			schedule_retry(env, run, op, &err,
						   Max(200, Min(retry_delay_ms(op, &err), left / 2)));
			return;
		}
		if (err.kind == CALL_NOT_FOUND)
		{
			lost_sandbox(env, run, call_error_describe(&err));
			return;
		}
		/* refused (a timeout beyond the plan's limit, say): stop asking */
		run->extend_refused = true;
		agent_stage_event(run, "error", sandbox_op_error(run, "extend_sandbox", &err));
		return;
	}
	run->sandbox_expires = op->began + (TimestampTz) op->timeout_s * USECS_PER_SEC;
	run->sandbox_extended = true;
	initStringInfo(&d);
	appendStringInfoChar(&d, '{');
	json_append_kv_string(&d, &first, "sandbox_id", run->sandbox.sandbox_id);
	json_append_kv_int(&d, &first, "timeout_s", op->timeout_s);
	json_append_kv_string(&d, &first, "expires_at", timestamptz_to_str(run->sandbox_expires));
	appendStringInfoChar(&d, '}');
	agent_stage_event(run, "sandbox_extended", d.data);
}

/*
 * on_reconnect_done handles the answer to "extend the sandbox's timeout"
 * sent by a resumed attempt for its own sandbox: alive, it is the run's
 * again; gone, the run's on_sandbox_lost decides.
 */
static void
on_reconnect_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	CallError	err;

	if (call_error_from_http(req, SERVICE_E2B_API, &err))
	{
		if (err.kind == CALL_NOT_FOUND)
		{
			lost_sandbox(env, run, call_error_describe(&err));
			return;
		}
		if (!retry_later(env, run, op, &err, MAX_TRIES_E2B))
			agent_fail(env, run, "could not reconnect to sandbox \"%s\" to resume the run: %s",
					   run->sandbox.sandbox_id, call_error_describe(&err));
		return;
	}
	if (run->sandbox_paused)
	{
		E2BSandbox	sb;
		bool		resumed;
		MemoryContext old = MemoryContextSwitchTo(run->cxt);

		/* resumed: how to reach it may have changed */
		if (e2b_parse_resume(req, &sb, &resumed, &err))
		{
			if (sb.access_token)
				run->sandbox.access_token = pstrdup(sb.access_token);
			if (sb.domain)
				run->sandbox.domain = pstrdup(sb.domain);
		}
		MemoryContextSwitchTo(old);
		run->sandbox_paused = false;
		run->set_paused = 2;
		agent_mark_dirty(run);
	}
	run->sandbox_expires = op->began + (TimestampTz) op->timeout_s * USECS_PER_SEC;
	run->have_sandbox = true;
	run->sandbox_recorded = true;
	maybe_begin_execution(env, run);
}

/* ---------------------------------------------------------------------
 * The workspace: filling a fresh sandbox, collecting the work
 * --------------------------------------------------------------------- */

/*
 * start_inputs plans the filling of a fresh sandbox (files, then the
 * clone); false when there is nothing to put in.  `then` says what
 * follows (after_inputs).
 */
static bool
start_inputs(Run *run, int then)
{
	MemoryContext old = MemoryContextSwitchTo(run->cxt);

	run->ws_steps = workspace_input_steps(run->files_json, run->repo.url ? &run->repo : NULL);
	MemoryContextSwitchTo(old);
	run->ws_output = false;
	run->ws_then = then;
	run->ws_files = 0;
	run->ws_file_bytes = 0;
	run->ops[OP_WORKSPACE].tries = 0;
	return run->ws_steps != NIL;
}

/*
 * after_inputs goes on once the sandbox is filled: the first model turn,
 * or (in a fresh sandbox after a lost one) back to the tool loop.
 */
static void
after_inputs(AgentEnv *env, Run *run)
{
	if (run->ws_files > 0)
		agent_stage_event(run, "files_written",
					psprintf("{\"count\": %d, \"bytes\": " INT64_FORMAT "}", run->ws_files, run->ws_file_bytes));
	run->ops[OP_LLM].tries = 0;
	if (run->ws_then == WS_THEN_LLM ||
		(run->tool_results == NIL && run->tool_queue == NIL))
		defer_op(run, OP_LLM);
	else
		next_tool(env, run);
}

/*
 * start_outputs plans the collection after the last turn: the diff and
 * the push of a repository run, the artifacts; false when there is none.
 * The commit's message is the first line of the model's final answer.
 */
static bool
start_outputs(Run *run, const char *final_text)
{
	char	   *msg = NULL;
	MemoryContext old;

	if (final_text && final_text[0])
	{
		const char *nl = strchr(final_text, '\n');
		size_t		len = nl ? (size_t) (nl - final_text) : strlen(final_text);

		msg = pnstrdup(final_text, Min(len, 200));
	}
	if (msg == NULL || msg[0] == '\0')
		msg = psprintf("Changes by agent run %s", run->id);
	old = MemoryContextSwitchTo(run->cxt);
	run->ws_steps = workspace_output_steps(run->repo.url && run->repo_start ? &run->repo : NULL,
										   run->repo_start, msg, run->artifacts);
	MemoryContextSwitchTo(old);
	run->ws_output = true;
	run->ws_artifact_bytes = 0;
	run->ws_left_out = 0;
	run->ws_collected = 0;
	old = MemoryContextSwitchTo(run->cxt);
	initStringInfo(&run->ws_cut);
	MemoryContextSwitchTo(old);
	run->ops[OP_WORKSPACE].tries = 0;
	return run->ws_steps != NIL;
}

/*
 * stage_artifact stages one artifact row (written with the run's next
 * commit); a cut one says why in `cut`, and why also goes to the event.
 */
static void
stage_artifact(Run *run, const char *path, const char *kind, const char *data, size_t len,
			   int64 size, const char *cut)
{
	MemoryContext old = MemoryContextSwitchTo(run->stage_cxt);
	WsArtifact *a = palloc0(sizeof(WsArtifact));

	a->path = pstrdup(path);
	a->kind = pstrdup(kind);
	/* text (no NUL byte) is redacted like everything else the run writes */
	if (data && run->secret_values != NIL && memchr(data, '\0', len) == NULL)
	{
		char	   *text = pnstrdup(data, len);

		data = secrets_redact(text, run->secret_values);
		len = strlen(data);
	}
	if (data)
	{
		a->content = palloc(len + 1);
		memcpy(a->content, data, len);
		a->len = len;
	}
	a->size = size;
	a->cut = cut ? pstrdup(cut) : NULL;
	run->artifact_rows = lappend(run->artifact_rows, a);
	run->ws_collected++;
	MemoryContextSwitchTo(old);
	if (cut)
	{
		bool		first = true;

		if (run->ws_cut.len > 0)
			appendStringInfoChar(&run->ws_cut, ',');
		appendStringInfoChar(&run->ws_cut, '{');
		json_append_kv_string(&run->ws_cut, &first, "path", path);
		json_append_kv_string(&run->ws_cut, &first, "reason", cut);
		appendStringInfoChar(&run->ws_cut, '}');
	}
	agent_mark_dirty(run);
}

/*
 * plan_artifact_reads turns the listing into reads, within the caps: a
 * file over sandbox.artifact_max_bytes, or beyond
 * sandbox.artifacts_max_bytes for the run, gets a row that says so.
 */
static void
plan_artifact_reads(Run *run, const char *listing)
{
	int64		left_out;
	List	   *reads;
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(run->cxt);

	reads = workspace_listed_files(listing, &left_out);
	run->ws_left_out += left_out;
	foreach(lc, reads)
	{
		WsStep	   *ws = lfirst(lc);

		if (ws->size > sandbox_artifact_max_bytes)
			stage_artifact(run, ws->name, "file", NULL, 0, ws->size,
						   psprintf("the file is " INT64_FORMAT " bytes, more than sandbox.artifact_max_bytes (%d)",
									ws->size, sandbox_artifact_max_bytes));
		else if (run->ws_artifact_bytes + ws->size > sandbox_artifacts_max_bytes)
			stage_artifact(run, ws->name, "file", NULL, 0, ws->size,
						   psprintf("the run's artifacts reached sandbox.artifacts_max_bytes (%d)",
									sandbox_artifacts_max_bytes));
		else
		{
			run->ws_artifact_bytes += ws->size;
			keep = lappend(keep, ws);
		}
	}
	run->ws_steps = list_concat(run->ws_steps, keep);
	MemoryContextSwitchTo(old);
}

/*
 * outputs_done ends the run once its work is collected: the artifacts
 * event, then completed with the result the model gave.
 */
static void
outputs_done(AgentEnv *env, Run *run)
{
	if (run->artifacts != NIL || run->repo.url)
	{
		StringInfoData d;
		bool		first = true;

		initStringInfo(&d);
		appendStringInfoChar(&d, '{');
		json_append_kv_int(&d, &first, "collected", run->ws_collected);
		json_append_kv_int(&d, &first, "bytes", run->ws_artifact_bytes);
		json_append_kv_int(&d, &first, "left_out", run->ws_left_out);
		if (run->ws_left_out > 0)
			json_append_kv_string(&d, &first, "left_out_reason",
								  psprintf("more files matched than sandbox.max_artifacts (%d)", sandbox_max_artifacts));
		json_append_kv_raw(&d, &first, "cut", psprintf("[%s]", run->ws_cut.data));
		appendStringInfoChar(&d, '}');
		agent_stage_event(run, "artifacts", d.data);
	}
	finish_run(env, run, RS_COMPLETED, run->final_result, NULL);
}

/*
 * workspace_sandbox_lost handles a sandbox that vanished under the
 * workspace's steps: while filling, like any lost sandbox (on_sandbox_lost
 * decides); while collecting, the model's answer stands but what was not
 * collected is lost, and a push that was asked for fails the run.
 */
static void
workspace_sandbox_lost(AgentEnv *env, Run *run, CallError *err)
{
	if (!run->ws_output)
	{
		lost_sandbox(env, run, call_error_describe(err));
		return;
	}
	run->sandbox_gone = true;
	run->lost_sandbox_id = agent_stage_strdup(run, run->sandbox.sandbox_id);
	if (run->repo.push && run->set_commit_id == NULL)
	{
		agent_fail(env, run, "sandbox \"%s\" was lost before its work could be pushed: %s",
				   run->sandbox.sandbox_id, call_error_describe(err));
		return;
	}
	{
		bool		first = true;

		if (run->ws_cut.len > 0)
			appendStringInfoChar(&run->ws_cut, ',');
		appendStringInfoChar(&run->ws_cut, '{');
		json_append_kv_int(&run->ws_cut, &first, "not_collected", list_length(run->ws_steps));
		json_append_kv_string(&run->ws_cut, &first, "reason",
							  psprintf("sandbox %s was lost before they could be collected: %s",
									   run->sandbox.sandbox_id, call_error_describe(err)));
		appendStringInfoChar(&run->ws_cut, '}');
	}
	run->ws_steps = NIL;
	outputs_done(env, run);
}

/*
 * command_output is what a workspace command printed, stdout then stderr,
 * for an error message.
 */
static char *
command_output(ExecState *st)
{
	return excerpt(psprintf("%s%s", sandbox_bytes_to_cstring(st->out.data, st->out.len),
							sandbox_bytes_to_cstring(st->err.data, st->err.len)));
}

/*
 * on_workspace_done handles one finished step of the filling or the
 * collection, and starts the next.  A file that cannot be written, a
 * clone or a push that fails, fail the run with the sandbox's answer or
 * git's output; a diff or an artifact that cannot be read is said in the
 * artifacts, and the run still completes with what it did.
 */
static void
on_workspace_done(AgentEnv *env, Run *run, RunOp *op, HttpRequest *req)
{
	WsStep	   *ws = linitial(run->ws_steps);
	CallError	err;

	if (ws->kind != WS_COMMAND)
	{
		if (call_error_from_http(req, SERVICE_ENVD, &err))
		{
			if (retry_later(env, run, op, &err, MAX_TRIES_E2B))
				return;
			if (sandbox_gone(&err) || (ws->kind == WS_WRITE && err.kind == CALL_NOT_FOUND))
			{
				workspace_sandbox_lost(env, run, &err);
				return;
			}
			if (ws->kind == WS_WRITE)
			{
				agent_fail(env, run, "could not write %s in sandbox \"%s\": %s",
						   ws->path, run->sandbox.sandbox_id, call_error_describe(&err));
				return;
			}
			stage_artifact(run, ws->name, "file", NULL, 0, ws->size,
						   psprintf("it could not be read: %s", call_error_describe(&err)));
		}
		else if (ws->kind == WS_WRITE)
		{
			run->ws_files++;
			run->ws_file_bytes += ws->len;
		}
		else
			stage_artifact(run, ws->name, "file", http_data(req), http_data_len(req),
						   http_data_len(req), NULL);
	}
	else
	{
		ExecState  *st = &op->exec;
		bool		ok = exec_state_finish(req, st, &err);
		char	   *out = sandbox_bytes_to_cstring(st->out.data, st->out.len);

		if (!ok && !st->got_start && err.kind != CALL_DEADLINE && req->status != 200 &&
			retry_later(env, run, op, &err, MAX_TRIES_E2B))
			return;
		if (!ok && sandbox_gone(&err))
		{
			workspace_sandbox_lost(env, run, &err);
			return;
		}
		switch (ws->purpose)
		{
			case WSP_CLONE:
				if (!ok || st->exit_code != 0)
				{
					agent_fail(env, run, "git clone failed (%s): %s",
							   ok ? psprintf("exit code %d", st->exit_code) : call_error_describe(&err),
							   command_output(st));
					return;
				}
				{
					StringInfoData d;
					bool		first = true;

					run->repo_start = workspace_clone_commit(out);
					if (run->repo_start)
						run->repo_start = MemoryContextStrdup(run->cxt, run->repo_start);
					initStringInfo(&d);
					appendStringInfoChar(&d, '{');
					json_append_kv_string(&d, &first, "url", workspace_strip_credentials(run->repo.url));
					if (run->repo.ref)
						json_append_kv_string(&d, &first, "ref", run->repo.ref);
					json_append_kv_string(&d, &first, "branch", run->repo.branch);
					json_append_kv_string(&d, &first, "commit", run->repo_start);
					appendStringInfoChar(&d, '}');
					agent_stage_event(run, "repo_cloned", d.data);
				}
				break;
			case WSP_DIFF:
				if (ok && st->exit_code == 0)
				{
					run->ws_artifact_bytes += st->out.len;
					stage_artifact(run, "repo.diff", "diff", st->out.data, st->out.len, st->out.len,
								   st->truncated ?
								   psprintf("the diff was cut at sandbox.max_output_bytes (%d)", sandbox_max_output_bytes) :
								   NULL);
				}
				else
					stage_artifact(run, "repo.diff", "diff", NULL, 0, 0,
								   psprintf("git diff failed: %s", ok ? command_output(st) : call_error_describe(&err)));
				break;
			case WSP_PUSH:
				if (!ok || st->exit_code != 0)
				{
					agent_fail(env, run, "git push failed (%s): %s",
							   ok ? psprintf("exit code %d", st->exit_code) : call_error_describe(&err),
							   command_output(st));
					return;
				}
				{
					StringInfoData d;
					bool		first = true;
					char	   *commit = workspace_clone_commit(out);

					run->set_commit_id = agent_stage_strdup(run, commit);
					initStringInfo(&d);
					appendStringInfoChar(&d, '{');
					json_append_kv_string(&d, &first, "branch", run->repo.branch);
					json_append_kv_string(&d, &first, "commit", commit);
					appendStringInfoChar(&d, '}');
					agent_stage_event(run, "pushed", d.data);
				}
				break;
			case WSP_LIST:
				if (ok && st->exit_code == 0)
					plan_artifact_reads(run, out);
				else
				{
					StringInfoData d;
					bool		first = true;

					initStringInfo(&d);
					appendStringInfoChar(&d, '{');
					json_append_kv_string(&d, &first, "op", "list_artifacts");
					json_append_kv_string(&d, &first, "error",
										  ok ? command_output(st) : call_error_describe(&err));
					appendStringInfoChar(&d, '}');
					agent_stage_event(run, "error", d.data);
				}
				break;
			case WSP_FILE:
			case WSP_ARTIFACT:
				break;
		}
	}
	run->ws_steps = list_delete_first(run->ws_steps);
	op->tries = 0;
	if (run->ws_steps != NIL)
		start_op(env, run, OP_WORKSPACE);
	else if (run->ws_output)
		outputs_done(env, run);
	else
		after_inputs(env, run);
}

/*
 * agent_on_done dispatches a finished HTTP request to its run.
 */
void
agent_on_done(AgentEnv *env, HttpRequest *req)
{
	RunOp	   *op = (RunOp *) req->owner;
	Run		   *run = op->run;

	pg_atomic_fetch_sub_u32(&env->slot->requests_in_flight, 1);
	op->req = NULL;
	note_outcome(env, op, req);
	note_limits(op, req);
	op->in_callback = true;
	switch (op->kind)
	{
		case OP_CREATE:
			if (run->phase != PHASE_DONE)
				on_create_done(env, run, op, req);
			break;
		case OP_PLAN:
			if (run->phase == PHASE_SETUP)
				on_plan_done(env, run, op, req);
			break;
		case OP_LLM:
			if (run->phase == PHASE_EXECUTING)
				on_llm_done(env, run, op, req);
			break;
		case OP_TOOL:
			if (run->phase == PHASE_EXECUTING)
				on_tool_done(env, run, op, req);
			break;
		case OP_KILL:
			on_kill_done(env, run, op, req);
			break;
		case OP_EXTEND:
			on_extend_done(env, run, op, req);
			break;
		case OP_RECONNECT:
			if (run->phase == PHASE_SETUP)
				on_reconnect_done(env, run, op, req);
			break;
		case OP_WORKSPACE:
			if (run->phase == PHASE_EXECUTING)
				on_workspace_done(env, run, op, req);
			break;
		case OP_NUM_KINDS:
			break;
	}
	op->in_callback = false;
	http_release(req);
}

/*
 * agent_next_timer returns the earliest moment the run needs attention
 * without network activity (a retry, its deadline), or 0.
 */
static TimestampTz
compute_next_timer(Run *run)
{
	TimestampTz t = 0;

	for (int i = 0; i < OP_NUM_KINDS; i++)
		if (run->ops[i].retry_at && (t == 0 || run->ops[i].retry_at < t))
			t = run->ops[i].retry_at;
	if (run->phase == PHASE_SETUP || run->phase == PHASE_EXECUTING)
	{
		TimestampTz ext = run->sandbox_expires - extend_ahead();

		if (t == 0 || run->deadline < t)
			t = run->deadline;
		if (ext < t && wants_extension(run, ext))
			t = ext;
	}
	return t;
}

/*
 * agent_refresh_timer recomputes the run's cached next timer; the public
 * entry points call it after they changed the run.
 */
void
agent_refresh_timer(Run *run)
{
	run->next_timer = compute_next_timer(run);
}

/*
 * agent_next_timer returns the cached earliest moment the run needs
 * attention without network activity (a retry, its deadline), or 0.
 */
TimestampTz
agent_next_timer(Run *run)
{
	return run->next_timer;
}

/*
 * agent_on_timers starts due retries, enforces the deadline, and keeps
 * the sandbox's E2B timeout ahead of long runs.
 */
void
agent_on_timers(AgentEnv *env, Run *run, TimestampTz now)
{
	if ((run->phase == PHASE_SETUP || run->phase == PHASE_EXECUTING) && now >= run->deadline)
	{
		agent_fail(env, run, "the run did not finish before its deadline (%s)",
				   timestamptz_to_str(run->deadline));
		return;
	}
	/* keep the sandbox alive for a run longer than one E2B timeout */
	if (wants_extension(run, now))
	{
		run->ops[OP_EXTEND].tries = 0;
		start_op(env, run, OP_EXTEND);
	}
	for (int i = 0; i < OP_NUM_KINDS; i++)
	{
		RunOp	   *op = &run->ops[i];

		if (op->retry_at && op->retry_at <= now && !op->deferred)
		{
			op->retry_at = 0;
			start_op(env, run, (OpKind) i);
		}
	}
}

/*
 * agent_after_commit continues a run once the worker's commit applied its
 * staged writes (applied) or found them fenced (!applied: agent_lost was
 * called already).
 */
void
agent_after_commit(AgentEnv *env, Run *run, bool applied)
{
	if (!applied)
		return;
	if (run->transition)
		run->status = run->new_status;
	if (run->record_sandbox)
		run->sandbox_recorded = true;
	agent_clear_staged(run);

	if (run->phase == PHASE_PARKING)
	{
		/* waiting: paused before (let go now), or kept alive through the wait */
		if (run->kept)
			set_done(run);
		else if (run->have_sandbox && !run->sandbox_gone && !run->keeping)
		{
			run->keeping = true;
			run->ops[OP_EXTEND].tries = 0;
			start_op(env, run, OP_EXTEND);
		}
		else if (!run->keeping)
			set_done(run);
		return;
	}
	if (run->sql_pending)
	{
		/* the events before the SQL call are committed: the call is next */
		run->sql_call = run->sql_pending;
		run->sql_pending = NULL;
		agent_mark_dirty(run);
		return;
	}
	if (run->sql_continue)
	{
		/* a SQL tool's result is committed: the next call, or the model */
		run->sql_continue = false;
		next_tool(env, run);
	}
	if (run->phase == PHASE_FINISHING)
	{
		if (run->keeping)
			return;				/* on_keep_done ends it */
		if (run->have_sandbox && !run->sandbox_gone && !op_busy(&run->ops[OP_KILL]))
		{
			/* keep_sandbox: the owner may use it a while longer */
			if (run->keep_sandbox_s > 0 &&
				(run->status == RS_COMPLETED || run->status == RS_FAILED))
			{
				run->keeping = true;
				run->ops[OP_EXTEND].tries = 0;
				start_op(env, run, OP_EXTEND);
			}
			else
				start_op(env, run, OP_KILL);
		}
		else if ((!run->have_sandbox || run->sandbox_gone) && !op_busy(&run->ops[OP_CREATE]) &&
				 !op_busy(&run->ops[OP_KILL]))
			set_done(run);
		return;
	}
	if (run->phase == PHASE_ABANDONING)
		return;
	for (int i = 0; i < OP_NUM_KINDS; i++)
		if (run->ops[i].deferred)
		{
			run->ops[i].deferred = false;
			start_op(env, run, (OpKind) i);
		}
}

/*
 * agent_lost abandons a run that is no longer ours: cancelled by a user,
 * taken over (its lease lapsed and another attempt owns it now), finished
 * elsewhere, or its extension dropped.  Its operations stop at once.  Its
 * sandbox is killed, except with keep_sandbox (taken over) when it is
 * recorded as the run's: the new attempt resumes there.
 */
void
agent_lost(AgentEnv *env, Run *run, bool cancelled, bool keep_sandbox, const char *why)
{
	if (run->lost)
		return;
	run->lost = true;
	run->cancelled = cancelled;
	run->sql_call = NULL;		/* never ran: its transaction did not happen */
	run->sql_pending = NULL;
	agent_clear_staged(run);
	agent_stop_ops(env, run);
	run->phase = PHASE_ABANDONING;
	if (cancelled)
	{
		StringInfoData d;
		bool		first = true;

		run->status = RS_CANCELLED;
		initStringInfo(&d);
		appendStringInfoChar(&d, '{');
		json_append_kv_string(&d, &first, "reason", why);
		json_append_kv_raw(&d, &first, "sandbox", run->have_sandbox ? "\"killing\"" : "null");
		appendStringInfoChar(&d, '}');
		agent_stage_event(run, "cancelled", d.data);
	}
	if (run->have_sandbox && !run->sandbox_gone && keep_sandbox && !cancelled &&
		run->sandbox_recorded)
	{
		/*
		 * Taken over: the run's recorded sandbox is where its new attempt
		 * resumes, so it is left alive (the reaper kills it once the run
		 * is over).
		 */
		set_done(run);
	}
	else if (run->have_sandbox && !run->sandbox_gone)
	{
		/* the sandbox may not be recorded yet: record it to keep it tracked */
		if (!run->sandbox_recorded)
		{
			run->record_sandbox = true;
			agent_mark_dirty(run);
		}
		start_op(env, run, OP_KILL);
	}
	else if (!op_busy(&run->ops[OP_CREATE]))
		set_done(run);
}

/*
 * agent_shutdown stops a run because the worker is stopping.  A live run
 * goes back to the queue (the worker's release statement) and keeps its
 * recorded sandbox, with any command still running there: its next
 * attempt resumes in it.  A run already finishing kills its sandbox as
 * usual; a sandbox not recorded yet is killed, since no attempt could
 * find it.
 */
void
agent_shutdown(AgentEnv *env, Run *run)
{
	bool		live = run->phase == PHASE_SETUP || run->phase == PHASE_EXECUTING;

	agent_stop_ops(env, run);
	/* a waiting run's sandbox is where it resumes: left alive too */
	if (run->phase == PHASE_PARKING)
		return;
	if (run->have_sandbox && !run->sandbox_gone && !(live && run->sandbox_recorded))
		start_op(env, run, OP_KILL);
}
