/* connect.c - Connect protocol framing and errors (see connect.h). */
#include "connect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Writes flag + big-endian length + payload. */
void connect_envelope(buf_t *out, uint8_t flags, const char *json, size_t len)
{
    unsigned char hdr[5] = {flags, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    buf_append(out, hdr, 5);
    buf_append(out, json, len);
}

/* Serializes compactly into an envelope. */
void connect_envelope_json(buf_t *out, uint8_t flags, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        s = strdup("{}");
    if (!s)
        return;
    connect_envelope(out, flags, s, strlen(s));
    free(s);
}

/* The closing envelope of every stream. */
void connect_end_stream(buf_t *out, const char *code, const char *message)
{
    if (!code) {
        connect_envelope(out, CONNECT_FLAG_END, "{}", 2);
        return;
    }
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message ? message : "");
    connect_envelope_json(out, CONNECT_FLAG_END, j);
    json_decref(j);
}

/* The code -> HTTP status table from the Connect specification. */
int connect_code_status(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {
        {"canceled", 499}, {"unknown", 500}, {"invalid_argument", 400},
        {"deadline_exceeded", 504}, {"not_found", 404}, {"already_exists", 409},
        {"permission_denied", 403}, {"resource_exhausted", 429}, {"failed_precondition", 400},
        {"aborted", 409}, {"out_of_range", 400}, {"unimplemented", 501}, {"internal", 500},
        {"unavailable", 503}, {"data_loss", 500}, {"unauthenticated", 401},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].code, code) == 0)
            return map[i].status;
    return 500;
}

/* True when the Content-Type (ignoring parameters) equals `want`. */
static int content_type_is(httpd_req_t *req, const char *want)
{
    const char *ct = httpd_header(req, "Content-Type");
    if (!ct)
        return 0;
    size_t n = strcspn(ct, "; ");
    return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

/* Validates and unwraps the single request envelope of a streaming call. */
json_t *connect_stream_request(httpd_req_t *req, char *code, size_t codesz, char *err,
                               size_t errsz)
{
    if (!content_type_is(req, "application/connect+json")) {
        snprintf(code, codesz, "unimplemented");
        snprintf(err, errsz, "unsupported content type \"%s\" (sandboxd speaks application/connect+json)",
                 httpd_header(req, "Content-Type") ? httpd_header(req, "Content-Type") : "");
        return NULL;
    }
    size_t len;
    const unsigned char *b = (const unsigned char *)httpd_body(req, &len);
    if (len < 5) {
        snprintf(code, codesz, "invalid_argument");
        snprintf(err, errsz, "protocol error: incomplete envelope");
        return NULL;
    }
    if (b[0] & 0x01) {
        snprintf(code, codesz, "internal");
        snprintf(err, errsz, "protocol error: compressed message but no compression negotiated");
        return NULL;
    }
    size_t mlen = ((size_t)b[1] << 24) | ((size_t)b[2] << 16) | ((size_t)b[3] << 8) | b[4];
    if (mlen > len - 5) {
        snprintf(code, codesz, "invalid_argument");
        snprintf(err, errsz, "protocol error: promised %zu bytes in enveloped message, got %zu bytes",
                 mlen, len - 5);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)b + 5, mlen, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        snprintf(code, codesz, "invalid_argument");
        snprintf(err, errsz, "unmarshal message: %s", j ? "not an object" : je.text);
        return NULL;
    }
    return j;
}

/* Validates and parses a unary request body. */
json_t *connect_unary_request(httpd_req_t *req, char *code, size_t codesz, char *err,
                              size_t errsz)
{
    if (!content_type_is(req, "application/json")) {
        snprintf(code, codesz, "unimplemented");
        snprintf(err, errsz, "unsupported content type \"%s\" (sandboxd speaks application/json)",
                 httpd_header(req, "Content-Type") ? httpd_header(req, "Content-Type") : "");
        return NULL;
    }
    char jerr[200];
    json_t *j = httpd_body_json(req, jerr, sizeof jerr);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        snprintf(code, codesz, "invalid_argument");
        snprintf(err, errsz, "unmarshal message: %s", j ? "not an object" : jerr);
        return NULL;
    }
    return j;
}

/* 200 + JSON. */
httpd_result_t connect_unary_ok(httpd_req_t *req, json_t *msg)
{
    return httpd_reply_json(req, 200, msg);
}

/* Status from the code table, body {"code","message"}. */
httpd_result_t connect_unary_error(httpd_req_t *req, const char *code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return httpd_reply_json(req, connect_code_status(code),
                            json_pack("{s:s,s:s}", "code", code, "message", msg));
}

/* Producer that emits one prepared end-of-stream envelope. */
typedef struct one_shot {
    buf_t data;
    int sent;
} one_shot_t;

/* Producer: hands out the prepared end-of-stream once, then ends. */
static httpd_msg_t one_shot_next(void *ctx, buf_t *out)
{
    one_shot_t *o = ctx;
    if (o->sent)
        return HTTPD_MSG_END;
    o->sent = 1;
    buf_append(out, o->data.data, o->data.len);
    return HTTPD_MSG_FINAL;
}

/* Frees the one-shot producer state. */
static void one_shot_free(void *ctx)
{
    one_shot_t *o = ctx;
    buf_free(&o->data);
    free(o);
}

/* Streaming errors travel in the end-of-stream envelope of a 200 response. */
httpd_result_t connect_stream_error(httpd_req_t *req, const char *code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    one_shot_t *o = calloc(1, sizeof *o);
    if (!o)
        return httpd_reply_drop(req);
    buf_init(&o->data);
    connect_end_stream(&o->data, code, msg);
    return httpd_reply_stream(req, 200, "application/connect+json", one_shot_next, o,
                              one_shot_free);
}

/* Connect-Timeout-Ms: up to 10 digits of milliseconds. */
int64_t connect_timeout_ms(httpd_req_t *req)
{
    const char *v = httpd_header(req, "Connect-Timeout-Ms");
    if (!v || !v[0])
        return 0;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0 || strlen(v) > 10)
        return -1;
    return n;
}

/* Keepalive-Ping-Interval in seconds (envd's default is 90 s). */
int connect_keepalive_ms(httpd_req_t *req)
{
    const char *v = httpd_header(req, "Keepalive-Ping-Interval");
    if (!v || !v[0])
        return 90000;
    long n = strtol(v, NULL, 10);
    if (n <= 0 || n > 3600)
        return 90000;
    return (int)(n * 1000);
}
