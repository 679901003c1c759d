/*
 * directives.h - the [[modeld: ...]] directives embedded in a prompt.
 *
 * Syntax (anywhere in the first user message, and in U, the latest user
 * message with text, when the conversation was continued; several groups
 * allowed; U's groups are merged after the first message's, so they win):
 *
 *   [[modeld: key=value flag key2=value2 ...]]
 *
 * Tokens are separated by spaces, tabs, newlines or commas.  Keys:
 *
 *   status=S        answer HTTP S (400..599) with the provider's error body
 *   fail_first=N    status/malformed/drop only for the first N calls of the
 *                   conversation, then answer normally
 *   on=plan|exec|all  which calls this group applies to (default all)
 *   retry_after=N   seconds for retry-after (429 default 1; other statuses
 *                   send it only when given); retry-after-ms = N*1000
 *   retry_after_ms=N  retry-after-ms exactly (and retry-after = ceil(N/1000))
 *   should_retry=true|false  send x-should-retry (overrides the SDKs' rules)
 *   malformed       200 whose body is not valid JSON
 *   drop            close the connection without answering
 *   bad_tool_args   tool calls with unusable arguments
 *   max_tokens      stop for max_tokens/length with a cut text, no tool call
 *   latency=MS      sleep MS milliseconds before answering
 *   loop            never finish: every execution call runs "echo turn <n>"
 *   empty           final answer with empty text, right away
 *   parallel        emit all remaining planned tool calls in one answer
 *   echo_system     text answers (no tool call) end with "\n\nSystem prompt:\n"
 *                   and the request's system prompt ("(none)" without one)
 *   recall          the final answer is "Recalled:\n", the text of every tool
 *                   result before U, one per line, then "Messages: N"
 *   hostile_text=SHAPE       text answers (no tool call): the text field holds
 *                            SHAPE as raw JSON instead of a string
 *   hostile_json_text=SHAPE  text answers: the text is the string
 *                            {"result":SHAPE} (valid JSON around, hostile inside)
 *   hostile_input=SHAPE      every tool-call argument value is SHAPE (Anthropic
 *                            input raw, OpenAI inside the arguments string)
 *   hostile_usage=SHAPE      every usage token count is SHAPE (raw)
 *   hostile_digits=N, hostile_depth=N  size of longint / deep
 *   huge=SIZE                text answers padded to SIZE bytes (K/M/G suffixes)
 *   result=JSON              the structured final answer (see structured.h); the
 *                            JSON may hold spaces and commas, not "]]"
 *   result_invalid_first=N   the first N structured answers fail the schema
 *   (SHAPE: bignum, negbignum, longint, deep; see hostile.h)
 *
 * `on` scopes its own group only; groups that apply to a call are merged in
 * order (later values win, flags add up).  Unknown keys or bad values are a
 * client error (400) so that a typo never passes silently.
 */
#ifndef MODELD_DIRECTIVES_H
#define MODELD_DIRECTIVES_H

#include "hostile.h"

#include <stdbool.h>
#include <stddef.h>

/* Which kind of call a request is. */
typedef enum {
    PHASE_PLAN = 0, /* no tools declared */
    PHASE_EXEC,     /* tools declared */
} phase_t;

/* Which calls a directive group applies to. */
typedef enum {
    ON_ALL = 0,
    ON_PLAN,
    ON_EXEC,
} dir_scope_t;

typedef struct directives {
    int status;          /* 0 = none */
    int fail_first;      /* 0 = every call */
    int retry_after_s;   /* -1 = not given */
    int retry_after_ms;  /* -1 = not given */
    int should_retry;    /* -1 = not given, 0 = false, 1 = true */
    int latency_ms;      /* 0 = none */
    bool malformed;
    bool drop;
    bool bad_tool_args;
    bool max_tokens;
    bool loop;
    bool empty;
    bool parallel;
    bool echo_system;
    bool recall;
    shape_t hostile_text;      /* SHAPE_NONE = not given */
    shape_t hostile_json_text;
    shape_t hostile_input;
    shape_t hostile_usage;
    int hostile_digits;        /* 0 = HOSTILE_DIGITS_DEFAULT */
    int hostile_depth;         /* 0 = HOSTILE_DEPTH_DEFAULT */
    long long huge;            /* bytes of text answers, 0 = normal */
    const char *result;        /* result=<JSON>: points into the prompt text, NULL if none */
    size_t result_len;
    int result_invalid_first;  /* the first N structured answers fail the schema */
} directives_t;

/* Parses every group of `text` that applies to `phase` into `out`.
 * Returns 0, or -1 with a message for the client in err. */
int directives_parse(const char *text, phase_t phase, directives_t *out, char *err,
                     size_t errsz);

/* Parses the groups of `text` as directives_parse does and merges them
 * into `out` as it stands (later values win, flags add up): the
 * directives of U after those of the first user message. */
int directives_parse_more(const char *text, phase_t phase, directives_t *out, char *err,
                          size_t errsz);

/* Largest huge=SIZE: 1 GiB. */
#define HUGE_MAX (1LL << 30)

/* True when some failure directive (status, malformed, drop) is present. */
bool directives_fail(const directives_t *d);

#endif
