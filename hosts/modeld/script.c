/* script.c - the deterministic answers (see script.h). */
#include "script.h"

#include "buf.h"
#include "codeblocks.h"
#include "ids.h"
#include "structured.h"
#include "textutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_TOOL "run_command"
#define WRITE_TOOL "write_file"

/* One planned tool call. */
typedef struct step {
    const char *name; /* RUN_TOOL, WRITE_TOOL, or a tool block's tool */
    json_t *input;
} step_t;

typedef struct steps {
    step_t *v;
    size_t n;
} steps_t;

/* Appends a step, stealing `input`.  Returns 0 or -1. */
static int steps_push(steps_t *s, const char *name, json_t *input)
{
    if (!input)
        return -1;
    step_t *v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v) {
        json_decref(input);
        return -1;
    }
    s->v = v;
    v[s->n].name = name;
    v[s->n].input = input;
    s->n++;
    return 0;
}

/* Frees the planned steps. */
static void steps_free(steps_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        json_decref(s->v[i].input);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Turns the code blocks into the planned tool calls. */
static int plan_steps(const code_blocks_t *b, steps_t *out)
{
    int py = 0;
    for (size_t i = 0; i < b->n; i++) {
        const code_block_t *blk = &b->v[i];
        if (blk->lang == BLOCK_SHELL) {
            if (steps_push(out, RUN_TOOL, json_pack("{s:s}", "command", blk->code)) < 0)
                return -1;
        } else if (blk->lang == BLOCK_PYTHON) {
            char path[64], cmd[96];
            snprintf(path, sizeof path, "/home/user/program_%d.py", ++py);
            snprintf(cmd, sizeof cmd, "python3 %s", path);
            if (steps_push(out, WRITE_TOOL,
                           json_pack("{s:s,s:s}", "path", path, "content", blk->code)) < 0 ||
                steps_push(out, RUN_TOOL, json_pack("{s:s}", "command", cmd)) < 0)
                return -1;
        } else if (blk->lang == BLOCK_TOOL) {
            /* checked by script_check: a named tool and a JSON object */
            if (steps_push(out, blk->tool, json_loads(blk->code, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) < 0)
                return -1;
        }
    }
    return 0;
}

/* The text whose blocks script this call: the first user message for a
 * planning call; for an execution call U, the latest user message with
 * text, when the conversation was continued (chat_prompt). */
static const char *script_prompt(const chat_t *c)
{
    return c->phase == PHASE_PLAN ? c->first_user : chat_prompt(c);
}

/* Checks every tool block: a tool name, and a JSON object as its input. */
int script_check(const chat_t *c, char *err, size_t errsz)
{
    code_blocks_t b;
    if (codeblocks_extract(script_prompt(c), &b) < 0) {
        snprintf(err, errsz, "modeld: out of memory");
        return -1;
    }
    int rc = 0, k = 0;
    for (size_t i = 0; i < b.n && rc == 0; i++) {
        const code_block_t *blk = &b.v[i];
        if (blk->lang != BLOCK_TOOL)
            continue;
        k++;
        if (!*blk->tool) {
            snprintf(err, errsz,
                     "modeld: tool block %d (line %d of the prompt) names no tool: its info "
                     "string must be \"tool NAME\"", k, blk->line);
            rc = -1;
            break;
        }
        json_error_t je;
        json_t *v = json_loads(blk->code, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (!v) {
            snprintf(err, errsz,
                     "modeld: tool block %d (```tool %s, line %d of the prompt): its input is not "
                     "valid JSON: %s (line %d, column %d of the block)",
                     k, blk->tool, blk->line, je.text, je.line, je.column);
            rc = -1;
        } else if (!json_is_object(v)) {
            snprintf(err, errsz,
                     "modeld: tool block %d (```tool %s, line %d of the prompt): its input must "
                     "be a JSON object", k, blk->tool, blk->line);
            rc = -1;
        }
        json_decref(v);
    }
    codeblocks_free(&b);
    return rc;
}

/* The planning answer: one numbered line per runnable block. */
static char *plan_text(const code_blocks_t *b)
{
    buf_t t;
    buf_init(&t);
    int n = 0;
    buf_puts(&t, "Plan:\n");
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].lang == BLOCK_SHELL)
            buf_printf(&t, "%d. Run the bash script\n", ++n);
        else if (b->v[i].lang == BLOCK_PYTHON)
            buf_printf(&t, "%d. Write and run the Python program\n", ++n);
        else if (b->v[i].lang == BLOCK_TOOL)
            buf_printf(&t, "%d. Call the tool %s\n", ++n, b->v[i].tool);
    }
    if (n)
        buf_printf(&t, "%d. Report the output\n", ++n);
    else
        buf_puts(&t, "1. Answer the request directly\n");
    return buf_steal(&t, NULL);
}

