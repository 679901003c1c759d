/*
 * main.c - sandboxd: a local, E2B-compatible sandbox host for development
 * and tests (see README.md).  Startup, the two HTTP servers, and graceful
 * shutdown on SIGTERM/SIGINT.
 */
#include "admin.h"
#include "api.h"
#include "config.h"
#include "envd.h"
#include "faults.h"
#include "httpd.h"
#include "interp.h"
#include "iothread.h"
#include "isolation.h"
#include "janitor.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "sandbox.h"
#include "stats.h"
#include "templates.h"
#include "timeutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Lifts the soft descriptor limit to the hard one: every running command
 * holds a few pipes and every connection a socket. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096)
        log_warn("only %llu file descriptors available; many concurrent sandboxes will fail",
                 (unsigned long long)rl.rlim_cur);
}

/* Uses --data-dir (created if needed) or makes a private temporary one. */
static int prepare_data_dir(void)
{
    if (g_cfg.data_dir) {
        if (mkdir(g_cfg.data_dir, 0755) < 0 && errno != EEXIST) {
            log_error("cannot create --data-dir %s: %s", g_cfg.data_dir, strerror(errno));
            return -1;
        }
        char *abs = realpath(g_cfg.data_dir, NULL);
        if (!abs)
            return -1;
        g_cfg.data_dir = abs;
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/sandboxd.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        log_error("cannot create a temporary data directory: %s", strerror(errno));
        return -1;
    }
    chmod(d, 0755);
    g_cfg.data_dir = realpath(d, NULL);
    g_cfg.data_dir_owned = true;
    return g_cfg.data_dir ? 0 : -1;
}

/* Applies --faults (a full configuration) at startup. */
static int initial_faults(void)
{
    if (!g_cfg.faults)
        return 0;
    json_error_t je;
    json_t *j = json_loads(g_cfg.faults, 0, &je);
    char err[256];
    if (!j) {
        log_error("--faults: invalid JSON: %s", je.text);
        return -1;
    }
    int rc = faults_set(j, err, sizeof err);
    json_decref(j);
    if (rc < 0)
        log_error("--faults: %s", err);
    return rc;
}

/* Creates and starts one HTTP server. */
static httpd_t *start_server(const char *name, int port, int (*auth)(httpd_req_t *, void *),
                             json_t *(*error_body)(httpd_req_t *, int, const char *, void *),
                             httpd_handler_fn not_found, void (*routes)(httpd_t *))
{
    httpd_config_t hc = {
        .name = name,
        .bind = g_cfg.bind,
        .port = (uint16_t)port,
        .thread_stack = g_cfg.thread_stack,
        .max_connections = g_cfg.max_connections,
        .log_requests = g_cfg.log_requests,
        .auth = auth,
        .error_body = error_body,
        .not_found = not_found,
    };
    httpd_t *h = httpd_new(&hc);
    if (!h)
        return NULL;
    routes(h);
    if (httpd_start(h) < 0) {
        httpd_free(h);
        return NULL;
    }
    return h;
}

/* Routes of the api port. */
static void api_routes(httpd_t *h)
{
    api_register(h);
    admin_register(h);
}

/* Routes of the sandbox port (envd and code interpreter). */
static void sandbox_routes(httpd_t *h)
{
    envd_process_register(h);
    envd_fs_register(h);
    envd_files_register(h);
    interp_register(h);
}

/* Removes what sandboxd itself put in the data directory. */
static void cleanup_data_dir(void)
{
    char p[4200];
    if (g_cfg.data_dir_owned) {
        janitor_remove(strdup(g_cfg.data_dir));
        return;
    }
    snprintf(p, sizeof p, "%s/.sandboxd-etc", g_cfg.data_dir);
    janitor_remove(strdup(p));
    snprintf(p, sizeof p, "%s/.probe", g_cfg.data_dir);
    janitor_remove(strdup(p));
}

/* Parses flags, starts the I/O thread, janitor and both servers, prints the
 * ports line, then waits for SIGTERM/SIGINT/SIGHUP and shuts down cleanly. */
int main(int argc, char **argv)
{
    int rc = config_parse(argc, argv, &g_cfg);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    log_init("sandboxd", g_cfg.debug);
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* inherited by every thread */
    raise_fd_limit();
    stats_init();
    faults_init(g_cfg.fault_seed);
    if (initial_faults() < 0 || prepare_data_dir() < 0 || templates_init(g_cfg.templates) < 0)
        return 1;
    if (iso_init(g_cfg.data_dir) < 0)
        return 1;
    if (sandbox_table_init(g_cfg.max_sandboxes, g_cfg.data_dir) < 0 || janitor_start() < 0 ||
        io_start() < 0) {
        log_error("startup failed: %s", strerror(errno));
        return 1;
    }
    httpd_t *api = start_server("api", g_cfg.api_port, api_auth, api_error_body, NULL, api_routes);
    httpd_t *sbx = api ? start_server("sandbox", g_cfg.sandbox_port, NULL, proxy_error_body,
                                      proxy_not_found, sandbox_routes)
                       : NULL;
    if (!api || !sbx) {
        if (api)
            httpd_free(api);
        io_stop();
        cleanup_data_dir();
        janitor_stop();
        return 1;
    }
    char domain[512];
    const char *ph = g_cfg.domain ? strstr(g_cfg.domain, "{sandbox_port}") : NULL;
    if (ph) { /* --domain 'localhost:{sandbox_port}' */
        snprintf(domain, sizeof domain, "%.*s%u%s", (int)(ph - g_cfg.domain), g_cfg.domain,
                 httpd_port(sbx), ph + strlen("{sandbox_port}"));
        g_cfg.domain = domain;
    }
    if (metrics_start(g_cfg.metrics_interval_s) < 0)
        log_warn("cannot start the metrics sampler: %s", strerror(errno));
    printf("sandboxd: api %s:%u sandbox %s:%u\n", g_cfg.bind, httpd_port(api), g_cfg.bind,
           httpd_port(sbx));
    fflush(stdout);
    log_info("isolation: %s; data dir %s; at most %d running sandboxes", iso_describe(),
             g_cfg.data_dir, g_cfg.max_sandboxes);
    log_info("this is a development/test host, NOT a security boundary");

    int sig = 0;
    while (sig <= 0)
        sig = sigwaitinfo(&stop, NULL);
    log_info("received %s, shutting down", strsignal(sig));

    httpd_quiesce(api);
    httpd_quiesce(sbx);
    metrics_stop();
    sandbox_kill_all();
    for (int i = 0; i < 100 && sandbox_pending_cleanup() > 0; i++)
        time_sleep_ms(50);
    if (sandbox_pending_cleanup() > 0)
        log_warn("%d sandbox inits did not exit in time", sandbox_pending_cleanup());
    httpd_stop(sbx);
    httpd_stop(api);
    io_stop();
    /* no child may outlive us as a zombie: wait until none is left */
    for (int i = 0; i < 60; i++) {
        iso_reap_strays();
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
            break;
        time_sleep_ms(50);
    }
    cleanup_data_dir();
    janitor_stop();
    httpd_free(sbx);
    httpd_free(api);
    log_info("stopped");
    return 0;
}
