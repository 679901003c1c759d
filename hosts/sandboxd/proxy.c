/* proxy.c - sandbox and port resolution for the sandbox port (see proxy.h). */
#include "proxy.h"

#include "config.h"
#include "portfwd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the sandbox ID from the header, or from "<port>-<id>.<domain>". */
static void request_sandbox_id(httpd_req_t *req, char *out, size_t n)
{
    out[0] = '\0';
    const char *h = httpd_header(req, "E2b-Sandbox-Id");
    if (h && h[0]) {
        snprintf(out, n, "%s", h);
        return;
    }
    const char *host = httpd_header(req, "Host");
    if (!host)
        return;
    const char *dash = strchr(host, '-');
    const char *dot = strchr(host, '.');
    if (!dash || !dot || dot < dash)
        return;
    size_t len = (size_t)(dot - dash - 1);
    if (len == 0 || len >= n)
        return;
    memcpy(out, dash + 1, len);
    out[len] = '\0';
}

/* Header first, then Host, then the path convention. */
int proxy_port(httpd_req_t *req)
{
    const char *h = httpd_header(req, "E2b-Sandbox-Port");
    if (h && h[0])
        return atoi(h);
    const char *host = httpd_header(req, "Host");
    if (host && strchr(host, '-') && strchr(host, '.') && !httpd_header(req, "E2b-Sandbox-Id")) {
        int p = atoi(host);
        if (p > 0)
            return p;
    }
    const char *path = httpd_path(req);
    if (strcmp(path, "/execute") == 0 || strncmp(path, "/contexts", 9) == 0)
        return PORT_INTERP;
    return PORT_ENVD;
}

/* Constant-time string comparison for tokens. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* E2B proxy's answer for a sandbox it cannot route to. */
static httpd_result_t reply_not_found(httpd_req_t *req, const char *id)
{
    return httpd_reply_json(req, 502, json_pack("{s:s,s:s,s:i}", "sandboxId", id, "message",
                                                "The sandbox was not found", "code", 502));
}

/* E2B proxy's answer for a port nothing listens on. */
httpd_result_t proxy_reply_port_closed(httpd_req_t *req, const char *id, int port)
{
    return httpd_reply_json(req, 502,
                            json_pack("{s:s,s:s,s:i,s:i}", "sandboxId", id, "message",
                                      "The sandbox is running but port is not open", "port", port,
                                      "code", 502));
}

/* 404 in the dialect of the server the request reached. */
static httpd_result_t reply_no_route(httpd_req_t *req, int port)
{
    if (port == PORT_INTERP)
        return httpd_reply_json(req, 404, json_pack("{s:s}", "detail", "Not Found"));
    return httpd_reply_bytes(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}

/* E2B proxy's {"sandboxId","message","code"} errors (403, 429). */
static httpd_result_t reply_proxy_error(httpd_req_t *req, int status, const char *id,
                                        const char *message)
{
    return httpd_reply_json(req, status, json_pack("{s:s,s:s,s:i}", "sandboxId", id, "message",
                                                   message, "code", status));
}

/* A paused sandbox with autoResume comes back on traffic, as E2B's proxy
 * resumes it through the API: envd traffic must carry the envd access token
 * (secure sandboxes), other ports the traffic access token (private
 * ingress); a filesystem-only pause is never resumed by traffic.  Returns
 * 0 if the sandbox runs now, 1 if it stays paused (answer "not found"), or
 * -1 after answering (403, 429). */
static int auto_resume(httpd_req_t *req, sandbox_t *sb, int want, httpd_result_t *rc)
{
    pthread_mutex_lock(&sb->mu);
    bool eligible = sb->state == SBX_PAUSED && sb->auto_resume && sb->paused_memory;
    pthread_mutex_unlock(&sb->mu);
    if (!eligible)
        return 1;
    const char *need = want == PORT_ENVD ? sb->token : sb->traffic_token;
    const char *given = httpd_header(req, want == PORT_ENVD ? "X-Access-Token"
                                                            : "e2b-traffic-access-token");
    if (need[0] && (!given || !token_equal(given, need))) {
        *rc = reply_proxy_error(req, 403, sb->id,
                                "This sandbox can't be resumed with the credentials provided. "
                                "Check your access token and try again.");
        return -1;
    }
    int r = sandbox_resume(sb, sb->auto_resume_timeout_s, true);
    if (r == -2) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "you have reached the maximum number of concurrent E2B sandboxes (%d). If you "
                 "need more, please contact us at 'https://e2b.dev/docs/getting-help'",
                 g_cfg.max_sandboxes);
        *rc = reply_proxy_error(req, 429, sb->id, msg);
        return -1;
    }
    return r >= 0 ? 0 : 1;
}

/* True for ports that sandboxd forwards to servers inside the sandbox. */
bool proxy_is_user_port(int port)
{
    return port != PORT_ENVD && port != PORT_INTERP;
}

