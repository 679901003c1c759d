/* httpd.c - MHD daemon setup and the request lifecycle (see httpd.h). */
#include "httpd_int.h"

#include "log.h"
#include "stats.h"
#include "timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Copies the configuration; strings are duplicated so callers may free theirs. */
httpd_t *httpd_new(const httpd_config_t *cfg)
{
    httpd_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->cfg = *cfg;
    h->name = strdup(cfg->name ? cfg->name : "http");
    h->bind = strdup(cfg->bind ? cfg->bind : "127.0.0.1");
    if (!h->name || !h->bind) {
        free(h->name);
        free(h->bind);
        free(h);
        return NULL;
    }
    h->cfg.name = h->name;
    h->cfg.bind = h->bind;
    if (!h->cfg.thread_stack)
        h->cfg.thread_stack = 256 * 1024;
    if (!h->cfg.max_connections)
        h->cfg.max_connections = 4096;
    if (!h->cfg.idle_timeout_s)
        h->cfg.idle_timeout_s = 620;
    if (!h->cfg.max_body)
        h->cfg.max_body = 64u * 1024 * 1024;
    router_init(&h->routes);
    return h;
}

/* Registers a route; a failure here is a programming error worth logging. */
void httpd_route(httpd_t *h, const char *method, const char *pattern, httpd_handler_fn fn,
                 unsigned flags, void *arg)
{
    if (router_add(&h->routes, method, pattern, fn, NULL, flags, arg) < 0)
        log_error("%s: cannot add route %s %s", h->name, method, pattern);
}

/* Registers a route whose body is consumed incrementally. */
void httpd_route_body(httpd_t *h, const char *method, const char *pattern, httpd_handler_fn fn,
                      httpd_body_fn body_fn, unsigned flags, void *arg)
{
    if (router_add(&h->routes, method, pattern, fn, body_fn, flags | HTTPD_BODY_STREAM, arg) < 0)
        log_error("%s: cannot add route %s %s", h->name, method, pattern);
}

/* Server name (for callers that serve several servers with one handler). */
const char *httpd_name(const httpd_t *h)
{
    return h->name;
}

/* Frees everything a request owns; called from the completion callback. */
static void req_free(httpd_req_t *req)
{
    if (req->user_free && req->user)
        req->user_free(req->user);
    for (int i = 0; i < req->nparams; i++)
        free(req->params[i]);
    hdr_t *hd = req->headers;
    while (hd) {
        hdr_t *n = hd->next;
        free(hd->name);
        free(hd->value);
        free(hd);
        hd = n;
    }
    fault_decision_free(&req->fault);
    buf_free(&req->body);
    free(req->label);
    free(req->fail_msg);
    free(req->method);
    free(req->path);
    free(req);
}

/* Label for stats and logs: custom, else the route's, else "unmatched". */
const char *httpd_req_label(const httpd_req_t *req)
{
    if (req->label)
        return req->label;
    if (req->route)
        return req->route->label;
    return "unmatched";
}

/* Sets up a request on the first access-handler call: routing, fault dice,
 * injected latency, and authorization.  Errors found here are remembered in
 * fail_status and answered after the body has been read, so the client is
 * never answered while it is still sending. */
static enum MHD_Result req_begin(httpd_t *h, httpd_req_t *req)
{
    req->route = router_match(&h->routes, req->method, req->path, req->params, &req->nparams);
    bool faultable = !(req->route && (req->route->flags & HTTPD_NO_FAULTS)) &&
                     strncmp(req->path, "/admin/", 7) != 0;
    if (faultable)
        faults_decide(h->name, req->method, req->path, &req->fault);
    if (req->fault.latency_ms > 0)
        time_sleep_ms(req->fault.latency_ms);
    switch (req->fault.action) {
    case FAULT_ERROR:
        req->fail_status = req->fault.status;
        req->fail_msg = strdup("injected fault");
        return MHD_YES;
    case FAULT_RATE_LIMIT:
        req->fail_status = 429;
        req->fail_msg = strdup("injected fault: rate limit exceeded, please try again later");
        return MHD_YES;
    case FAULT_DROP:
        if (!(req->route && (req->route->flags & HTTPD_STREAM))) {
            req->state = REQ_REPLIED;
            req->status = 0;
            return MHD_NO;
        }
        break;
    default:
        break;
    }
    if (req->route && !(req->route->flags & HTTPD_PUBLIC) && h->cfg.auth) {
        int st = h->cfg.auth(req, h->cfg.arg);
        if (st)
            req->fail_status = st;
    }
    return MHD_YES;
}

