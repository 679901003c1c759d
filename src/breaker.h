/*-------------------------------------------------------------------------
 *
 * breaker.h
 *	  Circuit breakers: one per endpoint the worker calls (the E2B control
 *	  plane, envd in the sandboxes, the model), so that an outage holds
 *	  runs instead of failing them.
 *
 * CLOSED: requests go.  After BREAKER_THRESHOLD transient failures in a
 * row it is OPEN: requests wait (without using up their tries) until the
 * probe time, when one request goes as a probe (HALF_OPEN).  The probe's
 * success closes it; its failure opens it again for twice as long (up to
 * BREAKER_MAX_WAIT_MS).  Any answer that shows the endpoint works (even a
 * 4xx) counts as a success.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_BREAKER_H
#define SANDBOX_BREAKER_H

#include "postgres.h"
#include "datatype/timestamp.h"

#define BREAKER_THRESHOLD 5
#define BREAKER_FIRST_WAIT_MS 2000
#define BREAKER_MAX_WAIT_MS 15000
#define BREAKER_PROBE_TIMEOUT_MS 120000	/* a probe never heard of: another */

typedef enum BreakerEndpoint
{
	BREAKER_E2B_API,
	BREAKER_ENVD,
	BREAKER_MODEL,
	BREAKER_NUM
} BreakerEndpoint;

typedef enum BreakerState
{
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN
} BreakerState;

typedef struct Breaker
{
	BreakerState state;
	int			failures;		/* transient failures in a row */
	int			wait_ms;		/* the current open period */
	TimestampTz opened_at;
	TimestampTz probe_at;		/* OPEN: when a probe may go */
	TimestampTz probe_sent_at;	/* HALF_OPEN: when the probe went */
	uint64		opens;			/* times it opened */
	uint64		held;			/* requests it held back */
} Breaker;

extern const char *breaker_endpoint_name(BreakerEndpoint e);
extern const char *breaker_state_name(BreakerState s);
extern void breaker_success(Breaker *b);
extern void breaker_failure(Breaker *b, TimestampTz now);
extern bool breaker_allows(Breaker *b, TimestampTz now);
extern TimestampTz breaker_next_try(const Breaker *b, TimestampTz now);

#endif							/* SANDBOX_BREAKER_H */
