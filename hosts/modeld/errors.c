/* errors.c - provider-shaped error bodies (see errors.h). */
#include "errors.h"

#include "ids.h"

#include <stdio.h>
#include <string.h>

/* Chooses the error shape from the path, then from the headers. */
provider_t provider_of(httpd_req_t *req)
{
    const char *path = httpd_path(req);
    if (strncmp(path, "/admin/", 7) == 0)
        return PROVIDER_NONE;
    if (strcmp(path, "/v1/messages") == 0 || strncmp(path, "/v1/messages/", 13) == 0)
        return PROVIDER_ANTHROPIC;
    if (strcmp(path, "/v1/chat/completions") == 0)
        return PROVIDER_OPENAI;
    if (httpd_header(req, "anthropic-version"))
        return PROVIDER_ANTHROPIC;
    return PROVIDER_OPENAI;
}

/* Anthropic's error.type for an HTTP status. */
static const char *anthropic_type(int status)
{
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 500: return "api_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

/* OpenAI's error.type and error.code (NULL = JSON null) for a status. */
static void openai_type(int status, const char **type, const char **code)
{
    *code = NULL;
    if (status == 401) {
        *type = "invalid_request_error";
        *code = "invalid_api_key";
    } else if (status == 403) {
        *type = "permission_error";
    } else if (status == 404) {
        *type = "invalid_request_error";
        *code = "not_found";
    } else if (status == 429) {
        *type = "requests";
        *code = "rate_limit_exceeded";
    } else if (status >= 500) {
        *type = "server_error";
    } else {
        *type = "invalid_request_error";
    }
}

/* A readable default when the caller has no specific message. */
static const char *default_message(int status)
{
    switch (status) {
    case 400: return "invalid request";
    case 401: return "invalid x-api-key";
    case 403: return "permission denied";
    case 404: return "not found";
    case 413: return "request too large";
    case 429: return "rate limit exceeded, please try again later";
    case 500: return "internal server error";
    case 503: return "service unavailable";
    case 529: return "overloaded";
    default: return "error";
    }
}

/* Builds the body in the provider's shape. */
json_t *error_body(provider_t p, httpd_req_t *req, int status, const char *message)
{
    const char *msg = message ? message : default_message(status);
    if (!message && status == 401 && p == PROVIDER_OPENAI)
        msg = "Incorrect API key provided (modeld expects the key given with --api-key).";
    if (p == PROVIDER_ANTHROPIC) {
        return json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error", "error", "type",
                         anthropic_type(status), "message", msg, "request_id", request_id(req));
    }
    if (p == PROVIDER_OPENAI) {
        const char *type, *code;
        openai_type(status, &type, &code);
        request_id(req);
        return json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", msg, "type", type,
                         "param", "code", code);
    }
    return NULL; /* admin routes: common/'s {"code","message"} */
}

/* Shapes errors answered by httpd itself (auth, faults, no route) and by
 * handlers through httpd_reply_error. */
json_t *error_body_hook(httpd_req_t *req, int status, const char *message, void *arg)
{
    (void)arg;
    provider_t p = provider_of(req);
    if (p == PROVIDER_NONE)
        return NULL;
    const fault_decision_t *f = httpd_fault(req);
    if (status == 429 && f->action == FAULT_RATE_LIMIT) {
        char ms[32];
        snprintf(ms, sizeof ms, "%lld", (long long)f->retry_after * 1000);
        httpd_add_header(req, "retry-after-ms", ms);
    }
    return error_body(p, req, status, message);
}
