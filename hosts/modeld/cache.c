/* cache.c - deterministic prompt caching (see cache.h). */
#include "cache.h"

#include "buf.h"
#include "stats.h"
#include "textutil.h"
#include "timeutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 8192
#define MAX_ENTRIES (1 << 20)
#define LOOKBACK 20          /* Anthropic checks 20 blocks back from a breakpoint */
#define ANTHROPIC_MIN 1024   /* Sonnet / Opus class */
#define ANTHROPIC_MIN_HAIKU 2048
#define OPENAI_MIN 1024
#define OPENAI_STEP 128

typedef struct entry {
    struct entry *next;
    uint64_t key;
    int64_t expires_ms; /* monotonic */
    int64_t ttl_ms;     /* refreshed by this much on a hit */
} entry_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static entry_t *g_buckets[NBUCKETS];
static int64_t g_count;
static int64_t g_ttl_5m_ms = 300000;
static int g_min_tokens; /* 0 = per provider */

void cache_configure(int64_t ttl_5m_ms, int min_tokens)
{
    g_ttl_5m_ms = ttl_5m_ms;
    g_min_tokens = min_tokens;
}

/* ---- prefix points ---- */

void cache_begin(chat_t *c, const char *api_key)
{
    const char *prov = c->provider == PROVIDER_ANTHROPIC ? "anthropic" : "openai";
    uint64_t h = fnv1a(FNV_OFFSET, prov, strlen(prov) + 1);
    if (api_key)
        h = fnv1a(h, api_key, strlen(api_key));
    h = fnv1a(h, "", 1);
    if (c->model)
        h = fnv1a(h, c->model, strlen(c->model));
    c->cache_ns = fnv1a(h, "", 1);
}

/* ---- canonical JSON, without recursion ----
 *
 * Compact, object keys sorted (bytewise), strings escaped as JSON needs
 * (\" \\ \b \f \n \r \t, other control characters as \u00XX, the rest
 * as is), integers in decimal, reals as %.17g (with ".0" when that looks
 * like an integer).  Iterative: a request may nest 2048 levels (jansson's
 * parse limit), deeper than a connection thread's stack allows a recursive
 * dump to go. */

typedef struct frame {
    json_t *v;
    size_t i;          /* next element / key */
    const char **keys; /* sorted keys of an object */
    size_t n;
} frame_t;

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int canon_string(buf_t *b, const char *s, size_t len)
{
    int rc = buf_puts(b, "\"");
    size_t run = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (ch) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (ch < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", ch);
                esc = u;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        rc = buf_append(b, s + i - run, run);
        run = 0;
        if (rc == 0)
            rc = buf_puts(b, esc);
    }
    if (rc == 0)
        rc = buf_append(b, s + len - run, run);
    return rc == 0 ? buf_puts(b, "\"") : -1;
}

/* Scalars, and the opening of arrays and objects (pushed on the stack). */
static int canon_open(buf_t *b, json_t *v, frame_t *f)
{
    char num[40];
    memset(f, 0, sizeof *f);
    f->v = v;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        f->n = json_object_size(v);
        if (f->n && !(f->keys = malloc(f->n * sizeof *f->keys)))
            return -1;
        size_t k = 0;
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x)
            f->keys[k++] = key;
        qsort(f->keys, f->n, sizeof *f->keys, cmp_keys);
        return buf_puts(b, "{");
    }
    case JSON_ARRAY:
        f->n = json_array_size(v);
        return buf_puts(b, "[");
    case JSON_STRING:
        return canon_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return buf_printf(b, "%s%s", num, strpbrk(num, ".eEni") ? "" : ".0");
    case JSON_TRUE:
        return buf_puts(b, "true");
    case JSON_FALSE:
        return buf_puts(b, "false");
    default:
        return buf_puts(b, "null");
    }
}

