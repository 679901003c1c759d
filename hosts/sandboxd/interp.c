/* interp.c - code-interpreter contexts and /execute (see interp.h). */
#include "interp.h"

#include "config.h"
#include "ids.h"
#include "log.h"
#include "proc.h"
#include "proxy.h"
#include "stats.h"
#include "timeutil.h"

#include "interp_driver.h" /* INTERP_DRIVER: generated from interp_driver.py */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define KEEPALIVE_MS 5000       /* the code interpreter's keepalive interval */
#define DRIVER_START_MS 15000

/* ---------- contexts ---------- */

/* Takes a reference on a context (list or running execution). */
static void ctx_ref(ictx_t *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

/* Frees a context nobody uses any more (its driver already released). */
static void ctx_unref(ictx_t *c)
{
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (c->in_fd >= 0)
        close(c->in_fd);
    if (c->out_fd >= 0)
        close(c->out_fd);
    proc_unref(c->driver);
    buf_free(&c->rbuf);
    pthread_cond_destroy(&c->cond);
    free(c->cwd);
    free(c);
}

/* Drops the driver process and its pipes (caller owns the context's
 * driver: holds `busy`, or knows nobody does). */
static void ctx_drop_driver(ictx_t *c)
{
    if (c->in_fd >= 0)
        close(c->in_fd);
    if (c->out_fd >= 0)
        close(c->out_fd);
    c->in_fd = c->out_fd = -1;
    proc_unref(c->driver);
    c->driver = NULL;
    buf_clear(&c->rbuf);
}

/* Creates and lists a context (sandbox mu held). */
static ictx_t *ctx_new(sandbox_t *sb, const char *cwd, bool is_default)
{
    ictx_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->refs = 1;
    c->sb = sb;
    c->in_fd = c->out_fd = -1;
    c->is_default = is_default;
    c->cwd = strdup(cwd && cwd[0] ? cwd : "/home/user");
    buf_init(&c->rbuf);
    time_cond_init(&c->cond);
    ids_uuid(c->id);
    c->listed = true;
    c->next = sb->ctxs;
    sb->ctxs = c;
    return c;
}

/* Finds a listed context by id, or the default one (created on demand). */
static ictx_t *ctx_get(sandbox_t *sb, const char *id)
{
    pthread_mutex_lock(&sb->mu);
    ictx_t *found = NULL;
    for (ictx_t *c = sb->ctxs; c && !found; c = c->next)
        if (id ? strcmp(c->id, id) == 0 : c->is_default)
            found = c;
    if (!found && !id)
        found = ctx_new(sb, "/home/user", true);
    if (found)
        ctx_ref(found);
    pthread_mutex_unlock(&sb->mu);
    return found;
}

/* Unlists a context (sandbox mu held); returns true if the list's
 * reference must be dropped by the caller. */
static bool ctx_unlist(sandbox_t *sb, ictx_t *c)
{
    if (!c->listed)
        return false;
    for (ictx_t **pp = &sb->ctxs; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    c->listed = false;
    return true;
}

/* Waits for exclusive use of the context's driver. */
static void ctx_acquire(ictx_t *c)
{
    pthread_mutex_lock(&c->sb->mu);
    while (c->busy)
        pthread_cond_wait(&c->cond, &c->sb->mu);
    c->busy = true;
    pthread_mutex_unlock(&c->sb->mu);
}

/* Gives the driver back; a driver that ended meanwhile is dropped first. */
static void ctx_release(ictx_t *c)
{
    pthread_mutex_lock(&c->sb->mu);
    bool dead = c->driver && c->driver->state == PROC_ENDED;
    pthread_mutex_unlock(&c->sb->mu);
    if (dead)
        ctx_drop_driver(c);
    pthread_mutex_lock(&c->sb->mu);
    c->busy = false;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->sb->mu);
}

/* Starts the driver if it is not running (caller holds busy). */
static int ctx_ensure_driver(ictx_t *c, char *err, size_t errsz)
{
    sandbox_t *sb = c->sb;
    pthread_mutex_lock(&sb->mu);
    bool alive = c->driver && c->driver->state != PROC_ENDED;
    pthread_mutex_unlock(&sb->mu);
    if (alive)
        return 0;
    ctx_drop_driver(c);
    json_t *args = json_pack("[s,s,s]", "-u", "-c", INTERP_DRIVER);
    proc_spec_t spec = {.cmd = g_cfg.python, .args = args, .cwd = c->cwd, .stdin_open = true,
                        .hidden = true, .stderr_fd = 2};
    char code[32];
    int in = -1, out = -1;
    proc_t *p = proc_start(sb, &spec, PROC_IO_RAW, NULL, &in, &out, code, sizeof code, err, errsz);
    json_decref(args);
    if (!p)
        return -1;
    if (proc_wait_started(p, DRIVER_START_MS) < 0) {
        snprintf(err, errsz, "cannot start %.64s: %.400s", g_cfg.python, p->error[0] ? p->error : "timeout");
        close(in);
        close(out);
        proc_unref(p);
        return -1;
    }
    c->driver = p;
    c->in_fd = in;
    c->out_fd = out;
    stats_inc("interp_drivers_started");
    return 0;
}

/* Kills a context's driver (restart/delete); it is dropped by its owner. */
static void ctx_kill_driver(ictx_t *c)
{
    pthread_mutex_lock(&c->sb->mu);
    proc_t *p = c->driver;
    if (p)
        proc_ref(p);
    pthread_mutex_unlock(&c->sb->mu);
    if (p) {
        proc_signal(p, SIGKILL);
        proc_unref(p);
    }
}

/* The init died, so did every driver: idle contexts drop theirs now, busy
 * ones when their execution ends (it owns the driver meanwhile). */
void interp_init_gone(sandbox_t *sb)
{
    for (ictx_t *c = sb->ctxs; c; c = c->next) {
        if (!c->busy && c->driver) {
            proc_t *p = c->driver;
            c->driver = NULL;
            if (c->in_fd >= 0)
                close(c->in_fd);
            if (c->out_fd >= 0)
                close(c->out_fd);
            c->in_fd = c->out_fd = -1;
            buf_clear(&c->rbuf);
            proc_unref(p);
        }
        pthread_cond_broadcast(&c->cond);
    }
}

/* Last reference to the sandbox: releases the contexts still listed. */
void interp_free_contexts(sandbox_t *sb)
{
    while (sb->ctxs) {
        ictx_t *c = sb->ctxs;
        ctx_unlist(sb, c);
        ctx_unref(c);
    }
}

/* {"id","language","cwd"} */
static json_t *ctx_json(const ictx_t *c)
{
    return json_pack("{s:s,s:s,s:s}", "id", c->id, "language", "python", "cwd", c->cwd);
}

/* True for the names the code interpreter uses for Python. */
static bool is_python(const char *lang)
{
    return !lang || !lang[0] || strcasecmp(lang, "python") == 0 || strcasecmp(lang, "python3") == 0;
}

/* ---------- /execute ---------- */

/* Where an execution stream is. */
typedef enum {
    EXEC_RUNNING = 0, /* forwarding the driver's events */
    EXEC_DONE,        /* end_of_execution sent */
} exec_state_t;

typedef struct exec {
    sandbox_t *sb;            /* reference */
    ictx_t *ctx;              /* reference; we hold ctx->busy */
    uint64_t id;
    exec_state_t state;
    int64_t last_ms;
    buf_t canned;             /* pre-built answer (errors), sent instead of events */
} exec_t;

/* Takes one complete line from the context's read buffer, or returns -1. */
static ssize_t take_line(ictx_t *c, buf_t *line)
{
    char *nl = c->rbuf.len ? memchr(c->rbuf.data, '\n', c->rbuf.len) : NULL;
    if (!nl)
        return -1;
    size_t n = (size_t)(nl - c->rbuf.data);
    buf_clear(line);
    buf_append(line, c->rbuf.data, n);
    buf_consume(&c->rbuf, n + 1);
    return (ssize_t)n;
}

/* Producer of the NDJSON stream: forwards the driver's lines for this
 * execution (older executions' leftovers are skipped), sends a keepalive
 * every 5 s of silence, and turns a dead driver into an error. */
static httpd_msg_t exec_next(void *ctx, buf_t *out)
{
    exec_t *e = ctx;
    if (e->canned.len) {
        buf_append(out, e->canned.data, e->canned.len);
        buf_clear(&e->canned);
        e->state = EXEC_DONE;
        return HTTPD_MSG_FINAL;
    }
    if (e->state == EXEC_DONE)
        return HTTPD_MSG_END;
    ictx_t *c = e->ctx;
    buf_t line;
    buf_init(&line);
    for (;;) {
        if (take_line(c, &line) >= 0) {
            const char *sp = memchr(line.data ? line.data : "", ' ', line.len);
            if (!sp)
                continue;
            uint64_t id = strtoull(line.data, NULL, 10);
            if (id != e->id)
                continue;
            const char *js = sp + 1;
            size_t jl = line.len - (size_t)(js - line.data);
            json_t *j = json_loadb(js, jl, 0, NULL);
            const char *type = json_string_value(json_object_get(j, "type"));
            bool last = type && strcmp(type, "end_of_execution") == 0;
            json_decref(j);
            buf_append(out, js, jl);
            buf_puts(out, "\n");
            buf_free(&line);
            e->last_ms = time_mono_ms();
            if (last) {
                e->state = EXEC_DONE;
                return HTTPD_MSG_FINAL;
            }
            return HTTPD_MSG_DATA;
        }
        int64_t wait = e->last_ms + KEEPALIVE_MS - time_mono_ms();
        if (wait <= 0) {
            e->last_ms = time_mono_ms();
            buf_puts(out, "{\"type\": \"keepalive\"}\n");
            buf_free(&line);
            return HTTPD_MSG_DATA;
        }
        struct pollfd pf = {.fd = c->out_fd, .events = POLLIN};
        int pr = c->out_fd >= 0 ? poll(&pf, 1, (int)wait) : 1;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        ssize_t n = -1;
        if (c->out_fd >= 0 && buf_reserve(&c->rbuf, 65536) == 0) {
            do {
                n = read(c->out_fd, c->rbuf.data + c->rbuf.len, 65536);
            } while (n < 0 && errno == EINTR);
        }
        if (n > 0) {
            c->rbuf.len += (size_t)n;
            continue;
        }
        /* the driver is gone: report it like the code interpreter does */
        json_t *err = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "name",
                                "UnexpectedEndOfExecution", "value",
                                "the Python process of this context exited", "traceback", "");
        char *s = json_dumps(err, JSON_COMPACT);
        json_decref(err);
        buf_puts(out, s ? s : "");
        buf_puts(out, "\n{\"type\": \"end_of_execution\"}\n");
        free(s);
        buf_free(&line);
        if (c->driver)
            proc_signal(c->driver, SIGKILL);
        ctx_drop_driver(c);
        e->state = EXEC_DONE;
        return HTTPD_MSG_FINAL;
    }
}

