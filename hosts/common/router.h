/*
 * router.h - route table: method + path pattern -> handler.
 *
 * Patterns are absolute paths split on '/'.  A segment written "{name}"
 * matches any one non-empty segment and is captured; every other segment
 * must match literally.  Method "*" matches any method.  The first route
 * added that matches wins.
 */
#ifndef COMMON_ROUTER_H
#define COMMON_ROUTER_H

#include "httpd.h"

#define ROUTER_MAX_SEGS 16
#define ROUTER_MAX_PARAMS 4

typedef struct route {
    struct route *next;
    char *method;                   /* "GET", "*" = any */
    char *pattern;                  /* as registered */
    char *label;                    /* "METHOD pattern" for stats and logs */
    char *segs[ROUTER_MAX_SEGS];    /* pattern split on '/' */
    int nsegs;
    httpd_handler_fn fn;
    httpd_body_fn body_fn;
    unsigned flags;
    void *arg;
} route_t;

typedef struct router {
    route_t *head;
    route_t **tail;
} router_t;

/* Initializes an empty table. */
void router_init(router_t *r);

/* Adds a route; returns 0 or -1 (bad pattern / no memory). */
int router_add(router_t *r, const char *method, const char *pattern, httpd_handler_fn fn,
               httpd_body_fn body_fn, unsigned flags, void *arg);

/* Finds the route for method+path.  Captured parameters are malloc'd into
 * params[0..*nparams-1] (caller frees).  Returns NULL if nothing matches. */
const route_t *router_match(const router_t *r, const char *method, const char *path,
                            char **params, int *nparams);

/* Frees every route. */
void router_free(router_t *r);

#endif