/* Receives one chunk of the body: either hands it to the route's body
 * callback or buffers it (up to max_body, beyond which 413 is answered). */
static void req_body(httpd_t *h, httpd_req_t *req, const char *data, size_t size)
{
    if (req->fail_status)
        return;
    if (req->route && req->route->body_fn) {
        if (req->route->body_fn(req, data, size) < 0 && !req->fail_status)
            httpd_fail(req, 500, "request body handler failed");
        return;
    }
    if (req->body.len + size > h->cfg.max_body) {
        httpd_fail(req, 413, "request body too large");
        buf_free(&req->body);
        return;
    }
    if (buf_append(&req->body, data, size) < 0)
        httpd_fail(req, 500, "out of memory");
}

/* The MHD access handler: first call sets up, middle calls carry the body,
 * the last call (upload_size 0 after the first) dispatches. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    httpd_t *h = cls;
    httpd_req_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->h = h;
        req->conn = conn;
        req->method = strdup(method);
        req->path = strdup(url);
        req->t0_ms = time_mono_ms();
        buf_init(&req->body);
        *con_cls = req;
        if (!req->method || !req->path)
            return MHD_NO;
        return req_begin(h, req);
    }
    if (req->state == REQ_REPLIED)
        return MHD_NO;
    if (*upload_size) {
        req->state = REQ_BODY;
        req_body(h, req, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->fail_status)
        return httpd_reply_error(req, req->fail_status, "%s", req->fail_msg ? req->fail_msg : "");
    if (!req->route) {
        if (h->cfg.not_found)
            return h->cfg.not_found(req);
        return httpd_reply_error(req, 404, "Not Found");
    }
    return req->route->fn(req);
}

/* Completion callback: counts and logs the request, then frees it. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    httpd_t *h = cls;
    httpd_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    int status = req->status;
    const char *label = httpd_req_label(req);
    if (!req->counted)
        stats_request(h->name, label, status); /* dropped without an answer */
    if (h->cfg.log_requests) {
        const char *how = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)";
        const char *fault = req->fault.action != FAULT_NONE ? " fault=" : "";
        log_info("%s %s %s -> %d %lldms [%s]%s%s%s", h->name, req->method, req->path, status,
                 (long long)(time_mono_ms() - req->t0_ms), label, fault,
                 req->fault.action != FAULT_NONE ? fault_action_name(req->fault.action) : "",
                 how);
    }
    req_free(req);
}

/* New connections get TCP_NODELAY: stream messages (a start event, a
 * small stdout chunk) must leave at once instead of waiting for Nagle. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int one = 1;
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

/* Routes MHD's own diagnostics to our log. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("mhd: %s", msg);
}

/* Binds the configured address and starts MHD in thread-per-connection mode
 * with poll() (no FD_SETSIZE limit) and small thread stacks. */
