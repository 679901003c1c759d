/* chat.c - chat_t/reply_t helpers (see chat.h). */
#include "chat.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

/* Linear search: requests declare a handful of tools. */
bool chat_has_tool(const chat_t *c, const char *name)
{
    for (size_t i = 0; i < c->ntools; i++)
        if (strcmp(c->tools[i], name) == 0)
            return true;
    return false;
}

/* Grows the tool-name array by one copied name. */
int chat_add_tool(chat_t *c, const char *name)
{
    char **v = realloc(c->tools, (c->ntools + 1) * sizeof *v);
    if (!v)
        return -1;
    c->tools = v;
    if (!(v[c->ntools] = strdup(name)))
        return -1;
    c->ntools++;
    return 0;
}

/* Joins with what came before: "a\nb". */
int chat_append_system(chat_t *c, json_t *content)
{
    char *t = chat_content_text(content);
    if (!t)
        return -1;
    if (!c->system) {
        c->system = t;
        return 0;
    }
    buf_t b;
    buf_init(&b);
    int rc = buf_printf(&b, "%s\n%s", c->system, t);
    free(t);
    if (rc < 0) {
        buf_free(&b);
        return -1;
    }
    free(c->system);
    c->system = buf_steal(&b, NULL);
    return c->system ? 0 : -1;
}

int chat_add_result(chat_t *c, char *text)
{
    if (!text)
        return -1;
    char **v = realloc(c->results, (c->nresults + 1) * sizeof *v);
    if (!v) {
        free(text);
        return -1;
    }
    c->results = v;
    v[c->nresults++] = text;
    return 0;
}

int chat_user_text(chat_t *c, json_t *content)
{
    char *t = chat_content_text(content);
    if (!t)
        return -1;
    free(c->latest_user);
    c->latest_user = t;
    c->results_before = c->nresults;
    return 0;
}

void chat_settle(chat_t *c)
{
    c->tool_results = (int)(c->nresults - c->results_before);
    c->last_result = c->tool_results > 0 ? c->results[c->nresults - 1] : NULL;
}

const char *chat_prompt(const chat_t *c)
{
    return c->latest_user ? c->latest_user : c->first_user;
}

/* Releases every string the parser allocated. */
void chat_free(chat_t *c)
{
    free(c->model);
    free(c->first_user);
    free(c->latest_user);
    for (size_t i = 0; i < c->nresults; i++)
        free(c->results[i]);
    free(c->results);
    free(c->system);
    for (size_t i = 0; i < c->ntools; i++)
        free(c->tools[i]);
    free(c->tools);
    free(c->prefix);
    free(c->force_tool);
    json_decref(c->result_schema);
    memset(c, 0, sizeof *c);
}

/* Releases the text and the tool calls. */
void reply_free(reply_t *r)
{
    free(r->text);
    for (size_t i = 0; i < r->ncalls; i++) {
        free(r->calls[i].name);
        json_decref(r->calls[i].input);
    }
    free(r->calls);
    for (int i = 0; i < RAW_NSLOTS; i++)
        free(r->raw[i]);
    memset(r, 0, sizeof *r);
}

int reply_uncached_input(const reply_t *r)
{
    return r->input_tokens - r->cache_read - r->cache_write_5m - r->cache_write_1h;
}

json_t *reply_usage_num(const reply_t *r, long long n)
{
    return r->raw[RAW_USAGE] ? hostile_mark(RAW_USAGE) : json_integer(n);
}

json_t *reply_text_value(const reply_t *r)
{
    return r->raw[RAW_TEXT] ? hostile_mark(RAW_TEXT) : json_string(r->text);
}

char *reply_dumps(const reply_t *r, const json_t *v)
{
    return hostile_dumps(v, r->raw);
}

/* Joins text parts; non-text parts (images, documents) contribute nothing. */
char *chat_content_text(json_t *content)
{
    if (json_is_string(content))
        return strdup(json_string_value(content));
    buf_t t;
    buf_init(&t);
    int n = 0;
    if (json_is_array(content)) {
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part) {
            const char *type = json_string_value(json_object_get(part, "type"));
            const char *text = json_string_value(json_object_get(part, "text"));
            if (type && strcmp(type, "text") == 0 && text) {
                if ((n++ && buf_puts(&t, "\n") < 0) || buf_puts(&t, text) < 0) {
                    buf_free(&t);
                    return NULL;
                }
            }
        }
    }
    return buf_steal(&t, NULL);
}
