/*
 * chat.h - the provider-neutral view of one model call and of its answer.
 *
 * anthropic.c and openai.c validate a request and reduce it to a chat_t
 * (what the scripted model needs to know); script.c turns a chat_t plus the
 * prompt's directives into a reply_t; the provider modules render the
 * reply_t as JSON or as an SSE stream.
 */
#ifndef MODELD_CHAT_H
#define MODELD_CHAT_H

#include "directives.h"
#include "hostile.h"
#include "httpd.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which wire protocol a request speaks. */
typedef enum {
    PROVIDER_ANTHROPIC = 0,
    PROVIDER_OPENAI,
    PROVIDER_NONE, /* admin routes: common/'s default error body */
} provider_t;

/* One cacheable prefix point of a request (see cache.h): the prompt up to
 * and including one item (a tool, a system block, a message block). */
typedef struct prefix_point {
    uint64_t hash;  /* chained hash of the canonical JSON of every item so far */
    int64_t bytes;  /* canonical JSON bytes of every item so far */
    int ttl;        /* a cache_control breakpoint: CACHE_TTL_5M or _1H; 0 = none */
} prefix_point_t;

/* One validated request, reduced to what the script needs. */
typedef struct chat {
    provider_t provider;
    char *model;         /* echoed in the answer */
    char *first_user;    /* text of the first user message ("" if none) */
    char *latest_user;   /* text of U, the last user message that carries text, when it
                          * is not the first user message (a continued run); NULL when U is
                          * the first user message */
    char *system;        /* the system prompt's text blocks joined with "\n" (Anthropic
                          * `system`; OpenAI every system/developer message), NULL if none */
    phase_t phase;       /* PHASE_EXEC when tools are declared */
    char **tools;        /* declared tool names */
    size_t ntools;
    int tool_results;    /* progress: tool results after U (all of them when U is the
                          * first user message); set by chat_settle */
    const char *last_result; /* text of the last tool result after U (points into
                              * results), NULL if none; set by chat_settle */
    char **results;      /* text of every tool result of the conversation, in order */
    size_t nresults;
    size_t results_before; /* tool results before U (0 when U is the first user message) */
    size_t nmessages;    /* messages in the request */
    bool stream;         /* "stream": true */
    bool include_usage;  /* OpenAI stream_options.include_usage */
    size_t body_len;     /* request body bytes, for usage */
    uint64_t cache_ns;   /* provider + API key + model: the prompt cache's namespace */
    prefix_point_t *prefix; /* the prompt's prefix points, in order (tools, system, messages) */
    size_t nprefix;
    char *force_tool;       /* tool_choice naming one tool (structured.h), NULL if none */
    bool json_schema;       /* OpenAI response_format {"type":"json_schema"} */
    json_t *result_schema;  /* the schema of the structured answer, NULL if unknown */
} chat_t;

/* Why the answer stops. */
typedef enum {
    STOP_END_TURN = 0, /* final answer: end_turn / stop */
    STOP_TOOL_USE,     /* tool calls: tool_use / tool_calls */
    STOP_MAX_TOKENS,   /* cut short: max_tokens / length */
} stop_t;

/* One tool call of an answer. */
typedef struct tool_call {
    char id[40];   /* toolu_... or call_... */
    char *name;
    json_t *input; /* arguments object */
    bool broken;   /* bad_tool_args: render unusable arguments */
} tool_call_t;

/* The scripted answer. */
typedef struct reply {
    char id[40];       /* msg_... or chatcmpl-... */
    char *text;        /* never NULL */
    tool_call_t *calls;
    size_t ncalls;
    stop_t stop;
    int first_step;    /* 1-based step number of calls[0] */
    int input_tokens;  /* the whole prompt (request bytes / 4), cached part included */
    int output_tokens;
    int cache_read;     /* prompt tokens read from the cache */
    int cache_write_5m; /* prompt tokens written to the cache, 5-minute entries */
    int cache_write_1h; /* ... 1-hour entries (Anthropic ttl "1h") */
    char *raw[RAW_NSLOTS]; /* hostile_*: raw JSON for each placeholder slot, or NULL */
} reply_t;

/* What a provider module supplies to the shared request flow. */
typedef struct provider_ops {
    provider_t id;
    const char *name; /* "anthropic" / "openai", for stats */
    /* Validates the request (headers and body) and fills `chat`.  Returns 0
     * or -1 with a client-facing message in err (answered as 400). */
    int (*parse)(httpd_req_t *req, json_t *body, chat_t *chat, char *err, size_t errsz);
    /* Renders a complete answer as the provider's JSON (new reference). */
    json_t *(*render)(const chat_t *chat, const reply_t *r);
    /* Answers with an SSE stream; takes ownership of `r`'s contents. */
    httpd_result_t (*stream)(httpd_req_t *req, const chat_t *chat, reply_t *r);
    /* A 200 body that is not valid JSON (malformed directive). */
    const char *malformed_json;
    /* An SSE stream whose data is not valid JSON (malformed + stream). */
    const char *malformed_sse;
} provider_ops_t;

/* True when `name` is among the request's declared tools. */
bool chat_has_tool(const chat_t *c, const char *name);

/* Adds a declared tool name (copied).  Returns 0 or -1 (no memory). */
int chat_add_tool(chat_t *c, const char *name);

/* Text of a message `content` or tool-result content: a string as is, or
 * the "text" of every {"type":"text"} element of an array joined with "\n".
 * Returns a malloc'd string ("" for anything else), NULL when out of memory. */
char *chat_content_text(json_t *content);

/* Records the text of one tool result (taken over, freed by chat_free).
 * Returns 0 or -1 (no memory; `text` is freed). */
int chat_add_result(chat_t *c, char *text);

/* Records a user message that carries text and is not the first user
 * message: it becomes U (the latest one wins), and the tool results so far
 * are "before U".  Returns 0 or -1 (no memory). */
int chat_user_text(chat_t *c, json_t *content);

/* After the walk over the messages: sets tool_results and last_result from
 * the results after U. */
void chat_settle(chat_t *c);

/* The text that scripts an execution call: U (latest_user) when the
 * conversation was continued, else the first user message. */
const char *chat_prompt(const chat_t *c);

/* Appends the text of a system prompt part (a `content`, as
 * chat_content_text reads it) to c->system, joined with "\n".  Returns 0 or
 * -1 (no memory). */
int chat_append_system(chat_t *c, json_t *content);

/* Frees what a chat owns. */
void chat_free(chat_t *c);

/* Anthropic's input_tokens: the prompt tokens neither read from nor
 * written to the cache. */
int reply_uncached_input(const reply_t *r);

/* A usage number: `n`, or the hostile_usage placeholder. */
json_t *reply_usage_num(const reply_t *r, long long n);

/* The answer text as a JSON value: the string, or the hostile_text
 * placeholder. */
json_t *reply_text_value(const reply_t *r);

/* Serializes an answer (or an SSE frame) of `r` with its raw values. */
char *reply_dumps(const reply_t *r, const json_t *v);

/* Frees what a reply owns. */
void reply_free(reply_t *r);

/* The shared handler of POST /v1/messages and POST /v1/chat/completions;
 * the route's arg is the provider_ops_t. */
httpd_result_t chat_handle(httpd_req_t *req);

/* Answers a 400 invalid_request_error with the provider-shaped body. */
httpd_result_t chat_reply_invalid(httpd_req_t *req, const char *msg);

#endif
