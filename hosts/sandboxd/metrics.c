/* metrics.c - per-sandbox metrics: sampler thread, series, envd figures
 * (see metrics.h). */
#include "metrics.h"

#include "log.h"
#include "ptree.h"
#include "timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DISK_WALK_MAX_ENTRIES 200000
#define DISK_WALK_MAX_DEPTH 64
#define SERIES_SECONDS (4 * 3600) /* history kept per sandbox */

static pthread_t g_thread;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;
static bool g_started, g_stop;
static int g_interval_s = 5;

/* What one measurement of a sandbox found. */
typedef struct measure {
    pid_t init;             /* 0 = no init (nothing ever ran, or it is gone) */
    uint64_t ticks;         /* CPU ticks of the init's tree */
    int64_t mem;            /* resident bytes of the tree */
    int64_t disk;           /* bytes under home/user and tmp */
} measure_t;

/* Adds up st_blocks under an open directory (no symlinks followed, no
 * more than DISK_WALK_MAX_ENTRIES entries). */
static void walk_dir(int dfd, int depth, int64_t *bytes, long *entries)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) && *entries < DISK_WALK_MAX_ENTRIES) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        (*entries)++;
        *bytes += (int64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode) && depth < DISK_WALK_MAX_DEPTH) {
            int sub = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
            if (sub >= 0)
                walk_dir(sub, depth + 1, bytes, entries);
        }
    }
    closedir(d);
}

/* Bytes allocated under the sandbox's writable directories. */
static int64_t disk_used(const sandbox_t *sb)
{
    int64_t bytes = 0;
    long entries = 0;
    static const char *const dirs[] = {"home/user", "tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        int fd = openat(sb->root_fd, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            walk_dir(fd, 0, &bytes, &entries);
    }
    return bytes;
}

/* The init whose tree holds the sandbox's processes (0 if none). */
static pid_t sandbox_init_pid(sandbox_t *sb)
{
    pthread_mutex_lock(&sb->mu);
    pid_t p = sb->init_state == INIT_READY && sb->init_pid > 0 ? sb->init_pid : 0;
    pthread_mutex_unlock(&sb->mu);
    return p;
}

/* Measures n sandboxes with one pass over /proc. */
static void measure_all(sandbox_t **sbs, size_t n, measure_t *out)
{
    pid_t *roots = calloc(n ? n : 1, sizeof *roots);
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].init = sandbox_init_pid(sbs[i]);
        if (roots)
            roots[i] = out[i].init;
    }
    ptree_t t;
    if (roots && ptree_scan(&t) == 0) {
        ptree_assign(&t, roots, (int)n);
        long page = sysconf(_SC_PAGESIZE);
        for (int k = 0; k < t.n; k++) {
            int o = t.v[k].owner;
            if (o < 0)
                continue;
            out[o].ticks += t.v[k].ticks;
            out[o].mem += t.v[k].rss_pages * page;
        }
        ptree_free(&t);
    }
    free(roots);
    for (size_t i = 0; i < n; i++)
        out[i].disk = disk_used(sbs[i]);
}

/* CPU percentage of METRICS_CPU_COUNT CPUs between the sandbox's previous
 * sample and `m`, rounded to 2 decimals as envd does (caller holds mu). */
static double cpu_pct_since(const sandbox_t *sb, const measure_t *m, int64_t now_mono)
{
    if (!m->init || !sb->cpu_prev_ms || now_mono <= sb->cpu_prev_ms)
        return 0;
    uint64_t prev = sb->cpu_prev_init == m->init ? sb->cpu_prev_ticks : 0;
    if (m->ticks <= prev)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    double used_s = (double)(m->ticks - prev) / (double)(hz > 0 ? hz : 100);
    double wall_s = (double)(now_mono - sb->cpu_prev_ms) / 1000.0;
    double pct = 100.0 * used_s / (wall_s * METRICS_CPU_COUNT);
    if (pct > 100)
        pct = 100;
    return (double)(long long)(pct * 100 + 0.5) / 100;
}

