/* envd_process.c - process.Process RPCs (see envd.h). */
#include "envd.h"

#include "b64.h"
#include "connect.h"
#include "proc.h"
#include "proxy.h"
#include "timeutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Resolves the sandbox for an envd RPC (token required). */
#define RESOLVE_OR_RETURN(req, sb)                                              \
    httpd_result_t rc_;                                                         \
    sandbox_t *sb = proxy_resolve(req, PORT_ENVD, TOKEN_REQUIRED, &rc_);        \
    if (!sb)                                                                    \
        return rc_;

/* Start: spawn `/bin/bash -l -c CMD` (or whatever cmd/args say) and stream
 * start, data..., end, end-of-stream.  Connect-Timeout-Ms bounds the
 * process's life (it is killed at the deadline, as envd does, even if the
 * client closed the stream before: see proc_tick). */
static httpd_result_t rpc_start(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    char code[32], err[1024];
    json_t *msg = connect_stream_request(req, code, sizeof code, err, sizeof err);
    httpd_result_t rc;
    if (!msg) {
        rc = connect_stream_error(req, code, "%s", err);
        goto out;
    }
    int64_t timeout = connect_timeout_ms(req);
    json_t *pc = json_object_get(msg, "process");
    if (timeout < 0) {
        rc = connect_stream_error(req, "invalid_argument", "invalid Connect-Timeout-Ms header");
    } else if (!json_is_object(pc)) {
        rc = connect_stream_error(req, "invalid_argument", "missing process config");
    } else if (json_object_get(msg, "pty") && !json_is_null(json_object_get(msg, "pty"))) {
        rc = connect_stream_error(req, "unimplemented", "PTY sessions are not supported by sandboxd");
    } else {
        json_t *jstdin = json_object_get(msg, "stdin");
        proc_spec_t spec = {
            .cmd = json_string_value(json_object_get(pc, "cmd")),
            .args = json_object_get(pc, "args"),
            .envs = json_object_get(pc, "envs"),
            .cwd = json_string_value(json_object_get(pc, "cwd")),
            .tag = json_string_value(json_object_get(msg, "tag")),
            .stdin_open = !jstdin || json_is_null(jstdin) || json_is_true(jstdin),
            .stderr_fd = -1,
        };
        if (spec.cwd && !spec.cwd[0])
            spec.cwd = NULL;
        sub_t *sub = sub_new(connect_keepalive_ms(req), timeout ? time_mono_ms() + timeout : 0, true);
        if (!sub) {
            rc = connect_stream_error(req, "internal", "out of memory");
        } else {
            proc_t *p = proc_start(sb, &spec, PROC_IO_STREAM, sub, NULL, NULL, code, sizeof code,
                                   err, sizeof err);
            if (!p) {
                sub_free(sub);
                rc = connect_stream_error(req, code, "%s", err);
            } else {
                if (sub->deadline_ms) {
                    pthread_mutex_lock(&sb->mu);
                    p->kill_at_ms = sub->deadline_ms;
                    pthread_mutex_unlock(&sb->mu);
                }
                proc_unref(p);
                rc = httpd_reply_stream(req, 200, "application/connect+json", sub_next, sub, sub_free);
            }
        }
    }
    json_decref(msg);
out:
    sandbox_unref(sb);
    return rc;
}

/* Connect: attach to a running process and stream the rest of its life. */
static httpd_result_t rpc_connect(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    char code[32], err[1024];
    httpd_result_t rc;
    json_t *msg = connect_stream_request(req, code, sizeof code, err, sizeof err);
    if (!msg) {
        rc = connect_stream_error(req, code, "%s", err);
        goto out;
    }
    int64_t timeout = connect_timeout_ms(req);
    proc_t *p = proc_find(sb, json_object_get(msg, "process"), code, sizeof code, err, sizeof err);
    json_decref(msg);
    if (!p) {
        rc = connect_stream_error(req, code, "%s", err);
        goto out;
    }
    sub_t *sub = sub_new(connect_keepalive_ms(req), timeout > 0 ? time_mono_ms() + timeout : 0, false);
    if (!sub || sub_attach(p, sub) < 0) {
        if (sub)
            sub_free(sub);
        rc = connect_stream_error(req, "not_found", "process with pid %d not found", p->pid);
    } else {
        rc = httpd_reply_stream(req, 200, "application/connect+json", sub_next, sub, sub_free);
    }
    proc_unref(p);
out:
    sandbox_unref(sb);
    return rc;
}

/* List: running processes with their configuration. */
static httpd_result_t rpc_list(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    char code[32], err[512];
    json_t *msg = connect_unary_request(req, code, sizeof code, err, sizeof err);
    httpd_result_t rc = msg ? connect_unary_ok(req, proc_list_json(sb))
                            : connect_unary_error(req, code, "%s", err);
    json_decref(msg);
    sandbox_unref(sb);
    return rc;
}

/* Finds the process named by {"process": selector} of a unary request. */
static proc_t *unary_process(httpd_req_t *req, sandbox_t *sb, json_t **msg, httpd_result_t *rc)
{
    char code[32], err[1024];
    *msg = connect_unary_request(req, code, sizeof code, err, sizeof err);
    if (!*msg) {
        *rc = connect_unary_error(req, code, "%s", err);
        return NULL;
    }
    proc_t *p = proc_find(sb, json_object_get(*msg, "process"), code, sizeof code, err, sizeof err);
    if (!p)
        *rc = connect_unary_error(req, code, "%s", err);
    return p;
}

