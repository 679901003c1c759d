/*-------------------------------------------------------------------------
 *
 * llm.c
 *	  Building LLM requests and reading their answers, for Anthropic's
 *	  Messages API and OpenAI-compatible chat completions.  See
 *	  ../shared/docs/llm-protocol.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "json_util.h"
#include "llm.h"

#define ANTHROPIC_VERSION "2023-06-01"

/*
 * llm_provider_name names a provider as sandbox.llm_provider spells it.
 */
const char *
llm_provider_name(LlmProvider p)
{
	return p == LLM_PROVIDER_ANTHROPIC ? "anthropic" : "openai";
}

/*
 * llm_conversation_init starts an empty conversation in the current memory
 * context.
 */
void
llm_conversation_init(LlmConversation *c, LlmProvider provider)
{
	c->provider = provider;
	initStringInfo(&c->messages);
	c->nmessages = 0;
	c->cache_mark = -1;
}

/*
 * llm_conversation_truncate forgets the messages after the first n: a run
 * whose sandbox was lost while the model was thinking takes back its last
 * tool results, to send them again with a note.
 */
void
llm_conversation_truncate(LlmConversation *c, int n, int len)
{
	Assert(n <= c->nmessages && len <= c->messages.len);
	c->nmessages = n;
	c->messages.len = len;
	c->messages.data[len] = '\0';
	c->cache_mark = -1;		/* what follows sets it again */
}

/*
 * append_message adds one message (JSON text) to the conversation.
 */
static void
append_message(LlmConversation *c, const char *json)
{
	if (c->nmessages++ > 0)
		appendStringInfoChar(&c->messages, ',');
	appendStringInfoString(&c->messages, json);
}

/*
 * append_user_blocks appends an Anthropic user turn whose content blocks
 * are in blocks (comma-separated objects), and marks where its last block
 * closes: a cache breakpoint may go there.
 */
static void
append_user_blocks(LlmConversation *c, const char *blocks)
{
	StringInfoData m;

	initStringInfo(&m);
	appendStringInfo(&m, "{\"role\":\"user\",\"content\":[%s]}", blocks);
	append_message(c, m.data);
	/* the text ends with "}]}": the block closes three bytes before the end */
	c->cache_mark = c->messages.len - 3;
}

/*
 * llm_add_user_text appends a user turn of plain text.
 */
void
llm_add_user_text(LlmConversation *c, const char *text)
{
	StringInfoData m;
	bool		first = true;

	initStringInfo(&m);
	appendStringInfoChar(&m, '{');
	if (c->provider == LLM_PROVIDER_ANTHROPIC)
	{
		json_append_kv_string(&m, &first, "type", "text");
		json_append_kv_string(&m, &first, "text", text);
		appendStringInfoChar(&m, '}');
		append_user_blocks(c, m.data);
		return;
	}
	json_append_kv_string(&m, &first, "role", "user");
	json_append_kv_string(&m, &first, "content", text);
	appendStringInfoChar(&m, '}');
	append_message(c, m.data);
}

/*
 * llm_add_assistant appends the model's turn exactly as it answered, as
 * both APIs require before tool results.
 */
void
llm_add_assistant(LlmConversation *c, const LlmAnswer *a)
{
	append_message(c, a->assistant_json);
	c->cache_mark = -1;
}

/*
 * llm_add_tool_results appends the results of the last turn's tool calls:
 * for Anthropic one user turn of tool_result blocks, for OpenAI one tool
 * message per call.  A note (or NULL), such as "your sandbox was lost",
 * follows them: a text block of the same user turn for Anthropic (whose
 * roles must alternate), a user message for OpenAI.
 */
