/* options.c - command-line parsing and --help (see options.h). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Long-only options; the values are returned by getopt_long. */
enum {
    OPT_PORT = 1000,
    OPT_BIND,
    OPT_API_KEY,
    OPT_LATENCY,
    OPT_LOG,
    OPT_FAULTS,
    OPT_FAULT_SEED,
    OPT_CACHE_TTL,
    OPT_CACHE_MIN,
    OPT_RPM,
    OPT_MAXCONN,
    OPT_ITPM,
    OPT_DEBUG,
    OPT_HELP,
};

/* Prints the whole reference: flags, routes, directives, admin API. */
void options_usage(FILE *f)
{
    fputs(
        "usage: modeld [options]\n"
        "\n"
        "A deterministic scripted LLM server for tests: speaks the Anthropic Messages API\n"
        "(POST /v1/messages) and OpenAI chat completions (POST /v1/chat/completions).\n"
        "\n"
        "Options:\n"
        "  --port N          TCP port (default 0 = pick a free one).  The bound address is\n"
        "                    always printed on stdout: \"modeld: listening on ADDR:PORT\".\n"
        "  --bind ADDR       IPv4 address to bind (default 127.0.0.1).\n"
        "  --api-key KEY     require KEY: Anthropic routes accept x-api-key: KEY or\n"
        "                    Authorization: Bearer KEY, OpenAI routes Authorization: Bearer KEY;\n"
        "                    otherwise 401 with the provider's error body.  The admin routes\n"
        "                    accept either form.  Without it any key (or none) is accepted.\n"
        "  --latency-ms N    sleep N ms before every model answer.\n"
        "  --log-requests    log one line per request on stderr.\n"
        "  --faults JSON     initial fault-injection configuration (as PUT /admin/faults),\n"
        "                    or @FILE to read it from a file.  Server name: \"model\".\n"
        "  --fault-seed N    seed for the fault dice (default: random; a \"seed\" in the\n"
        "                    configuration wins).\n"
        "  --cache-ttl-ms N  prompt-cache TTL of a \"5m\" entry in ms (default 300000);\n"
        "                    a \"1h\" entry lives 12 times as long.\n"
        "  --cache-min-tokens N  minimum cacheable prompt, in tokens (bytes / 4); default\n"
        "                    Anthropic 1024 (2048 for a \"haiku\" model), OpenAI 1024.\n"
        "  --rpm N           at most N model calls per minute, Anthropic-style: a bucket of\n"
        "                    N requests refilled continuously at N/60 per second; a call\n"
        "                    over it is a 429 rate_limit_error with retry-after.\n"
        "  --itpm N          at most N input tokens per minute (estimated as request bytes\n"
        "                    / 4, as usage counts them), same kind of bucket.  With either,\n"
        "                    every answer of the chat routes carries\n"
        "                    anthropic-ratelimit-{requests,input-tokens}-{limit,remaining,reset}\n"
        "                    (Anthropic) or x-ratelimit-{limit,remaining,reset}-{requests,tokens}\n"
        "                    (OpenAI).  GET|PUT|DELETE /admin/ratelimit reads, changes\n"
        "                    ({\"rpm\":N,\"itpm\":M}) or refills them.\n"
        "  --max-connections N  concurrent connections (default 8192; each is a thread).\n"
        "  --debug           print libmicrohttpd diagnostics.\n"
        "  --help            this text.\n"
        "\n"
        "Routes: POST /v1/messages, POST /v1/chat/completions, GET /v1/models,\n"
        "GET /v1/models/{id}; admin: GET|PUT|POST|DELETE /admin/faults, DELETE\n"
        "/admin/faults/{id}, GET /admin/stats, POST /admin/stats/reset,\n"
        "DELETE /admin/conversations (forget fail_first counters), DELETE /admin/cache\n"
        "(forget the prompt cache), GET|PUT|DELETE /admin/ratelimit (--rpm/--itpm).\n"
        "\n"
        "Answers (deterministic):\n"
        "  no tools declared   planning call: \"Plan:\\n1. ...\\n\", one step per ```bash/sh/shell\n"
        "                      or ```python/py block of the first user message, then\n"
        "                      \"Report the output\".\n"
        "  tools declared      execution call: bash block -> run_command {command};\n"
        "                      python block k -> write_file {path:/home/user/program_k.py,\n"
        "                      content} then run_command {command:\"python3 <path>\"};\n"
        "                      ```tool NAME block -> NAME with the block's JSON object as\n"
        "                      its input (JSON that does not parse: 400 naming the block).\n"
        "                      With p tool results in the conversation it answers planned\n"
        "                      call p+1, else \"Done. The last tool returned:\\n<last result>\".\n"
        "  continued run       U = the last user message with text (Anthropic: a string, or\n"
        "                      text blocks and no tool_result; OpenAI: the last role user).\n"
        "                      When U is not the first user message, an execution call runs\n"
        "                      U's blocks, p counts the tool results after U, and the final\n"
        "                      answer quotes the last of them.  The planning call still\n"
        "                      plans the first user message.\n"
        "\n"
        "Directives, anywhere in the first user message and in U (U's groups are merged\n"
        "after, so U wins; several groups allowed):\n"
        "  [[modeld: key=value flag ...]]\n"
        "  status=S            answer HTTP S (400..599) with the provider's error body\n"
        "  fail_first=N        status/malformed/drop only for the first N calls of this\n"
        "                      conversation (first user message + tools or not)\n"
        "  on=plan|exec|all    which calls this group applies to (default all)\n"
        "  retry_after=N       retry-after seconds (429 sends 1 by default) + retry-after-ms\n"
        "  retry_after_ms=N    retry-after-ms exactly (retry-after rounded up)\n"
        "  should_retry=true|false  send x-should-retry\n"
        "  malformed           200 with a body that is not valid JSON\n"
        "  drop                close the connection without answering\n"
        "  bad_tool_args       Anthropic input {} / OpenAI arguments that are not JSON\n"
        "  max_tokens          stop_reason max_tokens / finish_reason length, cut text\n"
        "  latency=MS          sleep MS ms before answering\n"
        "  loop                every execution call runs \"echo turn <n>\" (never finishes)\n"
        "  empty               final answer with empty text, right away\n"
        "  parallel            all remaining planned tool calls in one answer\n"
        "  echo_system         text answers end with the request's system prompt\n"
        "  recall              final answer \"Recalled:\\n\", the text of every tool result\n"
        "                      before U, one per line, then \"Messages: N\" (messages in the\n"
        "                      request)\n"
        "  hostile_text=SHAPE  text answers (plan, final): the text field is SHAPE, raw\n"
        "  hostile_json_text=SHAPE  text answers: the text is the string {\"result\":SHAPE}\n"
        "  hostile_input=SHAPE every tool-call argument value is SHAPE (Anthropic input,\n"
        "                      OpenAI inside the arguments string)\n"
        "  hostile_usage=SHAPE every usage token count is SHAPE, raw\n"
        "                      SHAPE: bignum (1e999999), negbignum (-1e999999), longint\n"
        "                      (200000 digits), deep (100000 nested arrays)\n"
        "  hostile_digits=N, hostile_depth=N  size of longint, deep\n"
        "  huge=SIZE           text answers padded to SIZE bytes (K, M, G suffixes; <= 1G)\n"
        "  result=JSON         structured final answer: a tool_use of the tool forced by\n"
        "                      tool_choice or of a declared final_result tool (input =\n"
        "                      JSON), OpenAI response_format json_schema: content = JSON\n"
        "  result_invalid_first=N  the first N structured answers fail the schema ({})\n"
        "\n"
        "Prompt caching: Anthropic cache_control breakpoints (tools, system, messages,\n"
        "top level) and OpenAI automatic caching (prompts >= 1024 tokens) report\n"
        "cache_creation/cache_read_input_tokens and prompt_tokens_details.cached_tokens\n"
        "deterministically (tokens = bytes / 4); see README.md.\n"
        "\n"
        "\"stream\": true is supported (SSE) for both providers.\n",
        f);
}