/* Adds one tool call to the reply (input is stolen). */
static int add_call(const chat_t *c, reply_t *r, const char *name, json_t *input)
{
    if (!input)
        return -1;
    tool_call_t *v = realloc(r->calls, (r->ncalls + 1) * sizeof *v);
    if (!v) {
        json_decref(input);
        return -1;
    }
    r->calls = v;
    tool_call_t *tc = &v[r->ncalls];
    memset(tc, 0, sizeof *tc);
    id_next(c->provider == PROVIDER_ANTHROPIC ? ID_TOOL_USE : ID_CALL, tc->id, sizeof tc->id);
    tc->input = input;
    if (!(tc->name = strdup(name))) {
        json_decref(input);
        return -1;
    }
    r->ncalls++;
    return 0;
}

/* Replaces the reply text with a formatted string.  Returns 0 or -1. */
static int set_text(reply_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* (definition of the above) */
static int set_text(reply_t *r, const char *fmt, ...)
{
    buf_t t;
    buf_init(&t);
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&t, fmt, ap);
    va_end(ap);
    free(r->text);
    r->text = buf_steal(&t, NULL);
    return (rc < 0 || !r->text) ? -1 : 0;
}

/* Final text for a missing tool; the caller keeps stop = end_turn. */
static int missing_tool(const chat_t *c, reply_t *r, const char *name, int step)
{
    buf_t decl;
    buf_init(&decl);
    for (size_t i = 0; i < c->ntools; i++)
        buf_printf(&decl, "%s%s", i ? ", " : "", c->tools[i]);
    int rc = set_text(r,
                      "I cannot continue: step %d needs the tool \"%s\", which this request "
                      "does not declare (declared: %s).",
                      step, name, decl.len ? buf_cstr(&decl) : "none");
    buf_free(&decl);
    return rc;
}

/* Execution answer for the `loop` directive: always one more command. */
static int exec_loop(const chat_t *c, reply_t *r)
{
    int n = c->tool_results + 1;
    if (!chat_has_tool(c, RUN_TOOL))
        return missing_tool(c, r, RUN_TOOL, n);
    char cmd[48];
    snprintf(cmd, sizeof cmd, "echo turn %d", n);
    r->stop = STOP_TOOL_USE;
    r->first_step = n;
    if (add_call(c, r, RUN_TOOL, json_pack("{s:s}", "command", cmd)) < 0)
        return -1;
    return set_text(r, "Running step %d.", n);
}

/* The final answer of `recall`: "Recalled:\n", the text of every tool
 * result before U, one per line, then "Messages: N". */
static int recall_text(const chat_t *c, reply_t *r)
{
    buf_t t;
    buf_init(&t);
    int rc = buf_puts(&t, "Recalled:\n");
    for (size_t i = 0; i < c->results_before && rc >= 0; i++)
        rc = buf_printf(&t, "%s\n", c->results[i]);
    if (rc >= 0)
        rc = buf_printf(&t, "Messages: %zu", c->nmessages);
    free(r->text);
    r->text = buf_steal(&t, NULL);
    return (rc < 0 || !r->text) ? -1 : 0;
}

/* Execution answer: the next planned call(s), or the final answer. */
static int exec_answer(const chat_t *c, const directives_t *d, const code_blocks_t *b,
                       reply_t *r)
{
    if (d->loop)
        return exec_loop(c, r);
    steps_t s = {0};
    int rc = plan_steps(b, &s);
    size_t done = c->tool_results > 0 ? (size_t)c->tool_results : 0;
    if (rc == 0 && done < s.n) {
        size_t last = d->parallel ? s.n : done + 1;
        for (size_t i = done; i < last; i++) {
            if (!chat_has_tool(c, s.v[i].name)) {
                rc = missing_tool(c, r, s.v[i].name, (int)i + 1);
                goto out;
            }
        }
        r->stop = STOP_TOOL_USE;
        r->first_step = (int)done + 1;
        for (size_t i = done; i < last && rc == 0; i++)
            rc = add_call(c, r, s.v[i].name, json_incref(s.v[i].input));
        if (rc == 0 && last - done > 1)
            rc = set_text(r, "Running steps %zu to %zu.", done + 1, last);
        else if (rc == 0)
            rc = set_text(r, "Running step %zu.", done + 1);
    } else if (rc == 0 && d->recall) {
        rc = recall_text(c, r);
    } else if (rc == 0 && c->last_result) {
        rc = set_text(r, "Done. The last tool returned:\n%s", c->last_result);
    } else if (rc == 0) {
        rc = set_text(r, "Done. The request has no bash or python code blocks, so there was "
                         "nothing to run.");
    }
out:
    steps_free(&s);
    return rc;
}

/* echo_system: the text answer ends with the request's system prompt. */
static int echo_system(const chat_t *c, reply_t *r)
{
    char *t = r->text;
    size_t len = strlen(t);
    const char *sep = !len ? "" : t[len - 1] == '\n' ? "\n" : "\n\n"; /* one blank line */
    r->text = NULL;
    int rc = set_text(r, "%s%sSystem prompt:\n%s", t, sep, c->system ? c->system : "(none)");
    free(t);
    return rc;
}

/* Deterministic token counts: request bytes / 4 in, answer bytes / 4 out
 * (text plus serialized tool inputs), at least 1 each. */
