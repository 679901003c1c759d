/*
 * faults.h - run-time fault injection shared by the test servers.
 *
 * A fault configuration is an ordered list of rules.  Each request is
 * matched against every rule (server name, method, path prefix); matching
 * rules add latency and roll dice for one "action" that replaces the normal
 * answer.  httpd.c consults faults_decide() for every request (except the
 * /admin/ routes, which are never faulted) and carries out the decision:
 *
 *   latency     sleep before the request is handled
 *   error       answer `error_status` (default 503) with the server's error body
 *   rate_limit  answer 429 with a `Retry-After: <retry_after>` header
 *   drop        close the connection: before any answer for plain responses,
 *               or mid-stream after `after_messages` messages for streams
 *   cut         streams only: end the stream cleanly but leave out its final
 *               messages (the end event / end-of-stream trailer)
 *
 * Rule JSON (every key optional):
 *   {"server": "api"|"sandbox"|...,   match one server (default: any)
 *    "method": "POST",                match one method (default: any)
 *    "path": "/process.Process/",     path prefix (default: "/")
 *    "latency_ms": 200, "latency_jitter_ms": 50,
 *    "error_rate": 0.5, "error_status": 503, "error_body": {...}|"text",
 *    "rate_limit_rate": 0.1, "retry_after": 2,
 *    "drop_rate": 0.1, "after_messages": 1,
 *    "cut_rate": 0.1,
 *    "times": 3}                      stop after affecting 3 requests (default: unlimited)
 * Rates are probabilities in [0,1]; one die is rolled per matching rule and
 * the action ranges are stacked in the order drop, error, rate_limit, cut.
 * The first matching rule that yields an action wins; latencies add up.
 *
 * Configuration JSON: {"seed": 42, "rules": [rule, ...]}.  A non-zero seed
 * makes the dice reproducible for a given request order.
 *
 * All functions are thread-safe.
 */
#ifndef COMMON_FAULTS_H
#define COMMON_FAULTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    FAULT_NONE = 0,
    FAULT_ERROR,
    FAULT_RATE_LIMIT,
    FAULT_DROP,
    FAULT_CUT,
} fault_action_t;

/* What the server must do to one request. */
typedef struct fault_decision {
    int latency_ms;        /* total added latency */
    fault_action_t action; /* FAULT_NONE: answer normally */
    int status;            /* FAULT_ERROR: HTTP status to send */
    int retry_after;       /* FAULT_RATE_LIMIT: seconds for Retry-After */
    int after_messages;    /* FAULT_DROP on streams: messages sent before the drop */
    char *body;            /* optional override body (JSON text), malloc'd or NULL */
    int rule_id;           /* rule that chose the action, 0 if none */
} fault_decision_t;

/* Initializes the engine with no rules; seed 0 = random. */
void faults_init(uint64_t seed);

/* Replaces the whole configuration ({"seed":..,"rules":[..]}).  Returns 0, or
 * -1 with a message in err (nothing is changed then). */
int faults_set(json_t *config, char *err, size_t errsz);

/* Appends one rule; returns its id (>0) or -1 with a message in err. */
int faults_add(json_t *rule, char *err, size_t errsz);

/* Removes the rule with `id`; returns 0 or -1 if there is none. */
int faults_remove(int id);

/* Removes every rule (the seed is kept). */
void faults_clear(void);

/* Current configuration, with per-rule "id" and "hits", as new JSON. */
json_t *faults_to_json(void);

/* Decides the fate of one request; `out` must be released with
 * fault_decision_free(). */
void faults_decide(const char *server, const char *method, const char *path,
                   fault_decision_t *out);

/* Frees what a decision owns. */
void fault_decision_free(fault_decision_t *d);

/* "none", "error", "rate_limit", "drop" or "cut". */
const char *fault_action_name(fault_action_t a);

#endif
