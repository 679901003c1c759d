/* config.c - command-line parsing and --help (see config.h). */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

config_t g_cfg;

/* The one place every flag is documented. */
void config_usage(FILE *out)
{
    fprintf(out,
"usage: sandboxd --api-key KEY [options]\n"
"\n"
"A local, E2B-compatible sandbox host for development and tests.  It is NOT\n"
"a security boundary: sandboxes are bubblewrap namespaces on this machine,\n"
"not microVMs.\n"
"\n"
"Listening:\n"
"  --api-port N          control-plane port (E2B REST API); 0 = pick a free one (default 0)\n"
"  --sandbox-port N      sandbox traffic port (envd + code interpreter); 0 = pick (default 0)\n"
"  --bind ADDR           IPv4 address to listen on (default 127.0.0.1)\n"
"  --api-key KEY         the only accepted X-API-Key (required)\n"
"  --max-connections N   concurrent connections per port (default 8192)\n"
"  --thread-stack BYTES  stack size of each connection thread (default 262144)\n"
"\n"
"Sandboxes:\n"
"  --max-sandboxes N     live (running) sandbox limit; more answer 429 (default 20)\n"
"  --max-timeout SECONDS largest accepted sandbox timeout (default 86400 = 24 h)\n"
"  --data-dir DIR        where sandbox homes live (default: a new temporary directory,\n"
"                        removed at exit); each sandbox gets DIR/<sandboxID>/\n"
"  --templates LIST      extra template names to accept (comma-separated); they behave\n"
"                        like code-interpreter-v1.  Built in: base, code-interpreter-v1\n"
"                        (alias code-interpreter)\n"
"  --no-bwrap            do not use bubblewrap even if it works (commands run as plain\n"
"                        processes in a per-sandbox directory)\n"
"  --no-userns           use bubblewrap without a user namespace (commands run as root)\n"
"  --bwrap PATH          bubblewrap binary (default /usr/bin/bwrap)\n"
"  --init PATH           sandboxd-init binary (default: next to sandboxd)\n"
"  --python PATH         python interpreter for the code interpreter (default python3)\n"
"  --domain D            domain reported in create/connect/info (\"domain\"); the SDK's\n"
"                        getHost(port) then gives PORT-ID.D, which the sandbox port serves\n"
"                        (default: none, i.e. null: clients use E2B_DOMAIN)\n"
"  --metrics-interval S  seconds between per-sandbox metric samples (default 5, as E2B)\n"
"\n"
"Testing:\n"
"  --faults JSON         initial fault-injection configuration, e.g.\n"
"                        '{\"seed\":1,\"rules\":[{\"path\":\"/sandboxes\",\"error_rate\":0.5}]}'\n"
"                        (see README.md; changeable at run time via /admin/faults)\n"
"  --fault-seed N        seed for fault dice (default: random)\n"
"  --log-requests        log one line per HTTP request to stderr\n"
"  --debug               verbose diagnostics on stderr\n"
"  --help                this text\n"
"\n"
"At start sandboxd prints one line on stdout:\n"
"  sandboxd: api 127.0.0.1:PORT sandbox 127.0.0.1:PORT\n"
"SIGTERM or SIGINT kills every sandbox, removes their directories and exits 0.\n");
}

/* Parses a non-negative integer flag value within [lo, hi]. */
static int parse_int(const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (!v[0] || *end || n < lo || n > hi) {
        fprintf(stderr, "sandboxd: %s expects an integer between %ld and %ld, got '%s'\n", flag,
                lo, hi, v);
        return -1;
    }
    *out = n;
    return 0;
}

