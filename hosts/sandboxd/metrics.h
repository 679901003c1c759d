/*
 * metrics.h - per-sandbox CPU, memory and disk figures, as E2B reports them.
 *
 * E2B's orchestrator asks every running sandbox's envd for its figures
 * every 5 s and stores them; GET /sandboxes/{id}/metrics returns that time
 * series (SandboxMetric), bucketed by a step that depends on the requested
 * range.  sandboxd does the same with a sampler thread: every
 * --metrics-interval seconds each running sandbox gets a sample of
 *
 *   cpuUsedPct  CPU time of the sandbox's processes (the process tree of its
 *               init) over the interval, as a percentage of cpuCount CPUs
 *   memUsed     resident memory of those processes (bytes)
 *   diskUsed    bytes allocated by the files under /home/user and /tmp
 *
 * with the nominal totals of ListedSandbox (cpuCount 2, memTotal 512 MiB,
 * diskTotal 1024 MiB) and memCache 0.  Nothing enforces those totals.
 * Paused sandboxes are not sampled (their series keeps what was measured
 * while they ran); a killed sandbox's series goes with it.
 */
#ifndef SANDBOXD_METRICS_H
#define SANDBOXD_METRICS_H

#include "sandbox.h"

#include <jansson.h>
#include <stdint.h>

#define METRICS_CPU_COUNT 2
#define METRICS_MEM_TOTAL (512LL << 20)
#define METRICS_DISK_TOTAL (1024LL << 20)

/* One sample. */
struct sbx_metric {
    int64_t ts_ms;          /* wall clock */
    double cpu_pct;         /* rounded to 2 decimals */
    int64_t mem_used;
    int64_t disk_used;
};

/* Starts the sampler thread (one sample per running sandbox every
 * interval_s seconds).  Returns 0 or -1. */
int metrics_start(int interval_s);

/* Stops and joins the sampler. */
void metrics_stop(void);

/* GET /sandboxes/{id}/metrics: *out = the SandboxMetric array of sb (NULL =
 * an unknown sandbox, which has no samples) for [start_s, end_s] (Unix
 * seconds; -1 = the first / the last sample, or 0 without samples, as
 * E2B's ClickHouse query gives), bucketed as E2B does (5 s steps below
 * 1 h, ...; the maximum of each field).  Returns 0, or -1 if start is after
 * end (E2B's 400 "Invalid time range for metrics"). */
int metrics_series(sandbox_t *sb, int64_t start_s, int64_t end_s, json_t **out);

/* envd's GET /metrics: the sandbox's figures now, in envd's shape
 * ({ts, cpu_count, cpu_used_pct, mem_total_mib, mem_used_mib, mem_total,
 * mem_used, mem_cache, disk_used, disk_total}). */
json_t *metrics_envd_json(sandbox_t *sb);

#endif
