/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  The worker's SQL: claiming runs, applying a run's staged writes
 *	  (fenced by status and attempt), renewing leases, finding cancelled
 *	  runs, rescuing runs whose worker died, and releasing runs at
 *	  shutdown.  All of it runs inside the worker's one short transaction
 *	  per loop pass.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_QUEUE_H
#define SANDBOX_QUEUE_H

#include "postgres.h"
#include "nodes/pg_list.h"

#include "agent.h"
#include "registry.h"

typedef struct ClaimedRun
{
	char		id[37];
	char	   *prompt;
	char	   *model;
	char	   *template_id;
	int			max_turns;
	int			attempt;
	Oid			owner;
	char	   *owner_name;
	char	   *owner_id;		/* identity beside the role, or NULL */
	TimestampTz deadline;
	bool		lost_fails;		/* on_sandbox_lost = 'fail' */
	char	   *system_prompt;	/* added to the agent's, or NULL */
	bool		tools_given;	/* tools was not NULL */
	List	   *tools;			/* its names (char *) */
	char	   *envs_json;		/* the sandbox's environment, or NULL */
	double		max_cost_usd;	/* 0 = none */
	int64		max_tokens;		/* 0 = none */
	double		cost_usd;		/* so far */
	int64		cache_read_tokens;	/* so far */
	int64		cache_write_tokens;
	int			keep_sandbox_s; /* 0 = kill it at the end */
	char	   *files_json;		/* inputs, or NULL */
	char	   *repo_json;
	List	   *artifacts;		/* globs (char *) */
	char	   *result_schema;	/* JSON Schema text, or NULL */
	List	   *secrets;		/* names (char *) */
	List	   *secret_values;	/* SecretValue *: secret, never logged */
	char	   *secret_problem; /* why they could not be loaded, or NULL */
	RunPrice	price;
	RunHistory *history;		/* a later attempt: what the earlier ones left */
	List	   *approval;		/* the approval policy (char *) */
	int			approval_timeout_s;
	char	   *parent_id;		/* the run it continues, or NULL */
	char	   *thread_root;	/* its thread's first run (itself when none) */
	List	   *sql_tools;		/* SqlTool *: the SQL tools among its tools */
	char	   *sql_tools_problem;	/* a SQL tool its owner may not use */
} ClaimedRun;

/* A run in flight whose row no longer matches what we hold. */
typedef struct LostRun
{
	Run		   *run;
	bool		cancelled;
	bool		keep_sandbox;	/* another attempt may resume in it */
	char	   *why;
} LostRun;

/* What queue_open found. */
typedef enum QueueOpenResult
{
	QUEUE_OPEN,					/* installed and locked for this transaction */
	QUEUE_ABSENT,				/* not installed (or dropped) */
	QUEUE_BUSY					/* being dropped or altered: try again shortly */
} QueueOpenResult;

extern QueueOpenResult queue_open(ExtensionInfo *ext);
extern void queue_forget_plans(void);
/* Where the fair claim's walk over owners resumes (the last owner served). */
typedef struct ClaimCursor
{
	Oid			owner;
	char		owner_id[128];	/* '' = none */
} ClaimCursor;

extern List *queue_claim(int n, int lease_s, ClaimCursor *cursor, MemoryContext cxt);
extern bool queue_apply(Run *run, int lease_s, bool *fenced_out);
extern List *queue_find_lost(List *runs, MemoryContext cxt);
extern List *queue_renew(List *runs, int lease_s, MemoryContext cxt);
extern List *queue_rescue(int max_attempts, List *held, int lease_s,
						  MemoryContext cxt, int *rescued);
extern void queue_mark_sandbox(const char *sandbox_id, const char *state);
extern void queue_release(Run *run, const char *why);
extern void queue_prune(int retention_s, int batch);
extern int	queue_expire_approvals(int batch);
extern uint32 queue_waiting_sandboxes(void);

#endif							/* SANDBOX_QUEUE_H */