/* Parses a decimal integer in [lo, hi]. */
static int parse_num(const char *flag, const char *s, long lo, long hi, long *out)
{
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "modeld: %s needs an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* getopt_long over the long options only. */
int options_parse(int argc, char **argv, modeld_opts_t *o)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, OPT_PORT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"api-key", required_argument, NULL, OPT_API_KEY},
        {"latency-ms", required_argument, NULL, OPT_LATENCY},
        {"log-requests", no_argument, NULL, OPT_LOG},
        {"faults", required_argument, NULL, OPT_FAULTS},
        {"fault-seed", required_argument, NULL, OPT_FAULT_SEED},
        {"cache-ttl-ms", required_argument, NULL, OPT_CACHE_TTL},
        {"cache-min-tokens", required_argument, NULL, OPT_CACHE_MIN},
        {"rpm", required_argument, NULL, OPT_RPM},
        {"max-connections", required_argument, NULL, OPT_MAXCONN},
        {"itpm", required_argument, NULL, OPT_ITPM},
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->bind = "127.0.0.1";
    o->cache_ttl_ms = 300000;
    o->max_connections = 8192;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PORT:
            if (parse_num("--port", optarg, 0, 65535, &v) < 0)
                return -1;
            o->port = (uint16_t)v;
            break;
        case OPT_BIND:
            o->bind = optarg;
            break;
        case OPT_API_KEY:
            o->api_key = optarg[0] ? optarg : NULL;
            break;
        case OPT_LATENCY:
            if (parse_num("--latency-ms", optarg, 0, 600000, &v) < 0)
                return -1;
            o->latency_ms = (int)v;
            break;
        case OPT_LOG:
            o->log_requests = true;
            break;
        case OPT_FAULTS:
            o->faults = optarg;
            break;
        case OPT_FAULT_SEED:
            if (parse_num("--fault-seed", optarg, 0, LONG_MAX, &v) < 0)
                return -1;
            o->fault_seed = (uint64_t)v;
            break;
        case OPT_CACHE_TTL:
            if (parse_num("--cache-ttl-ms", optarg, 1, 86400000, &v) < 0)
                return -1;
            o->cache_ttl_ms = v;
            break;
        case OPT_CACHE_MIN:
            if (parse_num("--cache-min-tokens", optarg, 1, 100000000, &v) < 0)
                return -1;
            o->cache_min_tokens = (int)v;
            break;
        case OPT_MAXCONN:
            if (parse_num("--max-connections", optarg, 1, 1000000, &v) < 0)
                return -1;
            o->max_connections = (int)v;
            break;
        case OPT_RPM:
            if (parse_num("--rpm", optarg, 0, 100000000, &v) < 0)
                return -1;
            o->rpm = v;
            break;
        case OPT_ITPM:
            if (parse_num("--itpm", optarg, 0, 100000000000L, &v) < 0)
                return -1;
            o->itpm = v;
            break;
        case OPT_DEBUG:
            o->debug = true;
            break;
        case OPT_HELP:
        case 'h':
            options_usage(stdout);
            return 1;
        default:
            fprintf(stderr, "modeld: try --help\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "modeld: unexpected argument '%s' (try --help)\n", argv[optind]);
        return -1;
    }
    return 0;
}