/* Appends a sample to the ring (caller holds mu). */
static void ring_push(sandbox_t *sb, const sbx_metric_t *s)
{
    int limit = SERIES_SECONDS / g_interval_s;
    if (limit < 16)
        limit = 16;
    if (sb->mlen == sb->mcap && sb->mcap < limit) {
        int nc = sb->mcap ? sb->mcap * 2 : 64;
        if (nc > limit)
            nc = limit;
        sbx_metric_t *nv = malloc((size_t)nc * sizeof *nv);
        if (!nv)
            return;
        for (int i = 0; i < sb->mlen; i++)
            nv[i] = sb->mring[(sb->mhead + i) % sb->mcap];
        free(sb->mring);
        sb->mring = nv;
        sb->mcap = nc;
        sb->mhead = 0;
    }
    if (sb->mcap == 0)
        return;
    if (sb->mlen < sb->mcap) {
        sb->mring[(sb->mhead + sb->mlen) % sb->mcap] = *s;
        sb->mlen++;
    } else {
        sb->mring[sb->mhead] = *s;
        sb->mhead = (sb->mhead + 1) % sb->mcap;
    }
}

/* One sampling pass over the running sandboxes. */
static void sample_all(void)
{
    size_t n;
    sandbox_t **all = sandbox_snapshot(&n);
    if (!all)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&all[i]->mu);
        bool running = all[i]->state == SBX_RUNNING;
        pthread_mutex_unlock(&all[i]->mu);
        if (running)
            all[k++] = all[i];
        else
            sandbox_unref(all[i]);
    }
    measure_t *m = calloc(k ? k : 1, sizeof *m);
    if (m) {
        measure_all(all, k, m);
        int64_t now = time_now_ms(), mono = time_mono_ms();
        for (size_t i = 0; i < k; i++) {
            sandbox_t *sb = all[i];
            pthread_mutex_lock(&sb->mu);
            if (sb->state == SBX_RUNNING) {
                sbx_metric_t s = {
                    .ts_ms = now,
                    .cpu_pct = cpu_pct_since(sb, &m[i], mono),
                    .mem_used = m[i].mem,
                    .disk_used = m[i].disk,
                };
                ring_push(sb, &s);
            }
            sb->cpu_prev_ticks = m[i].ticks;
            sb->cpu_prev_ms = mono;
            sb->cpu_prev_init = m[i].init;
            pthread_mutex_unlock(&sb->mu);
        }
        free(m);
    }
    sandbox_snapshot_free(all, k);
}

/* The sampler: a pass every interval until stopped. */
static void *sampler_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_stop) {
        struct timespec ts;
        time_abs_mono(&ts, (int64_t)g_interval_s * 1000);
        while (!g_stop && pthread_cond_timedwait(&g_cond, &g_mu, &ts) != ETIMEDOUT)
            ;
        if (g_stop)
            break;
        pthread_mutex_unlock(&g_mu);
        sample_all();
        pthread_mutex_lock(&g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

int metrics_start(int interval_s)
{
    g_interval_s = interval_s > 0 ? interval_s : 5;
    time_cond_init(&g_cond);
    g_stop = false;
    if (pthread_create(&g_thread, NULL, sampler_main, NULL) != 0)
        return -1;
    g_started = true;
    return 0;
}

void metrics_stop(void)
{
    if (!g_started)
        return;
    pthread_mutex_lock(&g_mu);
    g_stop = true;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_mu);
    pthread_join(g_thread, NULL);
    g_started = false;
}

/* E2B's step for a range (clickhouse utils CalculateStep). */
static int64_t step_for(int64_t range_s)
{
    if (range_s < 3600)
        return 5;
    if (range_s < 6 * 3600)
        return 30;
    if (range_s < 12 * 3600)
        return 60;
    if (range_s < 24 * 3600)
        return 120;
    if (range_s < 7 * 24 * 3600)
        return 300;
    return 900;
}

/* One SandboxMetric object. */
static json_t *metric_json(int64_t ts_s, const sbx_metric_t *m)
{
    char when[40];
    time_t t = (time_t)ts_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s,s:I,s:i,s:f,s:I,s:I,s:I,s:I,s:I}", "timestamp", when, "timestampUnix",
                     (json_int_t)ts_s, "cpuCount", METRICS_CPU_COUNT, "cpuUsedPct", m->cpu_pct,
                     "memUsed", (json_int_t)m->mem_used, "memTotal", (json_int_t)METRICS_MEM_TOTAL,
                     "memCache", (json_int_t)0, "diskUsed", (json_int_t)m->disk_used, "diskTotal",
                     (json_int_t)METRICS_DISK_TOTAL);
}

