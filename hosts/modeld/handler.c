/* handler.c - the request flow shared by both model routes (chat_handle in
 * chat.h):
 *
 *   latency (--latency-ms) -> JSON body -> provider validation -> directives
 *   and tool blocks -> latency directive -> failure directives (fail_first) -> scripted
 *   answer -> JSON or SSE rendering.
 */
#include "chat.h"

#include "cache.h"
#include "conv.h"
#include "errors.h"
#include "ids.h"
#include "options.h"
#include "ratelimit.h"
#include "script.h"
#include "stats.h"
#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* What the failure directives make of this call. */
typedef enum {
    FAIL_NONE = 0,  /* answer normally */
    FAIL_DROP,      /* close the connection */
    FAIL_STATUS,    /* HTTP error with the provider's body */
    FAIL_MALFORMED, /* 200 that is not valid JSON */
} fail_kind_t;

/* Answers 400 invalid_request_error (shaped by the error-body hook). */
httpd_result_t chat_reply_invalid(httpd_req_t *req, const char *msg)
{
    stats_inc("model_invalid_requests");
    return httpd_reply_error(req, 400, "%s", msg);
}

/* Decides whether this call fails: failure directives apply to every call,
 * or with fail_first=N only to the first N calls of the conversation. */
static fail_kind_t decide_failure(const chat_t *c, const directives_t *d)
{
    if (!directives_fail(d))
        return FAIL_NONE;
    if (d->fail_first > 0) {
        int64_t n = conv_next(conv_key(c->first_user, c->phase == PHASE_EXEC));
        if (n > d->fail_first)
            return FAIL_NONE;
    }
    if (d->drop)
        return FAIL_DROP;
    if (d->status)
        return FAIL_STATUS;
    return FAIL_MALFORMED;
}

/* Answers the scripted HTTP error with its retry headers. */
static httpd_result_t reply_status(httpd_req_t *req, const directives_t *d)
{
    long long ms = -1;
    if (d->retry_after_ms >= 0)
        ms = d->retry_after_ms;
    else if (d->retry_after_s >= 0)
        ms = (long long)d->retry_after_s * 1000;
    else if (d->status == 429)
        ms = 1000;
    if (ms >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (ms + 999) / 1000);
        httpd_add_header(req, "retry-after", v);
        snprintf(v, sizeof v, "%lld", ms);
        httpd_add_header(req, "retry-after-ms", v);
    }
    if (d->should_retry >= 0)
        httpd_add_header(req, "x-should-retry", d->should_retry ? "true" : "false");
    stats_inc("model_scripted_errors");
    return httpd_reply_error(req, d->status, "modeld: scripted error (directive status=%d)",
                             d->status);
}

/* Answers a 200 whose body cannot be parsed (JSON or SSE). */
static httpd_result_t reply_malformed(httpd_req_t *req, const provider_ops_t *ops, bool stream)
{
    stats_inc("model_scripted_malformed");
    const char *b = stream ? ops->malformed_sse : ops->malformed_json;
    return httpd_reply_bytes(req, 200, stream ? "text/event-stream" : "application/json", b,
                             strlen(b));
}

/* Counts what the answer contains, for GET /admin/stats. */
static void count_answer(const chat_t *c, const directives_t *d, const reply_t *r)
{
    if (hostile_any(r->raw) || (d->hostile_json_text && !r->ncalls))
        stats_inc("model_scripted_hostile");
    if (d->huge && !r->ncalls)
        stats_inc("model_scripted_huge");
    stats_inc(c->phase == PHASE_PLAN ? "model_calls_plan" : "model_calls_exec");
    if (r->ncalls)
        stats_add("model_tool_calls", (int64_t)r->ncalls);
    else
        stats_inc("model_final_answers");
    if (c->stream)
        stats_inc("model_streams");
}

/* Validates, applies directives, and answers one model call. */
static httpd_result_t handle(httpd_req_t *req, const provider_ops_t *ops, chat_t *c)
{
    char err[1024];
    size_t len;
    httpd_body(req, &len);
    json_t *body = httpd_body_json(req, err, sizeof err);
    if (!body) {
        char msg[1200];
        snprintf(msg, sizeof msg, "the request body is not valid JSON: %s", err);
        return chat_reply_invalid(req, msg);
    }
    if (!json_is_object(body)) {
        json_decref(body);
        return chat_reply_invalid(req, "the request body must be a JSON object");
    }
    c->body_len = len;
    int rc = ops->parse(req, body, c, err, sizeof err);
    json_decref(body);
    if (rc < 0)
        return chat_reply_invalid(req, err);
    directives_t d;
    if (directives_parse(c->first_user, c->phase, &d, err, sizeof err) < 0 ||
        (c->latest_user &&
         directives_parse_more(c->latest_user, c->phase, &d, err, sizeof err) < 0) ||
        script_check(c, err, sizeof err) < 0)
        return chat_reply_invalid(req, err);
    if (d.latency_ms > 0)
        time_sleep_ms(d.latency_ms);
    switch (decide_failure(c, &d)) {
    case FAIL_DROP:
        stats_inc("model_scripted_drops");
        return httpd_reply_drop(req);
    case FAIL_STATUS:
        return reply_status(req, &d);
    case FAIL_MALFORMED:
        return reply_malformed(req, ops, c->stream);
    case FAIL_NONE:
        break;
    }
    reply_t r;
    memset(&r, 0, sizeof r);
    if (script_answer(c, &d, &r) < 0) {
        reply_free(&r);
        return httpd_reply_error(req, 500, "modeld: out of memory");
    }
    cache_apply(c, &r);
    count_answer(c, &d, &r);
    if (c->stream)
        return ops->stream(req, c, &r);
    json_t *out = ops->render(c, &r);
    if (!out) {
        reply_free(&r);
        return httpd_reply_error(req, 500, "modeld: cannot render the answer");
    }
    if (!hostile_any(r.raw)) {
        reply_free(&r);
        return httpd_reply_json(req, 200, out);
    }
    char *s = reply_dumps(&r, out);
    json_decref(out);
    reply_free(&r);
    if (!s)
        return httpd_reply_error(req, 500, "modeld: out of memory");
    httpd_result_t res = httpd_reply_bytes(req, 200, "application/json", s, strlen(s));
    free(s);
    return res;
}

