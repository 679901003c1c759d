/*
 * connect.h - the Connect protocol (JSON codec) as envd speaks it.
 *
 * Unary RPCs: request and response are plain JSON (application/json);
 * errors are a non-200 status with {"code":"not_found","message":"..."}.
 * Server-streaming RPCs: the request body is one envelope and the response
 * a sequence of envelopes (application/connect+json), each
 *   1 flag byte (0x00 message, 0x02 end-of-stream) + 4-byte big-endian
 *   length + JSON,
 * closed by an end-of-stream envelope: {} or {"error":{"code","message"}}.
 */
#ifndef SANDBOXD_CONNECT_H
#define SANDBOXD_CONNECT_H

#include "buf.h"
#include "httpd.h"

#include <jansson.h>
#include <stdint.h>

#define CONNECT_FLAG_MESSAGE 0x00
#define CONNECT_FLAG_END 0x02

/* Appends one envelope with `len` bytes of JSON. */
void connect_envelope(buf_t *out, uint8_t flags, const char *json, size_t len);

/* Appends one envelope holding `j` (reference kept by the caller). */
void connect_envelope_json(buf_t *out, uint8_t flags, json_t *j);

/* Appends the end-of-stream envelope: {} when code is NULL, else
 * {"error":{"code":code,"message":message}}. */
void connect_end_stream(buf_t *out, const char *code, const char *message);

/* HTTP status for a Connect error code (not_found -> 404, ...). */
int connect_code_status(const char *code);

/* Checks a streaming request (content type, envelope framing) and returns
 * its message, or NULL with a Connect code and message. */
json_t *connect_stream_request(httpd_req_t *req, char *code, size_t codesz, char *err,
                               size_t errsz);

/* Checks a unary request (content type) and returns its JSON body, or NULL
 * with a Connect code and message. */
json_t *connect_unary_request(httpd_req_t *req, char *code, size_t codesz, char *err,
                              size_t errsz);

/* Unary success: 200 application/json (`msg` consumed). */
httpd_result_t connect_unary_ok(httpd_req_t *req, json_t *msg);

/* Unary error with the code's status. */
httpd_result_t connect_unary_error(httpd_req_t *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A streaming RPC that fails before any message: 200 with only the
 * end-of-stream error envelope (as connect-go answers). */
httpd_result_t connect_stream_error(httpd_req_t *req, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads Connect-Timeout-Ms; returns milliseconds, 0 if absent, -1 if invalid. */
int64_t connect_timeout_ms(httpd_req_t *req);

/* Reads Keepalive-Ping-Interval (seconds) as milliseconds; default 90 s. */
int connect_keepalive_ms(httpd_req_t *req);

#endif
