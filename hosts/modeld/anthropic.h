/*
 * anthropic.h - the Anthropic Messages API (POST /v1/messages).
 *
 * Validation (each failure is a 400 invalid_request_error):
 *   - anthropic-version header: 2023-06-01 or 2026-10-21;
 *   - model (non-empty string), max_tokens (positive integer), messages
 *     (non-empty array of {role: user|assistant, content: string|array of
 *     typed blocks}) starting with user and alternating;
 *   - every tool_use id of an assistant message is answered by a
 *     tool_result with that id in the next (user) message, tool_result
 *     blocks come before any other block, and every tool_result answers a
 *     tool_use of the message just before;
 *   - with 2026-10-21: temperature, top_p and top_k are rejected (removed in
 *     that version);
 *   - tools, if present: an array of objects with a non-empty "name";
 *   - cache_control (on tools, system blocks, message blocks, top level):
 *     {"type":"ephemeral"[,"ttl":"5m"|"1h"]}, at most 4, no "1h" after a
 *     "5m" (see cache.h for the usage they produce).
 * Unknown fields are ignored.
 */
#ifndef MODELD_ANTHROPIC_H
#define MODELD_ANTHROPIC_H

#include "chat.h"

/* The provider operations for /v1/messages. */
extern const provider_ops_t anthropic_ops;

/* Answers a reply as an Anthropic SSE stream (sse_anthropic.c). */
httpd_result_t anthropic_stream(httpd_req_t *req, const chat_t *chat, reply_t *r);

/* The usage object of a reply: the SDK's Usage, or with `delta` its
 * MessageDeltaUsage (stream's message_delta).  New reference. */
json_t *anthropic_usage(const reply_t *r, bool delta);

/* The "stop_reason" for a stop kind. */
const char *anthropic_stop_reason(stop_t s);

#endif
