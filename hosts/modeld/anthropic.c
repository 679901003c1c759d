/* anthropic.c - Anthropic request validation and answers (see anthropic.h). */
#include "anthropic.h"

#include "buf.h"
#include "cache.h"
#include "structured.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERR(...) (snprintf(err, errsz, __VA_ARGS__), -1)

/* Checks the anthropic-version header; stores whether it is the 2026 one. */
static int check_version(httpd_req_t *req, bool *v2026, char *err, size_t errsz)
{
    const char *v = httpd_header(req, "anthropic-version");
    if (!v)
        return ERR("anthropic-version: header is required");
    if (strcmp(v, "2023-06-01") == 0) {
        *v2026 = false;
        return 0;
    }
    if (strcmp(v, "2026-10-21") == 0) {
        *v2026 = true;
        return 0;
    }
    return ERR("anthropic-version: unsupported version '%s' (modeld accepts 2023-06-01 and "
               "2026-10-21)", v);
}

/* Checks model, max_tokens, stream and the sampling parameters. */
static int check_params(json_t *body, bool v2026, chat_t *c, char *err, size_t errsz)
{
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(model) || !json_string_length(model))
        return ERR("model: Field required (a non-empty string)");
    json_t *mt = json_object_get(body, "max_tokens");
    if (!mt)
        return ERR("max_tokens: Field required");
    if (!json_is_integer(mt) || json_integer_value(mt) < 1)
        return ERR("max_tokens: must be a positive integer");
    if (v2026) {
        static const char *removed[] = {"temperature", "top_p", "top_k"};
        for (size_t i = 0; i < 3; i++)
            if (json_object_get(body, removed[i]))
                return ERR("%s: not supported with anthropic-version 2026-10-21", removed[i]);
    }
    json_t *stream = json_object_get(body, "stream");
    if (stream && !json_is_boolean(stream))
        return ERR("stream: Input should be a valid boolean");
    c->stream = json_is_true(stream);
    json_t *system = json_object_get(body, "system");
    if (system && !json_is_string(system) && !json_is_array(system))
        return ERR("system: Input should be a string or an array of text blocks");
    if (system && !(c->system = chat_content_text(system)))
        return ERR("out of memory");
    if (!(c->model = strdup(json_string_value(model))))
        return ERR("out of memory");
    return 0;
}

/* Records the declared tool names; a non-empty list makes this an
 * execution call. */
static int check_tools(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *tools = json_object_get(body, "tools");
    if (!tools || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return ERR("tools: Input should be a valid list");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!json_is_object(t) || !name || !*name)
            return ERR("tools.%zu.name: Field required", i);
        if (chat_add_tool(c, name) < 0)
            return ERR("out of memory");
    }
    c->phase = c->ntools ? PHASE_EXEC : PHASE_PLAN;
    return 0;
}

/* Adds `id` to the comma-separated list `ids` (for error messages). */
static void list_add(buf_t *ids, const char *id)
{
    buf_printf(ids, "%s%s", ids->len ? ", " : "", id);
}

/* Validates the blocks of an assistant message and collects its tool_use
 * ids into `pending` (a JSON object used as a set). */
static int check_assistant(json_t *content, size_t mi, json_t *pending, char *err, size_t errsz)
{
    if (!json_is_array(content))
        return 0;
    size_t bi;
    json_t *blk;
    json_array_foreach(content, bi, blk) {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (strcmp(type, "tool_result") == 0)
            return ERR("messages.%zu.content.%zu: tool_result blocks are only allowed in user "
                       "messages", mi, bi);
        if (strcmp(type, "tool_use") != 0)
            continue;
        const char *id = json_string_value(json_object_get(blk, "id"));
        if (!id || !*id)
            return ERR("messages.%zu.content.%zu.id: Field required", mi, bi);
        if (!json_string_value(json_object_get(blk, "name")))
            return ERR("messages.%zu.content.%zu.name: Field required", mi, bi);
        if (!json_is_object(json_object_get(blk, "input")))
            return ERR("messages.%zu.content.%zu.input: Input should be an object", mi, bi);
        if (json_object_get(pending, id))
            return ERR("messages.%zu.content.%zu: duplicate tool_use id %s", mi, bi, id);
        json_object_set_new(pending, id, json_true());
    }
    return 0;
}

/* Validates the tool_result blocks of a user message against the tool_use
 * ids of the assistant message before it (`pending`, emptied as results
 * arrive), counts them and keeps the text of the last one. */
