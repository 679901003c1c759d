/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  What the agent-run workers share with backends: one slot per worker
 *	  with its pid, its PGPROC number (to set its latch), a wake flag,
 *	  counters and its last error.  No pointers, no file descriptors.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_SHMEM_H
#define SANDBOX_SHMEM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/spin.h"

#include "breaker.h"
#include "worker.h"

typedef enum WorkerState
{
	WORKER_STOPPED = 0,
	WORKER_STARTING,
	WORKER_IDLE_NO_EXTENSION,	/* waiting for CREATE EXTENSION */
	WORKER_RUNNING,
	WORKER_STOPPING
} WorkerState;

typedef enum WorkerCounter
{
	WC_RUNS_CLAIMED,
	WC_RUNS_COMPLETED,
	WC_RUNS_FAILED,
	WC_RUNS_CANCELLED,
	WC_RUNS_RESCUED,
	WC_HTTP_REQUESTS,
	WC_HTTP_RETRIES,
	WC_SANDBOXES_CREATED,
	WC_SANDBOXES_KILLED,
	WC_NUM_COUNTERS
} WorkerCounter;

/* what a worker found at start-up (launched workers only) */
typedef enum WorkerProbe
{
	PROBE_UNKNOWN = 0,
	PROBE_EXTENSION,			/* the extension is installed: serving */
	PROBE_NO_EXTENSION			/* not installed: the worker left */
} WorkerProbe;

typedef struct WorkerSlot
{
	slock_t		mutex;			/* protects pid, procno, database, dbname,
								 * last_error*, last_failure* */
	pid_t		pid;
	Oid			database;		/* served database (InvalidOid: none, or a
								 * static worker not yet connected) */
	char		dbname[NAMEDATALEN];	/* its name ('' = slot unused) */
	uint32		generation;		/* launched workers: bumped at each launch,
								 * so a stale worker knows it is not wanted */
	pg_atomic_uint32 probe;		/* WorkerProbe */
	int			procno;
	TimestampTz started_at;
	char		last_error[256];	/* the worker's own last error, until a
									 * later database pass succeeds */
	TimestampTz last_error_at;
	char		last_failure[256];	/* the last run that failed, until a run
									 * completes */
	Oid			last_failure_owner; /* that run's owner role */
	char		last_failure_owner_id[128]; /* and identity ('' = none) */
	TimestampTz last_failure_at;
	pg_atomic_uint32 state;
	pg_atomic_uint32 wake;		/* a committer asked for a look at the queue */
	pg_atomic_uint32 cancel_check;	/* a committer cancelled a run */
	pg_atomic_uint32 runs_in_flight;
	pg_atomic_uint32 requests_in_flight;
	pg_atomic_uint64 heartbeat;	/* TimestampTz of the loop's last pass */
	pg_atomic_uint64 counters[WC_NUM_COUNTERS];
	/* the worker's circuit breakers, copied from its memory each pass */
	pg_atomic_uint32 breaker_state[BREAKER_NUM];
	pg_atomic_uint32 breaker_failures[BREAKER_NUM];
	pg_atomic_uint64 breaker_opened_at[BREAKER_NUM];	/* TimestampTz, 0 = never */
	pg_atomic_uint64 breaker_opens[BREAKER_NUM];
	pg_atomic_uint64 breaker_held[BREAKER_NUM];
} WorkerSlot;

/* a database whose workers stay away while a statement needs it alone */
typedef struct DatabaseHold
{
	Oid			database;		/* InvalidOid: entry free */
	TimestampTz until;			/* released by then at the latest */
	bool		seen;			/* the launcher has stopped its workers */
} DatabaseHold;

#define LAUNCHER_MAX_HOLDS 8
#define LAUNCHER_MAX_REQUESTS 8
#define LAUNCHER_MAX_SHORT 64

/* a served database short of slots, and by how many workers */
typedef struct DatabaseShort
{
	Oid			database;
	int			missing;
} DatabaseShort;

/*
 * The launcher's part (sandbox.databases set): its latch, requests from
 * backends (a run queued in a database no worker serves), holds (DROP or
 * RENAME DATABASE, or a CREATE DATABASE that copies it, under way), and the
 * databases it could not give all their workers.
 */
typedef struct LauncherShared
{
	slock_t		mutex;			/* protects everything below */
	pid_t		pid;
	int			procno;
	bool		rescan;			/* look at pg_database again now */
	int			nrequests;
	Oid			requests[LAUNCHER_MAX_REQUESTS];
	DatabaseHold holds[LAUNCHER_MAX_HOLDS];
	int			nshort;
	DatabaseShort shorts[LAUNCHER_MAX_SHORT];
} LauncherShared;

typedef struct SandboxShared
{
	WorkerSlot	slots[SANDBOX_MAX_WORKERS];
	LauncherShared launcher;
} SandboxShared;

extern SandboxShared *sandbox_shared;

extern void sandbox_shmem_init(void);
extern void sandbox_wake_workers(bool cancel);
extern void sandbox_counter_add(WorkerSlot *slot, WorkerCounter c, uint64 n);
extern void sandbox_set_last_error(WorkerSlot *slot, const char *msg);
extern void sandbox_clear_last_error(WorkerSlot *slot, TimestampTz before);
extern void sandbox_slot_reset(WorkerSlot *slot);
extern void sandbox_set_run_failure(WorkerSlot *slot, const char *run_id, Oid owner,
									const char *owner_id, const char *error);

#endif							/* SANDBOX_SHMEM_H */
