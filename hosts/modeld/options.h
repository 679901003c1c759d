/*
 * options.h - modeld's command line.
 *
 *   modeld [--port N] [--bind ADDR] [--api-key KEY] [--latency-ms N]
 *          [--log-requests] [--faults JSON|@FILE] [--fault-seed N]
 *          [--cache-ttl-ms N] [--cache-min-tokens N] [--rpm N] [--itpm N]
 *          [--max-connections N] [--debug] [--help]
 */
#ifndef MODELD_OPTIONS_H
#define MODELD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct modeld_opts {
    uint16_t port;        /* 0 = let the kernel pick */
    const char *bind;     /* IPv4 address, default 127.0.0.1 */
    const char *api_key;  /* NULL = no authentication */
    int latency_ms;       /* added before every model answer */
    bool log_requests;    /* one line per request on stderr */
    const char *faults;   /* fault configuration JSON text, or @file */
    uint64_t fault_seed;  /* seed for the fault dice, 0 = random */
    int64_t cache_ttl_ms; /* prompt cache "5m" TTL (default 300000; "1h" = 12x) */
    int cache_min_tokens; /* minimum cacheable prompt tokens, 0 = the providers' */
    int64_t rpm;          /* requests per minute, 0 = no limit (ratelimit.h) */
    int64_t itpm;         /* input tokens per minute, 0 = no limit */
    int max_connections;  /* concurrent connections (default 8192) */
    bool debug;           /* libmicrohttpd diagnostics */
} modeld_opts_t;

/* Parses argv into `o`.  Returns 0 to run, 1 when --help was printed, or -1
 * after printing an error (exit status 2). */
int options_parse(int argc, char **argv, modeld_opts_t *o);

/* Prints the usage text (every flag and the directive syntax). */
void options_usage(FILE *f);

#endif
