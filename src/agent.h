/*-------------------------------------------------------------------------
 *
 * agent.h
 *	  One agent run as the worker drives it: an explicit state machine of
 *	  HTTP operations (create the sandbox, plan, call the model, run tools,
 *	  kill the sandbox) whose outcomes are staged as database writes and
 *	  committed by the worker in one short transaction per loop pass.
 *
 * Rules:
 *	- A run never starts an HTTP operation that depends on a decision
 *	  before that decision is committed (ops are "deferred" until the
 *	  worker's commit applied the run's staged writes).
 *	- Every staged write is conditional on the status we expect and on the
 *	  attempt number (fencing); when it does not apply, the run was
 *	  cancelled or taken over, and it is abandoned after killing its
 *	  sandbox.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_AGENT_H
#define SANDBOX_AGENT_H

#include "pgcompat.h"

#include "lib/ilist.h"
#include "lib/pairingheap.h"
#include "nodes/pg_list.h"

#include "breaker.h"
#include "e2b.h"
#include "live.h"
#include "evloop.h"
#include "llm.h"
#include "shmem.h"
#include "tools.h"
#include "workspace.h"

typedef enum RunStatus
{
	RS_PENDING,
	RS_PLANNING,
	RS_EXECUTING,
	RS_WAITING,					/* a tool call waits for a person (approval) */
	RS_COMPLETED,
	RS_FAILED,
	RS_CANCELLED
} RunStatus;

typedef enum RunPhase
{
	PHASE_SETUP,				/* creating the sandbox and planning, in parallel */
	PHASE_EXECUTING,			/* the tool loop: model turns and tools */
	PHASE_PARKING,				/* waiting committed; keeping the sandbox, then let go */
	PHASE_FINISHING,			/* terminal status committed; killing the sandbox */
	PHASE_ABANDONING,			/* cancelled or taken over; killing the sandbox */
	PHASE_DONE					/* nothing left: free the run */
} RunPhase;

typedef enum OpKind
{
	OP_CREATE,
	OP_PLAN,
	OP_LLM,
	OP_TOOL,
	OP_KILL,
	OP_EXTEND,
	OP_RECONNECT,				/* a resumed run's own sandbox: alive? extend it */
	OP_WORKSPACE,				/* fill the sandbox, or collect the work (workspace.c) */
	OP_NUM_KINDS
} OpKind;

struct Run;

/* One HTTP operation of a run, with its retry state. */
typedef struct RunOp
{
	OpKind		kind;
	struct Run *run;
	MemoryContext cxt;			/* request and answer; reset per try */
	HttpRequest *req;			/* in flight, or NULL */
	int			tries;
	TimestampTz retry_at;		/* waiting to retry (0 = not waiting) */
	bool		deferred;		/* start after the next commit */
	TimestampTz began;
	/* OP_TOOL */
	const ToolDef *tool_def;
	LlmToolCall *tool;
	int			step;			/* the tool's step (edit_file: read, then write) */
	char	   *scratch;		/* what a step leaves for the next (in run->cxt) */
	size_t		scratch_len;
	ExecState	exec;
	CodeState	code;
	int			reconnects;		/* reattachments to a command after a broken stream */
	bool		follow;			/* a call that may have started: find its process */
	const char *follow_cause;	/* why (NULL: the worker stopped) */
	bool		listing;		/* follow: the process list is in flight */
	bool		reattached;		/* follow: the output comes from a reattachment */
	bool		in_callback;	/* its finished request is being read */
	/* OP_EXTEND */
	int			timeout_s;		/* the E2B timeout asked for */
} RunOp;

/* A model's prices in USD per million tokens (sandbox_model_prices). */
typedef struct RunPrice
{
	bool		known;
	double		input;
	double		output;
	double		cache_write;
	double		cache_read;
} RunPrice;

/* One event of a run's durable log, read back to resume it. */
typedef struct RunLogEntry
{
	int			seq;
	char	   *kind;
	Jsonb	   *data;
} RunLogEntry;

/*
 * What a new attempt of a run finds of the earlier ones: its plan, its
 * sandbox and the events from which its conversation is rebuilt.
 */
typedef struct RunHistory
{
	char	   *plan_text;		/* the recorded plan, or NULL */
	char	   *sandbox_id;		/* agent_runs.sandbox_id, or NULL */
	bool		sandbox_running;	/* its row still says running (or paused) */
	bool		sandbox_paused; /* ... paused: a waiting run's, resumed first */
	char	   *access_token;	/* secret: never shown */
	char	   *domain;
	char	   *envd_version;
	List	   *log;			/* RunLogEntry *, in seq order */
	char	   *thread_prompt;	/* a continued run: its thread's first prompt */
	int64		llm_calls;		/* the run's totals so far */
	int64		input_tokens;
	int64		output_tokens;
	int64		cache_read_tokens;
	int64		cache_write_tokens;
	double		cost_usd;
} RunHistory;