/* Samples in [start, end], grouped into step-aligned buckets (maximum of
 * each field), oldest first: E2B's toStartOfInterval + maxIf query. */
int metrics_series(sandbox_t *sb, int64_t start_s, int64_t end_s, json_t **out)
{
    *out = NULL;
    int n = 0;
    sbx_metric_t *v = NULL;
    if (sb) {
        pthread_mutex_lock(&sb->mu);
        n = sb->mlen;
        v = n ? malloc((size_t)n * sizeof *v) : NULL;
        if (v)
            for (int i = 0; i < n; i++)
                v[i] = sb->mring[(sb->mhead + i) % sb->mcap];
        else
            n = 0;
        pthread_mutex_unlock(&sb->mu);
    }
    if (start_s < 0)
        start_s = n ? v[0].ts_ms / 1000 : 0;
    if (end_s < 0)
        end_s = n ? v[n - 1].ts_ms / 1000 : 0;
    if (start_s > end_s) {
        free(v);
        return -1;
    }
    json_t *arr = json_array();
    int64_t step = step_for(end_s - start_s);
    int64_t bucket = -1;
    sbx_metric_t acc = {0};
    for (int i = 0; i < n; i++) {
        int64_t s = v[i].ts_ms / 1000;
        if (s < start_s || s > end_s)
            continue;
        int64_t b = s - s % step;
        if (b != bucket) {
            if (bucket >= 0)
                json_array_append_new(arr, metric_json(bucket, &acc));
            bucket = b;
            acc = v[i];
            continue;
        }
        if (v[i].cpu_pct > acc.cpu_pct)
            acc.cpu_pct = v[i].cpu_pct;
        if (v[i].mem_used > acc.mem_used)
            acc.mem_used = v[i].mem_used;
        if (v[i].disk_used > acc.disk_used)
            acc.disk_used = v[i].disk_used;
    }
    if (bucket >= 0)
        json_array_append_new(arr, metric_json(bucket, &acc));
    free(v);
    *out = arr;
    return 0;
}

/* Fresh figures; the CPU share is measured since the sampler's last pass
 * (gopsutil's cpu.Percent(0) is "since the previous call" as well). */
json_t *metrics_envd_json(sandbox_t *sb)
{
    measure_t m;
    measure_all(&sb, 1, &m);
    pthread_mutex_lock(&sb->mu);
    double pct = cpu_pct_since(sb, &m, time_mono_ms());
    pthread_mutex_unlock(&sb->mu);
    return json_pack("{s:I,s:i,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ts",
                     (json_int_t)(time_now_ms() / 1000), "cpu_count", METRICS_CPU_COUNT,
                     "cpu_used_pct", pct, "mem_total_mib", (json_int_t)(METRICS_MEM_TOTAL >> 20),
                     "mem_used_mib", (json_int_t)(m.mem >> 20), "mem_total",
                     (json_int_t)METRICS_MEM_TOTAL, "mem_used", (json_int_t)m.mem, "mem_cache",
                     (json_int_t)0, "disk_used", (json_int_t)m.disk, "disk_total",
                     (json_int_t)METRICS_DISK_TOTAL);
}