/* Stream end: hands the context back (a still-running execution keeps the
 * driver busy; the next one skips its leftover lines). */
static void exec_free(void *ctx)
{
    exec_t *e = ctx;
    if (e->ctx) {
        ctx_release(e->ctx);
        ctx_unref(e->ctx);
    }
    buf_free(&e->canned);
    sandbox_unref(e->sb);
    free(e);
}

/* Streams one error event and end_of_execution (e.g. unsupported language). */
static httpd_result_t exec_canned_error(httpd_req_t *req, sandbox_t *sb, const char *name,
                                        const char *value)
{
    exec_t *e = calloc(1, sizeof *e);
    if (!e) {
        sandbox_unref(sb);
        return httpd_reply_drop(req);
    }
    e->sb = sb;
    buf_init(&e->canned);
    json_t *err = json_pack("{s:s,s:s,s:s,s:s}", "type", "error", "name", name, "value", value,
                            "traceback", "");
    char *s = json_dumps(err, JSON_COMPACT);
    json_decref(err);
    buf_puts(&e->canned, s ? s : "");
    buf_puts(&e->canned, "\n{\"type\": \"end_of_execution\"}\n");
    free(s);
    return httpd_reply_stream(req, 200, "application/json", exec_next, e, exec_free);
}

/* POST /execute {"code","context_id"?,"language"?,"env_vars"?} */
static httpd_result_t post_execute(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_INTERP, TOKEN_REQUIRED, &rc);
    if (!sb)
        return rc;
    char jerr[200];
    json_t *body = httpd_body_json(req, jerr, sizeof jerr);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        sandbox_unref(sb);
        return httpd_reply_json(req, 422, json_pack("{s:s}", "detail", "invalid JSON body"));
    }
    const char *code = json_string_value(json_object_get(body, "code"));
    const char *ctx_id = json_string_value(json_object_get(body, "context_id"));
    const char *lang = json_string_value(json_object_get(body, "language"));
    json_t *envs = json_object_get(body, "env_vars");
    if (!code) {
        json_decref(body);
        sandbox_unref(sb);
        return httpd_reply_json(req, 422, json_pack("{s:s}", "detail", "field 'code' is required"));
    }
    if (ctx_id && lang) {
        json_decref(body);
        sandbox_unref(sb);
        return httpd_reply_bytes(req, 400, "text/plain; charset=utf-8",
                                 "Only one of context_id or language can be provided", 50);
    }
    if (!is_python(lang)) {
        char msg[256];
        snprintf(msg, sizeof msg, "sandboxd runs only Python code; language '%s' is not supported", lang);
        json_decref(body);
        return exec_canned_error(req, sb, "UnsupportedLanguage", msg);
    }
    ictx_t *c = ctx_get(sb, ctx_id);
    if (!c) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "Context %s not found", ctx_id);
        json_decref(body);
        sandbox_unref(sb);
        return httpd_reply_bytes(req, 404, "text/plain; charset=utf-8", msg, (size_t)n);
    }
    ctx_acquire(c);
    char err[512];
    if (ctx_ensure_driver(c, err, sizeof err) < 0) {
        ctx_release(c);
        ctx_unref(c);
        json_decref(body);
        return exec_canned_error(req, sb, "SandboxError", err);
    }
    exec_t *e = calloc(1, sizeof *e);
    if (!e) {
        ctx_release(c);
        ctx_unref(c);
        json_decref(body);
        sandbox_unref(sb);
        return httpd_reply_drop(req);
    }
    buf_init(&e->canned);
    e->sb = sb;
    e->ctx = c;
    e->id = ++c->next_id;
    e->last_ms = time_mono_ms();
    json_t *rq = json_pack("{s:I,s:s,s:o}", "id", (json_int_t)e->id, "code", code, "env_vars",
                           json_is_object(envs) ? json_incref(envs) : json_object());
    char *line = json_dumps(rq, JSON_COMPACT);
    json_decref(rq);
    json_decref(body);
    size_t len = line ? strlen(line) : 0;
    bool ok = line != NULL;
    if (ok) {
        const char *p = line;
        size_t left = len;
        while (left && ok) {
            ssize_t w = write(c->in_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                ok = false;
            else {
                p += w;
                left -= (size_t)w;
            }
        }
        if (ok && write(c->in_fd, "\n", 1) != 1)
            ok = false;
    }
    free(line);
    if (!ok) {
        ctx_drop_driver(c);
        buf_init(&e->canned);
        buf_puts(&e->canned, "{\"type\":\"error\",\"name\":\"UnexpectedEndOfExecution\",\"value\":"
                             "\"the Python process of this context is not running\",\"traceback\":\"\"}\n"
                             "{\"type\": \"end_of_execution\"}\n");
    }
    stats_inc("interp_executions");
    return httpd_reply_stream(req, 200, "application/json", exec_next, e, exec_free);
}