void
llm_add_tool_results(LlmConversation *c, List *results, const char *note)
{
	ListCell   *lc;

	if (c->provider == LLM_PROVIDER_ANTHROPIC)
	{
		StringInfoData m;
		bool		firstblock = true;

		initStringInfo(&m);
		foreach(lc, results)
		{
			LlmToolResult *r = lfirst(lc);
			bool		first = true;

			if (!firstblock)
				appendStringInfoChar(&m, ',');
			firstblock = false;
			appendStringInfoChar(&m, '{');
			json_append_kv_string(&m, &first, "type", "tool_result");
			json_append_kv_string(&m, &first, "tool_use_id", r->tool_call_id);
			json_append_kv_string(&m, &first, "content", r->content);
			if (r->is_error)
				json_append_kv_raw(&m, &first, "is_error", "true");
			appendStringInfoChar(&m, '}');
		}
		if (note)
		{
			bool		first = true;

			if (!firstblock)
				appendStringInfoChar(&m, ',');
			appendStringInfoChar(&m, '{');
			json_append_kv_string(&m, &first, "type", "text");
			json_append_kv_string(&m, &first, "text", note);
			appendStringInfoChar(&m, '}');
		}
		append_user_blocks(c, m.data);
		return;
	}
	foreach(lc, results)
	{
		LlmToolResult *r = lfirst(lc);
		StringInfoData m;
		bool		first = true;

		initStringInfo(&m);
		appendStringInfoChar(&m, '{');
		json_append_kv_string(&m, &first, "role", "tool");
		json_append_kv_string(&m, &first, "tool_call_id", r->tool_call_id);
		json_append_kv_string(&m, &first, "content", r->content);
		appendStringInfoChar(&m, '}');
		append_message(c, m.data);
	}
	if (note)
		llm_add_user_text(c, note);
}

#define CACHE_CONTROL "{\"type\":\"ephemeral\"}"

/*
 * append_tools writes the tools the model may call, in the provider's
 * format.
 */
static void
append_tools(StringInfo b, LlmProvider provider, List *tools, bool cache)
{
	ListCell   *lc;

	appendStringInfoChar(b, '[');
	foreach(lc, tools)
	{
		LlmToolDecl *t = lfirst(lc);
		bool		first = true;

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(b, ',');
		appendStringInfoChar(b, '{');
		if (provider == LLM_PROVIDER_ANTHROPIC)
		{
			json_append_kv_string(b, &first, "name", t->name);
			json_append_kv_string(b, &first, "description", t->description);
			json_append_kv_raw(b, &first, "input_schema", t->schema);
			/* the tools never change within a run: cache them */
			if (cache && lnext(tools, lc) == NULL)
				json_append_kv_raw(b, &first, "cache_control", CACHE_CONTROL);
		}
		else
		{
			json_append_kv_string(b, &first, "type", "function");
			json_append_kv_raw(b, &first, "function", "");
			appendStringInfoChar(b, '{');
			first = true;
			json_append_kv_string(b, &first, "name", t->name);
			json_append_kv_string(b, &first, "description", t->description);
			json_append_kv_raw(b, &first, "parameters", t->schema);
			appendStringInfoChar(b, '}');
		}
		appendStringInfoChar(b, '}');
	}
	appendStringInfoChar(b, ']');
}

/*
 * is_openai_cloud tells whether the base URL is OpenAI's own API, which
 * wants max_completion_tokens; compatible servers read max_tokens.
 */
static bool
is_openai_cloud(const char *url)
{
	return strstr(url, "api.openai.com") != NULL;
}

/*
 * llm_request builds one call: the system prompt, the conversation so far,
 * and (for execution turns) the tools.
 */
