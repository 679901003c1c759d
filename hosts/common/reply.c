/* reply.c - reply helpers for handlers (see httpd.h). */
#include "httpd_int.h"

#include "log.h"
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Remembers a header for the next reply. */
void httpd_add_header(httpd_req_t *req, const char *name, const char *value)
{
    hdr_t *hd = calloc(1, sizeof *hd);
    if (!hd)
        return;
    hd->name = strdup(name);
    hd->value = strdup(value);
    if (!hd->name || !hd->value) {
        free(hd->name);
        free(hd->value);
        free(hd);
        return;
    }
    hd->next = req->headers;
    req->headers = hd;
}

/* Attaches pending headers, queues the response and drops our reference.
 * A pending "drop" fault on a stream route that ended up answering with a
 * plain response is honoured here by closing instead of answering. */
httpd_result_t httpd_queue(httpd_req_t *req, int status, struct MHD_Response *resp)
{
    if (!resp) {
        req->state = REQ_REPLIED;
        return MHD_NO;
    }
    if (req->fault.action == FAULT_DROP && !req->streamed) {
        MHD_destroy_response(resp);
        req->state = REQ_REPLIED;
        req->status = 0;
        return MHD_NO;
    }
    if (req->fault.action == FAULT_RATE_LIMIT && status == 429) {
        char ra[32];
        snprintf(ra, sizeof ra, "%d", req->fault.retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    for (hdr_t *hd = req->headers; hd; hd = hd->next)
        MHD_add_response_header(resp, hd->name, hd->value);
    enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->state = REQ_REPLIED;
    req->status = status;
    /* counted now, not at completion: a client that reads /admin/stats right
     * after this answer must already see it */
    if (!req->counted) {
        req->counted = true;
        stats_request(req->h->name, httpd_req_label(req), status);
    }
    return rc;
}

/* Serializes compactly and sends as application/json. */
httpd_result_t httpd_reply_json(httpd_req_t *req, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!s)
        return httpd_reply_bytes(req, 500, "text/plain", "out of memory", 13);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return httpd_queue(req, status, resp);
}

/* Sends a copy of `data`. */
httpd_result_t httpd_reply_bytes(httpd_req_t *req, int status, const char *content_type,
                                 const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp && content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    return httpd_queue(req, status, resp);
}

/* Sends headers only. */
httpd_result_t httpd_reply_empty(httpd_req_t *req, int status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    return httpd_queue(req, status, resp);
}

/* Default error body: {"code": status, "message": msg or the reason phrase}. */
static json_t *default_error_body(int status, const char *msg)
{
    const char *reason = MHD_get_reason_phrase_for((unsigned)status);
    return json_pack("{s:i,s:s}", "code", status, "message",
                     msg ? msg : (reason && reason[0] ? reason : "error"));
}

/* Formats the message and lets the server shape the body; an injected fault
 * may override the body entirely with the rule's "error_body". */
httpd_result_t httpd_reply_error(httpd_req_t *req, int status, const char *fmt, ...)
{
    char msg[2048];
    const char *m = NULL;
    if (fmt && fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (msg[0])
            m = msg;
    }
    if (req->fault.body && (req->fault.action == FAULT_ERROR || req->fault.action == FAULT_RATE_LIMIT)) {
        const char *b = req->fault.body;
        const char *ct = (b[0] == '{' || b[0] == '[') ? "application/json" : "text/plain";
        json_t *j = json_loads(b, JSON_DECODE_ANY, NULL);
        if (j && json_is_string(j)) {
            const char *s = json_string_value(j);
            httpd_result_t rc = httpd_reply_bytes(req, status, "text/plain", s, strlen(s));
            json_decref(j);
            return rc;
        }
        json_decref(j);
        return httpd_reply_bytes(req, status, ct, b, strlen(b));
    }
    json_t *body = NULL;
    if (req->h->cfg.error_body)
        body = req->h->cfg.error_body(req, status, m, req->h->cfg.arg);
    if (!body)
        body = default_error_body(status, m);
    return httpd_reply_json(req, status, body);
}

/* Serves a file descriptor; MHD uses sendfile where it can and closes fd. */
httpd_result_t httpd_reply_fd(httpd_req_t *req, int status, const char *content_type, int fd,
                              uint64_t size)
{
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    return httpd_queue(req, status, resp);
}

/* Makes MHD close the connection without a response. */
httpd_result_t httpd_reply_drop(httpd_req_t *req)
{
    req->state = REQ_REPLIED;
    req->status = 0;
    return MHD_NO;
}