/* A staged event: committed with the run's next write. */
typedef struct RunEvent
{
	char	   *kind;
	char	   *data;			/* JSON object text */
} RunEvent;

typedef struct Run
{
	dlist_node	node;
	dlist_node	dirty_node;		/* in AgentEnv.dirty while it has staged writes */
	bool		dirty_linked;
	TimestampTz next_timer;		/* cached agent_next_timer() */
	pairingheap_node timer_node;	/* in the worker's timer heap */
	bool		timer_queued;	/* timer_node is in the heap */
	struct AgentEnv *env;
	char		id[37];
	int			attempt;
	Oid			owner;
	char	   *owner_name;
	char	   *owner_id;		/* identity beside the role, or NULL */
	char	   *prompt;
	char	   *model;
	LlmProvider provider;		/* fixed for the run's life */
	char	   *template_id;
	int			max_turns;
	TimestampTz deadline;
	bool		lost_fails;		/* on_sandbox_lost = 'fail' */
	char	   *system_prompt;	/* the run's own, added to the agent's, or NULL */
	char	   *envs_json;		/* the sandbox's environment variables, or NULL */
	int			keep_sandbox_s; /* keep the sandbox this long after the end */
	char	   *files_json;		/* files to write before the first turn */
	char	   *repo_json;		/* a repository to clone before the first turn */
	List	   *artifacts;		/* globs to collect after the last turn */
	char	   *result_schema;	/* JSON Schema of a structured result */
	bool		result_forced;	/* asked once more, the result tool forced */
	int			result_invalid; /* structured answers that did not match */
	char	   *last_text;		/* the model's text of its last turn */
	List	   *secret_values;	/* SecretValue *, redacted from all it writes */
	char	   *secret_problem; /* why the secrets could not be loaded */
	WsRepo		repo;			/* repo_json read (repo.url NULL: none) */
	char	   *repo_start;		/* the commit the clone started from */
	List	   *ws_steps;		/* WsStep * still to do */
	bool		ws_output;		/* collecting (after the last turn), not filling */
	int			ws_then;		/* WS_THEN_*: what follows the filling */
	int			ws_files;		/* files written, and their bytes */
	int64		ws_file_bytes;
	int64		ws_artifact_bytes;	/* kept so far */
	int64		ws_left_out;	/* artifacts matched beyond sandbox.max_artifacts */
	int			ws_collected;	/* artifact rows written */
	StringInfoData ws_cut;		/* JSON array elements: artifacts cut, and why */
	char	   *final_result;	/* the result, while the work is collected */
	List	   *artifact_rows;	/* WsArtifact * staged (stage_cxt) */
	RunHistory *history;		/* earlier attempts, or NULL for a first one */
	RunStatus	status;			/* as committed */
	RunPhase	phase;
	MemoryContext cxt;
	MemoryContext stage_cxt;	/* staged writes, reset after each commit */
	size_t		event_bytes;	/* event data staged by this attempt */

	/* progress */
	E2BSandbox	sandbox;
	bool		have_sandbox;
	bool		sandbox_recorded;
	bool		sandbox_gone;
	bool		extend_refused;	/* E2B refused to extend its timeout: stop asking */
	bool		keeping;		/* finished: its sandbox is being kept (keep_sandbox) */
	bool		kept;			/* ... and it is */
	bool		pausing;		/* waiting: its sandbox is being paused */
	LlmToolCall *park_call;		/* ... before the wait on this call is committed */
	bool		sandbox_paused; /* resumed: its sandbox was paused (connect resumes it) */
	TimestampTz sandbox_expires;	/* when E2B will kill it unless extended */
	char	   *plan_text;
	char	   *plan_model;
	int64		plan_in_tokens;
	int64		plan_out_tokens;
	LlmConversation conv;
	int			turns;
	int64		in_tokens;
	int64		out_tokens;
	int64		cache_read_tokens;
	int64		cache_write_tokens;
	double		cost_usd;		/* so far, all attempts */
	RunPrice	price;			/* its model's prices (per million tokens) */
	double		max_cost_usd;	/* 0 = no budget */
	int64		max_tokens;		/* 0 = no budget */
	int			llm_calls;
	int			tool_calls;
	List	   *tools;			/* names of the tools the model gets */
	List	   *tool_queue;		/* LlmToolCall * still to run this turn */
	List	   *tool_results;	/* LlmToolResult * gathered this turn */
	char	   *lost_note;		/* told to the model with the next tool results */
	int			sandbox_restarts;	/* fresh sandboxes after a lost one */
	LlmToolCall *resume_pending;	/* resumed: the call that may have started */
	List	   *last_results;	/* the results last sent, and where they begin */
	int			last_results_n;
	int			last_results_len;
	bool		resuming;		/* a resumed attempt, not yet executing */
	int			resume_from;	/* the step it resumes at (1 = the first tool call) */

	/* live output of the running command (tool_output events) */
	LiveSink	live;
	dlist_node	live_node;		/* in AgentEnv.live while output is pending */
	bool		live_linked;
	TimestampTz live_last;		/* the last tool_output event */
	int64		live_budget;	/* bytes this attempt may still show */
	size_t		live_holdback;	/* the longest secret's length - 1 */

	/* approvals (a call waits for a person) and threads (continued runs) */
	List	   *approval;		/* the policy: never, commands, all, or tool names */
	int			approval_timeout_s;
	char	   *decided_call;	/* resumed: the call a person decided, or NULL */
	bool		decided_approved;
	bool		decided_fresh;	/* nothing happened since the decision */
	char	   *decided_note;
	bool		decided_timed_out;
	char	   *approved_call;	/* approved: runs without asking again */
	char	   *parent_id;		/* the run this one continues, or NULL */
	bool		awaiting_model; /* resumed with the user's turn last: ask the model */

	/* SQL tools (sqltool.h): the run's, and a call for the next commit */
	List	   *sql_tools;		/* SqlTool * */
	LlmToolCall *sql_call;		/* run by the worker in its next transaction */
	LlmToolCall *sql_pending;	/* ... once the events before it are committed */
	bool		sql_continue;	/* its result is committed: on to the next call */
	char	   *tools_problem;	/* a tool its owner may not use, or NULL */

	RunOp		ops[OP_NUM_KINDS];

	/* staged writes, applied by queue_apply at the next commit */
	List	   *events;			/* RunEvent * */
	bool		transition;		/* move status: expect `status`, set `new_status` */
	RunStatus	new_status;
	char	   *set_plan;
	char	   *set_result;
	char	   *set_error;
	char	   *set_commit_id;	/* a repo run's pushed commit */
	char	   *set_waiting_call;	/* -> waiting: the call it waits on */
	bool		record_sandbox;
	bool		sandbox_extended;	/* write the new sandbox_expires to its row */
	const char *mark_sandbox;	/* set the sandbox's row to this state, or NULL */
	int			set_paused;		/* the row: 1 paused, 2 running again, 0 as it is */
	char	   *lost_sandbox_id;	/* mark this (earlier) sandbox lost, or NULL */
	int64		add_calls;
	int64		add_in;
	int64		add_out;
	int64		add_cache_read;
	int64		add_cache_write;
	double		add_cost;

	/* what the run is waiting for */
	bool		lost;			/* cancelled or fenced: abandon */
	bool		cancelled;		/* lost because a user cancelled it */
	TimestampTz last_lease;
	TimestampTz write_retry_at; /* a failed write is retried from then */
} Run;

