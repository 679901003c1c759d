/*
 * config.h - sandboxd's command-line configuration.
 */
#ifndef SANDBOXD_CONFIG_H
#define SANDBOXD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct config {
    char *bind;              /* --bind (default 127.0.0.1) */
    int api_port;            /* --api-port (0 = pick) */
    int sandbox_port;        /* --sandbox-port (0 = pick) */
    char *api_key;           /* --api-key (required) */
    int max_sandboxes;       /* --max-sandboxes (default 20) */
    char *data_dir;          /* --data-dir (default: a fresh temp dir) */
    bool data_dir_owned;     /* we created it, so we remove it at exit */
    bool log_requests;       /* --log-requests */
    bool debug;              /* --debug */
    bool no_bwrap;           /* --no-bwrap */
    bool no_userns;          /* --no-userns */
    char *bwrap;             /* --bwrap PATH (default /usr/bin/bwrap) */
    char *init_path;         /* --init PATH (default: sandboxd-init next to us) */
    char *python;            /* --python PATH (default python3) */
    char *templates;         /* --templates a,b,c: extra template names */
    char *faults;            /* --faults JSON (initial fault configuration) */
    uint64_t fault_seed;     /* --fault-seed N */
    int max_timeout_s;       /* --max-timeout SECONDS (default 86400) */
    size_t thread_stack;     /* --thread-stack BYTES (default 256 KiB) */
    unsigned max_connections;/* --max-connections N per port (default 8192) */
    char *domain;            /* --domain D: reported as the sandboxes' "domain" (default none) */
    int metrics_interval_s;  /* --metrics-interval S: per-sandbox metrics sampling (default 5) */
} config_t;

/* The process-wide configuration (filled once in main). */
extern config_t g_cfg;

/* Parses argv into `c`.  Returns 0 to run, 1 if --help/--version was
 * handled (exit 0), -1 on a usage error (message already printed). */
int config_parse(int argc, char **argv, config_t *c);

/* Prints the --help text. */
void config_usage(FILE *out);

#endif
