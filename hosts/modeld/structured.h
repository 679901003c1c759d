/*
 * structured.h - structured final answers (result_schema in the extension).
 *
 * A request asks for a structured final answer in one of three ways:
 *
 *   Anthropic  tool_choice {"type":"tool","name":N}  -> the answer is one
 *              tool_use of N (no text, as the API does for a forced tool)
 *   both       a declared tool named "final_result"  -> the final answer
 *              (when every planned call is done) gets a tool_use of it after
 *              its text
 *   OpenAI     tool_choice {"type":"function","function":{"name":N}} ->
 *              one tool call of N; response_format {"type":"json_schema",
 *              "json_schema":{"name":...,"schema":{...}}} -> every text
 *              answer's content is the JSON text
 *
 * The JSON comes from the directive result=<JSON> (any JSON value; a tool
 * input that is not an object is wrapped as {"result": value}); without it,
 * {"text": "<the final answer text>"}.  result_invalid_first=N makes the
 * first N structured answers of the conversation (counted separately from
 * fail_first) the invalid value instead: {} when the schema requires some
 * property or is not an object schema, else {"modeld_invalid": true} (which
 * fails only a schema with additionalProperties false; documented).
 */
#ifndef MODELD_STRUCTURED_H
#define MODELD_STRUCTURED_H

#include "chat.h"

/* Reads tool_choice and response_format (Anthropic or OpenAI, by
 * c->provider) into c.  Returns 0, or -1 with a client message (400). */
int structured_parse(json_t *body, chat_t *c, char *err, size_t errsz);

/* Turns the computed answer into the structured one when the request asks
 * for it (see above).  Returns 0 or -1 (out of memory). */
int structured_apply(const chat_t *c, const directives_t *d, reply_t *r);

#endif
