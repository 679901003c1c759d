/*
 * httpd.h - the HTTP server plumbing shared by sandboxd and modeld.
 *
 * A thin layer over libmicrohttpd (MHD) in thread-per-connection mode:
 *
 *   - one MHD daemon per server (e.g. "api", "sandbox"), bound to a loopback
 *     address, with a small per-thread stack so thousands of concurrent
 *     connections stay cheap;
 *   - a route table (method + pattern with {param} segments, see router.h);
 *   - request-body accumulation (or incremental delivery to a body callback
 *     for uploads);
 *   - an optional server-wide authorization hook;
 *   - fault injection (faults.h) applied to every request except routes
 *     flagged HTTPD_NO_FAULTS;
 *   - per-route request counters (stats.h) and an optional log line per
 *     request;
 *   - reply helpers for JSON, raw bytes, files and streaming responses.
 *
 * Handlers run on the connection's own thread and may block (sleep, wait
 * for a process, ...).  A streaming response's producer is called on that
 * thread too and may block until it has the next message.
 *
 * Every handler must end by returning one of the httpd_reply_*() results.
 */
#ifndef COMMON_HTTPD_H
#define COMMON_HTTPD_H

#include "buf.h"
#include "faults.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct httpd httpd_t;
typedef struct httpd_req httpd_req_t;

/* Value returned by handlers and reply helpers (an MHD_Result). */
typedef int httpd_result_t;

/* A request handler: inspects `req` and returns an httpd_reply_*() result. */
typedef httpd_result_t (*httpd_handler_fn)(httpd_req_t *req);

/* Incremental body consumer for routes flagged HTTPD_BODY_STREAM: called for
 * each chunk of the request body (after routing, authorization and faults).
 * Return 0 to continue, or call httpd_fail() and return -1 to stop; the
 * failure is answered once the body has been read. */
typedef int (*httpd_body_fn)(httpd_req_t *req, const char *data, size_t size);

/* Route flags. */
enum {
    HTTPD_PUBLIC = 1 << 0,      /* skip the server's authorization hook */
    HTTPD_STREAM = 1 << 1,      /* the handler answers with httpd_reply_stream() */
    HTTPD_BODY_STREAM = 1 << 2, /* body goes to the route's body callback */
    HTTPD_NO_FAULTS = 1 << 3,   /* never inject faults (admin routes) */
};

/* Server configuration for httpd_new(). */
typedef struct httpd_config {
    const char *name;          /* server name for stats/logs/fault rules */
    const char *bind;          /* IPv4 address, default "127.0.0.1" */
    uint16_t port;             /* 0 = let the kernel pick */
    size_t thread_stack;       /* connection thread stack bytes (0 = 256 KiB) */
    unsigned max_connections;  /* 0 = 4096 */
    unsigned idle_timeout_s;   /* idle keep-alive timeout, 0 = 620 s */
    size_t max_body;           /* limit for buffered bodies, 0 = 64 MiB */
    bool log_requests;         /* one log line per finished request */
    /* Authorization hook for routes without HTTPD_PUBLIC: returns 0 to
     * accept, or an HTTP status (e.g. 401) that is answered through
     * error_body. */
    int (*auth)(httpd_req_t *req, void *arg);
    /* Builds the JSON error body for `status` (message may be NULL, meaning
     * "the default message for this status").  NULL = {"code","message"}. */
    json_t *(*error_body)(httpd_req_t *req, int status, const char *message, void *arg);
    /* Handler for requests that match no route; NULL = 404 error body. */
    httpd_handler_fn not_found;
    void *arg;                 /* passed to auth and error_body */
} httpd_config_t;

/* Creates a server (not yet listening).  Returns NULL on allocation error. */
httpd_t *httpd_new(const httpd_config_t *cfg);

/* Adds a route.  `pattern` is matched segment by segment; "{name}" matches
 * any one non-empty segment and is available through httpd_param().  The
 * first matching route wins.  `arg` is available through httpd_route_arg(). */
void httpd_route(httpd_t *h, const char *method, const char *pattern, httpd_handler_fn fn,
                 unsigned flags, void *arg);

/* Like httpd_route() with an incremental body consumer (HTTPD_BODY_STREAM). */
void httpd_route_body(httpd_t *h, const char *method, const char *pattern, httpd_handler_fn fn,
                      httpd_body_fn body_fn, unsigned flags, void *arg);

/* Binds and starts the listener and its threads.  Returns 0 or -1. */
int httpd_start(httpd_t *h);