HttpRequest *
llm_request(LlmProvider provider, const char *model, const char *system,
			LlmConversation *c, List *tools, const LlmResultAsk *ask)
{
	const char *base = sandbox_llm_url();
	const char *key = sandbox_llm_key();
	char	   *trimmed = pstrdup(base);
	size_t		n = strlen(trimmed);
	StringInfoData b;
	bool		first = true;
	HttpRequest *req;
	char	   *body;
	size_t		len;
	/* the planning call (no tools) shares no prefix with the turns: not cached */
	bool		cache = provider == LLM_PROVIDER_ANTHROPIC && sandbox_llm_prompt_caching &&
		tools != NIL;

	while (n > 0 && trimmed[n - 1] == '/')
		trimmed[--n] = '\0';

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_append_kv_string(&b, &first, "model", model);
	if (provider == LLM_PROVIDER_ANTHROPIC)
	{
		json_append_kv_int(&b, &first, "max_tokens", sandbox_llm_max_tokens);
		if (cache)
		{
			/*
			 * Prompt caching: breakpoints after the system prompt, the tools
			 * and the conversation so far, so each turn reads the previous
			 * one's prefix from the cache (3 of the 4 allowed).
			 */
			bool		sfirst = true;

			json_append_kv_raw(&b, &first, "system", "");
			appendStringInfoString(&b, "[{");
			json_append_kv_string(&b, &sfirst, "type", "text");
			json_append_kv_string(&b, &sfirst, "text", system);
			json_append_kv_raw(&b, &sfirst, "cache_control", CACHE_CONTROL);
			appendStringInfoString(&b, "}]");
		}
		else
			json_append_kv_string(&b, &first, "system", system);
		json_append_kv_raw(&b, &first, "messages", "");
		if (cache && c->cache_mark >= 0)
			appendStringInfo(&b, "[%.*s,\"cache_control\":" CACHE_CONTROL "%s]",
							 c->cache_mark, c->messages.data, c->messages.data + c->cache_mark);
		else
			appendStringInfo(&b, "[%s]", c->messages.data);
	}
	else
	{
		StringInfoData sys;
		bool		sfirst = true;

		initStringInfo(&sys);
		appendStringInfoChar(&sys, '{');
		json_append_kv_string(&sys, &sfirst, "role", "system");
		json_append_kv_string(&sys, &sfirst, "content", system);
		appendStringInfoChar(&sys, '}');
		json_append_kv_int(&b, &first, is_openai_cloud(trimmed) ? "max_completion_tokens" : "max_tokens",
						   sandbox_llm_max_tokens);
		json_append_kv_raw(&b, &first, "messages", "");
		appendStringInfo(&b, "[%s%s%s]", sys.data, c->nmessages ? "," : "", c->messages.data);
	}
	if (tools != NIL)
	{
		json_append_kv_raw(&b, &first, "tools", "");
		append_tools(&b, provider, tools, cache);
	}
	if (ask && ask->force_tool && provider == LLM_PROVIDER_ANTHROPIC)
	{
		bool		tfirst = true;

		json_append_kv_raw(&b, &first, "tool_choice", "");
		appendStringInfoChar(&b, '{');
		json_append_kv_string(&b, &tfirst, "type", "tool");
		json_append_kv_string(&b, &tfirst, "name", ask->force_tool);
		appendStringInfoChar(&b, '}');
	}
	if (ask && ask->json_schema && provider == LLM_PROVIDER_OPENAI)
		json_append_kv_raw(&b, &first, "response_format",
						   psprintf("{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"final_result\",\"schema\":%s}}",
									ask->json_schema));
	appendStringInfoChar(&b, '}');
	body = json_body_to_utf8(&b, &len);

	if (provider == LLM_PROVIDER_ANTHROPIC)
	{
		req = http_request_new("POST", psprintf("%s/v1/messages", trimmed));
		if (key && key[0])
			http_add_header(req, "x-api-key", key);
		http_add_header(req, "anthropic-version", ANTHROPIC_VERSION);
	}
	else
	{
		req = http_request_new("POST", psprintf("%s/chat/completions", trimmed));
		if (key && key[0])
		{
			char	   *bearer = psprintf("Bearer %s", key);

			http_add_header(req, "Authorization", bearer);
			memset(bearer, 0, strlen(bearer));
		}
	}
	http_add_header(req, "Content-Type", "application/json");
	http_add_header(req, "Accept", "application/json");
	http_set_body(req, body, len);
	http_set_timeouts(req, sandbox_connect_timeout, sandbox_llm_timeout, 0);
	/* a 60 MB answer must not cost the worker gigabytes */
	req->max_body = (size_t) sandbox_max_llm_response_bytes;
	return req;
}

/*
 * text_of_content concatenates the text of an OpenAI content value, which
 * may be a string, null, or an array of parts.
 */
