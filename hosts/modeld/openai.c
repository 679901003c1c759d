/* openai.c - OpenAI request validation and answers (see openai.h). */
#include "openai.h"

#include "buf.h"
#include "cache.h"
#include "structured.h"
#include "textutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ERR(...) (snprintf(err, errsz, __VA_ARGS__), -1)

/* Checks model, stream options and token limits. */
static int check_params(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(model) || !json_string_length(model))
        return ERR("you must provide a model parameter");
    static const char *limits[] = {"max_tokens", "max_completion_tokens"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(body, limits[i]);
        if (v && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 1))
            return ERR("Invalid '%s': expected a positive integer", limits[i]);
    }
    json_t *stream = json_object_get(body, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream))
        return ERR("Invalid type for 'stream': expected a boolean");
    c->stream = json_is_true(stream);
    json_t *so = json_object_get(body, "stream_options");
    c->include_usage = json_is_true(json_object_get(so, "include_usage"));
    if (!(c->model = strdup(json_string_value(model))))
        return ERR("out of memory");
    return 0;
}

/* Records the declared function names. */
static int check_tools(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *tools = json_object_get(body, "tools");
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return ERR("Invalid type for 'tools': expected an array");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *name = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (!type || strcmp(type, "function") != 0)
            return ERR("Invalid value for 'tools[%zu].type': expected 'function'", i);
        if (!name || !*name)
            return ERR("Missing required parameter: 'tools[%zu].function.name'", i);
        if (chat_add_tool(c, name) < 0)
            return ERR("out of memory");
    }
    c->phase = c->ntools ? PHASE_EXEC : PHASE_PLAN;
    return 0;
}

/* Validates an assistant message's tool_calls and adds their ids to
 * `pending` (a JSON object used as a set). */
static int check_tool_calls(json_t *m, size_t mi, json_t *pending, char *err, size_t errsz)
{
    json_t *calls = json_object_get(m, "tool_calls");
    if (!calls || json_is_null(calls))
        return 0;
    if (!json_is_array(calls))
        return ERR("Invalid type for 'messages[%zu].tool_calls': expected an array", mi);
    size_t ci;
    json_t *tc;
    json_array_foreach(calls, ci, tc) {
        const char *id = json_string_value(json_object_get(tc, "id"));
        const char *type = json_string_value(json_object_get(tc, "type"));
        json_t *fn = json_object_get(tc, "function");
        if (!id || !*id)
            return ERR("Missing required parameter: 'messages[%zu].tool_calls[%zu].id'", mi, ci);
        if (!type || strcmp(type, "function") != 0)
            return ERR("Invalid value for 'messages[%zu].tool_calls[%zu].type': expected "
                       "'function'", mi, ci);
        if (!json_string_value(json_object_get(fn, "name")))
            return ERR("Missing required parameter: 'messages[%zu].tool_calls[%zu].function.name'",
                       mi, ci);
        if (!json_is_string(json_object_get(fn, "arguments")))
            return ERR("Invalid type for 'messages[%zu].tool_calls[%zu].function.arguments': "
                       "expected a string", mi, ci);
        json_object_set_new(pending, id, json_true());
    }
    return 0;
}

/* Reports tool_call ids that no tool message answered before message mi. */
static int unanswered(json_t *pending, size_t mi, char *err, size_t errsz)
{
    if (!json_object_size(pending))
        return 0;
    buf_t ids;
    buf_init(&ids);
    const char *id;
    json_t *v;
    json_object_foreach(pending, id, v)
        buf_printf(&ids, "%s%s", ids.len ? ", " : "", id);
    snprintf(err, errsz,
             "messages[%zu]: an assistant message with 'tool_calls' must be followed by tool "
             "messages responding to each 'tool_call_id'. The following tool_call_ids did not "
             "have response messages: %s", mi, buf_cstr(&ids));
    buf_free(&ids);
    return -1;
}

/* Checks one role=tool message against the pending ids, counts it and
 * keeps its text. */
