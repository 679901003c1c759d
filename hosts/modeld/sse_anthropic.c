/* sse_anthropic.c - Anthropic streaming answers (see anthropic.h).
 *
 * Event order: message_start, ping, per content block content_block_start /
 * content_block_delta... / content_block_stop, message_delta (stop_reason,
 * usage), message_stop. */
#include "anthropic.h"

#include "sse.h"

#include <stdlib.h>
#include <string.h>

#define TEXT_PIECE 16
#define JSON_PIECE 24

/* Appends a text block, sent in small text_delta pieces (hostile_text: one
 * delta whose text is the raw value). */
static int text_block(sse_t *s, int index, const reply_t *r)
{
    const char *text = r->text;
    int rc = sse_add(s, "content_block_start",
                     json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_start", "index",
                               index, "content_block", "type", "text", "text", ""));
    if (rc == 0 && r->raw[RAW_TEXT])
        rc = sse_add(s, "content_block_delta",
                     json_pack("{s:s,s:i,s:{s:s,s:o}}", "type", "content_block_delta", "index",
                               index, "delta", "type", "text_delta", "text",
                               hostile_mark(RAW_TEXT)));
    size_t len = r->raw[RAW_TEXT] ? 0 : strlen(text);
    size_t want = sse_piece_size(len, TEXT_PIECE);
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = sse_piece(text + off, len - off, want);
        rc = sse_add(s, "content_block_delta",
                     json_pack("{s:s,s:i,s:{s:s,s:s%}}", "type", "content_block_delta", "index",
                               index, "delta", "type", "text_delta", "text", text + off, n));
        off += n;
    }
    if (rc == 0)
        rc = sse_add(s, "content_block_stop",
                     json_pack("{s:s,s:i}", "type", "content_block_stop", "index", index));
    return rc;
}

/* Appends a tool_use block whose input arrives as input_json_delta pieces
 * (hostile_input's raw values spliced into the JSON text). */
static int tool_block(sse_t *s, int index, const reply_t *r, const tool_call_t *tc)
{
    char *json = tc->broken ? strdup("{}") : reply_dumps(r, tc->input);
    if (!json)
        return -1;
    int rc = sse_add(s, "content_block_start",
                     json_pack("{s:s,s:i,s:{s:s,s:s,s:s,s:{}}}", "type", "content_block_start",
                               "index", index, "content_block", "type", "tool_use", "id", tc->id,
                               "name", tc->name, "input"));
    size_t len = strlen(json);
    size_t want = sse_piece_size(len, JSON_PIECE);
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = sse_piece(json + off, len - off, want);
        rc = sse_add(s, "content_block_delta",
                     json_pack("{s:s,s:i,s:{s:s,s:s%}}", "type", "content_block_delta", "index",
                               index, "delta", "type", "input_json_delta", "partial_json",
                               json + off, n));
        off += n;
    }
    free(json);
    if (rc == 0)
        rc = sse_add(s, "content_block_stop",
                     json_pack("{s:s,s:i}", "type", "content_block_stop", "index", index));
    return rc;
}

/* Builds every event of the answer, then streams them. */
httpd_result_t anthropic_stream(httpd_req_t *req, const chat_t *c, reply_t *r)
{
    sse_t *s = sse_new(r->raw);
    int rc = s ? 0 : -1;
    json_t *usage = anthropic_usage(r, false);
    if (usage) /* nothing generated yet */
        json_object_set_new(usage, "output_tokens", reply_usage_num(r, 1));
    if (rc == 0)
        rc = sse_add(s, "message_start",
                     json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:o}}", "type",
                               "message_start", "message", "id", r->id, "type", "message", "role",
                               "assistant", "model", c->model, "content", "stop_reason",
                               "stop_sequence", "usage", usage));
    else
        json_decref(usage);
    if (rc == 0)
        rc = sse_add(s, "ping", json_pack("{s:s}", "type", "ping"));
    int index = 0;
    if (rc == 0 && (r->text[0] || !r->ncalls || r->raw[RAW_TEXT]))
        rc = text_block(s, index++, r);
    for (size_t i = 0; rc == 0 && i < r->ncalls; i++)
        rc = tool_block(s, index++, r, &r->calls[i]);
    if (rc == 0)
        rc = sse_add(s, "message_delta",
                     json_pack("{s:s,s:{s:s,s:n},s:o}", "type", "message_delta", "delta",
                               "stop_reason", anthropic_stop_reason(r->stop), "stop_sequence",
                               "usage", anthropic_usage(r, true)));
    if (rc == 0)
        rc = sse_add(s, "message_stop", json_pack("{s:s}", "type", "message_stop"));
    reply_free(r);
    if (rc < 0) {
        sse_free(s);
        return httpd_reply_error(req, 500, "out of memory");
    }
    return sse_reply(req, s);
}