/* The port actually bound (useful with port 0). */
uint16_t httpd_port(const httpd_t *h);

/* Stops accepting new connections; existing ones continue. */
void httpd_quiesce(httpd_t *h);

/* Stops the daemon, waiting for connection threads to finish. */
void httpd_stop(httpd_t *h);

/* Frees the server (after httpd_stop). */
void httpd_free(httpd_t *h);

/* Server name given in the configuration. */
const char *httpd_name(const httpd_t *h);

/* ---- request accessors ---- */

const char *httpd_method(const httpd_req_t *req);
/* URL path, percent-decoded, without the query string. */
const char *httpd_path(const httpd_req_t *req);
/* Request header value (name is case-insensitive) or NULL. */
const char *httpd_header(const httpd_req_t *req, const char *name);
/* Decoded query argument or NULL. */
const char *httpd_query(const httpd_req_t *req, const char *name);
/* The i-th {param} of the matched pattern (0-based) or NULL. */
const char *httpd_param(const httpd_req_t *req, int i);
/* Buffered request body (NUL-terminated; empty for body-stream routes). */
const char *httpd_body(const httpd_req_t *req, size_t *len);
/* Parses the buffered body as JSON; NULL with a message in err on failure.
 * An empty body parses as an empty object. */
json_t *httpd_body_json(const httpd_req_t *req, char *err, size_t errsz);
/* The `arg` of the matched route. */
void *httpd_route_arg(const httpd_req_t *req);
/* The server's configuration `arg`. */
void *httpd_server_arg(const httpd_req_t *req);
/* The server handling this request. */
httpd_t *httpd_server(const httpd_req_t *req);
/* The underlying MHD connection (for MHD helpers such as its post processor). */
struct MHD_Connection;
struct MHD_Connection *httpd_connection(const httpd_req_t *req);
/* The fault decision taken for this request. */
const fault_decision_t *httpd_fault(const httpd_req_t *req);
/* Per-request user data, freed with free_fn when the request ends. */
void httpd_set_user(httpd_req_t *req, void *data, void (*free_fn)(void *));
void *httpd_user(const httpd_req_t *req);
/* Overrides the label used for stats and logs (default "METHOD pattern"). */
void httpd_set_label(httpd_req_t *req, const char *label);
/* Records an error to answer after the body has been read (body callbacks). */
void httpd_fail(httpd_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- replies ---- */

/* Adds a header to the reply that follows. */
void httpd_add_header(httpd_req_t *req, const char *name, const char *value);

/* JSON reply; `body` is consumed (its reference is stolen). */
httpd_result_t httpd_reply_json(httpd_req_t *req, int status, json_t *body);

/* Reply with bytes (copied) and a content type (NULL = no Content-Type). */
httpd_result_t httpd_reply_bytes(httpd_req_t *req, int status, const char *content_type,
                                 const void *data, size_t len);

/* Reply without a body (e.g. 204). */
httpd_result_t httpd_reply_empty(httpd_req_t *req, int status);

/* Error reply built by the server's error_body hook (message may be NULL). */
httpd_result_t httpd_reply_error(httpd_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends `size` bytes of `fd` (which MHD then owns and closes). */
httpd_result_t httpd_reply_fd(httpd_req_t *req, int status, const char *content_type, int fd,
                              uint64_t size);

/* Closes the connection without answering. */
httpd_result_t httpd_reply_drop(httpd_req_t *req);

/* ---- streaming replies ---- */

/* What a stream producer returns. */
typedef enum {
    HTTPD_MSG_DATA = 0, /* one message appended to `out` */
    HTTPD_MSG_FINAL,    /* one closing message appended (end event, trailer...) */
    HTTPD_MSG_END,      /* no more messages: finish the response cleanly */
    HTTPD_MSG_ABORT,    /* close the connection abruptly */
} httpd_msg_t;

/* Produces the next message of a stream into `out` (which is empty); may
 * block.  Called on the connection's thread until it returns END or ABORT. */
typedef httpd_msg_t (*httpd_next_fn)(void *ctx, buf_t *out);

/* Starts a streaming reply (chunked).  `ctx_free(ctx)` runs exactly once,
 * when the response is finished or the connection went away.  Fault
 * decisions of kind drop/cut are applied here, at message boundaries. */
httpd_result_t httpd_reply_stream(httpd_req_t *req, int status, const char *content_type,
                                  httpd_next_fn next, void *ctx, void (*ctx_free)(void *ctx));

#endif
