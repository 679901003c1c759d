/*
 * main.c - modeld: a deterministic scripted LLM server for tests.
 *
 * Starts the HTTP server (server.c), prints "modeld: listening on
 * ADDR:PORT" on stdout, and runs until SIGINT or SIGTERM.  See README.md
 * and --help for the behaviour.
 */
#include "cache.h"
#include "conv.h"
#include "faults.h"
#include "log.h"
#include "options.h"
#include "ratelimit.h"
#include "server.h"
#include "stats.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Raises the open-file limit to the hard limit: every concurrent request is
 * a socket, and the load target is a thousand at once. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
    }
}

/* Loads the --faults configuration: JSON text, or @file.  Returns 0 or -1. */
static int load_faults(const char *spec)
{
    json_error_t je;
    json_t *cfg = spec[0] == '@' ? json_load_file(spec + 1, 0, &je) : json_loads(spec, 0, &je);
    if (!cfg) {
        log_error("--faults: invalid JSON: %s (line %d)", je.text, je.line);
        return -1;
    }
    char err[256];
    int rc = faults_set(cfg, err, sizeof err);
    json_decref(cfg);
    if (rc < 0)
        log_error("--faults: %s", err);
    return rc;
}

/* Blocks the termination signals in every thread (the connection threads
 * inherit the mask) so that only sigwait() in main sees them. */
static void block_signals(sigset_t *set)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* Parses options, sets the process up, serves until SIGINT/SIGTERM, then
 * stops accepting, lets in-flight requests finish and exits 0. */
int main(int argc, char **argv)
{
    modeld_opts_t o;
    int prc = options_parse(argc, argv, &o);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    log_init("modeld", o.debug);
    raise_nofile();
    sigset_t set;
    block_signals(&set);
    stats_init();
    faults_init(o.fault_seed);
    stats_register_gauge("model_conversations", conv_count, NULL);
    stats_register_gauge("model_cache_entries", cache_count, NULL);
    cache_configure(o.cache_ttl_ms, o.cache_min_tokens);
    rl_configure(o.rpm, o.itpm);
    if (o.faults && load_faults(o.faults) < 0)
        return 2;
    httpd_t *h = server_start(&o);
    if (!h)
        return 1;
    printf("modeld: listening on %s:%u\n", o.bind, (unsigned)httpd_port(h));
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    log_info("signal %d: shutting down", sig);
    httpd_quiesce(h);
    httpd_stop(h);
    httpd_free(h);
    return 0;
}