static void usage(const chat_t *c, reply_t *r)
{
    size_t out = strlen(r->text);
    for (size_t i = 0; i < r->ncalls; i++) {
        char *s = json_dumps(r->calls[i].input, JSON_COMPACT);
        if (s) {
            out += strlen(s) + strlen(r->calls[i].name);
            free(s);
        }
    }
    r->input_tokens = c->body_len / 4 > 0 ? (int)(c->body_len / 4) : 1;
    r->output_tokens = out / 4 > 0 ? (int)(out / 4) : 1;
}

/* Drops every tool call (for directives that force a text-only answer). */
static void drop_calls(reply_t *r)
{
    for (size_t i = 0; i < r->ncalls; i++) {
        free(r->calls[i].name);
        json_decref(r->calls[i].input);
    }
    free(r->calls);
    r->calls = NULL;
    r->ncalls = 0;
}

/* Applies the answer-shaping directives to a computed answer. */
static int shape(const directives_t *d, reply_t *r)
{
    if (d->empty) {
        drop_calls(r);
        r->stop = STOP_END_TURN;
        if (set_text(r, "%s", "") < 0)
            return -1;
    }
    if (d->max_tokens) {
        drop_calls(r);
        r->stop = STOP_MAX_TOKENS;
        char *half = text_half(r->text);
        if (!half)
            return -1;
        free(r->text);
        r->text = half;
    }
    if (d->bad_tool_args)
        for (size_t i = 0; i < r->ncalls; i++)
            r->calls[i].broken = true;
    return 0;
}

/* Pads the text to exactly `size` bytes with a repeated line (huge). */
static int pad_text(reply_t *r, long long size)
{
    static const char line[] = "modeld huge answer: padding up to the size the prompt asked.\n";
    size_t len = strlen(r->text), want = (size_t)size;
    if (len >= want)
        return 0;
    char *t = realloc(r->text, want + 1);
    if (!t)
        return -1;
    r->text = t;
    t[len++] = '\n';
    for (size_t k = 0; len < want; len++, k = (k + 1) % (sizeof line - 1))
        t[len] = line[k];
    t[want] = '\0';
    return 0;
}

/* Replaces every argument value of every tool call by the hostile_input
 * placeholder. */
static int hostile_inputs(reply_t *r)
{
    for (size_t i = 0; i < r->ncalls; i++) {
        json_t *in = json_object();
        if (!in)
            return -1;
        const char *k;
        json_t *v;
        json_object_foreach(r->calls[i].input, k, v)
            json_object_set_new(in, k, hostile_mark(RAW_INPUT));
        json_decref(r->calls[i].input);
        r->calls[i].input = in;
    }
    return 0;
}

/* Applies huge and the hostile_* directives.  Text answers are those
 * without a tool call (the plan, the final answer). */
static int hostile(const directives_t *d, reply_t *r)
{
    int digits = d->hostile_digits ? d->hostile_digits : HOSTILE_DIGITS_DEFAULT;
    int depth = d->hostile_depth ? d->hostile_depth : HOSTILE_DEPTH_DEFAULT;
    bool text_answer = r->ncalls == 0;
    if (text_answer && d->huge && pad_text(r, d->huge) < 0)
        return -1;
    if (text_answer && d->hostile_json_text) {
        char *v = shape_json(d->hostile_json_text, digits, depth);
        int rc = v ? set_text(r, "{\"result\":%s}", v) : -1;
        free(v);
        if (rc < 0)
            return -1;
    }
    if (text_answer && d->hostile_text &&
        !(r->raw[RAW_TEXT] = shape_json(d->hostile_text, digits, depth)))
        return -1;
    if (r->ncalls && d->hostile_input &&
        (!(r->raw[RAW_INPUT] = shape_json(d->hostile_input, digits, depth)) ||
         hostile_inputs(r) < 0))
        return -1;
    if (d->hostile_usage && !(r->raw[RAW_USAGE] = shape_json(d->hostile_usage, digits, depth)))
        return -1;
    return 0;
}

/* Computes the whole answer: content, directives, id and usage. */
int script_answer(const chat_t *c, const directives_t *d, reply_t *r)
{
    code_blocks_t b;
    if (codeblocks_extract(script_prompt(c), &b) < 0)
        return -1;
    r->stop = STOP_END_TURN;
    int rc;
    if (c->phase == PHASE_PLAN)
        rc = (r->text = plan_text(&b)) ? 0 : -1;
    else
        rc = exec_answer(c, d, &b, r);
    codeblocks_free(&b);
    if (rc == 0 && !r->text)
        rc = set_text(r, "%s", "");
    if (rc == 0 && d->echo_system && r->ncalls == 0)
        rc = echo_system(c, r);
    if (rc == 0)
        rc = structured_apply(c, d, r);
    if (rc == 0)
        rc = shape(d, r);
    if (rc == 0)
        rc = hostile(d, r);
    if (rc < 0)
        return -1;
    id_next(c->provider == PROVIDER_ANTHROPIC ? ID_MESSAGE : ID_COMPLETION, r->id, sizeof r->id);
    usage(c, r);
    return 0;
}
