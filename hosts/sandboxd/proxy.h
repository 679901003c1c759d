/*
 * proxy.h - the front door of the sandbox port, standing in for E2B's
 * client proxy: finds the target sandbox and port of a request.
 *
 * The sandbox comes from the E2b-Sandbox-Id header (or a Host of the form
 * "<port>-<id>.<domain>"); the port from E2b-Sandbox-Port (or the Host, or
 * by path: /execute and /contexts are the code interpreter's).  Unknown or
 * dead sandboxes get E2B's 502 {"sandboxId","message":"The sandbox was not
 * found","code":502}; a port nobody serves gets the 502 "port is not open"
 * body.  envd routes check X-Access-Token when the sandbox has one; other
 * ports need e2b-traffic-access-token when the sandbox was created with
 * network.allowPublicTraffic false.  A paused sandbox created with
 * autoResume is resumed by traffic.  Ports other than 49983/49999 are
 * forwarded to the sandbox's own servers (portfwd.h).
 */
#ifndef SANDBOXD_PROXY_H
#define SANDBOXD_PROXY_H

#include "httpd.h"
#include "sandbox.h"

#include <stdbool.h>

#define PORT_ENVD 49983
#define PORT_INTERP 49999

/* Which check a route needs. */
typedef enum {
    TOKEN_NONE = 0,   /* no token check (health, /files, contexts) */
    TOKEN_REQUIRED,   /* X-Access-Token must match when the sandbox has one */
} token_check_t;

/* Resolves the sandbox of a request aimed at `port`.  On failure the error
 * has been answered and NULL is returned with the handler result in *rc. */
sandbox_t *proxy_resolve(httpd_req_t *req, int port, token_check_t check, httpd_result_t *rc);

/* Like proxy_resolve() but never answers: a reference to the running
 * sandbox the request may address on `port`, or NULL. */
sandbox_t *proxy_peek(httpd_req_t *req, int port);

/* The port a request is aimed at. */
int proxy_port(httpd_req_t *req);

/* True for ports other than envd's and the code interpreter's (forwarded
 * to servers inside the sandbox, see portfwd.h). */
bool proxy_is_user_port(int port);

/* Answers a request for a user port whose body a body callback collected
 * (POST /files aimed at a user port): forwarded, or the proxy's error. */
httpd_result_t proxy_forward_body(httpd_req_t *req, const char *body, size_t len);

/* E2B's 502 {"sandboxId","message":"The sandbox is running but port is not
 * open","port","code":502}. */
httpd_result_t proxy_reply_port_closed(httpd_req_t *req, const char *id, int port);

/* not_found handler of the sandbox server: 502 for unknown sandboxes,
 * otherwise the 404 the addressed server would give. */
httpd_result_t proxy_not_found(httpd_req_t *req);

/* error_body hook of the sandbox server: envd-style {"code":N,"message"}. */
json_t *proxy_error_body(httpd_req_t *req, int status, const char *message, void *arg);

#endif
