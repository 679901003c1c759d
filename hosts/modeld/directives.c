/* directives.c - [[modeld: ...]] parsing (see directives.h). */
#include "directives.h"

#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN_TAG "[[modeld:"
#define CLOSE_TAG "]]"

/* Resets a directive set to "no directives". */
static void dir_init(directives_t *d)
{
    memset(d, 0, sizeof *d);
    d->retry_after_s = -1;
    d->retry_after_ms = -1;
    d->should_retry = -1;
}

/* Parses a non-negative decimal integer in [lo, hi]; returns 0 or -1. */
static int parse_int(const char *v, int lo, int hi, int *out)
{
    if (!v || !*v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

/* Parses a size: decimal bytes with an optional K, M or G suffix (binary
 * units, either case), in [1, HUGE_MAX].  Returns 0 or -1. */
static int parse_size(const char *v, long long *out)
{
    if (!v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (errno || n < 1)
        return -1;
    int shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end || n > (HUGE_MAX >> shift))
        return -1;
    *out = n << shift;
    return 0;
}

/* Applies one key[=value] token to a group; `scope` receives `on`.
 * Returns 0 or -1 with a message in err. */
static int apply_token(const char *key, const char *val, directives_t *d, dir_scope_t *scope,
                       char *err, size_t errsz)
{
    /* Flags: no value allowed. */
    static const struct {
        const char *name;
        size_t off;
    } flags[] = {
        {"malformed", offsetof(directives_t, malformed)},
        {"drop", offsetof(directives_t, drop)},
        {"bad_tool_args", offsetof(directives_t, bad_tool_args)},
        {"max_tokens", offsetof(directives_t, max_tokens)},
        {"loop", offsetof(directives_t, loop)},
        {"empty", offsetof(directives_t, empty)},
        {"parallel", offsetof(directives_t, parallel)},
        {"echo_system", offsetof(directives_t, echo_system)},
        {"recall", offsetof(directives_t, recall)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        if (strcmp(key, flags[i].name) == 0) {
            if (val) {
                snprintf(err, errsz, "modeld directive '%s' takes no value", key);
                return -1;
            }
            *(bool *)((char *)d + flags[i].off) = true;
            return 0;
        }
    }
    /* Integer keys. */
    static const struct {
        const char *name;
        size_t off;
        int lo, hi;
    } ints[] = {
        {"status", offsetof(directives_t, status), 400, 599},
        {"fail_first", offsetof(directives_t, fail_first), 1, INT_MAX},
        {"retry_after", offsetof(directives_t, retry_after_s), 0, 86400},
        {"retry_after_ms", offsetof(directives_t, retry_after_ms), 0, 86400000},
        {"latency", offsetof(directives_t, latency_ms), 0, 600000},
        {"hostile_digits", offsetof(directives_t, hostile_digits), 1, HOSTILE_SIZE_MAX},
        {"hostile_depth", offsetof(directives_t, hostile_depth), 1, HOSTILE_SIZE_MAX},
        {"result_invalid_first", offsetof(directives_t, result_invalid_first), 1, INT_MAX},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (strcmp(key, ints[i].name) == 0) {
            if (parse_int(val, ints[i].lo, ints[i].hi, (int *)((char *)d + ints[i].off)) < 0) {
                snprintf(err, errsz, "modeld directive '%s' needs an integer in [%d, %d], got '%s'",
                         key, ints[i].lo, ints[i].hi, val ? val : "");
                return -1;
            }
            return 0;
        }
    }
    /* Hostile shapes. */
    static const struct {
        const char *name;
        size_t off;
    } shapes[] = {
        {"hostile_text", offsetof(directives_t, hostile_text)},
        {"hostile_json_text", offsetof(directives_t, hostile_json_text)},
        {"hostile_input", offsetof(directives_t, hostile_input)},
        {"hostile_usage", offsetof(directives_t, hostile_usage)},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        if (strcmp(key, shapes[i].name) == 0) {
            shape_t s = shape_parse(val);
            if (s == SHAPE_NONE) {
                snprintf(err, errsz,
                         "modeld directive '%s' must be bignum, negbignum, longint or deep, "
                         "got '%s'", key, val ? val : "");
                return -1;
            }
            *(shape_t *)((char *)d + shapes[i].off) = s;
            return 0;
        }
    }
    if (strcmp(key, "huge") == 0) {
        if (parse_size(val, &d->huge) < 0) {
            snprintf(err, errsz,
                     "modeld directive 'huge' needs a size in [1, 1G] (bytes, or with a K, M or "
                     "G suffix), got '%s'", val ? val : "");
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "should_retry") == 0) {
        if (val && strcmp(val, "true") == 0)
            d->should_retry = 1;
        else if (val && strcmp(val, "false") == 0)
            d->should_retry = 0;
        else {
            snprintf(err, errsz, "modeld directive 'should_retry' must be true or false");
            return -1;
        }
        return 0;
    }
    if (strcmp(key, "on") == 0) {
        if (val && strcmp(val, "plan") == 0)
            *scope = ON_PLAN;
        else if (val && strcmp(val, "exec") == 0)
            *scope = ON_EXEC;
        else if (val && strcmp(val, "all") == 0)
            *scope = ON_ALL;
        else {
            snprintf(err, errsz, "modeld directive 'on' must be plan, exec or all");
            return -1;
        }
        return 0;
    }
    snprintf(err, errsz, "unknown modeld directive '%s'", key);
    return -1;
}

/* Merges a parsed group into the result: set integers and flags win. */
static void merge(directives_t *out, const directives_t *g)
{
    if (g->status)
        out->status = g->status;
    if (g->fail_first)
        out->fail_first = g->fail_first;
    if (g->retry_after_s >= 0)
        out->retry_after_s = g->retry_after_s;
    if (g->retry_after_ms >= 0)
        out->retry_after_ms = g->retry_after_ms;
    if (g->should_retry >= 0)
        out->should_retry = g->should_retry;
    if (g->latency_ms)
        out->latency_ms = g->latency_ms;
    out->malformed |= g->malformed;
    out->drop |= g->drop;
    out->bad_tool_args |= g->bad_tool_args;
    out->max_tokens |= g->max_tokens;
    out->loop |= g->loop;
    out->empty |= g->empty;
    out->parallel |= g->parallel;
    out->echo_system |= g->echo_system;
    out->recall |= g->recall;
    if (g->hostile_text)
        out->hostile_text = g->hostile_text;
    if (g->hostile_json_text)
        out->hostile_json_text = g->hostile_json_text;
    if (g->hostile_input)
        out->hostile_input = g->hostile_input;
    if (g->hostile_usage)
        out->hostile_usage = g->hostile_usage;
    if (g->hostile_digits)
        out->hostile_digits = g->hostile_digits;
    if (g->hostile_depth)
        out->hostile_depth = g->hostile_depth;
    if (g->huge)
        out->huge = g->huge;
    if (g->result) {
        out->result = g->result;
        out->result_len = g->result_len;
    }
    if (g->result_invalid_first)
        out->result_invalid_first = g->result_invalid_first;
}

/* The extent of the JSON value starting at s (at most len bytes): up to its
 * balancing bracket for objects, arrays and strings, else up to the next
 * separator. */
static size_t json_extent(const char *s, size_t len)
{
    size_t i = 0;
    int depth = 0;
    bool str = false;
    if (len && s[0] != '{' && s[0] != '[' && s[0] != '"') {
        while (i < len && !isspace((unsigned char)s[i]) && s[i] != ',')
            i++;
        return i;
    }
    for (; i < len; i++) {
        char ch = s[i];
        if (str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                str = false;
            else
                continue;
            if (depth == 0 && !str)
                return i + 1;
            continue;
        }
        if (ch == '"')
            str = true;
        else if (ch == '{' || ch == '[')
            depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0)
            return i + 1;
    }
    return len;
}

/* result=<JSON>: the value must parse (it may contain spaces and commas). */
static int parse_result(const char *s, size_t len, directives_t *g, size_t *used, char *err,
                        size_t errsz)
{
    size_t n = json_extent(s, len);
    json_error_t je;
    json_t *v = n ? json_loadb(s, n, JSON_DECODE_ANY, &je) : NULL;
    if (!v) {
        snprintf(err, errsz, "modeld directive 'result' needs a JSON value, got '%.*s'%s%s",
                 (int)(n > 80 ? 80 : n), s, n ? ": " : "", n ? je.text : "");
        return -1;
    }
    json_decref(v);
    g->result = s;
    g->result_len = n;
    *used = n;
    return 0;
}

/* Parses the body of one group (the text between "[[modeld:" and "]]"). */
static int parse_group(const char *s, size_t len, directives_t *g, dir_scope_t *scope, char *err,
                       size_t errsz)
{
    char tok[128];
    size_t i = 0;
    while (i < len) {
        while (i < len && (isspace((unsigned char)s[i]) || s[i] == ','))
            i++;
        if (len - i >= 7 && strncmp(s + i, "result=", 7) == 0) {
            size_t used;
            if (parse_result(s + i + 7, len - i - 7, g, &used, err, errsz) < 0)
                return -1;
            i += 7 + used;
            continue;
        }
        size_t j = i;
        while (j < len && !isspace((unsigned char)s[j]) && s[j] != ',')
            j++;
        if (j == i)
            break;
        if (j - i >= sizeof tok) {
            snprintf(err, errsz, "modeld directive too long: '%.40s...'", s + i);
            return -1;
        }
        memcpy(tok, s + i, j - i);
        tok[j - i] = '\0';
        char *eq = strchr(tok, '=');
        if (eq)
            *eq++ = '\0';
        if (apply_token(tok, eq, g, scope, err, errsz) < 0)
            return -1;
        i = j;
    }
    return 0;
}

/* The "]]" closing a group whose body starts at `body`, skipping over the
 * JSON of result= values (which may hold "]]"), or NULL. */
static const char *find_close(const char *body)
{
    const char *p = body;
    for (;;) {
        const char *end = strstr(p, CLOSE_TAG);
        const char *res = strstr(p, "result=");
        if (!end || !res || res > end)
            return end;
        res += 7;
        p = res + json_extent(res, strlen(res));
    }
}

/* Finds every group, parses it, and merges those whose scope matches the
 * phase of this call. */
int directives_parse(const char *text, phase_t phase, directives_t *out, char *err,
                     size_t errsz)
{
    dir_init(out);
    return directives_parse_more(text, phase, out, err, errsz);
}

int directives_parse_more(const char *text, phase_t phase, directives_t *out, char *err,
                          size_t errsz)
{
    const char *p = text ? text : "";
    while ((p = strstr(p, OPEN_TAG)) != NULL) {
        const char *body = p + strlen(OPEN_TAG);
        const char *end = find_close(body);
        if (!end) {
            snprintf(err, errsz, "unterminated modeld directive (missing \"]]\")");
            return -1;
        }
        directives_t g;
        dir_init(&g);
        dir_scope_t scope = ON_ALL;
        if (parse_group(body, (size_t)(end - body), &g, &scope, err, errsz) < 0)
            return -1;
        if (scope == ON_ALL || (scope == ON_PLAN && phase == PHASE_PLAN) ||
            (scope == ON_EXEC && phase == PHASE_EXEC))
            merge(out, &g);
        p = end + strlen(CLOSE_TAG);
    }
    return 0;
}

/* Reports whether this call must fail in some way (before fail_first). */
bool directives_fail(const directives_t *d)
{
    return d->status || d->malformed || d->drop;
}
