/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  Circuit breakers per endpoint (see breaker.h): pure state, no I/O.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "breaker.h"

static const char *const endpoint_names[BREAKER_NUM] = {"e2b_api", "envd", "model"};
static const char *const state_names[] = {"closed", "open", "half_open"};

/*
 * breaker_endpoint_name names an endpoint as sandbox_worker_status() shows it.
 */
const char *
breaker_endpoint_name(BreakerEndpoint e)
{
	return endpoint_names[e];
}

/*
 * breaker_state_name names a state as sandbox_worker_status() shows it.
 */
const char *
breaker_state_name(BreakerState s)
{
	return state_names[s];
}

/*
 * breaker_success records an answer that shows the endpoint works: the
 * breaker closes and forgets its failures.
 */
void
breaker_success(Breaker *b)
{
	b->state = BREAKER_CLOSED;
	b->failures = 0;
	b->wait_ms = 0;
}

/*
 * breaker_failure records a transient failure (no answer, a timeout, a
 * 5xx).  The threshold opens a closed breaker; a failed probe opens it
 * again for twice as long.
 */
void
breaker_failure(Breaker *b, TimestampTz now)
{
	b->failures++;
	if (b->state == BREAKER_HALF_OPEN ||
		(b->state == BREAKER_CLOSED && b->failures >= BREAKER_THRESHOLD))
	{
		b->wait_ms = b->wait_ms == 0 ? BREAKER_FIRST_WAIT_MS :
			Min(b->wait_ms * 2, BREAKER_MAX_WAIT_MS);
		if (b->state == BREAKER_CLOSED)
		{
			b->opened_at = now;
			b->opens++;
		}
		b->state = BREAKER_OPEN;
		b->probe_at = now + (TimestampTz) b->wait_ms * 1000;
	}
}

/*
 * breaker_allows tells whether a request may go now.  An open breaker
 * whose probe time came lets exactly one through (it becomes half-open
 * until that request's outcome is known).
 */
bool
breaker_allows(Breaker *b, TimestampTz now)
{
	switch (b->state)
	{
		case BREAKER_CLOSED:
			return true;
		case BREAKER_OPEN:
			if (now >= b->probe_at)
			{
				b->state = BREAKER_HALF_OPEN;
				b->probe_sent_at = now;
				return true;
			}
			break;
		case BREAKER_HALF_OPEN:
			/* a probe whose outcome never came (its run was cancelled) */
			if (now - b->probe_sent_at >= (TimestampTz) BREAKER_PROBE_TIMEOUT_MS * 1000)
			{
				b->probe_sent_at = now;
				return true;
			}
			break;
	}
	b->held++;
	return false;
}

/*
 * breaker_next_try is when a request held by the breaker should look
 * again: the probe time while open, a moment later while a probe is out.
 */
TimestampTz
breaker_next_try(const Breaker *b, TimestampTz now)
{
	if (b->state == BREAKER_OPEN && b->probe_at > now)
		return b->probe_at;
	return now + 1000 * 1000;
}