static int check_results(json_t *content, size_t mi, json_t *pending, chat_t *c, char *err,
                         size_t errsz)
{
    if (!json_is_array(content))
        return 0;
    bool other_seen = false;
    size_t bi;
    json_t *blk;
    json_array_foreach(content, bi, blk) {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (strcmp(type, "tool_use") == 0)
            return ERR("messages.%zu.content.%zu: tool_use blocks are only allowed in assistant "
                       "messages", mi, bi);
        if (strcmp(type, "tool_result") != 0) {
            other_seen = true;
            continue;
        }
        const char *id = json_string_value(json_object_get(blk, "tool_use_id"));
        if (!id || !*id)
            return ERR("messages.%zu.content.%zu.tool_use_id: Field required", mi, bi);
        if (other_seen)
            return ERR("messages.%zu.content.%zu: tool_result blocks must come first in the "
                       "user message content, before any other block", mi, bi);
        if (!json_object_get(pending, id))
            return ERR("messages.%zu.content.%zu: unexpected tool_use_id found in tool_result "
                       "blocks: %s. Each tool_result block must have a corresponding tool_use "
                       "block in the previous message.", mi, bi, id);
        json_object_del(pending, id);
        if (chat_add_result(c, chat_content_text(json_object_get(blk, "content"))) < 0)
            return ERR("out of memory");
    }
    return 0;
}

/* Reports tool_use ids of message `mi` that got no tool_result. */
static int unanswered(json_t *pending, size_t mi, char *err, size_t errsz)
{
    if (!json_object_size(pending))
        return 0;
    buf_t ids;
    buf_init(&ids);
    const char *id;
    json_t *v;
    json_object_foreach(pending, id, v)
        list_add(&ids, id);
    snprintf(err, errsz,
             "messages.%zu: tool_use ids were found without tool_result blocks immediately "
             "after: %s. Each tool_use block must have a corresponding tool_result block in the "
             "next message.", mi, buf_cstr(&ids));
    buf_free(&ids);
    return -1;
}

/* Checks one message's shape: role and content. */
static int check_shape(json_t *m, size_t mi, const char **role, char *err, size_t errsz)
{
    if (!json_is_object(m))
        return ERR("messages.%zu: Input should be an object", mi);
    *role = json_string_value(json_object_get(m, "role"));
    if (!*role || (strcmp(*role, "user") != 0 && strcmp(*role, "assistant") != 0))
        return ERR("messages.%zu.role: Input should be 'user' or 'assistant'", mi);
    json_t *content = json_object_get(m, "content");
    if (json_is_string(content))
        return 0;
    if (!json_is_array(content))
        return ERR("messages.%zu.content: Input should be a string or a list of content blocks",
                   mi);
    size_t bi;
    json_t *blk;
    json_array_foreach(content, bi, blk)
        if (!json_is_object(blk) || !json_is_string(json_object_get(blk, "type")))
            return ERR("messages.%zu.content.%zu.type: Field required", mi, bi);
    return 0;
}

/* A user message that carries text (a candidate for U, the user turn that
 * drives the call): a string content, or at least one text block and no
 * tool_result block. */
static bool carries_text(json_t *content)
{
    if (json_is_string(content))
        return true;
    bool text = false;
    size_t bi;
    json_t *blk;
    json_array_foreach(content, bi, blk) {
        const char *type = json_string_value(json_object_get(blk, "type"));
        if (strcmp(type, "tool_result") == 0)
            return false;
        if (strcmp(type, "text") == 0)
            text = true;
    }
    return text;
}

/* Walks the conversation: shapes, alternation, tool_use/tool_result
 * pairing; finds the first user message's text, U (the last user message
 * that carries text, when it is not the first) and the tool results. */
