/*-------------------------------------------------------------------------
 *
 * sql_cleanup.c
 *	  What a backend kills when its work is undone.
 *
 * A sandbox is recorded in `sandboxes` in the transaction that created it.
 * When that transaction, or the savepoint around the call, rolls back, the
 * row goes and nothing would track the sandbox: it is killed then, from
 * the abort callback (best effort, a few seconds at most, every error
 * swallowed, as postgres_fdw cleans up its remote transactions), and it is
 * forgotten by the registry's cache so it cannot be used any more.
 *
 * A backend terminated during sandbox_exec (pg_terminate_backend, a FATAL)
 * never reaches the function's error handling: the FATAL exits from deep
 * inside the call.  The command it was running, and a one-shot sandbox, are
 * killed from a before_shmem_exit callback; the call's frames are still on
 * the stack then, so the state they point to is alive.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/ipc.h"
#include "utils/memutils.h"

#include "registry.h"
#include "sql_cleanup.h"
#include "sql_common.h"

/* a sandbox created by this backend in the open transaction */
typedef struct Created
{
	char	   *sandbox_id;
	SubTransactionId subid;
} Created;

static MemoryContext CleanupCxt = NULL;
static List *created = NIL;		/* of Created, in CleanupCxt */
static bool callbacks_registered = false;

/* the command in flight, and a one-shot sandbox, for a FATAL exit */
static const E2BTarget *running_target = NULL;
static const ExecState *running_state = NULL;
static const char *oneshot_id = NULL;

/*
 * kill_quietly kills a sandbox from a callback, in a scratch context.
 */
static void
kill_quietly(const char *sandbox_id)
{
	MemoryContext scratch = AllocSetContextCreate(TopMemoryContext, "sandbox cleanup",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scratch);

	registry_forget(sandbox_id);
	kill_sandbox_quietly(sandbox_id);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scratch);
}

/*
 * kill_created kills the sandboxes created in subtransaction subid (or in
 * any, when subid is InvalidSubTransactionId) and forgets them.
 */
static void
kill_created(SubTransactionId subid)
{
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(CleanupCxt);

	foreach(lc, created)
	{
		Created    *c = lfirst(lc);

		if (subid == InvalidSubTransactionId || c->subid == subid)
			kill_quietly(c->sandbox_id);
		else
			keep = lappend(keep, c);
	}
	list_free(created);
	created = keep;
	MemoryContextSwitchTo(old);
	if (created == NIL)
		MemoryContextReset(CleanupCxt);
}

/*
 * cleanup_xact_callback: a rolled-back transaction kills what it created;
 * a committed one keeps it (recorded now).
 */
static void
cleanup_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (created != NIL)
				kill_created(InvalidSubTransactionId);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			created = NIL;
			MemoryContextReset(CleanupCxt);
			break;
		default:
			break;
	}
}

/*
 * cleanup_subxact_callback: a rolled-back savepoint kills what it created;
 * a released one hands it to its parent.
 */
static void
cleanup_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (created == NIL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		kill_created(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, created)
		{
			Created    *c = lfirst(lc);

			if (c->subid == mySubid)
				c->subid = parentSubid;
		}
	}
}

/*
 * cleanup_on_exit kills the command in flight and a one-shot sandbox when
 * the backend exits in the middle of sandbox_exec.
 */
static void
cleanup_on_exit(int code, Datum arg)
{
	if (running_target && running_state && running_state->pid > 0 && !running_state->got_end)
	{
		MemoryContext old = MemoryContextSwitchTo(CleanupCxt);

		best_effort(e2b_signal_request(running_target, running_state->pid, "SIGNAL_SIGKILL"));
		MemoryContextSwitchTo(old);
	}
	if (oneshot_id)
		kill_quietly(oneshot_id);
	running_target = NULL;
	running_state = NULL;
	oneshot_id = NULL;
}

/*
 * register_callbacks installs the callbacks once per backend.
 */
static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CleanupCxt = AllocSetContextCreate(TopMemoryContext, "sandbox cleanup list",
									   ALLOCSET_SMALL_SIZES);
	RegisterXactCallback(cleanup_xact_callback, NULL);
	RegisterSubXactCallback(cleanup_subxact_callback, NULL);
	before_shmem_exit(cleanup_on_exit, (Datum) 0);
	callbacks_registered = true;
}

/*
 * cleanup_track_created remembers a sandbox recorded in the open
 * (sub)transaction, to kill it if that rolls back.
 */
void
cleanup_track_created(const char *sandbox_id)
{
	MemoryContext old;
	Created    *c;

	register_callbacks();
	old = MemoryContextSwitchTo(CleanupCxt);
	c = palloc(sizeof(Created));
	c->sandbox_id = pstrdup(sandbox_id);
	c->subid = GetCurrentSubTransactionId();
	created = lappend(created, c);
	MemoryContextSwitchTo(old);
}

/*
 * cleanup_set_running names the command in flight (t and st must live
 * until cleanup_clear_running).
 */
void
cleanup_set_running(const E2BTarget *t, const ExecState *st)
{
	register_callbacks();
	running_target = t;
	running_state = st;
}

/*
 * cleanup_clear_running: the command is over.
 */
void
cleanup_clear_running(void)
{
	running_target = NULL;
	running_state = NULL;
}

/*
 * cleanup_set_oneshot names the one-shot sandbox of the call in flight
 * (NULL: it is over).
 */
void
cleanup_set_oneshot(const char *sandbox_id)
{
	register_callbacks();
	oneshot_id = sandbox_id;
}
