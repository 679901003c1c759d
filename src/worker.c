/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The agent-run background worker: registration and its one loop.
 *
 * Each pass of the loop:
 *	1. waits (at most 1 s) on a WaitEventSet of its latch, postmaster death
 *	   and the epoll descriptor that holds libcurl's sockets, or less when
 *	   curl's timer, a retry or a deadline is due;
 *	2. lets curl do the ready work and hands finished requests to their
 *	   runs, which stage database writes and next operations;
 *	3. commits, in one short transaction, every staged write (each run in a
 *	   subtransaction), cancels found, leases renewed, runs rescued from
 *	   dead workers, and newly claimed runs;
 *	4. starts the operations that waited for that commit.
 * No transaction is ever open while waiting on the network.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <malloc.h>
#include <sys/resource.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "agent.h"
#include "evloop.h"
#include "launcher.h"
#include "queue.h"
#include "ratelimit.h"
#include "reaper.h"
#include "sqltool.h"
#include "resume.h"
#include "secrets.h"
#include "tools.h"
#include "safe_path.h"
#include "sandbox.h"
#include "shmem.h"
#include "worker.h"

PGDLLEXPORT void sandbox_worker_main(Datum arg);

bool		sandbox_is_worker = false;

#define MAX_SLEEP_MS 1000
#define DB_BUSY_RETRY_MS 100	/* the extension was locked (DROP, ALTER) */
#define CANCEL_POLL_MS 1000
#define RESCUE_INTERVAL_MS 5000
#define APPROVAL_CHECK_MS 1000	/* how often waiting runs' deadlines are checked */
#define PRUNE_INTERVAL_MS 60000
#define PRUNE_BATCH 500
#define SHUTDOWN_GRACE_MS 3000
#define IDLE_TRIM_MS 2000

static volatile sig_atomic_t got_sigterm = false;

/* a sandbox to kill that no run holds any more */
typedef struct KillJob
{
	dlist_node	node;
	MemoryContext cxt;
	char	   *sandbox_id;
	HttpRequest *req;
	int			tries;
	TimestampTz retry_at;
	bool		killed;			/* done: mark it in the table */
} KillJob;

typedef struct Worker
{
	int			index;
	WorkerSlot *slot;
	EventLoop	ev;
	AgentEnv	env;
	WaitEventSet *wes;
	int			epoll_pos;
	MemoryContext cxt;			/* runs and kill jobs */
	ClaimCursor claim_cursor;	/* the last owner served: claims take turns */
	MemoryContext loop_cxt;		/* reset every pass */
	dlist_head	runs;
	int			nruns;
	dlist_head	kills;
	bool		ext_ready;
	TimestampTz db_busy_until;	/* the extension was locked: no pass before */
	TimestampTz next_claim;
	TimestampTz next_cancel_check;
	TimestampTz next_renew;
	TimestampTz next_rescue;
	TimestampTz next_approvals; /* the next look for approvals timed out */
	TimestampTz next_prune;
	TimestampTz next_reap;
	TimestampTz last_reap;
	Reaper		reaper;
	pairingheap *timers;		/* runs with a next timer, earliest first */
	TimestampTz trim_at;		/* give memory back then if still idle (0 = no) */
	bool		pass_failed;	/* the last database pass failed */
} Worker;

static void schedule_run(Worker *w, Run *r);

/*
 * sandbox_worker_register_all registers sandbox.workers static background
 * workers, restarted a second after they exit with an error; or, with
 * sandbox.databases set, the launcher that starts each database's workers.
 */
void
sandbox_worker_register_all(void)
{
	sandbox_shmem_init();
	if (launcher_enabled())
	{
		if (sandbox_workers > 0)
			launcher_register();
		return;
	}
	for (int i = 0; i < sandbox_workers; i++)
	{
		BackgroundWorker bgw;

		memset(&bgw, 0, sizeof(bgw));
		bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
		bgw.bgw_restart_time = 1;
		snprintf(bgw.bgw_library_name, BGW_MAXLEN, "sandbox");
		snprintf(bgw.bgw_function_name, BGW_MAXLEN, "sandbox_worker_main");
		snprintf(bgw.bgw_name, BGW_MAXLEN, "sandbox worker %d", i + 1);
		snprintf(bgw.bgw_type, BGW_MAXLEN, "sandbox worker");
		bgw.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&bgw);
	}
}

/*
 * handle_sigterm asks the loop to stop (it releases its runs first).
 */
static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * raise_fd_limit lifts the soft limit on open files to the hard limit:
 * hundreds of runs in flight need hundreds of sockets.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * after_ms returns the time ms milliseconds from now.
 */
static TimestampTz
after_ms(long ms)
{
	return GetCurrentTimestamp() + (TimestampTz) ms * 1000;
}

/*
 * report_error records an error in the worker's slot and the server log.
 */