static int check_messages(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *msgs = json_object_get(body, "messages");
    if (!msgs)
        return ERR("messages: Field required");
    if (!json_is_array(msgs))
        return ERR("messages: Input should be a valid list");
    if (!json_array_size(msgs))
        return ERR("messages: at least one message is required");
    json_t *pending = json_object();
    if (!pending)
        return ERR("out of memory");
    int rc = 0;
    const char *prev_role = NULL;
    size_t mi;
    json_t *m;
    json_array_foreach(msgs, mi, m) {
        const char *role;
        if ((rc = check_shape(m, mi, &role, err, errsz)) < 0)
            break;
        json_t *content = json_object_get(m, "content");
        if (mi == 0 && strcmp(role, "user") != 0) {
            rc = ERR("messages.0.role: the first message must use the \"user\" role");
            break;
        }
        if (prev_role && strcmp(role, prev_role) == 0) {
            rc = ERR("messages.%zu: roles must alternate between \"user\" and \"assistant\", but "
                     "found multiple \"%s\" roles in a row", mi, role);
            break;
        }
        prev_role = role;
        if (strcmp(role, "assistant") == 0) {
            if ((rc = check_assistant(content, mi, pending, err, errsz)) < 0)
                break;
            continue;
        }
        if ((rc = check_results(content, mi, pending, c, err, errsz)) < 0 ||
            (rc = unanswered(pending, mi - 1, err, errsz)) < 0)
            break;
        if (mi == 0 && !(c->first_user = chat_content_text(content))) {
            rc = ERR("out of memory");
            break;
        }
        if (mi > 0 && carries_text(content) && chat_user_text(c, content) < 0) {
            rc = ERR("out of memory");
            break;
        }
    }
    if (rc == 0)
        rc = unanswered(pending, json_array_size(msgs) - 1, err, errsz);
    c->nmessages = json_array_size(msgs);
    chat_settle(c);
    json_decref(pending);
    return rc;
}

/* Adds one prefix item with its breakpoint; a string content is one text
 * block (so the string and the block forms of a prompt cache alike). */
static int prefix_item(chat_t *c, const char *tag, json_t *item, const char *where, int *nbreak,
                       bool *seen_5m, char *err, size_t errsz)
{
    int ttl = 0;
    json_t *block = NULL;
    if (json_is_string(item))
        item = block = json_pack("{s:s,s:O}", "type", "text", "text", item);
    else if (cache_control_parse(json_object_get(item, "cache_control"), where, &ttl, err,
                                 errsz) < 0)
        return -1;
    if (ttl == CACHE_TTL_1H && *seen_5m) {
        json_decref(block);
        return ERR("%s.cache_control.ttl: a ttl='1h' cache_control cannot come after a "
                   "ttl='5m' one (tools, then system, then messages)", where);
    }
    if (ttl) {
        (*nbreak)++;
        *seen_5m |= ttl == CACHE_TTL_5M;
    }
    int rc = item ? cache_add_item(c, tag, item, ttl) : -1;
    json_decref(block);
    return rc < 0 ? ERR("out of memory") : 0;
}

/* The prompt's prefix points for caching: tools, system blocks, message
 * blocks; breakpoints from cache_control (at most 4, top-level included). */
static int build_prefix(httpd_req_t *req, json_t *body, chat_t *c, char *err, size_t errsz)
{
    const char *key = httpd_header(req, "x-api-key");
    const char *auth = httpd_header(req, "authorization");
    if (!key && auth && strncasecmp(auth, "Bearer ", 7) == 0)
        key = auth + 7;
    cache_begin(c, key);
    int nbreak = 0;
    bool seen_5m = false;
    char where[64];
    size_t i, j;
    json_t *v, *blk;
    json_array_foreach(json_object_get(body, "tools"), i, v) {
        snprintf(where, sizeof where, "tools.%zu", i);
        if (prefix_item(c, "tool", v, where, &nbreak, &seen_5m, err, errsz) < 0)
            return -1;
    }
    json_t *system = json_object_get(body, "system");
    if (json_is_string(system) &&
        prefix_item(c, "system", system, "system", &nbreak, &seen_5m, err, errsz) < 0)
        return -1;
    json_array_foreach(system, i, v) {
        snprintf(where, sizeof where, "system.%zu", i);
        if (prefix_item(c, "system", v, where, &nbreak, &seen_5m, err, errsz) < 0)
            return -1;
    }
    json_array_foreach(json_object_get(body, "messages"), i, v) {
        const char *role = json_string_value(json_object_get(v, "role"));
        json_t *content = json_object_get(v, "content");
        snprintf(where, sizeof where, "messages.%zu.content", i);
        if (json_is_string(content) &&
            prefix_item(c, role, content, where, &nbreak, &seen_5m, err, errsz) < 0)
            return -1;
        json_array_foreach(content, j, blk) {
            snprintf(where, sizeof where, "messages.%zu.content.%zu", i, j);
            if (prefix_item(c, role, blk, where, &nbreak, &seen_5m, err, errsz) < 0)
                return -1;
        }
    }
    int ttl;
    if (cache_control_parse(json_object_get(body, "cache_control"), "body", &ttl, err, errsz) < 0)
        return -1;
    if (ttl && c->nprefix && !c->prefix[c->nprefix - 1].ttl) {
        if (ttl == CACHE_TTL_1H && seen_5m)
            return ERR("cache_control.ttl: a ttl='1h' cache_control cannot come after a "
                       "ttl='5m' one (the top-level one marks the last block)");
        c->prefix[c->nprefix - 1].ttl = ttl;
        nbreak++;
    }
    if (nbreak > 4)
        return ERR("A maximum of 4 blocks with cache_control may be provided. Found %d.", nbreak);
    return 0;
}

