/*
 * openai.h - the OpenAI Chat Completions API (POST /v1/chat/completions).
 *
 * Validation (each failure is a 400 invalid_request_error):
 *   - model (non-empty string), messages (non-empty array of objects whose
 *     role is system, developer, user, assistant, tool or function);
 *   - user/system/developer messages carry a string or an array content;
 *   - assistant tool_calls: [{id, type:"function", function:{name,
 *     arguments: a JSON *string*}}];
 *   - every assistant tool_call id is answered by a following role=tool
 *     message with that tool_call_id before the next non-tool message, and
 *     every tool message answers such a pending id;
 *   - max_tokens / max_completion_tokens, when given, positive integers;
 *   - tools, if present: [{type:"function", function:{name}}].
 * Unknown fields are ignored.
 */
#ifndef MODELD_OPENAI_H
#define MODELD_OPENAI_H

#include "chat.h"

/* The provider operations for /v1/chat/completions. */
extern const provider_ops_t openai_ops;

/* Answers a reply as an OpenAI SSE stream (sse_openai.c). */
httpd_result_t openai_stream(httpd_req_t *req, const chat_t *chat, reply_t *r);

/* The "finish_reason" for a stop kind. */
const char *openai_finish_reason(stop_t s);

/* The "arguments" string of a tool call of `r` (malloc'd): the compact JSON
 * of its input (hostile_input's raw values spliced in), or, for a broken
 * call, a prefix of it that is not valid JSON. */
char *openai_arguments(const reply_t *r, const tool_call_t *tc);

/* The usage object (CompletionUsage with prompt_tokens_details.cached_tokens
 * and completion_tokens_details).  New reference. */
json_t *openai_usage(const reply_t *r);

#endif
