/*
 * httpd_int.h - private structures shared by httpd.c, reply.c and stream.c.
 * Not part of the public API.
 */
#ifndef COMMON_HTTPD_INT_H
#define COMMON_HTTPD_INT_H

#include "httpd.h"
#include "router.h"

#include <microhttpd.h>
#include <stdint.h>

/* Lifecycle of one request inside httpd.c. */
typedef enum {
    REQ_HEADERS = 0, /* first access-handler call done */
    REQ_BODY,        /* receiving the body */
    REQ_REPLIED,     /* a response was queued (or the connection dropped) */
} req_state_t;

typedef struct hdr {
    struct hdr *next;
    char *name;
    char *value;
} hdr_t;

struct httpd {
    httpd_config_t cfg;
    char *name;
    char *bind;
    router_t routes;
    struct MHD_Daemon *daemon;
    uint16_t port;
};

struct httpd_req {
    httpd_t *h;
    struct MHD_Connection *conn;
    req_state_t state;
    char *method;
    char *path;
    const route_t *route;
    char *params[ROUTER_MAX_PARAMS];
    int nparams;
    char *label;             /* custom label, or NULL for route->label */
    buf_t body;
    int fail_status;         /* answer this once the body is read (0 = none) */
    char *fail_msg;
    fault_decision_t fault;
    int status;              /* status of the queued reply (0 = none yet) */
    bool counted;            /* already counted in stats */
    bool streamed;
    int64_t t0_ms;
    hdr_t *headers;          /* extra reply headers */
    void *user;
    void (*user_free)(void *);
};

/* Queues `resp` with the pending extra headers, records the status, and
 * releases the caller's reference.  Used by every reply helper. */
httpd_result_t httpd_queue(httpd_req_t *req, int status, struct MHD_Response *resp);

/* Label used for stats and logs. */
const char *httpd_req_label(const httpd_req_t *req);

#endif