static void
report_error(Worker *w, const char *msg)
{
	sandbox_set_last_error(w->slot, msg);
	ereport(LOG, (errmsg("sandbox worker %d: %s", w->index + 1, msg)));
}

/* ---------------------------------------------------------------------
 * Kill jobs: sandboxes of rescued runs (and, later, of the reaper)
 * --------------------------------------------------------------------- */

static void
kill_job_add(Worker *w, const char *sandbox_id)
{
	MemoryContext cxt = AllocSetContextCreate(w->cxt, "sandbox kill job", ALLOCSET_SMALL_SIZES);
	KillJob    *k = MemoryContextAllocZero(cxt, sizeof(KillJob));
	dlist_iter	it;

	dlist_foreach(it, &w->kills)
	{
		KillJob    *o = dlist_container(KillJob, node, it.cur);

		if (strcmp(o->sandbox_id, sandbox_id) == 0)
		{
			MemoryContextDelete(cxt);
			return;
		}
	}
	k->cxt = cxt;
	k->sandbox_id = MemoryContextStrdup(cxt, sandbox_id);
	dlist_push_tail(&w->kills, &k->node);
}

/*
 * kill_job_start sends the DELETE of a kill job.
 */
static void
kill_job_start(Worker *w, KillJob *k)
{
	MemoryContext old = MemoryContextSwitchTo(k->cxt);
	MemoryContext caller = old;

	PG_TRY();
	{
		k->req = e2b_kill_request(k->sandbox_id);
		k->req->owner = k;
		k->req->owner_tag = -1;
		evloop_add(&w->ev, k->req);
		k->tries++;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		k->req = NULL;
		k->retry_at = after_ms(10000);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
}

/*
 * kill_job_done handles the answer to a kill job's DELETE.
 */
static void
kill_job_done(Worker *w, KillJob *k, HttpRequest *req)
{
	CallError	err;
	bool		failed = call_error_from_http(req, SERVICE_E2B_API, &err);

	k->req = NULL;
	if (!failed || err.kind == CALL_NOT_FOUND)
	{
		k->killed = true;
		if (!failed)
			sandbox_counter_add(w->slot, WC_SANDBOXES_KILLED, 1);
	}
	else if (k->tries < 5)
		k->retry_at = after_ms(1000L << k->tries);
	else
	{
		report_error(w, psprintf("could not kill sandbox %s: %s", k->sandbox_id,
								 call_error_describe(&err)));
		k->killed = true;		/* stop trying; the E2B timeout remains */
	}
	http_release(req);
}

/* ---------------------------------------------------------------------
 * The loop
 * --------------------------------------------------------------------- */

/*
 * runs_in_phase returns the runs (only the live ones: setting up or
 * executing, and still ours) as a List in the current memory context.
 */
static pg_noinline List *
runs_in_phase(Worker *w, bool live_only)
{
	List	   *l = NIL;
	dlist_iter	it;

	dlist_foreach(it, &w->runs)
	{
		Run		   *r = dlist_container(Run, node, it.cur);

		if (live_only && !((r->phase == PHASE_SETUP || r->phase == PHASE_EXECUTING) && !r->lost))
			continue;
		l = lappend(l, r);
	}
	return l;
}

/*
 * claim_capacity is how many more runs this worker may take now.
 */
static int
claim_capacity(Worker *w)
{
	return Max(0, sandbox_max_concurrent_runs - w->nruns);
}

/* What a pass's transaction decided, for after the commit (loop memory). */
typedef struct PassResult
{
	List	   *applied;		/* Run * whose writes committed */
	List	   *lost;			/* LostRun * */
	List	   *claimed;		/* ClaimedRun * */
	List	   *orphans;		/* ids of sandboxes no run holds, to kill */
	List	   *marked;			/* KillJob * marked in the table */
} PassResult;

/*
 * db_pass_needed tells whether this pass must open a transaction: a wake-up,
 * a due claim, rescue, renewal or cancel check, staged writes, or killed
 * sandboxes to mark.
 */
static bool
db_pass_needed(Worker *w, TimestampTz now)
{
	dlist_iter	it;

	if (now < w->db_busy_until)
		return false;
	if (pg_atomic_read_u32(&w->slot->wake) || pg_atomic_read_u32(&w->slot->cancel_check) ||
		w->reaper.ready)
		return true;
	if (now >= w->next_claim || now >= w->next_rescue || now >= w->next_approvals ||
		(w->nruns > 0 && (now >= w->next_renew || now >= w->next_cancel_check)))
		return true;
	dlist_foreach(it, &w->env.dirty)
	{
		Run		   *r = dlist_container(Run, dirty_node, it.cur);

		if (r->write_retry_at <= now)
			return true;
	}
	dlist_foreach(it, &w->kills)
		if (dlist_container(KillJob, node, it.cur)->killed)
		return true;
	return false;
}

/*
 * db_pass runs the loop's one transaction: staged writes of every dirty run
 * (each in a subtransaction), cancels and take-overs, lease renewal,
 * rescue, the reaper's decision, retention, and new claims.  What to do
 * after the commit is returned in res.
 */
static void
db_pass(Worker *w, PassResult *res)
{
	ExtensionInfo ext;
	TimestampTz now = GetCurrentTimestamp();
	bool		woken = pg_atomic_exchange_u32(&w->slot->wake, 0) != 0;
	bool		cancel_check = pg_atomic_exchange_u32(&w->slot->cancel_check, 0) != 0;
	int			lease_s = sandbox_lease_time;
	dlist_iter	it;
	MemoryContext loop = w->loop_cxt;
	List	   *dirty;
	ListCell   *dlc;

	memset(res, 0, sizeof(*res));
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "sandbox worker: committing run state");

	switch (queue_open(&ext))
	{
		case QUEUE_OPEN:
			w->ext_ready = true;
			break;
		case QUEUE_BUSY:
			/* keep everything staged; wake-ups stay pending for later */
			PopActiveSnapshot();
			CommitTransactionCommand();
			if (woken)
				pg_atomic_write_u32(&w->slot->wake, 1);
			if (cancel_check)
				pg_atomic_write_u32(&w->slot->cancel_check, 1);
			w->db_busy_until = after_ms(DB_BUSY_RETRY_MS);
			return;
		case QUEUE_ABSENT:
			w->ext_ready = false;
			break;
	}
	if (!w->ext_ready)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(loop);
		/* look again in a second */
		w->db_busy_until = after_ms(MAX_SLEEP_MS);
		pg_atomic_write_u32(&w->slot->state, WORKER_IDLE_NO_EXTENSION);
		/* runs of a dropped extension: stop them and kill their sandboxes */
		dlist_foreach(it, &w->runs)
		{
			Run		   *r = dlist_container(Run, node, it.cur);

			if (!r->lost)
			{
				LostRun    *l = palloc0(sizeof(LostRun));

				l->run = r;
				l->why = "the extension is not installed";
				res->lost = lappend(res->lost, l);
			}
			agent_clear_staged(r);
		}
		return;
	}
	pg_atomic_write_u32(&w->slot->state, WORKER_RUNNING);
	/* keys named as secrets are read here: requests are built outside transactions */
	settings_refresh_keys();

	/* 1. the staged writes of every run that has some */
	dirty = NIL;
	dlist_foreach(it, &w->env.dirty)
		dirty = lappend(dirty, dlist_container(Run, dirty_node, it.cur));
	foreach(dlc, dirty)
	{
		Run		   *r = lfirst(dlc);
		bool		fenced;

		if (!agent_has_staged(r) || r->write_retry_at > now)
			continue;
		MemoryContextSwitchTo(loop);
		if (!queue_apply(r, lease_s, &fenced))
		{
			/* keep the writes staged; try again in a second, not at once */
			r->write_retry_at = after_ms(1000);
			continue;
		}
		if (fenced)
		{
			LostRun    *l = palloc0(sizeof(LostRun));

			l->run = r;
			l->keep_sandbox = true; /* unless the look-up below knows better */
			res->lost = lappend(res->lost, l);
		}
		else
			res->applied = lappend(res->applied, r);
	}
	MemoryContextSwitchTo(loop);

	/* 2. cancels and take-overs, then lease renewal */
	if (w->nruns > 0 && (cancel_check || now >= w->next_cancel_check || res->lost != NIL))
	{
		List	   *live = runs_in_phase(w, true);
		List	   *found = queue_find_lost(live, loop);
		ListCell   *lc;

		/* fenced runs get their reason from this look-up */
		foreach(lc, res->lost)
		{
			LostRun    *l = lfirst(lc);
			ListCell   *lc2;

			foreach(lc2, found)
				if (((LostRun *) lfirst(lc2))->run == l->run)
				{
					*l = *(LostRun *) lfirst(lc2);
					found = foreach_delete_current(found, lc2);
					break;
				}
			if (l->why == NULL)
				l->why = "its status changed elsewhere";
		}
		res->lost = list_concat(res->lost, found);
		w->next_cancel_check = after_ms(CANCEL_POLL_MS);
	}
	if (w->nruns > 0 && now >= w->next_renew)
	{
		List	   *live = runs_in_phase(w, true);
		List	   *missing = queue_renew(live, lease_s, loop);
		ListCell   *lc;

		foreach(lc, missing)
		{
			LostRun    *l = palloc0(sizeof(LostRun));

			l->run = lfirst(lc);
			l->why = "its lease could not be renewed";
			l->keep_sandbox = true;
			res->lost = lappend(res->lost, l);
		}
		w->next_renew = after_ms(lease_s * 1000L / 3);
	}

	/* 3. runs of dead workers */
	if (now >= w->next_rescue)
	{
		int			rescued = 0;

		res->orphans = queue_rescue(sandbox_max_attempts, runs_in_phase(w, false),
									lease_s, loop, &rescued);
		if (rescued > 0)
		{
			sandbox_counter_add(w->slot, WC_RUNS_RESCUED, rescued);
			ereport(LOG, (errmsg("sandbox worker %d: rescued %d runs from stopped workers",
								 w->index + 1, rescued)));
		}
		w->next_rescue = after_ms(RESCUE_INTERVAL_MS);
	}

	/* 3b. calls no one approved in time are rejected (the run is pending again) */
	if (now >= w->next_approvals)
	{
		(void) queue_expire_approvals(100);
		w->next_approvals = after_ms(APPROVAL_CHECK_MS);
	}

	/* 4. sandboxes killed by kill jobs */
	dlist_foreach(it, &w->kills)
	{
		KillJob    *k = dlist_container(KillJob, node, it.cur);

		if (k->killed)
		{
			queue_mark_sandbox(k->sandbox_id, "killed");
			res->marked = lappend(res->marked, k);
		}
	}

	/* 5. the reaper's listing is complete: decide what to kill */
	if (w->reaper.ready)
	{
		List	   *kill = reaper_decide(&w->reaper, ext.schema_quoted, loop);

		res->orphans = list_concat(res->orphans, kill);
		if (kill != NIL || w->reaper.expired > 0)
			ereport(LOG, (errmsg("sandbox worker %d: reaper kills %d sandboxes, marks %d rows expired",
								 w->index + 1, list_length(kill), (int) w->reaper.expired)));
	}

	/* 6. retention */
	if (sandbox_retention > 0 && now >= w->next_prune)
	{
		queue_prune(sandbox_retention, PRUNE_BATCH);
		w->next_prune = after_ms(PRUNE_INTERVAL_MS);
	}

	/*
	 * 7. new runs.  At capacity there is nothing to claim: the next look is
	 * when a run ends (reap_done_runs) or a second from now, never "now"
	 * again, or the loop would spin through empty passes while full.
	 */
	if ((woken || now >= w->next_claim) && !got_sigterm)
	{
		int			capacity;

		/* sandboxes kept for waiting runs count too (no worker holds them) */
		if (sandbox_e2b_max_sandboxes > 0)
			ratelimit_set_waiting(MyDatabaseId, queue_waiting_sandboxes());
		capacity = agent_claim_limit(&w->env, claim_capacity(w), now);

		w->next_claim = after_ms(MAX_SLEEP_MS);
		if (capacity > 0)
		{
			res->claimed = queue_claim(capacity, lease_s, &w->claim_cursor, loop);
			/* a full batch means more may be waiting: look again next pass */
			if (list_length(res->claimed) == capacity)
				w->next_claim = now;
		}
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/*
 * after_commit acts on what the transaction decided.
 */
static void
after_commit(Worker *w, PassResult *res)
{
	ListCell   *lc;

	foreach(lc, res->lost)
	{
		LostRun    *l = lfirst(lc);

		if (l->cancelled)
			sandbox_counter_add(w->slot, WC_RUNS_CANCELLED, 1);
		agent_lost(&w->env, l->run, l->cancelled, l->keep_sandbox, l->why ? l->why : "lost");
		schedule_run(w, l->run);
	}
	foreach(lc, res->applied)
	{
		Run		   *r = lfirst(lc);
		RunStatus	to = r->transition ? r->new_status : r->status;

		if (r->transition && to == RS_COMPLETED)
		{
			sandbox_counter_add(w->slot, WC_RUNS_COMPLETED, 1);
			sandbox_set_run_failure(w->slot, r->id, r->owner, NULL, NULL);
		}
		else if (r->transition && to == RS_FAILED)
		{
			sandbox_counter_add(w->slot, WC_RUNS_FAILED, 1);
			sandbox_set_run_failure(w->slot, r->id, r->owner, r->owner_id,
									r->set_error ? r->set_error : "(no error recorded)");
		}
		agent_after_commit(&w->env, r, true);
		schedule_run(w, r);
	}
	foreach(lc, res->marked)
	{
		KillJob    *k = lfirst(lc);

		dlist_delete(&k->node);
		MemoryContextDelete(k->cxt);
	}
	foreach(lc, res->orphans)
		kill_job_add(w, (char *) lfirst(lc));
	foreach(lc, res->claimed)
	{
		ClaimedRun *c = lfirst(lc);
		Run		   *r = agent_new(w->cxt, &w->env);
		MemoryContext old = MemoryContextSwitchTo(r->cxt);

		strlcpy(r->id, c->id, sizeof(r->id));
		r->attempt = c->attempt;
		r->owner = c->owner;
		r->owner_name = pstrdup(c->owner_name ? c->owner_name : "");
		r->owner_id = c->owner_id ? pstrdup(c->owner_id) : NULL;
		r->prompt = pstrdup(c->prompt);
		r->model = pstrdup(c->model ? c->model : sandbox_llm_model);
		r->template_id = pstrdup(c->template_id ? c->template_id : sandbox_template);
		r->max_turns = c->max_turns > 0 ? c->max_turns : sandbox_max_turns;
		r->deadline = c->deadline;
		r->lost_fails = c->lost_fails;
		r->system_prompt = c->system_prompt ? pstrdup(c->system_prompt) : NULL;
		r->envs_json = c->envs_json ? pstrdup(c->envs_json) : NULL;
		r->max_cost_usd = c->max_cost_usd;
		r->max_tokens = c->max_tokens;
		r->cost_usd = c->cost_usd;
		r->cache_read_tokens = c->cache_read_tokens;
		r->cache_write_tokens = c->cache_write_tokens;
		r->price = c->price;
		r->keep_sandbox_s = c->keep_sandbox_s;
		r->files_json = c->files_json ? pstrdup(c->files_json) : NULL;
		r->repo_json = c->repo_json ? pstrdup(c->repo_json) : NULL;
		r->result_schema = c->result_schema ? pstrdup(c->result_schema) : NULL;
		{
			ListCell   *alc;

			foreach(alc, c->artifacts)
				r->artifacts = lappend(r->artifacts, pstrdup(lfirst(alc)));
			foreach(alc, c->secret_values)
			{
				SecretValue *sv = lfirst(alc);
				SecretValue *copy = palloc(sizeof(SecretValue));

				copy->name = pstrdup(sv->name);
				copy->value = pstrdup(sv->value);
				r->secret_values = lappend(r->secret_values, copy);
			}
			r->secret_problem = c->secret_problem ? pstrdup(c->secret_problem) : NULL;
		}
		if (c->tools_given)
		{
			ListCell   *tlc;

			foreach(tlc, c->tools)
				r->tools = lappend(r->tools, pstrdup(lfirst(tlc)));
		}
		else
			r->tools = tool_names_default();
		r->history = c->history ? resume_copy_history(c->history) : NULL;
		{
			ListCell   *alc;

			foreach(alc, c->approval)
				r->approval = lappend(r->approval, pstrdup(lfirst(alc)));
			r->approval_timeout_s = c->approval_timeout_s;
			r->parent_id = c->parent_id ? pstrdup(c->parent_id) : NULL;
			foreach(alc, c->sql_tools)
				r->sql_tools = lappend(r->sql_tools, sqltool_copy(lfirst(alc)));
			r->tools_problem = c->sql_tools_problem ? pstrdup(c->sql_tools_problem) : NULL;
		}
		r->status = RS_PLANNING;
		r->last_lease = GetCurrentTimestamp();
		MemoryContextSwitchTo(old);
		dlist_push_tail(&w->runs, &r->node);
		w->nruns++;
		sandbox_counter_add(w->slot, WC_RUNS_CLAIMED, 1);
		agent_start(&w->env, r);
		schedule_run(w, r);
	}
	/* the runs' sandboxes this worker holds, for sandbox.e2b_max_sandboxes */
	if (sandbox_e2b_max_sandboxes > 0)
	{
		dlist_iter	it;
		int			held = 0;

		dlist_foreach(it, &w->runs)
			held += agent_holds_sandbox(dlist_container(Run, node, it.cur)) ? 1 : 0;
		agent_census(&w->env, held);
	}
}

/*
 * reap_done_runs frees runs with nothing left to do.
 */
static void
reap_done_runs(Worker *w)
{
	dlist_mutable_iter it;
	int			before = w->nruns;

	if (!w->env.some_done)
		return;
	w->env.some_done = false;

	dlist_foreach_modify(it, &w->runs)
	{
		Run		   *r = dlist_container(Run, node, it.cur);

		if (r->phase != PHASE_DONE)
			continue;
		if (agent_has_staged(r))
		{
			/* its last writes commit first: look again next pass */
			w->env.some_done = true;
			continue;
		}
		dlist_delete(&r->node);
		w->nruns--;
		/* a slot is free: pending runs may be waiting for it */
		w->next_claim = 0;
		if (r->timer_queued)
			pairingheap_remove(w->timers, &r->timer_node);
		agent_free(r);
	}

	/* falling idle: give memory back once it has stayed idle (trim_idle) */
	if (before > 0 && w->nruns == 0)
		w->trim_at = after_ms(IDLE_TRIM_MS);
}

/*
 * trim_idle gives freed heap memory back to the system when the worker has
 * been idle for IDLE_TRIM_MS after work: libcurl and the runs' contexts
 * allocate and free a lot while hundreds of runs are in flight, and glibc
 * would keep it.  Waiting a little keeps the trim (a madvise per free
 * page range, a few ms after a big burst) out of back-to-back bursts.
 */
static void
trim_idle(Worker *w)
{
	if (w->trim_at == 0)
		return;
	if (w->nruns > 0)
		w->trim_at = 0;
	else if (GetCurrentTimestamp() >= w->trim_at)
	{
		malloc_trim(0);
		w->trim_at = 0;
	}
}

/*
 * on_run_request_done hands a finished request to its run.  Whatever the
 * provider or the sandbox sent, an error while reading it fails that run
 * with the error's text, never the worker: an exit would rescue every run
 * in flight and run their commands again.
 */
static void
on_run_request_done(Worker *w, Run *run, HttpRequest *req)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		agent_on_done(&w->env, req);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("sandbox worker: run %s failed while reading an answer: %s",
						run->id, edata->message)));
		/* the operation may start again: its request is done with */
		((RunOp *) req->owner)->in_callback = false;
		http_release(req);
		agent_fail(&w->env, run, "could not read an answer: %s", edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * drive_http lets curl work and dispatches finished requests.
 */
static void
drive_http(Worker *w)
{
	HttpRequest *req;

	evloop_run(&w->ev);
	while ((req = evloop_next_done(&w->ev)) != NULL)
	{
		if (req->owner_tag == -1)
			kill_job_done(w, (KillJob *) req->owner, req);
		else if (req->owner_tag == REAPER_OWNER_TAG)
		{
			reaper_on_done(&w->reaper, &w->ev, req);
			if (w->reaper.failed)
				report_error(w, psprintf("reaper: could not list sandboxes: %s", w->reaper.error));
		}
		else
		{
			Run		   *r = ((RunOp *) req->owner)->run;

			on_run_request_done(w, r, req);
			schedule_run(w, r);
		}
	}
}

/*
 * timer_cmp orders the timer heap: pairingheap keeps its greatest element
 * first, so the earliest timer compares greatest.
 */
static int
timer_cmp(const pairingheap_node *a, const pairingheap_node *b, void *arg)
{
	TimestampTz ta = pairingheap_const_container(Run, timer_node, a)->next_timer;
	TimestampTz tb = pairingheap_const_container(Run, timer_node, b)->next_timer;

	return ta < tb ? 1 : ta > tb ? -1 : 0;
}

/*
 * schedule_run recomputes a run's next timer after it changed and files
 * it in the timer heap, so that each loop pass looks only at the runs that
 * are due instead of at every run in flight.
 */
static void
schedule_run(Worker *w, Run *r)
{
	if (r->timer_queued)
	{
		pairingheap_remove(w->timers, &r->timer_node);
		r->timer_queued = false;
	}
	agent_refresh_timer(r);
	if (agent_next_timer(r) != 0)
	{
		pairingheap_add(w->timers, &r->timer_node);
		r->timer_queued = true;
	}
}

/*
 * run_timers starts due retries and kill jobs and enforces deadlines.
 */
static TimestampTz
run_timers(Worker *w)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;
	List	   *due = NIL;
	ListCell   *lc;
	dlist_iter	it;

	/* take the due runs off the heap first: handling one may make it due again */
	while (!pairingheap_is_empty(w->timers))
	{
		Run		   *r = pairingheap_container(Run, timer_node, pairingheap_first(w->timers));

		if (agent_next_timer(r) > now)
			break;
		(void) pairingheap_remove_first(w->timers);
		r->timer_queued = false;
		due = lappend(due, r);
	}
	foreach(lc, due)
	{
		Run		   *r = lfirst(lc);

		agent_on_timers(&w->env, r, now);
		schedule_run(w, r);
	}
	list_free(due);
	if (!pairingheap_is_empty(w->timers))
		next = agent_next_timer(pairingheap_container(Run, timer_node, pairingheap_first(w->timers)));
	if (sandbox_reaper_interval > 0 && w->ext_ready && w->reaper.req == NULL && !w->reaper.ready)
	{
		/* a shorter interval (SIGHUP) applies at once */
		w->next_reap = Min(w->next_reap, w->last_reap + (TimestampTz) sandbox_reaper_interval * USECS_PER_SEC);
		if (now >= w->next_reap)
		{
			PG_TRY();
			{
				reaper_start(&w->reaper, &w->ev);
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(w->loop_cxt);
				edata = CopyErrorData();
				FlushErrorState();
				report_error(w, psprintf("reaper: %s", edata->message));
			}
			PG_END_TRY();
			w->last_reap = now;
			w->next_reap = after_ms(sandbox_reaper_interval * 1000L);
		}
		if (next == 0 || w->next_reap < next)
			next = w->next_reap;
	}
	dlist_foreach(it, &w->kills)
	{
		KillJob    *k = dlist_container(KillJob, node, it.cur);

		if (k->killed || k->req)
			continue;
		if (k->retry_at <= now)
			kill_job_start(w, k);
		else if (next == 0 || k->retry_at < next)
			next = k->retry_at;
	}
	return next;
}

