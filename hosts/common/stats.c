/* stats.c - counters, gauges and request accounting (see stats.h). */
#include "stats.h"

#include "timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { STAT_COUNTER, STAT_GAUGE } stat_kind_t;

typedef struct stat_entry {
    struct stat_entry *next;
    stat_kind_t kind;
    char *name;
    int64_t value;                 /* counters */
    int64_t (*fn)(void *);         /* gauges */
    void *arg;
} stat_entry_t;

typedef struct status_count {
    struct status_count *next;
    int status;
    int64_t count;
} status_count_t;

typedef struct route_entry {
    struct route_entry *next;
    char *server;
    char *route;
    status_count_t *statuses;
} route_entry_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static stat_entry_t *g_stats;
static route_entry_t *g_routes;
static int64_t g_start_ms;

/* Records the start time used for uptime_ms. */
void stats_init(void)
{
    g_start_ms = time_mono_ms();
}

/* Finds a counter/gauge by name; caller holds g_mu. */
static stat_entry_t *find_stat(const char *name)
{
    for (stat_entry_t *e = g_stats; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* Finds or creates an entry; caller holds g_mu.  Allocation failure simply
 * loses the sample: statistics must never take the server down. */
static stat_entry_t *get_stat(const char *name, stat_kind_t kind)
{
    stat_entry_t *e = find_stat(name);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->name = strdup(name);
    if (!e->name) {
        free(e);
        return NULL;
    }
    e->kind = kind;
    e->next = g_stats;
    g_stats = e;
    return e;
}

/* Adds to a counter under the registry lock. */
void stats_add(const char *name, int64_t delta)
{
    pthread_mutex_lock(&g_mu);
    stat_entry_t *e = get_stat(name, STAT_COUNTER);
    if (e && e->kind == STAT_COUNTER)
        e->value += delta;
    pthread_mutex_unlock(&g_mu);
}

/* Increments a counter. */
void stats_inc(const char *name)
{
    stats_add(name, 1);
}

/* Installs a read-time callback for a gauge. */
void stats_register_gauge(const char *name, int64_t (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&g_mu);
    stat_entry_t *e = get_stat(name, STAT_GAUGE);
    if (e) {
        e->kind = STAT_GAUGE;
        e->fn = fn;
        e->arg = arg;
    }
    pthread_mutex_unlock(&g_mu);
}

/* Reads one value; gauges are evaluated outside the lock so their callbacks
 * may take other locks freely. */
int64_t stats_get(const char *name)
{
    int64_t (*fn)(void *) = NULL;
    void *arg = NULL;
    int64_t v = 0;
    pthread_mutex_lock(&g_mu);
    stat_entry_t *e = find_stat(name);
    if (e) {
        if (e->kind == STAT_GAUGE) {
            fn = e->fn;
            arg = e->arg;
        } else {
            v = e->value;
        }
    }
    pthread_mutex_unlock(&g_mu);
    if (fn)
        v = fn(arg);
    return v;
}

/* Counts a finished request by server, route label and status. */
void stats_request(const char *server, const char *route, int status)
{
    pthread_mutex_lock(&g_mu);
    route_entry_t *r = g_routes;
    for (; r; r = r->next)
        if (strcmp(r->server, server) == 0 && strcmp(r->route, route) == 0)
            break;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            goto out;
        r->server = strdup(server);
        r->route = strdup(route);
        if (!r->server || !r->route) {
            free(r->server);
            free(r->route);
            free(r);
            goto out;
        }
        r->next = g_routes;
        g_routes = r;
    }
    status_count_t *s = r->statuses;
    for (; s; s = s->next)
        if (s->status == status)
            break;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            goto out;
        s->status = status;
        s->next = r->statuses;
        r->statuses = s;
    }
    s->count++;
out:
    pthread_mutex_unlock(&g_mu);
}

/* Sums request counts for one route, optionally for one status only. */
int64_t stats_requests(const char *server, const char *route, int status)
{
    int64_t n = 0;
    pthread_mutex_lock(&g_mu);
    for (route_entry_t *r = g_routes; r; r = r->next) {
        if (strcmp(r->server, server) != 0 || strcmp(r->route, route) != 0)
            continue;
        for (status_count_t *s = r->statuses; s; s = s->next)
            if (status == 0 || s->status == status)
                n += s->count;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

typedef struct gauge_ref {
    char *name;
    int64_t (*fn)(void *);
    void *arg;
} gauge_ref_t;

/* Builds the JSON snapshot.  Gauge callbacks run after the lock is dropped
 * (they may lock application state), so their names are copied first. */
json_t *stats_to_json(void)
{
    json_t *root = json_object();
    json_t *counters = json_object();
    json_t *requests = json_object();
    gauge_ref_t *gauges = NULL;
    size_t ngauges = 0, cap = 0;

    pthread_mutex_lock(&g_mu);
    for (stat_entry_t *e = g_stats; e; e = e->next) {
        if (e->kind == STAT_COUNTER) {
            json_object_set_new(counters, e->name, json_integer(e->value));
        } else {
            if (ngauges == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                gauge_ref_t *p = realloc(gauges, ncap * sizeof *p);
                if (!p)
                    continue;
                gauges = p;
                cap = ncap;
            }
            gauges[ngauges].name = strdup(e->name);
            gauges[ngauges].fn = e->fn;
            gauges[ngauges].arg = e->arg;
            if (gauges[ngauges].name)
                ngauges++;
        }
    }
    for (route_entry_t *r = g_routes; r; r = r->next) {
        json_t *srv = json_object_get(requests, r->server);
        if (!srv) {
            srv = json_object();
            json_object_set_new(requests, r->server, srv);
        }
        json_t *rt = json_object();
        int64_t total = 0;
        for (status_count_t *s = r->statuses; s; s = s->next) {
            char key[16];
            snprintf(key, sizeof key, "%d", s->status);
            json_object_set_new(rt, key, json_integer(s->count));
            total += s->count;
        }
        json_object_set_new(rt, "total", json_integer(total));
        json_object_set_new(srv, r->route, rt);
    }
    pthread_mutex_unlock(&g_mu);

    for (size_t i = 0; i < ngauges; i++) {
        json_object_set_new(counters, gauges[i].name, json_integer(gauges[i].fn(gauges[i].arg)));
        free(gauges[i].name);
    }
    free(gauges);

    json_object_set_new(root, "uptime_ms", json_integer(time_mono_ms() - g_start_ms));
    json_object_set_new(root, "counters", counters);
    json_object_set_new(root, "requests", requests);
    return root;
}

/* Zeroes counters and drops request counts; gauges reflect live state. */
void stats_reset(void)
{
    pthread_mutex_lock(&g_mu);
    for (stat_entry_t *e = g_stats; e; e = e->next)
        if (e->kind == STAT_COUNTER)
            e->value = 0;
    route_entry_t *r = g_routes;
    while (r) {
        route_entry_t *next = r->next;
        status_count_t *s = r->statuses;
        while (s) {
            status_count_t *sn = s->next;
            free(s);
            s = sn;
        }
        free(r->server);
        free(r->route);
        free(r);
        r = next;
    }
    g_routes = NULL;
    pthread_mutex_unlock(&g_mu);
}
