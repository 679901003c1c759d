/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  Provider limits, shared by every worker of the cluster: token
 *	  buckets in shared memory (no pointers) for model requests and input
 *	  tokens per minute and sandbox creations per second, the runs'
 *	  sandboxes alive at once, and waits a provider asked for (429,
 *	  Retry-After, anthropic-ratelimit-*).  A call held back by a limit
 *	  waits; it never fails and uses up no try.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_RATELIMIT_H
#define SANDBOX_RATELIMIT_H

#include "postgres.h"
#include "datatype/timestamp.h"

typedef enum RateKind
{
	RATE_LLM_REQUESTS,			/* sandbox.llm_requests_per_minute */
	RATE_LLM_INPUT_TOKENS,		/* sandbox.llm_input_tokens_per_minute */
	RATE_E2B_CREATES,			/* sandbox.e2b_creates_per_second */
	RATE_NUM
} RateKind;

/* A copy of one bucket, for sandbox_limits(). */
typedef struct RateView
{
	const char *name;
	double		rate_per_s;		/* 0 = no limit set */
	double		capacity;
	double		available;
	TimestampTz blocked_until;	/* 0 = not blocked */
	uint64		taken;
	uint64		held;
	uint64		provider_waits; /* times a provider told us to wait */
} RateView;

extern Size ratelimit_shmem_size(void);
extern void ratelimit_shmem_startup(void);
extern bool ratelimit_take(RateKind k, double n, TimestampTz now, TimestampTz *retry_at);
extern void ratelimit_give_back(RateKind k, double n);
extern void ratelimit_block(RateKind k, TimestampTz until);
extern void ratelimit_set_sandboxes(int worker, uint32 n);
extern bool ratelimit_sandbox_room(int worker, uint32 mine);
extern uint32 ratelimit_sandboxes_total(void);
extern void ratelimit_set_waiting(Oid db, uint32 n);
extern bool ratelimit_view(RateKind k, TimestampTz now, RateView *out);

#endif							/* SANDBOX_RATELIMIT_H */
