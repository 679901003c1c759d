/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Provider limits shared by all workers (see ratelimit.h).
 *
 * Each bucket refills continuously at its setting's rate up to its
 * capacity (one second of requests or creations, one minute of input
 * tokens), so the sustained rate is the setting's and a burst never
 * exceeds that capacity.  A provider's own word wins: a 429 with
 * Retry-After, or anthropic-ratelimit-*-remaining at 0 until its reset,
 * blocks the bucket for everyone until then.  The settings are read at
 * each use, so a reload takes effect at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/shmem.h"
#include "storage/spin.h"
#include "port/atomics.h"
#include "utils/timestamp.h"

#include "ratelimit.h"
#include "sandbox.h"

typedef struct RateBucket
{
	double		tokens;
	TimestampTz refilled_at;
	TimestampTz blocked_until;
	uint64		taken;
	uint64		held;
	uint64		provider_waits;
} RateBucket;

typedef struct RateShared
{
	slock_t		mutex;			/* protects buckets */
	RateBucket	buckets[RATE_NUM];
	pg_atomic_uint32 sandboxes[SANDBOX_MAX_WORKERS];	/* per worker slot */
	/* sandboxes kept running for waiting runs, per database (under mutex) */
	struct
	{
		Oid			db;
		uint32		n;
		TimestampTz at;			/* when its workers last counted them */
	}			waiting[SANDBOX_MAX_WORKERS];
} RateShared;

/* a database's count of waiting sandboxes older than this is forgotten */
#define WAITING_FRESH_US (60 * USECS_PER_SEC)

static RateShared *rate_shared = NULL;

static const char *const rate_names[RATE_NUM] = {
	"llm_requests", "llm_input_tokens", "e2b_creates"
};

/*
 * ratelimit_shmem_size is the size of the shared area.
 */
Size
ratelimit_shmem_size(void)
{
	return MAXALIGN(sizeof(RateShared));
}

/*
 * ratelimit_shmem_startup creates or attaches to the area (the caller
 * holds AddinShmemInitLock).
 */
void
ratelimit_shmem_startup(void)
{
	bool		found;

	rate_shared = ShmemInitStruct("sandbox rate limits", sizeof(RateShared), &found);
	if (!found)
	{
		memset(rate_shared, 0, sizeof(RateShared));
		SpinLockInit(&rate_shared->mutex);
		for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
			pg_atomic_init_u32(&rate_shared->sandboxes[i], 0);
	}
}

/*
 * rate_of returns a bucket's rate per second and its capacity from the
 * settings; a rate of 0 means no limit.
 */
static void
rate_of(RateKind k, double *rate, double *capacity)
{
	switch (k)
	{
		case RATE_LLM_REQUESTS:
			*rate = sandbox_llm_requests_per_minute / 60.0;
			*capacity = Max(1.0, *rate);
			return;
		case RATE_LLM_INPUT_TOKENS:
			*rate = sandbox_llm_input_tokens_per_minute / 60.0;
			*capacity = (double) sandbox_llm_input_tokens_per_minute;
			return;
		case RATE_E2B_CREATES:
			*rate = sandbox_e2b_creates_per_second;
			*capacity = Max(1.0, *rate);
			return;
		case RATE_NUM:
			break;
	}
	*rate = *capacity = 0;
}

/*
 * refill brings a bucket's tokens up to now (spinlock held).
 */
static void
refill(RateBucket *b, double rate, double capacity, TimestampTz now)
{
	if (b->refilled_at == 0)
		b->tokens = capacity;
	else if (now > b->refilled_at)
		b->tokens = Min(capacity, b->tokens + rate * (double) (now - b->refilled_at) / 1e6);
	b->refilled_at = now;
}

/*
 * ratelimit_take takes n tokens from a bucket, or says when to try again
 * (*retry_at): when it will hold them, or when the provider's wait ends.
 * A request larger than the capacity goes when the bucket is full.
 * Without the shared area (not preloaded) there is no limit.
 */
bool
ratelimit_take(RateKind k, double n, TimestampTz now, TimestampTz *retry_at)
{
	RateBucket *b;
	double		rate;
	double		capacity;
	bool		ok = true;

	if (rate_shared == NULL)
		return true;
	rate_of(k, &rate, &capacity);
	b = &rate_shared->buckets[k];
	SpinLockAcquire(&rate_shared->mutex);
	if (now < b->blocked_until)
	{
		*retry_at = b->blocked_until;
		ok = false;
	}
	else if (rate > 0)
	{
		double		need = Min(n, capacity);

		refill(b, rate, capacity, now);
		if (b->tokens >= need)
			b->tokens -= n;		/* may go below zero: a large request is a debt */
		else
		{
			*retry_at = now + (TimestampTz) ((need - b->tokens) / rate * 1e6) + 1000;
			ok = false;
		}
	}
	if (ok)
		b->taken++;
	else
		b->held++;
	SpinLockRelease(&rate_shared->mutex);
	return ok;
}

