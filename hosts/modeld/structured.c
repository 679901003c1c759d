/* structured.c - structured final answers (see structured.h). */
#include "structured.h"

#include "conv.h"
#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR(...) (snprintf(err, errsz, __VA_ARGS__), -1)
#define FINAL_RESULT_TOOL "final_result"
/* Mixed into the conversation key so that these counters never meet
 * fail_first's. */
#define RESULT_SALT 0x5354525543545552ULL

/* The declared tool named `name` (Anthropic {name, input_schema}, OpenAI
 * {type, function: {name, parameters}}), or NULL. */
static json_t *find_tool(json_t *body, provider_t p, const char *name, json_t **schema)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(body, "tools"), i, t) {
        json_t *fn = p == PROVIDER_OPENAI ? json_object_get(t, "function") : t;
        const char *n = json_string_value(json_object_get(fn, "name"));
        if (n && strcmp(n, name) == 0) {
            *schema = json_object_get(fn, p == PROVIDER_OPENAI ? "parameters" : "input_schema");
            return t;
        }
    }
    return NULL;
}

/* Anthropic tool_choice: {"type":"auto"|"any"|"none"} or {"type":"tool","name":N}. */
static int anthropic_choice(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *tc = json_object_get(body, "tool_choice");
    if (!tc || json_is_null(tc))
        return 0;
    const char *type = json_string_value(json_object_get(tc, "type"));
    if (!json_is_object(tc) || !type)
        return ERR("tool_choice.type: Field required");
    if (strcmp(type, "tool") != 0) {
        if (strcmp(type, "auto") && strcmp(type, "any") && strcmp(type, "none"))
            return ERR("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
        return 0;
    }
    const char *name = json_string_value(json_object_get(tc, "name"));
    if (!name || !*name)
        return ERR("tool_choice.name: Field required");
    json_t *schema = NULL;
    if (!find_tool(body, c->provider, name, &schema))
        return ERR("tool_choice: Tool '%s' not found in the declared tools", name);
    if (!(c->force_tool = strdup(name)))
        return ERR("out of memory");
    c->result_schema = json_incref(schema);
    return 0;
}

/* OpenAI tool_choice ("none", "auto", "required" or a named function) and
 * response_format ({"type":"text"|"json_object"|"json_schema",...}). */
static int openai_choice(json_t *body, chat_t *c, char *err, size_t errsz)
{
    json_t *tc = json_object_get(body, "tool_choice");
    if (json_is_object(tc)) {
        const char *name =
            json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        if (!name || !*name)
            return ERR("Missing required parameter: 'tool_choice.function.name'");
        json_t *schema = NULL;
        if (!find_tool(body, c->provider, name, &schema))
            return ERR("Invalid value for 'tool_choice': function '%s' is not among the tools",
                       name);
        if (!(c->force_tool = strdup(name)))
            return ERR("out of memory");
        c->result_schema = json_incref(schema);
    } else if (tc && !json_is_null(tc) && !json_is_string(tc)) {
        return ERR("Invalid type for 'tool_choice': expected a string or an object");
    }
    json_t *rf = json_object_get(body, "response_format");
    if (!rf || json_is_null(rf))
        return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type)
        return ERR("Missing required parameter: 'response_format.type'");
    if (strcmp(type, "json_schema") != 0) {
        if (strcmp(type, "text") && strcmp(type, "json_object"))
            return ERR("Invalid value for 'response_format.type': expected 'text', "
                       "'json_object' or 'json_schema'");
        return 0;
    }
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js))
        return ERR("Missing required parameter: 'response_format.json_schema'");
    if (!json_string_value(json_object_get(js, "name")))
        return ERR("Missing required parameter: 'response_format.json_schema.name'");
    json_t *schema = json_object_get(js, "schema");
    if (schema && !json_is_object(schema))
        return ERR("Invalid type for 'response_format.json_schema.schema': expected an object");
    c->json_schema = true;
    if (!c->result_schema)
        c->result_schema = json_incref(schema);
    return 0;
}

int structured_parse(json_t *body, chat_t *c, char *err, size_t errsz)
{
    int rc = c->provider == PROVIDER_OPENAI ? openai_choice(body, c, err, errsz)
                                            : anthropic_choice(body, c, err, errsz);
    json_t *schema = NULL;
    if (rc == 0 && !c->result_schema && find_tool(body, c->provider, FINAL_RESULT_TOOL, &schema))
        c->result_schema = json_incref(schema);
    return rc;
}

/* A value the schema rejects (see structured.h). */
static json_t *invalid_value(const json_t *schema)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!json_is_object(schema) || json_array_size(json_object_get(schema, "required")) ||
        (type && strcmp(type, "object") != 0))
        return json_object();
    return json_pack("{s:b}", "modeld_invalid", 1);
}

/* The structured value of this answer: result=, or {"text": final text};
 * the invalid one for the first result_invalid_first answers. */
static json_t *result_value(const chat_t *c, const directives_t *d, const char *text)
{
    if (d->result_invalid_first > 0) {
        int64_t n = conv_next(conv_key(c->first_user, true) ^ RESULT_SALT);
        if (n <= d->result_invalid_first)
            return invalid_value(c->result_schema);
    }
    if (d->result && d->result_len)
        return json_loadb(d->result, d->result_len, JSON_DECODE_ANY, NULL);
    return json_pack("{s:s}", "text", text);
}

/* Replaces the text (copy). */
static int set_text(reply_t *r, const char *s)
{
    char *t = strdup(s);
    if (!t)
        return -1;
    free(r->text);
    r->text = t;
    return 0;
}

int structured_apply(const chat_t *c, const directives_t *d, reply_t *r)
{
    const char *tool = NULL;
    bool forced = false;
    if (c->force_tool) {
        if (r->ncalls == 1 && strcmp(r->calls[0].name, c->force_tool) == 0)
            return 0; /* the planned call is the forced tool itself */
        tool = c->force_tool;
        forced = true;
    } else if (c->phase == PHASE_EXEC && r->ncalls == 0 && r->stop == STOP_END_TURN &&
               chat_has_tool(c, FINAL_RESULT_TOOL)) {
        tool = FINAL_RESULT_TOOL;
    }
    if (!tool && !(c->json_schema && r->ncalls == 0))
        return 0;
    json_t *v = result_value(c, d, r->text);
    if (!v)
        return -1;
    if (!tool) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(v);
        if (!s)
            return -1;
        free(r->text);
        r->text = s;
        return 0;
    }
    if (!json_is_object(v)) {
        json_t *w = json_pack("{s:o}", "result", v);
        if (!w)
            return -1;
        v = w;
    }
    if (forced) {
        for (size_t i = 0; i < r->ncalls; i++) {
            free(r->calls[i].name);
            json_decref(r->calls[i].input);
        }
        r->ncalls = 0;
        if (set_text(r, "") < 0) {
            json_decref(v);
            return -1;
        }
    }
    tool_call_t *calls = realloc(r->calls, (r->ncalls + 1) * sizeof *calls);
    if (!calls) {
        json_decref(v);
        return -1;
    }
    r->calls = calls;
    tool_call_t *tc = &calls[r->ncalls];
    memset(tc, 0, sizeof *tc);
    id_next(c->provider == PROVIDER_ANTHROPIC ? ID_TOOL_USE : ID_CALL, tc->id, sizeof tc->id);
    tc->input = v;
    if (!(tc->name = strdup(tool))) {
        json_decref(v);
        return -1;
    }
    r->ncalls++;
    r->stop = STOP_TOOL_USE;
    r->first_step = c->tool_results + 1;
    return 0;
}
