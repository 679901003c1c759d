/* server.c - route table and server configuration (see server.h). */
#include "server.h"

#include "admin.h"
#include "anthropic.h"
#include "auth.h"
#include "cache.h"
#include "conv.h"
#include "errors.h"
#include "log.h"
#include "models.h"
#include "openai.h"
#include "ratelimit.h"

#include <stdio.h>

/* DELETE /admin/conversations: forgets the fail_first counters so a test
 * can reuse a prompt. */
static httpd_result_t reset_conversations(httpd_req_t *req)
{
    conv_reset();
    return httpd_reply_empty(req, 204);
}

/* DELETE /admin/cache: forgets the prompt cache. */
static httpd_result_t reset_cache(httpd_req_t *req)
{
    cache_reset();
    return httpd_reply_empty(req, 204);
}

/* GET /admin/ratelimit: the --rpm/--itpm buckets. */
static httpd_result_t ratelimit_get(httpd_req_t *req)
{
    return httpd_reply_json(req, 200, rl_to_json());
}

/* PUT /admin/ratelimit {"rpm":N,"itpm":M}: new limits (a missing key keeps
 * its limit, 0 removes it), both buckets full. */
static httpd_result_t ratelimit_put(httpd_req_t *req)
{
    char err[256];
    json_t *body = httpd_body_json(req, err, sizeof err);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        return httpd_reply_error(req, 400, "expected {\"rpm\":N,\"itpm\":M}");
    }
    rl_result_t cur;
    rl_peek(&cur);
    json_int_t rpm = cur.requests.on ? cur.requests.limit : 0;
    json_int_t itpm = cur.tokens.on ? cur.tokens.limit : 0;
    json_t *v;
    int bad = 0;
    if ((v = json_object_get(body, "rpm"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            bad = 1;
        else
            rpm = json_integer_value(v);
    }
    if ((v = json_object_get(body, "itpm"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            bad = 1;
        else
            itpm = json_integer_value(v);
    }
    json_decref(body);
    if (bad)
        return httpd_reply_error(req, 400, "rpm and itpm must be integers >= 0");
    rl_configure(rpm, itpm);
    return httpd_reply_json(req, 200, rl_to_json());
}

/* DELETE /admin/ratelimit: fills both buckets. */
static httpd_result_t ratelimit_refill(httpd_req_t *req)
{
    rl_refill();
    return httpd_reply_empty(req, 204);
}

/* Thread stacks: handlers are shallow, but jansson parses nested JSON
 * recursively, up to 2048 levels.  256 KiB survives a body nested 2048 deep
 * (64 KiB and 32 KiB stacks crash at 1000 levels: measured); it is virtual
 * memory, touched only as deep as a request goes. */
#define MODELD_THREAD_STACK (256 * 1024)

/* Configures the daemon, registers every route and starts listening. */
httpd_t *server_start(const modeld_opts_t *o)
{
    httpd_config_t cfg = {
        .name = MODELD_SERVER_NAME,
        .bind = o->bind,
        .port = o->port,
        .thread_stack = MODELD_THREAD_STACK,
        .max_connections = (unsigned)o->max_connections,
        .log_requests = o->log_requests,
        .auth = auth_check,
        .error_body = error_body_hook,
        .arg = (void *)o,
    };
    httpd_t *h = httpd_new(&cfg);
    if (!h) {
        log_error("out of memory");
        return NULL;
    }
    httpd_route(h, "POST", "/v1/messages", chat_handle, HTTPD_STREAM, (void *)&anthropic_ops);
    httpd_route(h, "POST", "/v1/chat/completions", chat_handle, HTTPD_STREAM,
                (void *)&openai_ops);
    httpd_route(h, "GET", "/v1/models", models_list, 0, NULL);
    httpd_route(h, "GET", "/v1/models/{id}", models_get, 0, NULL);
    httpd_route(h, "DELETE", "/admin/conversations", reset_conversations, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "DELETE", "/admin/cache", reset_cache, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "GET", "/admin/ratelimit", ratelimit_get, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "PUT", "/admin/ratelimit", ratelimit_put, HTTPD_NO_FAULTS, NULL);
    httpd_route(h, "DELETE", "/admin/ratelimit", ratelimit_refill, HTTPD_NO_FAULTS, NULL);
    admin_register(h);
    if (httpd_start(h) < 0) {
        httpd_free(h);
        return NULL;
    }
    return h;
}