/* Serializes `v` canonically into `b`.  Returns 0 or -1. */
static int canon_dump(json_t *v, buf_t *b)
{
    size_t cap = 16, top = 0;
    frame_t *st = malloc(cap * sizeof *st);
    if (!st)
        return -1;
    int rc = canon_open(b, v, &st[0]);
    if (rc == 0 && (json_is_object(v) || json_is_array(v)))
        top = 1;
    else
        free(st[0].keys); /* NULL unless a failed object */
    while (rc == 0 && top > 0) {
        frame_t *f = &st[top - 1];
        if (f->i == f->n) {
            rc = buf_puts(b, json_is_object(f->v) ? "}" : "]");
            free(f->keys);
            top--;
            continue;
        }
        if (f->i > 0 && (rc = buf_puts(b, ",")) < 0)
            break;
        json_t *child;
        if (json_is_object(f->v)) {
            const char *key = f->keys[f->i];
            if ((rc = canon_string(b, key, strlen(key))) < 0 || (rc = buf_puts(b, ":")) < 0)
                break;
            child = json_object_get(f->v, key);
        } else {
            child = json_array_get(f->v, f->i);
        }
        f->i++;
        if (top == cap) {
            frame_t *n = realloc(st, 2 * cap * sizeof *st);
            if (!n) {
                rc = -1;
                break;
            }
            st = n;
            cap *= 2;
        }
        rc = canon_open(b, child, &st[top]);
        if (rc == 0 && (json_is_object(child) || json_is_array(child)))
            top++;
        else
            free(st[top].keys); /* NULL unless a failed object */
    }
    while (top > 0)
        free(st[--top].keys);
    free(st);
    return rc < 0 ? -1 : 0;
}

int cache_add_item(chat_t *c, const char *tag, json_t *item, int ttl)
{
    json_t *canon = item;
    if (json_is_object(item) && json_object_get(item, "cache_control")) {
        if (!(canon = json_copy(item))) /* shallow: only the top key goes */
            return -1;
        json_object_del(canon, "cache_control");
    } else {
        json_incref(canon);
    }
    buf_t s;
    buf_init(&s);
    int rc = canon_dump(canon, &s);
    json_decref(canon);
    prefix_point_t *v = rc == 0 ? realloc(c->prefix, (c->nprefix + 1) * sizeof *v) : NULL;
    if (!v) {
        buf_free(&s);
        return -1;
    }
    c->prefix = v;
    const prefix_point_t *prev = c->nprefix ? &v[c->nprefix - 1] : NULL;
    uint64_t h = prev ? prev->hash : c->cache_ns;
    h = fnv1a(h, tag, strlen(tag) + 1);
    h = fnv1a(h, s.data ? s.data : "", s.len);
    v[c->nprefix].hash = fnv1a(h, "\n", 1);
    v[c->nprefix].bytes = (prev ? prev->bytes : 0) + (int64_t)s.len;
    v[c->nprefix].ttl = ttl;
    c->nprefix++;
    buf_free(&s);
    return 0;
}

int cache_control_parse(json_t *cc, const char *where, int *ttl, char *err, size_t errsz)
{
    *ttl = 0;
    if (!cc || json_is_null(cc))
        return 0;
    const char *type = json_string_value(json_object_get(cc, "type"));
    if (!json_is_object(cc) || !type || strcmp(type, "ephemeral") != 0) {
        snprintf(err, errsz, "%s.cache_control.type: Input should be 'ephemeral'", where);
        return -1;
    }
    json_t *t = json_object_get(cc, "ttl");
    const char *tv = json_string_value(t);
    if (!t || json_is_null(t) || (tv && strcmp(tv, "5m") == 0)) {
        *ttl = CACHE_TTL_5M;
        return 0;
    }
    if (tv && strcmp(tv, "1h") == 0) {
        *ttl = CACHE_TTL_1H;
        return 0;
    }
    snprintf(err, errsz, "%s.cache_control.ttl: Input should be '5m' or '1h'", where);
    return -1;
}

/* ---- the store (callers hold g_mu) ---- */

/* Finds a live entry, dropping expired ones of its bucket on the way. */
static entry_t *find(uint64_t key, int64_t now)
{
    entry_t **pp = &g_buckets[key % NBUCKETS];
    while (*pp) {
        entry_t *e = *pp;
        if (e->expires_ms <= now) {
            *pp = e->next;
            free(e);
            g_count--;
            continue;
        }
        if (e->key == key)
            return e;
        pp = &e->next;
    }
    return NULL;
}

/* A hit refreshes the entry's TTL. */
static bool hit(uint64_t key, int64_t now)
{
    entry_t *e = find(key, now);
    if (e)
        e->expires_ms = now + e->ttl_ms;
    return e != NULL;
}

