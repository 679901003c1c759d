/* ids.c - identifier counters and per-request ids (see ids.h). */
#include "ids.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t g_counters[ID_KINDS];

static const char *const g_prefix[ID_KINDS] = {
    [ID_MESSAGE] = "msg_",
    [ID_TOOL_USE] = "toolu_",
    [ID_COMPLETION] = "chatcmpl-",
    [ID_CALL] = "call_",
    [ID_REQUEST] = "req_",
};

/* Atomic increment, so concurrent connection threads never share an id. */
void id_next(id_kind_t kind, char *out, size_t outsz)
{
    uint64_t n = __atomic_add_fetch(&g_counters[kind], 1, __ATOMIC_RELAXED);
    snprintf(out, outsz, "%s%08llu", g_prefix[kind], (unsigned long long)n);
}

/* Per-request state kept in the request's user slot: only the id so far. */
typedef struct reqctx {
    char id[32];
} reqctx_t;

/* Lazily creates the id; the error-body hook (auth failures, injected
 * faults) and the handlers all go through here, so every answer carries the
 * same id in its headers and, for Anthropic errors, in its body. */
const char *request_id(httpd_req_t *req)
{
    reqctx_t *c = httpd_user(req);
    if (c)
        return c->id;
    c = calloc(1, sizeof *c);
    if (!c)
        return "req_unknown";
    id_next(ID_REQUEST, c->id, sizeof c->id);
    httpd_set_user(req, c, free);
    httpd_add_header(req, "request-id", c->id);
    httpd_add_header(req, "x-request-id", c->id);
    return c->id;
}
