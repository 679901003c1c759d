/*
 * ratelimit.h - provider-style rate limits (--rpm, --itpm).
 *
 * Two token buckets, as Anthropic describes its limits: each holds a
 * minute's worth (N requests, M input tokens) and refills continuously at
 * N/60 (M/60) per second.  A call takes one request and its estimated
 * input tokens (request body bytes / 4, as modeld's usage counts them)
 * from both buckets at once, or, when either lacks them, takes nothing
 * and is answered 429.  A limit of 0 means none.  Thread-safe (one mutex).
 */
#ifndef MODELD_RATELIMIT_H
#define MODELD_RATELIMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* One bucket as seen by a call, for the answer's headers. */
typedef struct rl_view {
    bool on;             /* this limit is configured */
    int64_t limit;       /* per minute (the bucket's capacity) */
    int64_t remaining;   /* whole units left after this call */
    int64_t full_in_ms;  /* until the bucket is full again */
    int64_t reset_ms;    /* wall clock (ms since the epoch) when it is full */
} rl_view_t;

/* What the limiter decided for one call. */
typedef struct rl_result {
    bool limited;           /* answer 429 */
    bool by_requests;       /* the request bucket lacked one request */
    bool by_tokens;         /* the input-token bucket lacked the estimate */
    int64_t retry_after_ms; /* when both buckets will hold this call */
    rl_view_t requests;
    rl_view_t tokens;
} rl_result_t;

/* Sets the limits (0 = none) and fills both buckets. */
void rl_configure(int64_t rpm, int64_t itpm);

/* True when a limit is configured. */
bool rl_enabled(void);

/* Takes one request and `tokens` input tokens, or decides 429. */
void rl_take(int64_t tokens, rl_result_t *out);

/* The buckets' state without taking anything. */
void rl_peek(rl_result_t *out);

/* Fills both buckets (DELETE /admin/ratelimit). */
void rl_refill(void);

/* {"rpm":N,"itpm":M,"requests":{...},"input_tokens":{...}} (new reference). */
json_t *rl_to_json(void);

#endif
