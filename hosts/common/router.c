/* router.c - method + pattern route table (see router.h). */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Starts with no routes. */
void router_init(router_t *r)
{
    r->head = NULL;
    r->tail = &r->head;
}

/* Splits `path` on '/' into at most `max` segments (copied); empty segments
 * from repeated or trailing slashes are skipped.  Returns the count or -1. */
static int split_path(const char *path, char **segs, int max)
{
    int n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == max)
            return -1;
        segs[n] = strndup(p, len);
        if (!segs[n])
            return -1;
        n++;
        p += len;
    }
    return n;
}

/* Frees segments produced by split_path. */
static void free_segs(char **segs, int n)
{
    for (int i = 0; i < n; i++)
        free(segs[i]);
}

/* Compiles and appends one route. */
int router_add(router_t *r, const char *method, const char *pattern, httpd_handler_fn fn,
               httpd_body_fn body_fn, unsigned flags, void *arg)
{
    route_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -1;
    rt->method = strdup(method);
    rt->pattern = strdup(pattern);
    size_t ll = strlen(method) + strlen(pattern) + 2;
    rt->label = malloc(ll);
    if (!rt->method || !rt->pattern || !rt->label)
        goto fail;
    snprintf(rt->label, ll, "%s %s", method, pattern);
    rt->nsegs = split_path(pattern, rt->segs, ROUTER_MAX_SEGS);
    if (rt->nsegs < 0)
        goto fail;
    rt->fn = fn;
    rt->body_fn = body_fn;
    rt->flags = flags;
    rt->arg = arg;
    *r->tail = rt;
    r->tail = &rt->next;
    return 0;
fail:
    free(rt->method);
    free(rt->pattern);
    free(rt->label);
    free(rt);
    return -1;
}

/* Compares a split request path against each route in order. */
const route_t *router_match(const router_t *r, const char *method, const char *path,
                            char **params, int *nparams)
{
    char *segs[ROUTER_MAX_SEGS];
    *nparams = 0;
    int n = split_path(path, segs, ROUTER_MAX_SEGS);
    if (n < 0)
        return NULL;
    const route_t *found = NULL;
    for (const route_t *rt = r->head; rt && !found; rt = rt->next) {
        if (rt->nsegs != n)
            continue;
        if (strcmp(rt->method, "*") != 0 && strcmp(rt->method, method) != 0)
            continue;
        int ok = 1, np = 0;
        for (int i = 0; i < n && ok; i++) {
            if (rt->segs[i][0] == '{') {
                if (np < ROUTER_MAX_PARAMS)
                    np++;
            } else if (strcmp(rt->segs[i], segs[i]) != 0) {
                ok = 0;
            }
        }
        if (!ok)
            continue;
        found = rt;
        np = 0;
        for (int i = 0; i < n; i++) {
            if (rt->segs[i][0] == '{' && np < ROUTER_MAX_PARAMS) {
                params[np++] = segs[i];
                segs[i] = NULL;
            }
        }
        *nparams = np;
    }
    free_segs(segs, n);
    return found;
}

/* Frees the table. */
void router_free(router_t *r)
{
    route_t *rt = r->head;
    while (rt) {
        route_t *n = rt->next;
        free(rt->method);
        free(rt->pattern);
        free(rt->label);
        free_segs(rt->segs, rt->nsegs);
        free(rt);
        rt = n;
    }
    router_init(r);
}