/*
 * shutdown_worker stops every run, kills their sandboxes (briefly waiting
 * for the answers), and puts the runs back in the queue.
 */
static void
shutdown_worker(Worker *w)
{
	dlist_iter	it;
	TimestampTz until = after_ms(SHUTDOWN_GRACE_MS);

	List	   *live;
	ListCell   *lc;

	pg_atomic_write_u32(&w->slot->state, WORKER_STOPPING);
	/* the runs to give back, before killing their sandboxes changes their phase */
	live = runs_in_phase(w, true);
	dlist_foreach(it, &w->runs)
		agent_shutdown(&w->env, dlist_container(Run, node, it.cur));
	while (evloop_count(&w->ev) > 0 && GetCurrentTimestamp() < until)
	{
		long		ms = evloop_wait_ms(&w->ev, 100);
		WaitEvent	ev[4];

		(void) WaitEventSetWait(w->wes, ms, ev, 4, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		drive_http(w);
		/* still alive: our runs are released below, not taken over */
		pg_atomic_write_u64(&w->slot->heartbeat, (uint64) GetCurrentTimestamp());
	}
	if (w->ext_ready && w->nruns > 0)
	{
		PG_TRY();
		{
			ExtensionInfo ext;

			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (queue_open(&ext) == QUEUE_OPEN)
			{
				foreach(lc, live)
				{
					Run		   *r = (Run *) lfirst(lc);
					bool		fenced;

					/*
					 * What the run learnt before the stop (a tool's result, a
					 * model's answer) is written first: its next attempt
					 * resumes from there instead of asking again.
					 */
					if (r->events != NIL)
						(void) queue_apply(r, sandbox_lease_time, &fenced);
					queue_release(r, "the worker is shutting down");
				}
				dlist_foreach(it, &w->runs)
				{
					Run		   *r = dlist_container(Run, node, it.cur);

					if (r->have_sandbox && r->sandbox_gone)
						queue_mark_sandbox(r->sandbox.sandbox_id, "killed");
				}
			}
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
		}
		PG_END_TRY();
	}
	evloop_shutdown(&w->ev);
}

/*
 * on_worker_exit clears the worker's slot.
 */
static void
on_worker_exit(int code, Datum arg)
{
	WorkerSlot *slot = (WorkerSlot *) DatumGetPointer(arg);

	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	slot->procno = -1;
	SpinLockRelease(&slot->mutex);
	pg_atomic_write_u32(&slot->state, WORKER_STOPPED);
	pg_atomic_write_u32(&slot->runs_in_flight, 0);
	pg_atomic_write_u32(&slot->requests_in_flight, 0);
}

/*
 * describe_activity tells pg_stat_activity what the worker is doing.
 */
static void
describe_activity(Worker *w)
{
	char		buf[128];

	pg_atomic_write_u32(&w->slot->runs_in_flight, (uint32) w->nruns);
	agent_publish_breakers(&w->env);
	snprintf(buf, sizeof(buf), "sandbox worker: %d runs in flight, %d requests",
			 w->nruns, evloop_count(&w->ev));
	pgstat_report_activity(w->nruns > 0 ? STATE_RUNNING : STATE_IDLE, buf);
}

/*
 * sandbox_worker_main is the entry point of a worker process.
 */
void
sandbox_worker_main(Datum arg)
{
	Worker		w;

	memset(&w, 0, sizeof(w));
	w.index = DatumGetInt32(arg);
	w.slot = &sandbox_shared->slots[w.index];
	/* a launched worker replaced before it started leaves its slot alone */
	if (!launcher_worker_wanted(w.index))
		proc_exit(0);

	pqsignal(SIGTERM, handle_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	raise_fd_limit();

	SpinLockAcquire(&w.slot->mutex);
	w.slot->pid = MyProcPid;
	w.slot->procno = MyProc->pgprocno;
	w.slot->started_at = GetCurrentTimestamp();
	SpinLockRelease(&w.slot->mutex);
	pg_atomic_write_u32(&w.slot->state, WORKER_STARTING);
	on_shmem_exit(on_worker_exit, PointerGetDatum(w.slot));

	/* its database (a launched worker without the extension there leaves) */
	launcher_worker_connect(w.slot);
	/* never wait long on a lock someone holds: such a pass counts as busy */
	SetConfigOption("lock_timeout", "1000", PGC_SUSET, PGC_S_OVERRIDE);
	/* the worker is a superuser: no operator a user created may be picked */
	safe_path_set_for_process();
	pgstat_report_appname(psprintf("sandbox worker %d", w.index + 1));
	sandbox_is_worker = true;

	w.cxt = AllocSetContextCreate(TopMemoryContext, "sandbox worker", ALLOCSET_DEFAULT_SIZES);
	w.loop_cxt = AllocSetContextCreate(TopMemoryContext, "sandbox worker loop", ALLOCSET_DEFAULT_SIZES);
	dlist_init(&w.runs);
	dlist_init(&w.kills);
	reaper_init(&w.reaper, w.cxt);
	MemoryContextSwitchTo(w.cxt);
	evloop_init(&w.ev);
	w.env.ev = &w.ev;
	w.env.slot = w.slot;
	w.env.provider = (LlmProvider) sandbox_llm_provider;
	dlist_init(&w.env.dirty);
	w.timers = pairingheap_allocate(timer_cmp, NULL);
	w.wes = CreateWaitEventSet(w.cxt, 3);
	AddWaitEventToSet(w.wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(w.wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	w.epoll_pos = AddWaitEventToSet(w.wes, WL_SOCKET_READABLE, w.ev.epfd, NULL, NULL);
	ereport(LOG, (errmsg("sandbox worker %d started for database \"%s\"", w.index + 1, w.slot->dbname)));

	for (;;)
	{
		PassResult res;
		TimestampTz next;
		long		sleep_ms;
		WaitEvent	events[4];

		MemoryContextReset(w.loop_cxt);

		/*
		 * Alive, looping and committing: others leave our runs alone
		 * (queue_rescue).  While our passes fail, the heartbeat stops, so
		 * that another worker can take over once the leases lapse.
		 */
		if (!w.pass_failed)
			pg_atomic_write_u64(&w.slot->heartbeat, (uint64) GetCurrentTimestamp());
		MemoryContextSwitchTo(w.loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (got_sigterm)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			w.env.provider = (LlmProvider) sandbox_llm_provider;
		}

		drive_http(&w);
		next = run_timers(&w);
		/* live output: one tool_output event per run per interval */
		{
			TimestampTz live_next = agent_live_flush(&w.env, GetCurrentTimestamp());

			if (live_next != 0 && (next == 0 || live_next < next))
				next = live_next;
		}

		if (db_pass_needed(&w, GetCurrentTimestamp()))
		{
			TimestampTz pass_start = GetCurrentTimestamp();

			PG_TRY();
			{
				db_pass(&w, &res);
				w.pass_failed = false;
				sandbox_clear_last_error(w.slot, pass_start);
			}
			PG_CATCH();
			{
				ErrorData  *edata;

				MemoryContextSwitchTo(w.loop_cxt);
				edata = CopyErrorData();
				FlushErrorState();
				AbortCurrentTransaction();
				memset(&res, 0, sizeof(res));
				/* the listing may be what failed: list again next time */
				w.reaper.ready = false;
				w.reaper.entries = NIL;
				if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
				{
					/* a row or table someone holds (lock_timeout): as busy */
					w.db_busy_until = after_ms(DB_BUSY_RETRY_MS);
				}
				else
				{
					w.pass_failed = true;
					report_error(&w, edata->message);
					w.db_busy_until = after_ms(MAX_SLEEP_MS);
					/* do not spin on a persistent error */
					w.next_claim = after_ms(MAX_SLEEP_MS);
					w.next_rescue = after_ms(RESCUE_INTERVAL_MS);
					w.next_renew = after_ms(MAX_SLEEP_MS);
					w.next_cancel_check = after_ms(MAX_SLEEP_MS);
				}
			}
			PG_END_TRY();
			MemoryContextSwitchTo(w.loop_cxt);
			after_commit(&w, &res);
			/* operations started after the commit may already want timers */
			next = run_timers(&w);
		}
		reap_done_runs(&w);
		trim_idle(&w);
		describe_activity(&w);

		sleep_ms = evloop_wait_ms(&w.ev, MAX_SLEEP_MS);
		if (next != 0)
		{
			long		until = (long) ((next - GetCurrentTimestamp()) / 1000);

			sleep_ms = Max(0, Min(sleep_ms, until));
		}
		if (w.db_busy_until > GetCurrentTimestamp())
			sleep_ms = Min(sleep_ms, DB_BUSY_RETRY_MS);
		else if (db_pass_needed(&w, GetCurrentTimestamp()))
			sleep_ms = 0;
		(void) WaitEventSetWait(w.wes, sleep_ms, events, lengthof(events), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	shutdown_worker(&w);
	ereport(LOG, (errmsg("sandbox worker %d stopped", w.index + 1)));
	/* exit code 1: the postmaster restarts us unless it is shutting down */
	proc_exit(1);
}
