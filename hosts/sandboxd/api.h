/*
 * api.h - the E2B control-plane REST API on the api port:
 *   POST   /sandboxes                 create (SDK <= 2.50; default timeout 15 s)
 *   POST   /v2/sandboxes              create (SDK 2.51;  default timeout 300 s, always secured)
 *   GET    /v2/sandboxes              list (metadata, state, template, limit, nextToken, order)
 *   GET    /sandboxes                 list running (legacy; metadata filter)
 *   GET    /sandboxes/{id}            detail
 *   DELETE /sandboxes/{id}            kill (204 / 404)
 *   POST   /sandboxes/{id}/timeout    {"timeout":s} -> 204
 *   POST   /sandboxes/{id}/refreshes  {"duration":s} -> 204
 *   POST   /sandboxes/{id}/pause      -> 204 / 409
 *   POST   /sandboxes/{id}/resume     {"timeout":s} -> 201 / 409 (deprecated)
 *   POST   /sandboxes/{id}/connect    {"timeout":s} -> 200 running / 201 resumed
 *   POST   /v2/sandboxes/{id}/connect {"timeout"?} -> 200 / 201
 *   GET    /health                    (no key) -> 200
 * All but /health need X-API-Key; errors are {"code":N,"message":"..."}.
 */
#ifndef SANDBOXD_API_H
#define SANDBOXD_API_H

#include "httpd.h"

/* Adds the control-plane routes. */
void api_register(httpd_t *h);

/* Authorization hook: X-API-Key must equal the configured key. */
int api_auth(httpd_req_t *req, void *arg);

/* Error-body hook: E2B's {"code","message"} with its default messages. */
json_t *api_error_body(httpd_req_t *req, int status, const char *message, void *arg);

#endif