/* ---------- /contexts ---------- */

/* POST /contexts {"language"?,"cwd"?}: starts a driver right away. */
static httpd_result_t post_contexts(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_INTERP, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    char jerr[200];
    json_t *body = httpd_body_json(req, jerr, sizeof jerr);
    const char *lang = json_string_value(json_object_get(body, "language"));
    const char *cwd = json_string_value(json_object_get(body, "cwd"));
    if (!is_python(lang)) {
        char msg[256];
        int n = snprintf(msg, sizeof msg,
                         "sandboxd supports only Python contexts; language '%s' is not supported",
                         lang);
        json_decref(body);
        sandbox_unref(sb);
        return httpd_reply_bytes(req, 400, "text/plain; charset=utf-8", msg, (size_t)n);
    }
    pthread_mutex_lock(&sb->mu);
    ictx_t *c = ctx_new(sb, cwd, false);
    if (c)
        ctx_ref(c);
    pthread_mutex_unlock(&sb->mu);
    json_decref(body);
    if (!c) {
        sandbox_unref(sb);
        return httpd_reply_error(req, 500, "out of memory");
    }
    ctx_acquire(c);
    char err[512];
    int ok = ctx_ensure_driver(c, err, sizeof err);
    ctx_release(c);
    if (ok < 0) {
        pthread_mutex_lock(&sb->mu);
        bool drop = ctx_unlist(sb, c);
        pthread_mutex_unlock(&sb->mu);
        if (drop)
            ctx_unref(c);
        ctx_unref(c);
        sandbox_unref(sb);
        return httpd_reply_bytes(req, 500, "text/plain; charset=utf-8", err, strlen(err));
    }
    json_t *j = ctx_json(c);
    ctx_unref(c);
    sandbox_unref(sb);
    stats_inc("interp_contexts_created");
    return httpd_reply_json(req, 200, j);
}