static char *
text_of_content(JsonbValue *v)
{
	StringInfoData s;
	JsonbContainer *arr;

	if (v == NULL || v->type == jbvNull)
		return pstrdup("");
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	arr = json_value_container(v);
	initStringInfo(&s);
	for (int i = 0; i < jarr_length(arr); i++)
	{
		char	   *t = json_get_string(json_value_container(jarr_get(arr, i)), "text");

		if (t)
			appendStringInfoString(&s, t);
	}
	return s.data;
}

/*
 * parse_anthropic reads a Messages answer.
 */
static bool
parse_anthropic(JsonbContainer *root, LlmAnswer *a, CallError *err)
{
	JsonbContainer *content = json_get_array(root, "content");
	JsonbContainer *usage = json_get_object(root, "usage");
	StringInfoData text;
	StringInfoData assistant;
	bool		first = true;

	if (content == NULL)
	{
		call_error_set(err, CALL_PROTOCOL, "the answer has no content array");
		return false;
	}
	initStringInfo(&text);
	for (int i = 0; i < jarr_length(content); i++)
	{
		JsonbContainer *blk = json_value_container(jarr_get(content, i));
		char	   *type = json_get_string(blk, "type");

		if (type == NULL)
			continue;
		if (strcmp(type, "text") == 0)
		{
			char	   *t = json_get_string(blk, "text");

			if (t)
				appendStringInfoString(&text, t);
		}
		else if (strcmp(type, "tool_use") == 0)
		{
			LlmToolCall *tc = palloc0(sizeof(LlmToolCall));
			JsonbValue *input = json_get(blk, "input");

			tc->id = json_get_string(blk, "id");
			tc->name = json_get_string(blk, "name");
			if (input && input->type == jbvBinary && json_is_object(input->val.binary.data))
			{
				tc->input = JsonbValueToJsonb(input);
				tc->raw_arguments = JsonbToCString(NULL, &tc->input->root, 64);
			}
			if (tc->id == NULL || tc->name == NULL)
			{
				call_error_set(err, CALL_PROTOCOL, "a tool_use block has no id or name");
				return false;
			}
			a->tool_calls = lappend(a->tool_calls, tc);
		}
	}
	a->text = text.data;
	a->stop_reason = json_get_string(root, "stop_reason");
	if (a->stop_reason == NULL)
		a->stop_reason = pstrdup("");
	if (strcmp(a->stop_reason, "max_tokens") == 0)
		a->stop = LLM_STOP_MAX_TOKENS;
	else if (a->tool_calls != NIL)
		a->stop = LLM_STOP_TOOL_USE;
	else if (strcmp(a->stop_reason, "end_turn") == 0 || strcmp(a->stop_reason, "stop_sequence") == 0)
		a->stop = LLM_STOP_END;
	else
		a->stop = LLM_STOP_OTHER;
	if (usage)
	{
		(void) json_get_int64(usage, "input_tokens", &a->input_tokens);
		(void) json_get_int64(usage, "output_tokens", &a->output_tokens);
		(void) json_get_int64(usage, "cache_read_input_tokens", &a->cache_read_tokens);
		(void) json_get_int64(usage, "cache_creation_input_tokens", &a->cache_write_tokens);
	}
	initStringInfo(&assistant);
	appendStringInfoChar(&assistant, '{');
	json_append_kv_string(&assistant, &first, "role", "assistant");
	json_append_kv_raw(&assistant, &first, "content", JsonbToCString(NULL, content, 256));
	appendStringInfoChar(&assistant, '}');
	a->assistant_json = assistant.data;
	return true;
}

/*
 * parse_openai reads a chat completion.
 */
