/*
 * load.c - concurrent load generator for modeld (libcurl multi, one thread).
 *
 *   load URL KEY [N=1000] [LATENCY_MS=1000] [MODELD_PID]
 *
 * Starts N model calls at once, each carrying a [[modeld: latency=MS]]
 * directive, and waits for all answers.  Calls alternate Anthropic /
 * OpenAI and planning / execution; each uses its own connection (no
 * keep-alive reuse is possible with all of them in flight).  A call counts
 * as ok when it answers 200 with a body that parses as JSON.  While waiting
 * it samples the server's thread count and RSS from /proc/PID/status.
 * Prints one JSON line; exits 1 if any call failed.
 *
 * libcurl and jansson do the HTTP and JSON work, as everywhere else.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* One call in flight. */
typedef struct call {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *resp;
    size_t resp_len;
    double t0_ms;
    double ms;
    long status;
    int ok;
} call_t;

/* Monotonic milliseconds. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* libcurl write callback: accumulates the response body. */
static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
    call_t *c = arg;
    size_t len = sz * n;
    char *r = realloc(c->resp, c->resp_len + len + 1);
    if (!r)
        return 0;
    memcpy(r + c->resp_len, p, len);
    c->resp = r;
    c->resp_len += len;
    r[c->resp_len] = '\0';
    return len;
}

/* Builds call i: the provider alternates every call, the phase every two. */
static void build(call_t *c, int i, const char *url, const char *key, int lat)
{
    char text[128], hdr[256], full[512];
    snprintf(text, sizeof text, "Load request %d. [[modeld: latency=%d]]\n```bash\necho %d\n```", i,
             lat, i);
    int tools = i % 4 >= 2;
    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "user", "content", text);
    json_t *body;
    if (i % 2 == 0) {
        body = json_pack("{s:s,s:i,s:o}", "model", "load", "max_tokens", 256, "messages", msgs);
        if (tools)
            json_object_set_new(body, "tools",
                                json_pack("[{s:s,s:{s:s}}]", "name", "run_command",
                                          "input_schema", "type", "object"));
        snprintf(full, sizeof full, "%s/v1/messages", url);
        snprintf(hdr, sizeof hdr, "x-api-key: %s", key);
        c->headers = curl_slist_append(c->headers, "anthropic-version: 2023-06-01");
    } else {
        body = json_pack("{s:s,s:o}", "model", "load", "messages", msgs);
        if (tools)
            json_object_set_new(body, "tools",
                                json_pack("[{s:s,s:{s:s}}]", "type", "function", "function",
                                          "name", "run_command"));
        snprintf(full, sizeof full, "%s/v1/chat/completions", url);
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", key);
    }
    c->headers = curl_slist_append(c->headers, hdr);
    c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    c->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    c->easy = curl_easy_init();
    curl_easy_setopt(c->easy, CURLOPT_URL, full);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c->easy, CURLOPT_FORBID_REUSE, 1L);
}

/* Reads Threads and VmRSS (kB) of `pid`. */
static void proc_status(const char *pid, long *threads, long *rss_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "Threads: %ld", threads);
        sscanf(line, "VmRSS: %ld", rss_kb);
    }
    fclose(f);
}

/* qsort comparator for latencies. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: load URL KEY [N] [LATENCY_MS] [PID]\n");
        return 2;
    }
    const char *url = argv[1], *key = argv[2];
    int n = argc > 3 ? atoi(argv[3]) : 1000;
    int lat = argc > 4 ? atoi(argv[4]) : 1000;
    const char *pid = argc > 5 ? argv[5] : NULL;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n);
    call_t *calls = calloc((size_t)n, sizeof *calls);
    for (int i = 0; i < n; i++)
        build(&calls[i], i, url, key, lat);

    long peak_threads = 0, peak_rss = 0, thr = 0, rss = 0, rss0 = 0;
    if (pid)
        proc_status(pid, &thr, &rss0);
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        calls[i].t0_ms = now_ms();
        curl_multi_add_handle(multi, calls[i].easy);
    }
    int running = n, done = 0;
    double last_sample = 0;
    while (done < n) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            call_t *c;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            c->ms = now_ms() - c->t0_ms;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &c->status);
            json_t *j = c->resp ? json_loads(c->resp, 0, NULL) : NULL;
            c->ok = m->data.result == CURLE_OK && c->status == 200 && j;
            json_decref(j);
            done++;
        }
        if (pid && now_ms() - last_sample > 50) {
            last_sample = now_ms();
            proc_status(pid, &thr, &rss);
            if (thr > peak_threads)
                peak_threads = thr;
            if (rss > peak_rss)
                peak_rss = rss;
        }
        if (done < n)
            curl_multi_poll(multi, NULL, 0, 50, NULL);
    }
    double wall = now_ms() - t0;

    double *lats = malloc((size_t)n * sizeof *lats);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        lats[i] = calls[i].ms;
        failed += !calls[i].ok;
    }
    qsort(lats, (size_t)n, sizeof *lats, cmp_double);
    printf("{\"requests\":%d,\"latency_ms\":%d,\"ok\":%d,\"failed\":%d,\"wall_ms\":%.0f,"
           "\"p50_ms\":%.0f,\"p99_ms\":%.0f,\"max_ms\":%.0f",
           n, lat, n - failed, failed, wall, lats[n / 2], lats[(n * 99) / 100], lats[n - 1]);
    if (pid)
        printf(",\"server_peak_threads\":%ld,\"server_rss_before_mb\":%.1f,"
               "\"server_peak_rss_mb\":%.1f", peak_threads, rss0 / 1024.0, peak_rss / 1024.0);
    printf("}\n");
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, calls[i].easy);
        curl_easy_cleanup(calls[i].easy);
        curl_slist_free_all(calls[i].headers);
        free(calls[i].body);
        free(calls[i].resp);
    }
    free(calls);
    free(lats);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
