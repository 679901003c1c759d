/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared-memory area of the extension (only when preloaded) and the
 *	  wake-up of workers by committing transactions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "launcher.h"
#include "ratelimit.h"
#include "sandbox.h"
#include "shmem.h"

SandboxShared *sandbox_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*
 * shmem_request asks the postmaster for our area (PostgreSQL 15 hook).
 */
static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SandboxShared)));
	RequestAddinShmemSpace(ratelimit_shmem_size());
}

/*
 * shmem_startup creates or attaches to the area.
 */
static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	sandbox_shared = ShmemInitStruct("sandbox", sizeof(SandboxShared), &found);
	ratelimit_shmem_startup();
	if (!found)
	{
		memset(sandbox_shared, 0, sizeof(SandboxShared));
		for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
		{
			WorkerSlot *s = &sandbox_shared->slots[i];

			SpinLockInit(&s->mutex);
			s->procno = -1;
			pg_atomic_init_u32(&s->probe, PROBE_UNKNOWN);
			pg_atomic_init_u32(&s->state, WORKER_STOPPED);
			pg_atomic_init_u32(&s->wake, 0);
			pg_atomic_init_u32(&s->cancel_check, 0);
			pg_atomic_init_u32(&s->runs_in_flight, 0);
			pg_atomic_init_u32(&s->requests_in_flight, 0);
			pg_atomic_init_u64(&s->heartbeat, 0);
			for (int c = 0; c < WC_NUM_COUNTERS; c++)
				pg_atomic_init_u64(&s->counters[c], 0);
			for (int b = 0; b < BREAKER_NUM; b++)
			{
				pg_atomic_init_u32(&s->breaker_state[b], BREAKER_CLOSED);
				pg_atomic_init_u32(&s->breaker_failures[b], 0);
				pg_atomic_init_u64(&s->breaker_opened_at[b], 0);
				pg_atomic_init_u64(&s->breaker_opens[b], 0);
				pg_atomic_init_u64(&s->breaker_held[b], 0);
			}
			/* without the launcher, the first sandbox.workers slots are static */
			if (!launcher_enabled() && i < sandbox_workers && sandbox_database)
				strlcpy(s->dbname, sandbox_database, sizeof(s->dbname));
		}
		SpinLockInit(&sandbox_shared->launcher.mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * sandbox_shmem_init installs the hooks; called from _PG_init when the
 * library is preloaded.
 */
void
sandbox_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/*
 * sandbox_wake_workers sets the latch of each running worker of this
 * database.  The wake flag is set with a compare-and-swap so that a
 * thousand commits in a row cost the worker one wake-up, not a thousand.
 * When no worker serves this database, the launcher (if any) is asked to
 * look at it: the extension may have just been created here.
 */
void
sandbox_wake_workers(bool cancel)
{
	bool		served = false;

	if (sandbox_shared == NULL)
		return;
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
	{
		WorkerSlot *s = &sandbox_shared->slots[i];
		uint32		expected = 0;
		int			procno;
		Oid			db;
		bool		used;

		SpinLockAcquire(&s->mutex);
		procno = s->pid != 0 ? s->procno : -1;
		db = s->database;
		used = s->dbname[0] != '\0';
		SpinLockRelease(&s->mutex);
		/* a static worker not connected yet has no OID: wake it anyway */
		if (!used || (OidIsValid(db) && db != MyDatabaseId))
			continue;
		served = true;
		if (cancel)
			pg_atomic_write_u32(&s->cancel_check, 1);
		if (!pg_atomic_compare_exchange_u32(&s->wake, &expected, 1) && !cancel)
			continue;
		if (procno >= 0)
			SetLatch(&ProcGlobal->allProcs[procno].procLatch);
	}
	if (!served)
		launcher_request_database(MyDatabaseId);
}

/*
 * sandbox_slot_reset gives a slot the values of a worker that never ran:
 * at start, and when the launcher hands it to another database (whose
 * users must not see the last one's counters or errors).  The caller owns
 * the slot: no worker runs in it.
 */
void
sandbox_slot_reset(WorkerSlot *s)
{
	SpinLockAcquire(&s->mutex);
	s->pid = 0;
	s->procno = -1;
	s->database = InvalidOid;
	s->dbname[0] = '\0';
	s->started_at = 0;
	s->last_error[0] = '\0';
	s->last_error_at = 0;
	s->last_failure[0] = '\0';
	s->last_failure_owner = InvalidOid;
	s->last_failure_owner_id[0] = '\0';
	s->last_failure_at = 0;
	SpinLockRelease(&s->mutex);
	pg_atomic_write_u32(&s->probe, PROBE_UNKNOWN);
	pg_atomic_write_u32(&s->state, WORKER_STOPPED);
	pg_atomic_write_u32(&s->wake, 0);
	pg_atomic_write_u32(&s->cancel_check, 0);
	pg_atomic_write_u32(&s->runs_in_flight, 0);
	pg_atomic_write_u32(&s->requests_in_flight, 0);
	pg_atomic_write_u64(&s->heartbeat, 0);
	for (int c = 0; c < WC_NUM_COUNTERS; c++)
		pg_atomic_write_u64(&s->counters[c], 0);
	for (int b = 0; b < BREAKER_NUM; b++)
	{
		pg_atomic_write_u32(&s->breaker_state[b], BREAKER_CLOSED);
		pg_atomic_write_u32(&s->breaker_failures[b], 0);
		pg_atomic_write_u64(&s->breaker_opened_at[b], 0);
		pg_atomic_write_u64(&s->breaker_opens[b], 0);
		pg_atomic_write_u64(&s->breaker_held[b], 0);
	}
}

/*
 * sandbox_counter_add adds n to one of a worker's shared counters.
 */
void
sandbox_counter_add(WorkerSlot *slot, WorkerCounter c, uint64 n)
{
	if (slot)
		pg_atomic_fetch_add_u64(&slot->counters[c], n);
}

/*
 * sandbox_set_last_error records a worker's latest error for
 * sandbox_worker_status().  The message must hold no secret (none of ours
 * do: they quote providers' answers and curl's errors only).
 */
void
sandbox_set_last_error(WorkerSlot *slot, const char *msg)
{
	TimestampTz now = GetCurrentTimestamp();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	strlcpy(slot->last_error, msg, sizeof(slot->last_error));
	slot->last_error_at = now;
	SpinLockRelease(&slot->mutex);
}

/*
 * sandbox_clear_last_error forgets the worker's last error once a database
 * pass that started after it has succeeded: the trouble is over.
 */
void
sandbox_clear_last_error(WorkerSlot *slot, TimestampTz before)
{
	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	if (slot->last_error_at != 0 && slot->last_error_at < before)
	{
		slot->last_error[0] = '\0';
		slot->last_error_at = 0;
	}
	SpinLockRelease(&slot->mutex);
}

/*
 * sandbox_set_run_failure records the last run that failed (error NULL: a
 * run completed, which clears it), with its owner role and identity, so
 * that sandbox_worker_status() tells that owner why its runs fail.
 */
void
sandbox_set_run_failure(WorkerSlot *slot, const char *run_id, Oid owner, const char *owner_id,
						const char *error)
{
	TimestampTz now = GetCurrentTimestamp();

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	if (error == NULL)
	{
		slot->last_failure[0] = '\0';
		slot->last_failure_at = 0;
		slot->last_failure_owner = InvalidOid;
	}
	else
	{
		snprintf(slot->last_failure, sizeof(slot->last_failure), "run %s failed: %s", run_id, error);
		slot->last_failure_owner = owner;
		strlcpy(slot->last_failure_owner_id, owner_id ? owner_id : "",
				sizeof(slot->last_failure_owner_id));
		slot->last_failure_at = now;
	}
	SpinLockRelease(&slot->mutex);
}