/* Validates a /v1/messages request and reduces it to a chat_t. */
static int anthropic_parse(httpd_req_t *req, json_t *body, chat_t *c, char *err, size_t errsz)
{
    bool v2026 = false;
    c->provider = PROVIDER_ANTHROPIC;
    if (check_version(req, &v2026, err, errsz) < 0 || check_params(body, v2026, c, err, errsz) < 0 ||
        check_tools(body, c, err, errsz) < 0 || check_messages(body, c, err, errsz) < 0 ||
        build_prefix(req, body, c, err, errsz) < 0 || structured_parse(body, c, err, errsz) < 0)
        return -1;
    if (!c->first_user && !(c->first_user = strdup("")))
        return ERR("out of memory");
    return 0;
}

/* Maps the neutral stop kind to Anthropic's stop_reason. */
const char *anthropic_stop_reason(stop_t s)
{
    switch (s) {
    case STOP_TOOL_USE: return "tool_use";
    case STOP_MAX_TOKENS: return "max_tokens";
    default: return "end_turn";
    }
}

/* The usage object: Usage (message, message_start) or, with `delta`,
 * MessageDeltaUsage (message_delta), with every field the SDK types
 * declare. */
json_t *anthropic_usage(const reply_t *r, bool delta)
{
    int write = r->cache_write_5m + r->cache_write_1h;
    json_t *u = json_object();
    json_object_set_new(u, "input_tokens", reply_usage_num(r, reply_uncached_input(r)));
    json_object_set_new(u, "cache_creation_input_tokens", reply_usage_num(r, write));
    json_object_set_new(u, "cache_read_input_tokens", reply_usage_num(r, r->cache_read));
    json_object_set_new(u, "output_tokens", reply_usage_num(r, r->output_tokens));
    json_object_set_new(u, "output_tokens_details", json_null());
    json_object_set_new(u, "server_tool_use", json_null());
    if (!delta) {
        json_object_set_new(u, "cache_creation",
                            json_pack("{s:o,s:o}", "ephemeral_5m_input_tokens",
                                      reply_usage_num(r, r->cache_write_5m),
                                      "ephemeral_1h_input_tokens",
                                      reply_usage_num(r, r->cache_write_1h)));
        json_object_set_new(u, "service_tier", json_string("standard"));
        json_object_set_new(u, "inference_geo", json_null());
        json_object_set_new(u, "speed", json_null());
    }
    return u;
}

/* The complete Message object. */
static json_t *anthropic_render(const chat_t *c, const reply_t *r)
{
    json_t *content = json_array();
    if (r->text[0] || !r->ncalls || r->raw[RAW_TEXT])
        json_array_append_new(content, json_pack("{s:s,s:o}", "type", "text", "text",
                                                 reply_text_value(r)));
    for (size_t i = 0; i < r->ncalls; i++) {
        const tool_call_t *tc = &r->calls[i];
        json_array_append_new(content,
                              json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", tc->id,
                                        "name", tc->name, "input",
                                        tc->broken ? json_object() : json_incref(tc->input)));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:o}", "id", r->id, "type", "message", "role",
                     "assistant", "model", c->model, "content", content, "stop_reason",
                     anthropic_stop_reason(r->stop), "stop_sequence", "usage",
                     anthropic_usage(r, false));
}

const provider_ops_t anthropic_ops = {
    .id = PROVIDER_ANTHROPIC,
    .name = "anthropic",
    .parse = anthropic_parse,
    .render = anthropic_render,
    .stream = anthropic_stream,
    .malformed_json = "{\"id\":\"msg_malformed\",\"type\":\"message\",\"content\":[{\"type\":\"text\",",
    .malformed_sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\n\n",
};