/* What the agent needs from the worker. */
typedef struct AgentEnv
{
	EventLoop  *ev;
	WorkerSlot *slot;
	LlmProvider provider;
	dlist_head	dirty;			/* runs with staged writes */
	bool		some_done;		/* a run reached PHASE_DONE: reap */
	Breaker		breakers[BREAKER_NUM];	/* per endpoint, for all runs */
	int			sandboxes_held; /* runs' sandboxes alive or being created */
	dlist_head	live;			/* runs with live output pending */
} AgentEnv;

extern const char *run_status_name(RunStatus s);
extern RunStatus run_status_from_name(const char *s);
extern Run *agent_new(MemoryContext parent, AgentEnv *env);
extern void agent_start(AgentEnv *env, Run *run);
extern void agent_on_done(AgentEnv *env, HttpRequest *req);
extern void agent_on_timers(AgentEnv *env, Run *run, TimestampTz now);
extern TimestampTz agent_next_timer(Run *run);
extern void agent_refresh_timer(Run *run);
extern void agent_after_commit(AgentEnv *env, Run *run, bool applied);
extern void agent_lost(AgentEnv *env, Run *run, bool cancelled, bool keep_sandbox,
					   const char *why);
extern void agent_shutdown(AgentEnv *env, Run *run);
extern bool agent_has_staged(Run *run);
extern void agent_clear_staged(Run *run);
extern void agent_fail(AgentEnv *env, Run *run, const char *fmt,...) pg_attribute_printf(3, 4);
extern void agent_free(Run *run);
extern int	agent_claim_limit(AgentEnv *env, int capacity, TimestampTz now);
extern void agent_publish_breakers(AgentEnv *env);
extern void agent_census(AgentEnv *env, int held);
extern bool agent_holds_sandbox(Run *run);
extern TimestampTz agent_live_flush(AgentEnv *env, TimestampTz now);
extern bool agent_sql_call(Run *run, int *mark_events, int *mark_results);
extern void agent_sql_call_settle(Run *run, bool committed, int mark_events, int mark_results);

#endif							/* SANDBOX_AGENT_H */
