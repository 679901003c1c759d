/*
 * errors.h - provider-shaped error bodies.
 *
 * Anthropic: {"type":"error","error":{"type":T,"message":M},"request_id":R}
 *   with T by status: 400 invalid_request_error, 401 authentication_error,
 *   402 billing_error, 403 permission_error, 404 not_found_error,
 *   409 conflict_error, 413 request_too_large, 429 rate_limit_error,
 *   500 api_error, 504 timeout_error, 529 overloaded_error, other 4xx
 *   invalid_request_error, other 5xx api_error.
 * OpenAI: {"error":{"message":M,"type":T,"param":null,"code":C}} with
 *   400 invalid_request_error/null, 401 invalid_request_error/invalid_api_key,
 *   403 permission_error/null, 404 invalid_request_error/not_found,
 *   429 requests/rate_limit_exceeded, 5xx server_error/null, other 4xx
 *   invalid_request_error/null.
 */
#ifndef MODELD_ERRORS_H
#define MODELD_ERRORS_H

#include "chat.h"

/* Which provider's shape a request expects: by path (/v1/messages,
 * /v1/chat/completions), else Anthropic when an anthropic-version header is
 * present, else OpenAI; /admin/ paths get PROVIDER_NONE. */
provider_t provider_of(httpd_req_t *req);

/* Builds the error body (new reference); message NULL = a default text for
 * the status. */
json_t *error_body(provider_t p, httpd_req_t *req, int status, const char *message);

/* The httpd error_body hook: shapes every error httpd or a handler answers
 * (auth failures, injected faults, 404s) and adds the request-id headers and,
 * for injected 429s, retry-after-ms. */
json_t *error_body_hook(httpd_req_t *req, int status, const char *message, void *arg);

#endif