int httpd_start(httpd_t *h)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(h->cfg.port);
    if (inet_pton(AF_INET, h->bind, &sa.sin_addr) != 1) {
        log_error("%s: invalid bind address '%s' (IPv4 expected)", h->name, h->bind);
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
        MHD_OPTION_THREAD_STACK_SIZE, h->cfg.thread_stack,
        MHD_OPTION_CONNECTION_LIMIT, h->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
        MHD_OPTION_END);
    if (!h->daemon) {
        log_error("%s: cannot listen on %s:%u: %s", h->name, h->bind, h->cfg.port,
                  strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    h->port = h->cfg.port;
    if (di) {
        struct sockaddr_in bound;
        socklen_t bl = sizeof bound;
        if (getsockname(di->listen_fd, (struct sockaddr *)&bound, &bl) == 0)
            h->port = ntohs(bound.sin_port);
    }
    return 0;
}

/* Port bound by httpd_start (the chosen one when 0 was configured). */
uint16_t httpd_port(const httpd_t *h)
{
    return h->port;
}

/* Closes the listening socket so no new connections arrive. */
void httpd_quiesce(httpd_t *h)
{
    if (h->daemon) {
        MHD_socket s = MHD_quiesce_daemon(h->daemon);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
}

/* Stops MHD; it joins every connection thread. */
void httpd_stop(httpd_t *h)
{
    if (h->daemon) {
        MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
    }
}

/* Frees the server. */
void httpd_free(httpd_t *h)
{
    if (!h)
        return;
    httpd_stop(h);
    router_free(&h->routes);
    free(h->name);
    free(h->bind);
    free(h);
}

/* ---- accessors ---- */

/* Request method, as sent. */
const char *httpd_method(const httpd_req_t *req)
{
    return req->method;
}

/* Percent-decoded path without query (MHD decodes it). */
const char *httpd_path(const httpd_req_t *req)
{
    return req->path;
}

/* Header lookup; MHD compares names case-insensitively. */
const char *httpd_header(const httpd_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* Query argument lookup; MHD has already percent-decoded it. */
const char *httpd_query(const httpd_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Value captured by the i-th {param} of the matched route. */
const char *httpd_param(const httpd_req_t *req, int i)
{
    return (i >= 0 && i < req->nparams) ? req->params[i] : NULL;
}

/* The buffered body, NUL-terminated for convenience (binary-safe with len). */
const char *httpd_body(const httpd_req_t *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return buf_cstr((buf_t *)&req->body);
}

/* Parses the buffered body; an absent body is treated as "{}". */
json_t *httpd_body_json(const httpd_req_t *req, char *err, size_t errsz)
{
    size_t len;
    const char *b = httpd_body(req, &len);
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (i == len)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(b, len, JSON_DECODE_ANY, &je);
    if (!j)
        snprintf(err, errsz, "%s", je.text);
    return j;
}

/* The `arg` given when the matched route was registered. */
void *httpd_route_arg(const httpd_req_t *req)
{
    return req->route ? req->route->arg : NULL;
}

/* The server-wide `arg` from the configuration. */
void *httpd_server_arg(const httpd_req_t *req)
{
    return req->h->cfg.arg;
}

/* The server a request belongs to. */
httpd_t *httpd_server(const httpd_req_t *req)
{
    return req->h;
}

/* The MHD connection, for MHD helpers such as the post processor. */
struct MHD_Connection *httpd_connection(const httpd_req_t *req)
{
    return req->conn;
}

/* The fault decision taken when the request arrived. */
const fault_decision_t *httpd_fault(const httpd_req_t *req)
{
    return &req->fault;
}

/* Attaches per-request state, freed with free_fn when the request ends. */
void httpd_set_user(httpd_req_t *req, void *data, void (*free_fn)(void *))
{
    req->user = data;
    req->user_free = free_fn;
}

/* Per-request state set by httpd_set_user. */
void *httpd_user(const httpd_req_t *req)
{
    return req->user;
}

/* Overrides the stats/log label; must be called before replying. */
void httpd_set_label(httpd_req_t *req, const char *label)
{
    free(req->label);
    req->label = strdup(label);
}

/* Remembers the first failure; later ones would only hide the cause. */
void httpd_fail(httpd_req_t *req, int status, const char *fmt, ...)
{
    if (req->fail_status)
        return;
    req->fail_status = status;
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(req->fail_msg);
    req->fail_msg = strdup(msg);
}