/*
 * ratelimit_give_back returns tokens taken for a call that did not go.
 */
void
ratelimit_give_back(RateKind k, double n)
{
	double		rate;
	double		capacity;

	if (rate_shared == NULL)
		return;
	rate_of(k, &rate, &capacity);
	SpinLockAcquire(&rate_shared->mutex);
	rate_shared->buckets[k].tokens = Min(capacity, rate_shared->buckets[k].tokens + n);
	SpinLockRelease(&rate_shared->mutex);
}

/*
 * ratelimit_block makes every worker wait until `until` before the next
 * call of this kind: the provider said so.
 */
void
ratelimit_block(RateKind k, TimestampTz until)
{
	RateBucket *b;

	if (rate_shared == NULL)
		return;
	b = &rate_shared->buckets[k];
	SpinLockAcquire(&rate_shared->mutex);
	if (until > b->blocked_until)
		b->blocked_until = until;
	b->tokens = Min(b->tokens, 0);
	b->provider_waits++;
	SpinLockRelease(&rate_shared->mutex);
}

/*
 * ratelimit_set_sandboxes records how many runs' sandboxes a worker holds
 * (alive, or being created).
 */
void
ratelimit_set_sandboxes(int worker, uint32 n)
{
	if (rate_shared != NULL && worker >= 0 && worker < SANDBOX_MAX_WORKERS)
		pg_atomic_write_u32(&rate_shared->sandboxes[worker], n);
}

/*
 * ratelimit_set_waiting records how many sandboxes of a database's waiting
 * runs are kept running (no worker holds those runs, so no worker counts
 * them otherwise).  Every worker of the database writes the same count;
 * a database that stops counting (dropped, its workers gone) is forgotten
 * after a minute.
 */
void
ratelimit_set_waiting(Oid db, uint32 n)
{
	TimestampTz now = GetCurrentTimestamp();
	int			slot = -1;

	if (rate_shared == NULL)
		return;
	SpinLockAcquire(&rate_shared->mutex);
	for (int i = 0; i < SANDBOX_MAX_WORKERS && slot < 0; i++)
		if (rate_shared->waiting[i].db == db)
			slot = i;
	for (int i = 0; i < SANDBOX_MAX_WORKERS && slot < 0; i++)
		if (rate_shared->waiting[i].db == InvalidOid ||
			now - rate_shared->waiting[i].at > WAITING_FRESH_US)
			slot = i;
	if (slot >= 0)
	{
		rate_shared->waiting[slot].db = db;
		rate_shared->waiting[slot].n = n;
		rate_shared->waiting[slot].at = now;
	}
	SpinLockRelease(&rate_shared->mutex);
}

/*
 * ratelimit_sandboxes_total is the runs' sandboxes all workers hold, and
 * those kept for waiting runs.
 */
uint32
ratelimit_sandboxes_total(void)
{
	uint32		total = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (rate_shared == NULL)
		return 0;
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
		total += pg_atomic_read_u32(&rate_shared->sandboxes[i]);
	SpinLockAcquire(&rate_shared->mutex);
	for (int i = 0; i < SANDBOX_MAX_WORKERS; i++)
		if (rate_shared->waiting[i].db != InvalidOid &&
			now - rate_shared->waiting[i].at <= WAITING_FRESH_US)
			total += rate_shared->waiting[i].n;
	SpinLockRelease(&rate_shared->mutex);
	return total;
}

/*
 * ratelimit_sandbox_room tells whether one more sandbox fits under
 * sandbox.e2b_max_sandboxes, counting this worker's own as `mine` (more
 * current than what it last published).
 */
bool
ratelimit_sandbox_room(int worker, uint32 mine)
{
	uint32		total;

	if (sandbox_e2b_max_sandboxes <= 0 || rate_shared == NULL)
		return true;
	total = ratelimit_sandboxes_total();
	if (worker >= 0 && worker < SANDBOX_MAX_WORKERS)
		total -= Min(total, pg_atomic_read_u32(&rate_shared->sandboxes[worker]));
	return total + mine < (uint32) sandbox_e2b_max_sandboxes;
}

/*
 * ratelimit_view copies a bucket for display; false without the area.
 */
bool
ratelimit_view(RateKind k, TimestampTz now, RateView *out)
{
	RateBucket *b;
	double		rate;
	double		capacity;

	if (rate_shared == NULL)
		return false;
	rate_of(k, &rate, &capacity);
	b = &rate_shared->buckets[k];
	SpinLockAcquire(&rate_shared->mutex);
	if (rate > 0)
		refill(b, rate, capacity, now);
	out->name = rate_names[k];
	out->rate_per_s = rate;
	out->capacity = capacity;
	out->available = rate > 0 ? b->tokens : 0;
	out->blocked_until = b->blocked_until > now ? b->blocked_until : 0;
	out->taken = b->taken;
	out->held = b->held;
	out->provider_waits = b->provider_waits;
	SpinLockRelease(&rate_shared->mutex);
	return true;
}