static int check_tool_msg(json_t *m, size_t mi, json_t *pending, chat_t *c, char *err,
                          size_t errsz)
{
    const char *id = json_string_value(json_object_get(m, "tool_call_id"));
    if (!id)
        return ERR("Missing required parameter: 'messages[%zu].tool_call_id'", mi);
    if (!json_object_get(pending, id))
        return ERR("Invalid parameter: messages[%zu] with role 'tool' must be a response to a "
                   "preceding message with 'tool_calls' (tool_call_id '%s' is not pending)",
                   mi, id);
    json_object_del(pending, id);
    json_t *content = json_object_get(m, "content");
    if (!json_is_string(content) && !json_is_array(content))
        return ERR("Invalid type for 'messages[%zu].content': expected a string or an array", mi);
    if (chat_add_result(c, chat_content_text(content)) < 0)
        return ERR("out of memory");
    return 0;
}

/* Walks the messages: roles, contents, tool_call pairing, the first user
 * text, U (the last user message, when it is not the first) and the tool
 * results. */
static int check_messages(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *msgs = json_object_get(body, "messages");
    if (!msgs)
        return ERR("Missing required parameter: 'messages'");
    if (!json_is_array(msgs))
        return ERR("Invalid type for 'messages': expected an array");
    if (!json_array_size(msgs))
        return ERR("Invalid 'messages': empty array. Expected an array with minimum length 1");
    json_t *pending = json_object();
    if (!pending)
        return ERR("out of memory");
    static const char *roles[] = {"system", "developer", "user", "assistant", "tool", "function"};
    int rc = 0;
    size_t mi;
    json_t *m;
    json_array_foreach(msgs, mi, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        size_t r = 0;
        while (role && r < 6 && strcmp(role, roles[r]) != 0)
            r++;
        if (!json_is_object(m) || !role || r == 6) {
            rc = ERR("Invalid value for 'messages[%zu].role': expected one of system, developer, "
                     "user, assistant, tool", mi);
            break;
        }
        if (strcmp(role, "tool") == 0) {
            if ((rc = check_tool_msg(m, mi, pending, c, err, errsz)) < 0)
                break;
            continue;
        }
        if ((rc = unanswered(pending, mi, err, errsz)) < 0)
            break;
        json_t *content = json_object_get(m, "content");
        if (strcmp(role, "assistant") == 0) {
            if (content && !json_is_null(content) && !json_is_string(content) &&
                !json_is_array(content)) {
                rc = ERR("Invalid type for 'messages[%zu].content': expected a string, an array "
                         "or null", mi);
                break;
            }
            if ((rc = check_tool_calls(m, mi, pending, err, errsz)) < 0)
                break;
            continue;
        }
        if (!json_is_string(content) && !json_is_array(content)) {
            rc = ERR("Invalid type for 'messages[%zu].content': expected a string or an array", mi);
            break;
        }
        if (strcmp(role, "user") == 0) {
            /* the first user message, or a later one: U (the latest wins) */
            int urc = c->first_user ? chat_user_text(c, content)
                                    : (c->first_user = chat_content_text(content)) ? 0 : -1;
            if (urc < 0) {
                rc = ERR("out of memory");
                break;
            }
        }
        if ((strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) &&
            chat_append_system(c, content) < 0) {
            rc = ERR("out of memory");
            break;
        }
    }
    if (rc == 0)
        rc = unanswered(pending, json_array_size(msgs), err, errsz);
    c->nmessages = json_array_size(msgs);
    chat_settle(c);
    json_decref(pending);
    return rc;
}

/* The prompt's prefix points for automatic caching: each tool, then each
 * message. */
static int build_prefix(httpd_req_t *req, json_t *body, chat_t *c, char *err, size_t errsz)
{
    const char *auth = httpd_header(req, "authorization");
    cache_begin(c, auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "tools"), i, v)
        if (cache_add_item(c, "tool", v, 0) < 0)
            return ERR("out of memory");
    json_array_foreach(json_object_get(body, "messages"), i, v)
        if (cache_add_item(c, "message", v, 0) < 0)
            return ERR("out of memory");
    return 0;
}

