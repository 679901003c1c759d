/* ratelimit.c - --rpm / --itpm token buckets (see ratelimit.h). */
#include "ratelimit.h"

#include "timeutil.h"

#include <math.h>
#include <pthread.h>

typedef struct bucket {
    int64_t limit;   /* per minute; 0 = no limit */
    double level;    /* units in the bucket */
    int64_t at_ms;   /* monotonic time of `level` */
} bucket_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bucket_t g_req, g_tok;

/* Refills up to now (lock held). */
static void refill(bucket_t *b, int64_t now)
{
    if (b->limit <= 0)
        return;
    if (now > b->at_ms) {
        b->level += (double)(now - b->at_ms) * (double)b->limit / 60000.0;
        if (b->level > (double)b->limit)
            b->level = (double)b->limit;
    }
    b->at_ms = now;
}

/* Milliseconds until the bucket holds `n` units (lock held, refilled). */
static int64_t wait_for(const bucket_t *b, double n)
{
    if (b->limit <= 0 || b->level >= n)
        return 0;
    return (int64_t)ceil((n - b->level) * 60000.0 / (double)b->limit);
}

/* Fills the view of a bucket (lock held, refilled). */
static void view(const bucket_t *b, int64_t wall, rl_view_t *v)
{
    v->on = b->limit > 0;
    if (!v->on)
        return;
    v->limit = b->limit;
    v->remaining = (int64_t)floor(b->level);
    if (v->remaining < 0)
        v->remaining = 0;
    v->full_in_ms = wait_for(b, (double)b->limit);
    v->reset_ms = wall + v->full_in_ms;
}

void rl_configure(int64_t rpm, int64_t itpm)
{
    pthread_mutex_lock(&g_mu);
    int64_t now = time_mono_ms();
    g_req = (bucket_t){.limit = rpm, .level = (double)rpm, .at_ms = now};
    g_tok = (bucket_t){.limit = itpm, .level = (double)itpm, .at_ms = now};
    pthread_mutex_unlock(&g_mu);
}

bool rl_enabled(void)
{
    pthread_mutex_lock(&g_mu);
    bool on = g_req.limit > 0 || g_tok.limit > 0;
    pthread_mutex_unlock(&g_mu);
    return on;
}

void rl_take(int64_t tokens, rl_result_t *out)
{
    *out = (rl_result_t){0};
    if (tokens < 1)
        tokens = 1;
    pthread_mutex_lock(&g_mu);
    int64_t now = time_mono_ms();
    int64_t wall = time_now_ms();
    refill(&g_req, now);
    refill(&g_tok, now);
    out->by_requests = g_req.limit > 0 && g_req.level < 1.0;
    /* a call larger than the whole bucket waits for a full one (and is
     * then still refused: it can never pass, as with the provider) */
    out->by_tokens = g_tok.limit > 0 && g_tok.level < (double)tokens;
    if (out->by_requests || out->by_tokens) {
        out->limited = true;
        int64_t a = wait_for(&g_req, 1.0);
        double need = (double)tokens;
        if (g_tok.limit > 0 && need > (double)g_tok.limit)
            need = (double)g_tok.limit;
        int64_t b = wait_for(&g_tok, need);
        out->retry_after_ms = a > b ? a : b;
    } else {
        if (g_req.limit > 0)
            g_req.level -= 1.0;
        if (g_tok.limit > 0)
            g_tok.level -= (double)tokens;
    }
    view(&g_req, wall, &out->requests);
    view(&g_tok, wall, &out->tokens);
    pthread_mutex_unlock(&g_mu);
}

void rl_peek(rl_result_t *out)
{
    *out = (rl_result_t){0};
    pthread_mutex_lock(&g_mu);
    int64_t now = time_mono_ms();
    int64_t wall = time_now_ms();
    refill(&g_req, now);
    refill(&g_tok, now);
    view(&g_req, wall, &out->requests);
    view(&g_tok, wall, &out->tokens);
    pthread_mutex_unlock(&g_mu);
}

void rl_refill(void)
{
    pthread_mutex_lock(&g_mu);
    int64_t now = time_mono_ms();
    g_req.level = (double)g_req.limit;
    g_req.at_ms = now;
    g_tok.level = (double)g_tok.limit;
    g_tok.at_ms = now;
    pthread_mutex_unlock(&g_mu);
}

/* One bucket as JSON. */
static json_t *view_json(const rl_view_t *v)
{
    if (!v->on)
        return json_null();
    char reset[40];
    time_rfc3339_ms(v->reset_ms, reset, sizeof reset);
    return json_pack("{s:I,s:I,s:I,s:s}", "limit", (json_int_t)v->limit, "remaining",
                     (json_int_t)v->remaining, "full_in_ms", (json_int_t)v->full_in_ms, "reset",
                     reset);
}

json_t *rl_to_json(void)
{
    rl_result_t r;
    rl_peek(&r);
    return json_pack("{s:I,s:I,s:o,s:o}", "rpm", (json_int_t)(r.requests.on ? r.requests.limit : 0),
                     "itpm", (json_int_t)(r.tokens.on ? r.tokens.limit : 0), "requests",
                     view_json(&r.requests), "input_tokens", view_json(&r.tokens));
}
