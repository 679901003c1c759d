/*
 * stats.h - process-wide counters, gauges and per-route request counts.
 *
 * Counters are named 64-bit integers that only move through stats_add();
 * gauges are read-time callbacks (e.g. "sandboxes_live") so they can never
 * drift from the state they describe.  Every HTTP request handled through
 * httpd.h is also counted by server name, route label and status code.
 *
 * All functions are thread-safe.  Names and labels are copied.
 *
 * JSON shape returned by stats_to_json() (and GET /admin/stats):
 *   {"uptime_ms": 1234,
 *    "counters": {"sandboxes_created": 3, "sandboxes_live": 1, ...},
 *    "requests": {"api": {"POST /sandboxes": {"201": 2, "total": 2}, ...},
 *                 "sandbox": {...}}}
 * Gauges appear in "counters" next to the counters.
 */
#ifndef COMMON_STATS_H
#define COMMON_STATS_H

#include <jansson.h>
#include <stdint.h>

/* Initializes the registry; call once before any other stats_* function. */
void stats_init(void);

/* Adds `delta` to the counter `name`, creating it at 0 first if needed. */
void stats_add(const char *name, int64_t delta);

/* Shorthand for stats_add(name, 1). */
void stats_inc(const char *name);

/* Registers a gauge evaluated by calling fn(arg) whenever stats are read. */
void stats_register_gauge(const char *name, int64_t (*fn)(void *arg), void *arg);

/* Current value of a counter or gauge (0 if unknown). */
int64_t stats_get(const char *name);

/* Counts one finished request of `server` (e.g. "api") on `route` (a route
 * label such as "POST /sandboxes/{id}") with HTTP `status`. */
void stats_request(const char *server, const char *route, int status);

/* Number of requests seen for server+route with `status` (0 = any status). */
int64_t stats_requests(const char *server, const char *route, int status);

/* Snapshot of everything as a new JSON object (caller owns the reference). */
json_t *stats_to_json(void);

/* Zeroes counters and request counts (gauges are live values and stay). */
void stats_reset(void);

#endif