/* Validates a /v1/chat/completions request and reduces it to a chat_t. */
static int openai_parse(httpd_req_t *req, json_t *body, chat_t *c, char *err, size_t errsz)
{
    c->provider = PROVIDER_OPENAI;
    if (check_params(body, c, err, errsz) < 0 || check_tools(body, c, err, errsz) < 0 ||
        check_messages(body, c, err, errsz) < 0 || build_prefix(req, body, c, err, errsz) < 0 ||
        structured_parse(body, c, err, errsz) < 0)
        return -1;
    if (!c->first_user && !(c->first_user = strdup("")))
        return ERR("out of memory");
    return 0;
}

/* Maps the neutral stop kind to OpenAI's finish_reason. */
const char *openai_finish_reason(stop_t s)
{
    switch (s) {
    case STOP_TOOL_USE: return "tool_calls";
    case STOP_MAX_TOKENS: return "length";
    default: return "stop";
    }
}

/* Serializes the input (with hostile_input's raw values); a broken call
 * keeps only the first half, which can never parse (the closing brace is
 * always cut off). */
char *openai_arguments(const reply_t *r, const tool_call_t *tc)
{
    char *s = reply_dumps(r, tc->input);
    if (!s || !tc->broken)
        return s;
    size_t len = strlen(s);
    size_t n = utf8_cut(s, len, len / 2 > 0 ? len / 2 : 1);
    s[n] = '\0';
    return s;
}

/* CompletionUsage with the details the API sends. */
json_t *openai_usage(const reply_t *r)
{
    return json_pack("{s:o,s:o,s:o,s:{s:o,s:o},s:{s:o,s:o,s:o,s:o}}", "prompt_tokens",
                     reply_usage_num(r, r->input_tokens), "completion_tokens",
                     reply_usage_num(r, r->output_tokens), "total_tokens",
                     reply_usage_num(r, (long long)r->input_tokens + r->output_tokens),
                     "prompt_tokens_details", "cached_tokens", reply_usage_num(r, r->cache_read),
                     "audio_tokens", reply_usage_num(r, 0), "completion_tokens_details",
                     "reasoning_tokens", reply_usage_num(r, 0), "audio_tokens",
                     reply_usage_num(r, 0), "accepted_prediction_tokens", reply_usage_num(r, 0),
                     "rejected_prediction_tokens", reply_usage_num(r, 0));
}

/* The complete chat.completion object. */
static json_t *openai_render(const chat_t *c, const reply_t *r)
{
    json_t *msg = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
                            reply_text_value(r), "refusal");
    if (r->ncalls) {
        json_t *calls = json_array();
        for (size_t i = 0; i < r->ncalls; i++) {
            char *args = openai_arguments(r, &r->calls[i]);
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", r->calls[i].id,
                                                   "type", "function", "function", "name",
                                                   r->calls[i].name, "arguments", args ? args : ""));
            free(args);
        }
        json_object_set_new(msg, "tool_calls", calls);
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:s}],s:o,s:s}", "id", r->id, "object",
                     "chat.completion", "created", (json_int_t)time(NULL), "model", c->model,
                     "choices", "index", 0, "message", msg, "logprobs", "finish_reason",
                     openai_finish_reason(r->stop), "usage", openai_usage(r),
                     "system_fingerprint", "modeld");
}

const provider_ops_t openai_ops = {
    .id = PROVIDER_OPENAI,
    .name = "openai",
    .parse = openai_parse,
    .render = openai_render,
    .stream = openai_stream,
    .malformed_json = "{\"id\":\"chatcmpl-malformed\",\"object\":\"chat.completion\",\"choices\":[{",
    .malformed_sse = "data: {\"id\":\"chatcmpl-malformed\",\"object\":\"chat.completion.chunk\",\"choices\":[{\n\n",
};