/* GET /contexts */
static httpd_result_t get_contexts(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_INTERP, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    json_t *arr = json_array();
    pthread_mutex_lock(&sb->mu);
    for (ictx_t *c = sb->ctxs; c; c = c->next)
        json_array_append_new(arr, ctx_json(c));
    pthread_mutex_unlock(&sb->mu);
    sandbox_unref(sb);
    return httpd_reply_json(req, 200, arr);
}

/* DELETE /contexts/{id}: unlist and kill the driver. */
static httpd_result_t delete_context(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_INTERP, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    const char *id = httpd_param(req, 0);
    ictx_t *c = ctx_get(sb, id);
    if (!c) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "Context %s not found", id);
        sandbox_unref(sb);
        return httpd_reply_bytes(req, 404, "text/plain; charset=utf-8", msg, (size_t)n);
    }
    pthread_mutex_lock(&sb->mu);
    bool drop = ctx_unlist(sb, c);
    pthread_mutex_unlock(&sb->mu);
    ctx_kill_driver(c);
    if (drop)
        ctx_unref(c);
    ctx_unref(c);
    sandbox_unref(sb);
    return httpd_reply_empty(req, 204);
}

/* POST /contexts/{id}/restart: a fresh interpreter (state lost). */
static httpd_result_t restart_context(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_INTERP, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    const char *id = httpd_param(req, 0);
    ictx_t *c = ctx_get(sb, id);
    if (!c) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "Context %s not found", id);
        sandbox_unref(sb);
        return httpd_reply_bytes(req, 404, "text/plain; charset=utf-8", msg, (size_t)n);
    }
    ctx_kill_driver(c);
    ctx_acquire(c); /* a running execution ends when its driver dies */
    ctx_drop_driver(c);
    char err[512];
    int ok = ctx_ensure_driver(c, err, sizeof err);
    ctx_release(c);
    ctx_unref(c);
    sandbox_unref(sb);
    if (ok < 0)
        return httpd_reply_bytes(req, 500, "text/plain; charset=utf-8", err, strlen(err));
    return httpd_reply_empty(req, 204);
}

/* Registers /execute and /contexts on the sandbox server. */
void interp_register(httpd_t *h)
{
    httpd_route(h, "POST", "/execute", post_execute, HTTPD_STREAM, NULL);
    httpd_route(h, "POST", "/contexts", post_contexts, 0, NULL);
    httpd_route(h, "GET", "/contexts", get_contexts, 0, NULL);
    httpd_route(h, "DELETE", "/contexts/{id}", delete_context, 0, NULL);
    httpd_route(h, "POST", "/contexts/{id}/restart", restart_context, 0, NULL);
}