/* Stores or refreshes an entry (keeping the longer TTL). */
static void put(uint64_t key, int64_t ttl_ms, int64_t now)
{
    entry_t *e = find(key, now);
    if (!e) {
        if (g_count >= MAX_ENTRIES || !(e = calloc(1, sizeof *e)))
            return; /* full: not cached, as a real cache may evict */
        e->key = key;
        e->next = g_buckets[key % NBUCKETS];
        g_buckets[key % NBUCKETS] = e;
        g_count++;
    }
    if (ttl_ms > e->ttl_ms)
        e->ttl_ms = ttl_ms;
    if (now + ttl_ms > e->expires_ms)
        e->expires_ms = now + ttl_ms;
}

/* ---- accounting ---- */

/* Tokens of the prompt up to and including point i. */
static int tokens_at(const chat_t *c, size_t i, int total)
{
    int64_t t = c->prefix[i].bytes / 4;
    return t < total - 1 ? (int)t : (total > 1 ? total - 1 : 0);
}

static int64_t ttl_ms(int ttl)
{
    return ttl == CACHE_TTL_1H ? 12 * g_ttl_5m_ms : g_ttl_5m_ms;
}

/* Explicit breakpoints, lookback, minimum length (see cache.h). */
static void anthropic_apply(const chat_t *c, reply_t *r, int64_t now)
{
    int min = g_min_tokens > 0 ? g_min_tokens
              : (c->model && strstr(c->model, "haiku")) ? ANTHROPIC_MIN_HAIKU
                                                        : ANTHROPIC_MIN;
    long hitp = -1;
    for (size_t b = 0; b < c->nprefix; b++) {
        if (!c->prefix[b].ttl)
            continue;
        for (long j = (long)b; j >= 0 && j > (long)b - LOOKBACK && j > hitp; j--) {
            if (hit(c->prefix[j].hash, now)) {
                hitp = j;
                break;
            }
        }
    }
    int read = hitp >= 0 ? tokens_at(c, (size_t)hitp, r->input_tokens) : 0;
    int prev = read;
    for (size_t b = 0; b < c->nprefix; b++) {
        const prefix_point_t *p = &c->prefix[b];
        int t = tokens_at(c, b, r->input_tokens);
        if (!p->ttl || (long)b <= hitp || t < min || t <= prev)
            continue;
        put(p->hash, ttl_ms(p->ttl), now);
        if (p->ttl == CACHE_TTL_1H)
            r->cache_write_1h += t - prev;
        else
            r->cache_write_5m += t - prev;
        prev = t;
    }
    r->cache_read = read;
}

/* Automatic prefix caching of long prompts (see cache.h). */
static void openai_apply(const chat_t *c, reply_t *r, int64_t now)
{
    int min = g_min_tokens > 0 ? g_min_tokens : OPENAI_MIN;
    if (r->input_tokens < min)
        return;
    for (size_t i = c->nprefix; i-- > 0;) {
        int t = tokens_at(c, i, r->input_tokens);
        if (t >= min && hit(c->prefix[i].hash, now)) {
            r->cache_read = min + (t - min) / OPENAI_STEP * OPENAI_STEP;
            break;
        }
    }
    for (size_t i = 0; i < c->nprefix; i++)
        if (tokens_at(c, i, r->input_tokens) >= min)
            put(c->prefix[i].hash, ttl_ms(CACHE_TTL_5M), now);
}

void cache_apply(const chat_t *c, reply_t *r)
{
    r->cache_read = r->cache_write_5m = r->cache_write_1h = 0;
    if (!c->nprefix)
        return;
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&g_mu);
    if (c->provider == PROVIDER_ANTHROPIC)
        anthropic_apply(c, r, now);
    else
        openai_apply(c, r, now);
    pthread_mutex_unlock(&g_mu);
    if (r->cache_read)
        stats_add("model_cache_read_tokens", r->cache_read);
    if (r->cache_write_5m + r->cache_write_1h)
        stats_add("model_cache_write_tokens", r->cache_write_5m + r->cache_write_1h);
}

void cache_reset(void)
{
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < NBUCKETS; i++) {
        entry_t *e = g_buckets[i];
        while (e) {
            entry_t *n = e->next;
            free(e);
            e = n;
        }
        g_buckets[i] = NULL;
    }
    g_count = 0;
    pthread_mutex_unlock(&g_mu);
}

int64_t cache_count(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    int64_t n = g_count;
    pthread_mutex_unlock(&g_mu);
    return n;
}