static bool
parse_openai(JsonbContainer *root, LlmAnswer *a, CallError *err)
{
	JsonbContainer *choices = json_get_array(root, "choices");
	JsonbContainer *choice = choices ? json_value_container(jarr_get(choices, 0)) : NULL;
	JsonbContainer *msg = json_get_object(choice, "message");
	JsonbContainer *calls = json_get_array(msg, "tool_calls");
	JsonbContainer *usage = json_get_object(root, "usage");
	JsonbValue *content;
	StringInfoData assistant;
	bool		first = true;

	if (msg == NULL)
	{
		call_error_set(err, CALL_PROTOCOL, "the answer has no choices[0].message");
		return false;
	}
	content = json_get(msg, "content");
	a->text = text_of_content(content);
	for (int i = 0; i < jarr_length(calls); i++)
	{
		JsonbContainer *c = json_value_container(jarr_get(calls, i));
		JsonbContainer *fn = json_get_object(c, "function");
		LlmToolCall *tc = palloc0(sizeof(LlmToolCall));
		Jsonb	   *args;

		tc->id = json_get_string(c, "id");
		tc->name = json_get_string(fn, "name");
		tc->raw_arguments = json_get_string(fn, "arguments");
		if (tc->id == NULL || tc->name == NULL)
		{
			call_error_set(err, CALL_PROTOCOL, "a tool call has no id or function name");
			return false;
		}
		args = tc->raw_arguments ? json_parse_cstring(tc->raw_arguments) : NULL;
		if (args && json_is_object(json_root(args)))
			tc->input = args;
		a->tool_calls = lappend(a->tool_calls, tc);
	}
	a->stop_reason = json_get_string(choice, "finish_reason");
	if (a->stop_reason == NULL)
		a->stop_reason = pstrdup("");
	if (strcmp(a->stop_reason, "length") == 0)
		a->stop = LLM_STOP_MAX_TOKENS;
	else if (a->tool_calls != NIL)
		a->stop = LLM_STOP_TOOL_USE;
	else if (strcmp(a->stop_reason, "stop") == 0)
		a->stop = LLM_STOP_END;
	else
		a->stop = LLM_STOP_OTHER;
	if (usage)
	{
		JsonbContainer *details = json_get_object(usage, "prompt_tokens_details");

		(void) json_get_int64(usage, "prompt_tokens", &a->input_tokens);
		(void) json_get_int64(usage, "completion_tokens", &a->output_tokens);
		/* OpenAI counts cached input inside prompt_tokens: apart here */
		if (details && json_get_int64(details, "cached_tokens", &a->cache_read_tokens) &&
			a->cache_read_tokens > 0 && a->cache_read_tokens <= a->input_tokens)
			a->input_tokens -= a->cache_read_tokens;
		else
			a->cache_read_tokens = 0;
	}
	initStringInfo(&assistant);
	appendStringInfoChar(&assistant, '{');
	json_append_kv_string(&assistant, &first, "role", "assistant");
	if (content && content->type == jbvString)
		json_append_kv_string(&assistant, &first, "content", a->text);
	else
		json_append_kv_raw(&assistant, &first, "content", "null");
	if (calls)
		json_append_kv_raw(&assistant, &first, "tool_calls", JsonbToCString(NULL, calls, 256));
	appendStringInfoChar(&assistant, '}');
	a->assistant_json = assistant.data;
	return true;
}

/*
 * llm_parse reads a finished LLM call into *a, or fills err.
 */
bool
llm_parse(LlmProvider provider, HttpRequest *req, LlmAnswer *a, CallError *err)
{
	Jsonb	   *j;
	JsonbContainer *root;

	memset(a, 0, sizeof(*a));
	if (call_error_from_http(req, SERVICE_LLM, err))
		return false;
	j = json_parse(http_data(req), http_data_len(req));
	root = json_root(j);
	if (!json_is_object(root))
	{
		call_error_set(err, CALL_PROTOCOL, "the LLM's answer could not be read (%s): %s",
					   j ? "it is not a JSON object" : json_parse_error(),
					   sandbox_truncate_for_message(http_data(req), http_data_len(req), 200));
		return false;
	}
	/* an error inside a 200 answer */
	if (json_get_object(root, "error") != NULL)
	{
		JsonbContainer *e = json_get_object(root, "error");
		char	   *m = json_get_string(e, "message");

		call_error_set(err, CALL_SERVER, "%s", m ? m : "the answer is an error");
		return false;
	}
	a->model = json_get_string(root, "model");
	if (provider == LLM_PROVIDER_ANTHROPIC)
		return parse_anthropic(root, a, err);
	return parse_openai(root, a, err);
}
