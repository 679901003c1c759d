/* sse.c - pre-rendered SSE streams (see sse.h). */
#include "sse.h"

#include "buf.h"
#include "textutil.h"

#include <stdlib.h>
#include <string.h>

struct sse {
    char *const *raw; /* hostile raw values, or NULL */
    char **frames;
    size_t n;
    size_t next; /* index of the frame to send next */
};

/* Allocates an empty list. */
sse_t *sse_new(char *const *raw)
{
    sse_t *s = calloc(1, sizeof(sse_t));
    if (s)
        s->raw = raw;
    return s;
}

/* Appends one frame (taking ownership of `text`). */
static int push(sse_t *s, char *text)
{
    if (!text)
        return -1;
    char **v = realloc(s->frames, (s->n + 1) * sizeof *v);
    if (!v) {
        free(text);
        return -1;
    }
    s->frames = v;
    v[s->n++] = text;
    return 0;
}

/* Formats an event with compact JSON data. */
int sse_add(sse_t *s, const char *event, json_t *data)
{
    char *json = !data ? NULL : s->raw ? hostile_dumps(data, s->raw) : json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!json)
        return -1;
    buf_t b;
    buf_init(&b);
    if (event)
        buf_printf(&b, "event: %s\n", event);
    buf_printf(&b, "data: %s\n\n", json);
    free(json);
    return push(s, buf_steal(&b, NULL));
}

/* Copies a frame verbatim. */
int sse_add_raw(sse_t *s, const char *text)
{
    return push(s, strdup(text));
}

/* Frees every frame. */
void sse_free(sse_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->frames[i]);
    free(s->frames);
    free(s);
}

/* Producer for httpd_reply_stream: every frame but the last is a data
 * message, the last is the closing message, then the stream ends. */
static httpd_msg_t sse_next(void *ctx, buf_t *out)
{
    sse_t *s = ctx;
    if (s->next >= s->n)
        return HTTPD_MSG_END;
    const char *f = s->frames[s->next++];
    if (buf_puts(out, f) < 0)
        return HTTPD_MSG_ABORT;
    return s->next == s->n ? HTTPD_MSG_FINAL : HTTPD_MSG_DATA;
}

/* Releases the list when the response is done. */
static void sse_ctx_free(void *ctx)
{
    sse_free(ctx);
}

/* Starts the chunked event stream. */
httpd_result_t sse_reply(httpd_req_t *req, sse_t *s)
{
    s->raw = NULL; /* the reply that owned them is gone */
    httpd_add_header(req, "Cache-Control", "no-cache");
    return httpd_reply_stream(req, 200, "text/event-stream", sse_next, s, sse_ctx_free);
}

size_t sse_piece_size(size_t len, size_t small)
{
    return len > SSE_BIG ? SSE_BIG : small;
}

/* UTF-8-safe piece length; always progresses by at least one character. */
size_t sse_piece(const char *s, size_t len, size_t want)
{
    if (len <= want)
        return len;
    size_t n = utf8_cut(s, len, want);
    if (n == 0) {
        n = 1;
        while (n < len && ((unsigned char)s[n] & 0xC0) == 0x80)
            n++;
    }
    return n;
}
