/* sse_openai.c - OpenAI streaming answers (see openai.h).
 *
 * Frames are "data: <chat.completion.chunk>" without event names: the role,
 * content pieces, per tool call a header chunk (index, id, name) then
 * argument pieces, a last chunk with finish_reason, a usage chunk with empty
 * choices when stream_options.include_usage is set, and "data: [DONE]". */
#include "openai.h"

#include "sse.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEXT_PIECE 16
#define ARGS_PIECE 24

/* Fields shared by every chunk of one stream. */
typedef struct chunk_base {
    const char *id;
    const char *model;
    json_int_t created;
    bool usage_field; /* include "usage": null (include_usage streams) */
} chunk_base_t;

/* Wraps a delta (stolen) in a chunk; finish may be NULL. */
static json_t *chunk(const chunk_base_t *b, json_t *delta, const char *finish)
{
    json_t *c = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[{s:i,s:o,s:n,s:s?}]}", "id", b->id, "object",
                          "chat.completion.chunk", "created", b->created, "model", b->model,
                          "system_fingerprint", "modeld", "choices", "index", 0, "delta", delta,
                          "logprobs", "finish_reason", finish);
    if (c && b->usage_field)
        json_object_set_new(c, "usage", json_null());
    return c;
}

/* Appends the chunks of one tool call. */
static int tool_chunks(sse_t *s, const chunk_base_t *b, size_t index, const reply_t *r,
                       const tool_call_t *tc)
{
    char *args = openai_arguments(r, tc);
    if (!args)
        return -1;
    int rc = sse_add(s, NULL,
                     chunk(b,
                           json_pack("{s:[{s:i,s:s,s:s,s:{s:s,s:s}}]}", "tool_calls", "index",
                                     (int)index, "id", tc->id, "type", "function", "function",
                                     "name", tc->name, "arguments", ""),
                           NULL));
    size_t len = strlen(args);
    size_t want = sse_piece_size(len, ARGS_PIECE);
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = sse_piece(args + off, len - off, want);
        rc = sse_add(s, NULL,
                     chunk(b,
                           json_pack("{s:[{s:i,s:{s:s%}}]}", "tool_calls", "index", (int)index,
                                     "function", "arguments", args + off, n),
                           NULL));
        off += n;
    }
    free(args);
    return rc;
}

/* Builds every chunk of the answer, then streams them. */
httpd_result_t openai_stream(httpd_req_t *req, const chat_t *c, reply_t *r)
{
    chunk_base_t b = {r->id, c->model, (json_int_t)time(NULL), c->include_usage};
    sse_t *s = sse_new(r->raw);
    int rc = s ? 0 : -1;
    if (rc == 0)
        rc = sse_add(s, NULL,
                     chunk(&b, json_pack("{s:s,s:s,s:n}", "role", "assistant", "content", "",
                                         "refusal"), NULL));
    if (rc == 0 && r->raw[RAW_TEXT]) /* hostile_text: one chunk, the raw value */
        rc = sse_add(s, NULL, chunk(&b, json_pack("{s:o}", "content", hostile_mark(RAW_TEXT)), NULL));
    size_t len = r->raw[RAW_TEXT] ? 0 : strlen(r->text);
    size_t want = sse_piece_size(len, TEXT_PIECE);
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = sse_piece(r->text + off, len - off, want);
        rc = sse_add(s, NULL, chunk(&b, json_pack("{s:s%}", "content", r->text + off, n), NULL));
        off += n;
    }
    for (size_t i = 0; rc == 0 && i < r->ncalls; i++)
        rc = tool_chunks(s, &b, i, r, &r->calls[i]);
    if (rc == 0)
        rc = sse_add(s, NULL, chunk(&b, json_object(), openai_finish_reason(r->stop)));
    if (rc == 0 && c->include_usage) {
        json_t *u = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[],s:o}", "id", b.id, "object",
                              "chat.completion.chunk", "created", b.created, "model", b.model,
                              "system_fingerprint", "modeld", "choices", "usage",
                              openai_usage(r));
        rc = sse_add(s, NULL, u);
    }
    if (rc == 0)
        rc = sse_add_raw(s, "data: [DONE]\n\n");
    reply_free(r);
    if (rc < 0) {
        sse_free(s);
        return httpd_reply_error(req, 500, "out of memory");
    }
    return sse_reply(req, s);
}
