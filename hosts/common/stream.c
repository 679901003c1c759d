/* stream.c - chunked streaming replies with message-level fault injection
 * (see httpd_reply_stream in httpd.h). */
#include "httpd_int.h"

#include <stdlib.h>
#include <string.h>

/* Where a stream is in its life. */
typedef enum {
    STREAM_OPEN = 0,  /* producing messages */
    STREAM_DONE,      /* producer finished; flush what is pending, then end */
    STREAM_ABORTED,   /* close the connection at the next read */
} stream_state_t;

typedef struct stream {
    httpd_next_fn next;
    void *ctx;
    void (*ctx_free)(void *);
    stream_state_t state;
    fault_action_t fault;   /* FAULT_DROP or FAULT_CUT or FAULT_NONE */
    int after_messages;     /* drop after this many messages */
    int messages;           /* messages handed to MHD so far */
    buf_t pending;          /* current message bytes */
    size_t off;             /* bytes of `pending` already copied out */
} stream_t;

/* Pulls the next message from the producer and applies drop/cut faults at
 * the message boundary.  Returns 0 if `pending` now has data, or an MHD
 * end code. */
static ssize_t stream_fill(stream_t *s)
{
    for (;;) {
        if (s->state == STREAM_ABORTED)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (s->state == STREAM_DONE)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_clear(&s->pending);
        s->off = 0;
        httpd_msg_t kind = s->next(s->ctx, &s->pending);
        switch (kind) {
        case HTTPD_MSG_DATA:
            if (s->fault == FAULT_DROP && s->messages >= s->after_messages) {
                s->state = STREAM_ABORTED;
                continue;
            }
            break;
        case HTTPD_MSG_FINAL:
            if (s->fault == FAULT_DROP) {
                s->state = STREAM_ABORTED;
                continue;
            }
            if (s->fault == FAULT_CUT) {
                s->state = STREAM_DONE;
                continue;
            }
            break;
        case HTTPD_MSG_END:
            s->state = STREAM_DONE;
            continue;
        case HTTPD_MSG_ABORT:
        default:
            s->state = STREAM_ABORTED;
            continue;
        }
        if (s->pending.len == 0)
            continue;
        s->messages++;
        return 0;
    }
}

/* MHD content reader: copies out the pending message, refilling (and
 * possibly blocking in the producer) when it is used up. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    if (s->off >= s->pending.len) {
        ssize_t rc = stream_fill(s);
        if (rc != 0)
            return rc;
    }
    size_t n = s->pending.len - s->off;
    if (n > max)
        n = max;
    memcpy(out, s->pending.data + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

/* MHD free callback: releases the producer's context exactly once. */
static void stream_free(void *cls)
{
    stream_t *s = cls;
    if (s->ctx_free)
        s->ctx_free(s->ctx);
    buf_free(&s->pending);
    free(s);
}

/* Creates the chunked response around the producer. */
httpd_result_t httpd_reply_stream(httpd_req_t *req, int status, const char *content_type,
                                  httpd_next_fn next, void *ctx, void (*ctx_free)(void *ctx))
{
    stream_t *s = calloc(1, sizeof *s);
    if (!s) {
        if (ctx_free)
            ctx_free(ctx);
        return MHD_NO;
    }
    s->next = next;
    s->ctx = ctx;
    s->ctx_free = ctx_free;
    buf_init(&s->pending);
    if (req->fault.action == FAULT_DROP || req->fault.action == FAULT_CUT) {
        s->fault = req->fault.action;
        s->after_messages = req->fault.after_messages;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    if (content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    req->streamed = true;
    return httpd_queue(req, status, resp);
}