/* getopt_long over the flags listed in config_usage(). */
int config_parse(int argc, char **argv, config_t *c)
{
    enum {
        O_API_PORT = 1000, O_SBX_PORT, O_BIND, O_KEY, O_MAX_SBX, O_DATA, O_LOG, O_DEBUG,
        O_NO_BWRAP, O_NO_USERNS, O_BWRAP, O_INIT, O_PYTHON, O_TEMPLATES, O_FAULTS, O_SEED,
        O_MAX_TIMEOUT, O_STACK, O_MAXCONN, O_DOMAIN, O_METRICS, O_HELP
    };
    static const struct option opts[] = {
        {"api-port", required_argument, 0, O_API_PORT},
        {"sandbox-port", required_argument, 0, O_SBX_PORT},
        {"bind", required_argument, 0, O_BIND},
        {"api-key", required_argument, 0, O_KEY},
        {"max-sandboxes", required_argument, 0, O_MAX_SBX},
        {"data-dir", required_argument, 0, O_DATA},
        {"log-requests", no_argument, 0, O_LOG},
        {"debug", no_argument, 0, O_DEBUG},
        {"no-bwrap", no_argument, 0, O_NO_BWRAP},
        {"no-userns", no_argument, 0, O_NO_USERNS},
        {"bwrap", required_argument, 0, O_BWRAP},
        {"init", required_argument, 0, O_INIT},
        {"python", required_argument, 0, O_PYTHON},
        {"templates", required_argument, 0, O_TEMPLATES},
        {"faults", required_argument, 0, O_FAULTS},
        {"fault-seed", required_argument, 0, O_SEED},
        {"max-timeout", required_argument, 0, O_MAX_TIMEOUT},
        {"thread-stack", required_argument, 0, O_STACK},
        {"max-connections", required_argument, 0, O_MAXCONN},
        {"domain", required_argument, 0, O_DOMAIN},
        {"metrics-interval", required_argument, 0, O_METRICS},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    memset(c, 0, sizeof *c);
    c->bind = "127.0.0.1";
    c->max_sandboxes = 20;
    c->bwrap = "/usr/bin/bwrap";
    c->python = "python3";
    c->max_timeout_s = 86400;
    c->thread_stack = 256 * 1024;
    c->max_connections = 8192;
    c->metrics_interval_s = 5;
    long n;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_API_PORT:
            if (parse_int("--api-port", optarg, 0, 65535, &n) < 0)
                return -1;
            c->api_port = (int)n;
            break;
        case O_SBX_PORT:
            if (parse_int("--sandbox-port", optarg, 0, 65535, &n) < 0)
                return -1;
            c->sandbox_port = (int)n;
            break;
        case O_BIND:
            c->bind = optarg;
            break;
        case O_KEY:
            c->api_key = optarg;
            break;
        case O_MAX_SBX:
            if (parse_int("--max-sandboxes", optarg, 1, 100000, &n) < 0)
                return -1;
            c->max_sandboxes = (int)n;
            break;
        case O_DATA:
            c->data_dir = optarg;
            break;
        case O_LOG:
            c->log_requests = true;
            break;
        case O_DEBUG:
            c->debug = true;
            break;
        case O_NO_BWRAP:
            c->no_bwrap = true;
            break;
        case O_NO_USERNS:
            c->no_userns = true;
            break;
        case O_BWRAP:
            c->bwrap = optarg;
            break;
        case O_INIT:
            c->init_path = optarg;
            break;
        case O_PYTHON:
            c->python = optarg;
            break;
        case O_TEMPLATES:
            c->templates = optarg;
            break;
        case O_FAULTS:
            c->faults = optarg;
            break;
        case O_SEED:
            if (parse_int("--fault-seed", optarg, 0, __LONG_MAX__, &n) < 0)
                return -1;
            c->fault_seed = (uint64_t)n;
            break;
        case O_MAX_TIMEOUT:
            if (parse_int("--max-timeout", optarg, 1, 30L * 86400, &n) < 0)
                return -1;
            c->max_timeout_s = (int)n;
            break;
        case O_STACK:
            if (parse_int("--thread-stack", optarg, 65536, 64L << 20, &n) < 0)
                return -1;
            c->thread_stack = (size_t)n;
            break;
        case O_MAXCONN:
            if (parse_int("--max-connections", optarg, 16, 1000000, &n) < 0)
                return -1;
            c->max_connections = (unsigned)n;
            break;
        case O_DOMAIN:
            c->domain = optarg[0] ? optarg : NULL;
            break;
        case O_METRICS:
            if (parse_int("--metrics-interval", optarg, 1, 3600, &n) < 0)
                return -1;
            c->metrics_interval_s = (int)n;
            break;
        case O_HELP:
        case 'h':
            config_usage(stdout);
            return 1;
        default:
            fprintf(stderr, "sandboxd: try --help\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sandboxd: unexpected argument '%s' (try --help)\n", argv[optind]);
        return -1;
    }
    if (!c->api_key || !c->api_key[0]) {
        fprintf(stderr, "sandboxd: --api-key is required (try --help)\n");
        return -1;
    }
    return 0;
}
