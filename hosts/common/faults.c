/* faults.c - fault-injection rules and dice (see faults.h). */
#include "faults.h"

#include "rng.h"
#include "stats.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct fault_rule {
    struct fault_rule *next;
    int id;
    char *server;        /* NULL = any */
    char *method;        /* NULL = any */
    char *path;          /* prefix, never NULL */
    int latency_ms;
    int latency_jitter_ms;
    double error_rate;
    int error_status;
    char *error_body;    /* JSON text or NULL */
    double rate_limit_rate;
    int retry_after;
    double drop_rate;
    int after_messages;
    double cut_rate;
    int64_t times;       /* remaining; -1 = unlimited */
    int64_t hits;
} fault_rule_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static fault_rule_t *g_rules;
static int g_next_id = 1;
static uint64_t g_seed;
static rng_t *g_rng;

/* Creates the generator; called once at startup. */
void faults_init(uint64_t seed)
{
    g_rng = rng_new(seed);
    g_seed = seed;
}

/* Frees one rule. */
static void rule_free(fault_rule_t *r)
{
    if (!r)
        return;
    free(r->server);
    free(r->method);
    free(r->path);
    free(r->error_body);
    free(r);
}

/* Frees a list of rules. */
static void rules_free(fault_rule_t *r)
{
    while (r) {
        fault_rule_t *n = r->next;
        rule_free(r);
        r = n;
    }
}

/* Reads an optional probability in [0,1]. */
static int get_rate(json_t *o, const char *key, double *out, char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
        snprintf(err, errsz, "\"%s\" must be a number between 0 and 1", key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* Reads an optional integer within [lo, hi]. */
static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, char *err,
                   size_t errsz)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errsz, "\"%s\" must be an integer between %lld and %lld", key,
                 (long long)lo, (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* Reads an optional string. */
static int get_str(json_t *o, const char *key, char **out, char *err, size_t errsz)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errsz, "\"%s\" must be a string", key);
        return -1;
    }
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

/* Validates one rule object and builds the in-memory rule.  Unknown keys are
 * rejected so that a typo ("eror_rate") is reported instead of silently
 * producing a rule that never fires. */