/* SendInput: base64 stdin bytes to the process. */
static httpd_result_t rpc_send_input(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    json_t *msg = NULL;
    httpd_result_t rc;
    proc_t *p = unary_process(req, sb, &msg, &rc);
    if (p) {
        json_t *input = json_object_get(msg, "input");
        const char *b = json_string_value(json_object_get(input, "stdin"));
        if (!b && json_object_get(input, "pty")) {
            rc = connect_unary_error(req, "failed_precondition", "tty not assigned to process");
        } else {
            size_t len = b ? strlen(b) : 0;
            unsigned char *data = malloc(len / 4 * 3 + 4);
            ssize_t n = data ? b64_decode(b ? b : "", len, data) : -1;
            char err[512];
            if (n < 0)
                rc = connect_unary_error(req, "invalid_argument", "invalid base64 in input");
            else if (proc_write_stdin(p, data, (size_t)n, err, sizeof err) < 0)
                rc = connect_unary_error(req, "failed_precondition", "%s", err);
            else
                rc = connect_unary_ok(req, json_object());
            free(data);
        }
        proc_unref(p);
    }
    json_decref(msg);
    sandbox_unref(sb);
    return rc;
}

/* The Signal enum as protojson reads it: a name or a number.  envd
 * delivers SIGNAL_SIGKILL (9) and SIGNAL_SIGTERM (15) only.  Returns the
 * signal, 0 for another valid value (*name = how envd prints it), or -1 for
 * a name the enum does not have (a parse error). */
static int parse_signal(json_t *v, char *name, size_t namesz)
{
    snprintf(name, namesz, "SIGNAL_UNSPECIFIED");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n == SIGKILL || n == SIGTERM)
            return (int)n;
        if (n != 0)
            snprintf(name, namesz, "%lld", (long long)n);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s)
        return -1;
    if (strcmp(s, "SIGNAL_SIGKILL") == 0)
        return SIGKILL;
    if (strcmp(s, "SIGNAL_SIGTERM") == 0)
        return SIGTERM;
    return strcmp(s, "SIGNAL_UNSPECIFIED") == 0 ? 0 : -1;
}

/* SendSignal: SIGKILL/SIGTERM to the process group of the command; other
 * values are envd's unimplemented "invalid signal: X". */
static httpd_result_t rpc_send_signal(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    json_t *msg = NULL;
    httpd_result_t rc;
    proc_t *p = unary_process(req, sb, &msg, &rc);
    if (p) {
        char name[64];
        json_t *jsig = json_object_get(msg, "signal");
        int sig = parse_signal(jsig, name, sizeof name);
        if (sig < 0)
            rc = connect_unary_error(req, "invalid_argument",
                                     "proto: invalid value for enum field signal: %s",
                                     json_is_string(jsig) ? json_string_value(jsig) : "?");
        else if (sig == 0)
            rc = connect_unary_error(req, "unimplemented", "invalid signal: %s", name);
        else if (proc_signal(p, sig) < 0)
            rc = connect_unary_error(req, "not_found", "process with pid %d not found", p->pid);
        else
            rc = connect_unary_ok(req, json_object());
        proc_unref(p);
    }
    json_decref(msg);
    sandbox_unref(sb);
    return rc;
}

/* CloseStdin: end of file on the process's stdin. */
static httpd_result_t rpc_close_stdin(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    json_t *msg = NULL;
    httpd_result_t rc;
    proc_t *p = unary_process(req, sb, &msg, &rc);
    if (p) {
        proc_close_stdin(p);
        rc = connect_unary_ok(req, json_object());
        proc_unref(p);
    }
    json_decref(msg);
    sandbox_unref(sb);
    return rc;
}

/* Update (PTY resize): there are no PTYs in sandboxd. */
static httpd_result_t rpc_update(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    json_t *msg = NULL;
    httpd_result_t rc;
    proc_t *p = unary_process(req, sb, &msg, &rc);
    if (p) {
        rc = connect_unary_error(req, "failed_precondition", "tty not assigned to process");
        proc_unref(p);
    }
    json_decref(msg);
    sandbox_unref(sb);
    return rc;
}

/* StreamInput is client-streaming, which HTTP/1.1 Connect cannot carry. */
static httpd_result_t rpc_unimplemented(httpd_req_t *req)
{
    RESOLVE_OR_RETURN(req, sb);
    sandbox_unref(sb);
    return connect_unary_error(req, "unimplemented", "%s is not implemented by sandboxd",
                               httpd_path(req));
}

/* Registers the process.Process RPCs; Start and Connect are streams. */
void envd_process_register(httpd_t *h)
{
    httpd_route(h, "POST", "/process.Process/Start", rpc_start, HTTPD_STREAM, NULL);
    httpd_route(h, "POST", "/process.Process/Connect", rpc_connect, HTTPD_STREAM, NULL);
    httpd_route(h, "POST", "/process.Process/List", rpc_list, 0, NULL);
    httpd_route(h, "POST", "/process.Process/SendInput", rpc_send_input, 0, NULL);
    httpd_route(h, "POST", "/process.Process/SendSignal", rpc_send_signal, 0, NULL);
    httpd_route(h, "POST", "/process.Process/CloseStdin", rpc_close_stdin, 0, NULL);
    httpd_route(h, "POST", "/process.Process/Update", rpc_update, 0, NULL);
    httpd_route(h, "POST", "/process.Process/StreamInput", rpc_unimplemented, 0, NULL);
}
