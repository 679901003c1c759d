/*-------------------------------------------------------------------------
 *
 * llm.h
 *	  The LLM protocols: Anthropic Messages and OpenAI chat completions
 *	  (which vLLM, Ollama, llama.cpp and LM Studio also speak), reduced to
 *	  what the agent needs: a conversation, tools, an answer that is text
 *	  and/or tool calls, and token usage.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SANDBOX_LLM_H
#define SANDBOX_LLM_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"

#include "call_error.h"
#include "http.h"
#include "sandbox.h"

typedef enum LlmStop
{
	LLM_STOP_END,				/* the model finished its answer */
	LLM_STOP_TOOL_USE,			/* it wants tools run */
	LLM_STOP_MAX_TOKENS,		/* cut at max_tokens */
	LLM_STOP_OTHER				/* refusal, content filter, unknown */
} LlmStop;

typedef struct LlmToolCall
{
	char	   *id;
	char	   *name;
	Jsonb	   *input;			/* NULL when the arguments are not JSON */
	char	   *raw_arguments;	/* as sent (OpenAI: a JSON string) */
} LlmToolCall;

typedef struct LlmAnswer
{
	LlmStop		stop;
	char	   *stop_reason;	/* the provider's word */
	char	   *text;			/* concatenated text blocks */
	List	   *tool_calls;		/* of LlmToolCall * */
	int64		input_tokens;	/* not read from or written to a cache */
	int64		output_tokens;
	int64		cache_read_tokens;	/* input read from the provider's cache */
	int64		cache_write_tokens; /* input written to it (Anthropic) */
	char	   *model;
	char	   *assistant_json; /* the assistant turn, to append unchanged */
} LlmAnswer;

/* A conversation in the provider's own message format. */
typedef struct LlmConversation
{
	LlmProvider provider;
	StringInfoData messages;	/* JSON array elements, comma-separated */
	int			nmessages;
	int			cache_mark;		/* Anthropic: where the last user message's last
								 * block closes (a cache breakpoint goes there),
								 * or -1 */
} LlmConversation;

extern void llm_conversation_init(LlmConversation *c, LlmProvider provider);
extern void llm_add_user_text(LlmConversation *c, const char *text);
extern void llm_conversation_truncate(LlmConversation *c, int n, int len);
extern void llm_add_assistant(LlmConversation *c, const LlmAnswer *a);
extern void llm_add_tool_results(LlmConversation *c, List *results, const char *note);

/* One tool's outcome, to send back. */
typedef struct LlmToolResult
{
	char	   *tool_call_id;
	char	   *content;
	bool		is_error;
} LlmToolResult;

/* A tool the model may call: its name, what it does, its JSON Schema. */
typedef struct LlmToolDecl
{
	const char *name;
	const char *description;
	const char *schema;
} LlmToolDecl;

/* What a structured final answer needs of a request (or NULLs). */
typedef struct LlmResultAsk
{
	const char *force_tool;		/* Anthropic: tool_choice that tool */
	const char *json_schema;	/* OpenAI: response_format json_schema */
} LlmResultAsk;

extern HttpRequest *llm_request(LlmProvider provider, const char *model, const char *system,
								LlmConversation *c, List *tools, const LlmResultAsk *ask);
extern bool llm_parse(LlmProvider provider, HttpRequest *req, LlmAnswer *a, CallError *err);
extern const char *llm_provider_name(LlmProvider p);

#endif							/* SANDBOX_LLM_H */