/* RFC 3339 UTC to the second, rounded up ("2026-11-30T12:00:31Z"), as
 * Anthropic's anthropic-ratelimit-*-reset. */
static void rfc3339_ceil_s(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)((ms + 999) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A duration as OpenAI writes x-ratelimit-reset-*: "250ms", "1.5s", "6m0s". */
static void openai_duration(int64_t ms, char *out, size_t outsz)
{
    if (ms < 1000)
        snprintf(out, outsz, "%lldms", (long long)ms);
    else if (ms < 60000)
        snprintf(out, outsz, "%gs", (double)ms / 1000.0);
    else
        snprintf(out, outsz, "%lldm%gs", (long long)(ms / 60000), (double)(ms % 60000) / 1000.0);
}

/* Adds one bucket's headers in the provider's names. */
static void bucket_headers(httpd_req_t *req, provider_t p, const rl_view_t *v, const char *ant,
                           const char *oai)
{
    if (!v->on)
        return;
    char name[80], val[64];
    if (p == PROVIDER_ANTHROPIC) {
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-limit", ant);
        snprintf(val, sizeof val, "%lld", (long long)v->limit);
        httpd_add_header(req, name, val);
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-remaining", ant);
        snprintf(val, sizeof val, "%lld", (long long)v->remaining);
        httpd_add_header(req, name, val);
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-reset", ant);
        rfc3339_ceil_s(v->reset_ms, val, sizeof val);
        httpd_add_header(req, name, val);
    } else {
        snprintf(name, sizeof name, "x-ratelimit-limit-%s", oai);
        snprintf(val, sizeof val, "%lld", (long long)v->limit);
        httpd_add_header(req, name, val);
        snprintf(name, sizeof name, "x-ratelimit-remaining-%s", oai);
        snprintf(val, sizeof val, "%lld", (long long)v->remaining);
        httpd_add_header(req, name, val);
        snprintf(name, sizeof name, "x-ratelimit-reset-%s", oai);
        openai_duration(v->full_in_ms, val, sizeof val);
        httpd_add_header(req, name, val);
    }
}

/* --rpm / --itpm: takes this call from the buckets and adds the rate-limit
 * headers to whatever the call is answered; returns a 429 when over. */
static bool over_limits(httpd_req_t *req, const provider_ops_t *ops, httpd_result_t *res)
{
    if (!rl_enabled())
        return false;
    size_t len = 0;
    httpd_body(req, &len);
    rl_result_t r;
    rl_take(len / 4 > 0 ? (int64_t)(len / 4) : 1, &r);
    bucket_headers(req, ops->id, &r.requests, "requests", "requests");
    bucket_headers(req, ops->id, &r.tokens, "input-tokens", "tokens");
    if (!r.limited) {
        stats_inc("model_ratelimit_answered");
        return false;
    }
    stats_inc("model_ratelimit_limited");
    stats_inc(r.by_requests ? "model_ratelimit_limited_requests"
                            : "model_ratelimit_limited_input_tokens");
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)((r.retry_after_ms + 999) / 1000));
    httpd_add_header(req, "retry-after", v);
    snprintf(v, sizeof v, "%lld", (long long)r.retry_after_ms);
    httpd_add_header(req, "retry-after-ms", v);
    char msg[300];
    if (r.by_requests)
        snprintf(msg, sizeof msg,
                 "This request would exceed the rate limit for your organization (modeld) of "
                 "%lld requests per minute. Please retry after %lld ms.",
                 (long long)r.requests.limit, (long long)r.retry_after_ms);
    else
        snprintf(msg, sizeof msg,
                 "This request would exceed the rate limit for your organization (modeld) of "
                 "%lld input tokens per minute. Please retry after %lld ms.",
                 (long long)r.tokens.limit, (long long)r.retry_after_ms);
    json_t *body = error_body(ops->id, req, 429, msg);
    if (ops->id == PROVIDER_OPENAI && !r.by_requests)
        json_object_set_new(json_object_get(body, "error"), "type", json_string("tokens"));
    *res = httpd_reply_json(req, 429, body);
    return true;
}

/* Route entry point: the route's arg selects the provider. */
httpd_result_t chat_handle(httpd_req_t *req)
{
    const provider_ops_t *ops = httpd_route_arg(req);
    const modeld_opts_t *o = httpd_server_arg(req);
    request_id(req);
    httpd_result_t limited;
    if (over_limits(req, ops, &limited))
        return limited;
    if (o->latency_ms > 0)
        time_sleep_ms(o->latency_ms);
    chat_t c;
    memset(&c, 0, sizeof c);
    c.provider = ops->id;
    httpd_result_t res = handle(req, ops, &c);
    chat_free(&c);
    return res;
}