static fault_rule_t *rule_parse(json_t *o, char *err, size_t errsz)
{
    static const char *known[] = {"server", "method", "path", "latency_ms", "latency_jitter_ms",
                                  "error_rate", "error_status", "error_body", "rate_limit_rate",
                                  "retry_after", "drop_rate", "after_messages", "cut_rate",
                                  "times", "id", "hits", NULL};
    if (!json_is_object(o)) {
        snprintf(err, errsz, "a fault rule must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        int ok = 0;
        for (int i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0)
                ok = 1;
        if (!ok) {
            snprintf(err, errsz, "unknown fault rule key \"%s\"", key);
            return NULL;
        }
    }
    fault_rule_t *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    int64_t v;
    r->error_status = 503;
    r->retry_after = 1;
    r->after_messages = 1;
    r->times = -1;
    if (get_str(o, "server", &r->server, err, errsz) < 0 ||
        get_str(o, "method", &r->method, err, errsz) < 0 ||
        get_str(o, "path", &r->path, err, errsz) < 0)
        goto fail;
    if (r->method)
        for (char *p = r->method; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    if (!r->path && !(r->path = strdup("/")))
        goto fail;
    if (r->path[0] != '/') {
        snprintf(err, errsz, "\"path\" must start with '/'");
        goto fail;
    }
    v = 0;
    if (get_int(o, "latency_ms", 0, 600000, &v, err, errsz) < 0)
        goto fail;
    r->latency_ms = (int)v;
    v = 0;
    if (get_int(o, "latency_jitter_ms", 0, 600000, &v, err, errsz) < 0)
        goto fail;
    r->latency_jitter_ms = (int)v;
    v = r->error_status;
    if (get_int(o, "error_status", 400, 599, &v, err, errsz) < 0)
        goto fail;
    r->error_status = (int)v;
    v = r->retry_after;
    if (get_int(o, "retry_after", 0, 86400, &v, err, errsz) < 0)
        goto fail;
    r->retry_after = (int)v;
    v = r->after_messages;
    if (get_int(o, "after_messages", 0, 1000000, &v, err, errsz) < 0)
        goto fail;
    r->after_messages = (int)v;
    v = -1;
    if (get_int(o, "times", -1, INT64_MAX, &v, err, errsz) < 0)
        goto fail;
    r->times = v;
    if (get_rate(o, "error_rate", &r->error_rate, err, errsz) < 0 ||
        get_rate(o, "rate_limit_rate", &r->rate_limit_rate, err, errsz) < 0 ||
        get_rate(o, "drop_rate", &r->drop_rate, err, errsz) < 0 ||
        get_rate(o, "cut_rate", &r->cut_rate, err, errsz) < 0)
        goto fail;
    json_t *body = json_object_get(o, "error_body");
    if (body && !json_is_null(body)) {
        r->error_body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!r->error_body)
            goto fail;
    }
    return r;
fail:
    if (!err[0])
        snprintf(err, errsz, "out of memory");
    rule_free(r);
    return NULL;
}

/* Parses and installs a full configuration atomically. */
int faults_set(json_t *config, char *err, size_t errsz)
{
    err[0] = '\0';
    if (!json_is_object(config)) {
        snprintf(err, errsz, "fault configuration must be a JSON object {\"seed\":..,\"rules\":[..]}");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(config, key, val) {
        if (strcmp(key, "seed") != 0 && strcmp(key, "rules") != 0) {
            snprintf(err, errsz, "unknown fault configuration key \"%s\"", key);
            return -1;
        }
    }
    json_t *seed = json_object_get(config, "seed");
    if (seed && !json_is_integer(seed)) {
        snprintf(err, errsz, "\"seed\" must be an integer");
        return -1;
    }
    json_t *rules = json_object_get(config, "rules");
    if (rules && !json_is_array(rules)) {
        snprintf(err, errsz, "\"rules\" must be an array");
        return -1;
    }
    fault_rule_t *head = NULL, **tail = &head;
    size_t i;
    json_t *ro;
    json_array_foreach(rules, i, ro) {
        fault_rule_t *r = rule_parse(ro, err, errsz);
        if (!r) {
            rules_free(head);
            return -1;
        }
        *tail = r;
        tail = &r->next;
    }
    pthread_mutex_lock(&g_mu);
    fault_rule_t *old = g_rules;
    for (fault_rule_t *r = head; r; r = r->next)
        r->id = g_next_id++;
    g_rules = head;
    if (seed)
        g_seed = rng_seed(g_rng, (uint64_t)json_integer_value(seed));
    pthread_mutex_unlock(&g_mu);
    rules_free(old);
    return 0;
}

/* Appends one rule at the end of the list. */
int faults_add(json_t *rule, char *err, size_t errsz)
{
    err[0] = '\0';
    fault_rule_t *r = rule_parse(rule, err, errsz);
    if (!r)
        return -1;
    pthread_mutex_lock(&g_mu);
    r->id = g_next_id++;
    fault_rule_t **p = &g_rules;
    while (*p)
        p = &(*p)->next;
    *p = r;
    int id = r->id;
    pthread_mutex_unlock(&g_mu);
    return id;
}

/* Unlinks and frees one rule. */
int faults_remove(int id)
{
    pthread_mutex_lock(&g_mu);
    for (fault_rule_t **p = &g_rules; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            fault_rule_t *r = *p;
            *p = r->next;
            pthread_mutex_unlock(&g_mu);
            rule_free(r);
            return 0;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return -1;
}

/* Drops all rules. */
void faults_clear(void)
{
    pthread_mutex_lock(&g_mu);
    fault_rule_t *old = g_rules;
    g_rules = NULL;
    pthread_mutex_unlock(&g_mu);
    rules_free(old);
}

/* Serializes one rule, including its bookkeeping. */
static json_t *rule_json(const fault_rule_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "server", r->server ? json_string(r->server) : json_null());
    json_object_set_new(o, "method", r->method ? json_string(r->method) : json_null());
    json_object_set_new(o, "path", json_string(r->path));
    json_object_set_new(o, "latency_ms", json_integer(r->latency_ms));
    json_object_set_new(o, "latency_jitter_ms", json_integer(r->latency_jitter_ms));
    json_object_set_new(o, "error_rate", json_real(r->error_rate));
    json_object_set_new(o, "error_status", json_integer(r->error_status));
    if (r->error_body) {
        json_t *b = json_loads(r->error_body, JSON_DECODE_ANY, NULL);
        json_object_set_new(o, "error_body", b ? b : json_null());
    }
    json_object_set_new(o, "rate_limit_rate", json_real(r->rate_limit_rate));
    json_object_set_new(o, "retry_after", json_integer(r->retry_after));
    json_object_set_new(o, "drop_rate", json_real(r->drop_rate));
    json_object_set_new(o, "after_messages", json_integer(r->after_messages));
    json_object_set_new(o, "cut_rate", json_real(r->cut_rate));
    json_object_set_new(o, "times", json_integer(r->times));
    json_object_set_new(o, "hits", json_integer(r->hits));
    return o;
}

/* Snapshot of the configuration for GET /admin/faults. */
json_t *faults_to_json(void)
{
    json_t *o = json_object();
    json_t *arr = json_array();
    pthread_mutex_lock(&g_mu);
    json_object_set_new(o, "seed", json_integer((json_int_t)g_seed));
    for (fault_rule_t *r = g_rules; r; r = r->next)
        json_array_append_new(arr, rule_json(r));
    pthread_mutex_unlock(&g_mu);
    json_object_set_new(o, "rules", arr);
    return o;
}

/* A rule matches when server and method are equal (or unset) and the path
 * starts with the rule's prefix. */
static int rule_matches(const fault_rule_t *r, const char *server, const char *method,
                        const char *path)
{
    if (r->times == 0)
        return 0;
    if (r->server && strcmp(r->server, server) != 0)
        return 0;
    if (r->method && strcasecmp(r->method, method) != 0)
        return 0;
    return strncmp(path, r->path, strlen(r->path)) == 0;
}

/* Walks the rules in order: latencies add up, and the first rule whose die
 * lands in one of its action ranges decides the action.  A rule's "times"
 * budget is spent only on requests it actually affected. */
void faults_decide(const char *server, const char *method, const char *path,
                   fault_decision_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&g_mu);
    for (fault_rule_t *r = g_rules; r; r = r->next) {
        if (!rule_matches(r, server, method, path))
            continue;
        int affected = 0;
        if (r->latency_ms > 0 || r->latency_jitter_ms > 0) {
            int jitter = r->latency_jitter_ms
                             ? (int)(rng_uniform(g_rng) * (double)(r->latency_jitter_ms + 1))
                             : 0;
            out->latency_ms += r->latency_ms + jitter;
            affected = 1;
        }
        if (out->action == FAULT_NONE) {
            double u = rng_uniform(g_rng);
            double t = r->drop_rate;
            fault_action_t a = FAULT_NONE;
            if (u < t)
                a = FAULT_DROP;
            else if (u < (t += r->error_rate))
                a = FAULT_ERROR;
            else if (u < (t += r->rate_limit_rate))
                a = FAULT_RATE_LIMIT;
            else if (u < (t += r->cut_rate))
                a = FAULT_CUT;
            if (a != FAULT_NONE) {
                out->action = a;
                out->status = a == FAULT_RATE_LIMIT ? 429 : r->error_status;
                out->retry_after = r->retry_after;
                out->after_messages = r->after_messages;
                out->rule_id = r->id;
                if (r->error_body && (a == FAULT_ERROR || a == FAULT_RATE_LIMIT))
                    out->body = strdup(r->error_body);
                affected = 1;
            }
        }
        if (affected) {
            r->hits++;
            if (r->times > 0)
                r->times--;
        }
    }
    pthread_mutex_unlock(&g_mu);
    if (out->latency_ms > 0)
        stats_inc("faults_latency");
    if (out->action != FAULT_NONE) {
        char name[64];
        snprintf(name, sizeof name, "faults_%s", fault_action_name(out->action));
        stats_inc(name);
    }
}

/* Releases the optional body copy. */
void fault_decision_free(fault_decision_t *d)
{
    free(d->body);
    d->body = NULL;
}

/* Stable names used in logs, counters and JSON. */
const char *fault_action_name(fault_action_t a)
{
    switch (a) {
    case FAULT_NONE:
        return "none";
    case FAULT_ERROR:
        return "error";
    case FAULT_RATE_LIMIT:
        return "rate_limit";
    case FAULT_DROP:
        return "drop";
    case FAULT_CUT:
        return "cut";
    }
    return "none";
}