/* proxy_resolve with the request body given explicitly (for forwarding). */
static sandbox_t *resolve(httpd_req_t *req, int port, token_check_t check, httpd_result_t *rc,
                          const char *body, size_t len)
{
    char id[128];
    request_sandbox_id(req, id, sizeof id);
    int want = proxy_port(req);
    sandbox_t *sb = sandbox_get(id);
    if (!sb) {
        *rc = reply_not_found(req, id);
        return NULL;
    }
    pthread_mutex_lock(&sb->mu);
    bool running = sb->state == SBX_RUNNING;
    pthread_mutex_unlock(&sb->mu);
    if (!running) {
        int r = auto_resume(req, sb, want, rc);
        if (r != 0) {
            if (r > 0)
                *rc = reply_not_found(req, id);
            sandbox_unref(sb);
            return NULL;
        }
    }
    if (want != PORT_ENVD && sb->traffic_token[0]) {
        /* private ingress: every port but envd's needs the traffic token */
        const char *t = httpd_header(req, "e2b-traffic-access-token");
        if (!t || !t[0] || !token_equal(t, sb->traffic_token)) {
            *rc = reply_proxy_error(
                req, 403, sb->id,
                t && t[0] ? "Sandbox is secured with traffic access token. Provided token in "
                            "header 'e2b-traffic-access-token' is invalid"
                          : "Sandbox is secured with traffic access token. Token header "
                            "'e2b-traffic-access-token' is missing");
            sandbox_unref(sb);
            return NULL;
        }
    }
    if (proxy_is_user_port(want)) {
        *rc = portfwd_forward(req, sb, want, body, len);
        sandbox_unref(sb);
        return NULL;
    }
    if (want == PORT_INTERP && !sb->tmpl->code_interpreter) {
        *rc = proxy_reply_port_closed(req, sb->id, want);
        sandbox_unref(sb);
        return NULL;
    }
    if (want != port) {
        *rc = reply_no_route(req, want);
        sandbox_unref(sb);
        return NULL;
    }
    if (check == TOKEN_REQUIRED && sb->token[0]) {
        const char *t = httpd_header(req, "X-Access-Token");
        if (!t || !token_equal(t, sb->token)) {
            if (port == PORT_INTERP)
                *rc = httpd_reply_bytes(req, 401, "text/plain; charset=utf-8", "Unauthorized", 12);
            else
                *rc = httpd_reply_json(
                    req, 401,
                    json_pack("{s:i,s:s}", "code", 401, "message",
                              "unauthorized access, please provide a valid access token or method "
                              "signing if supported"));
            sandbox_unref(sb);
            return NULL;
        }
    }
    return sb;
}

/* Finds the running sandbox a request targets, checks port, template and
 * access token, and answers the E2B proxy/envd error itself on failure;
 * requests for other ports are forwarded (portfwd.h) and answered here. */
sandbox_t *proxy_resolve(httpd_req_t *req, int port, token_check_t check, httpd_result_t *rc)
{
    size_t len;
    const char *body = httpd_body(req, &len);
    return resolve(req, port, check, rc, body, len);
}

/* A request for a user port whose body was collected by a body callback. */
httpd_result_t proxy_forward_body(httpd_req_t *req, const char *body, size_t len)
{
    httpd_result_t rc;
    sandbox_t *sb = resolve(req, PORT_ENVD, TOKEN_NONE, &rc, body, len);
    if (sb) { /* not a user port after all */
        rc = reply_no_route(req, proxy_port(req));
        sandbox_unref(sb);
    }
    return rc;
}

/* Like proxy_resolve without answering (for body callbacks, which must not
 * reply while the body is still arriving). */
sandbox_t *proxy_peek(httpd_req_t *req, int port)
{
    char id[128];
    request_sandbox_id(req, id, sizeof id);
    if (proxy_port(req) != port)
        return NULL;
    sandbox_t *sb = sandbox_get(id);
    if (!sb)
        return NULL;
    pthread_mutex_lock(&sb->mu);
    bool running = sb->state == SBX_RUNNING;
    pthread_mutex_unlock(&sb->mu);
    if (!running || (port == PORT_INTERP && !sb->tmpl->code_interpreter)) {
        sandbox_unref(sb);
        return NULL;
    }
    return sb;
}

/* Unknown path on the sandbox port: 502 if the sandbox is unknown, the
 * forwarded answer for a user port, else the 404 the addressed server
 * (envd or code interpreter) would give. */
httpd_result_t proxy_not_found(httpd_req_t *req)
{
    int port = proxy_port(req);
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, port == PORT_INTERP ? PORT_INTERP : PORT_ENVD, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    rc = reply_no_route(req, port);
    sandbox_unref(sb);
    return rc;
}

/* Error-body hook of the sandbox server: envd's {"code":N,"message"}. */
json_t *proxy_error_body(httpd_req_t *req, int status, const char *message, void *arg)
{
    (void)req;
    (void)arg;
    return json_pack("{s:i,s:s}", "code", status, "message",
                     message ? message : (status == 429 ? "rate limit exceeded" : "error"));
}
