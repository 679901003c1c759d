#!/usr/bin/env bash
# bench/scale/run.sh: RUNS (10,000) runs inserted at once, all in ONE worker
# (sandbox.max_concurrent_runs = RUNS), every model call answered after 1 s
# (modeld --latency-ms 1000), prompts without code: sandbox, plan, one final
# answer = 2 model calls, so the floor is 2 s.  Measures the wall time from
# the INSERT to the last run finished, the worker's peak RSS (VmHWM of the
# worker pid from sandbox_worker_status()) and its CPU per run (utime +
# stime from /proc/<pid>/stat, before and after).  Writes
# bench/results/scale.txt.
#
# Rerun: sudo bench/scale/run.sh        (RUNS=10000; 7 min on the loaded 2-core machine)
#        PERF=1 RUNS=5000 OUT=/tmp/scale-perf.txt bench/scale/run.sh   also samples the worker
#        with perf for PERF_S (20) seconds after the insert and appends its top functions
# Needs RUNS + a margin of open files in the worker (ulimit -n is raised to
# the hard limit before the cluster starts) and modeld/sandboxd with room
# for RUNS connections.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${RUNS:-10000}
OUT=${OUT:-$ROOT/bench/results/scale.txt}
ulimit -n "$(ulimit -Hn)"
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"
sandboxd_start --max-sandboxes $((RUNS * 2)) --max-connections $((RUNS * 2))
modeld_start --latency-ms 1000 --max-connections $((RUNS * 2))
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'bench'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = $RUNS" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.reaper_interval = 0" \
         "sandbox.run_timeout = 900"
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox"
q() { psql -X -At -q -c "$1"; }
pid=""
for _ in $(seq 1 100); do
    pid=$(q "SELECT pid FROM sandbox_worker_status() WHERE state = 'running'")
    [ -n "$pid" ] && break
    sleep 0.1
done
[ -n "$pid" ] || { echo "no worker"; exit 1; }
tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
mem() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
nofile=$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")
rss0=$(mem VmRSS); cpu0=$(cpu); load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s%N)
q "INSERT INTO agent_runs (prompt) SELECT 'Answer ' || i || ' in one word.' FROM generate_series(1, $RUNS) i" >/dev/null
ins_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
PERF_DATA=""
if [ -n "${PERF:-}" ]; then
    PERF_DATA=$(mktemp /tmp/scale-perf.XXXXXX)
    perf record -q -F 499 -g -p "$pid" -o "$PERF_DATA" -- sleep "${PERF_S:-20}" >/dev/null 2>&1 &
    PERF_PID=$!
fi
peak_flight=0
while :; do
    read -r left flight <<<"$(q "SELECT count(*) FILTER (WHERE status IN ('pending', 'planning', 'executing')),
                                      count(*) FILTER (WHERE status IN ('planning', 'executing')) FROM agent_runs" | tr '|' ' ')"
    [ "$flight" -gt "$peak_flight" ] && peak_flight=$flight
    [ "$left" = 0 ] && break
    [ $(( ($(date +%s%N) - t0) / 1000000000 )) -gt 600 ] && break
    sleep 0.5
done
wall_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
cpu1=$(cpu); hwm=$(mem VmHWM); rss1=$(mem VmRSS); load1=$(cut -d' ' -f1-3 /proc/loadavg)
span=$(q "SELECT round(extract(epoch FROM max(completed_at) - min(created_at))::numeric, 2) FROM agent_runs")
res=$(q "SELECT count(*) FILTER (WHERE status = 'completed') || ' completed, ' || count(*) FILTER (WHERE status = 'failed') || ' failed, '
            || count(*) FILTER (WHERE attempts > 1) || ' on a later attempt; model calls ' || sum(llm_calls)
         FROM agent_runs")
lat=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::numeric, 2) || ' / ' ||
                round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::numeric, 2) || ' / ' ||
                round(max(extract(epoch FROM completed_at - created_at))::numeric, 2) FROM agent_runs")
errs=$(q "SELECT coalesce(string_agg(DISTINCT left(error, 120), ' | '), 'none') FROM agent_runs WHERE status = 'failed'")
{
    echo "$RUNS runs at once in one worker, every model call answered after 1 s, no command (2 model calls per run)"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname) ($(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB)   commit: $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "load (1/5/15 min) before: $load0, after: $load1 (other engineers' tests share the 2 cores)"
    echo "rerun: sudo bench/scale/run.sh   (RUNS=$RUNS)"
    echo "sandbox.max_concurrent_runs = $RUNS; sandboxd --max-sandboxes $((RUNS * 2)); worker open-file limit $nofile"
    echo
    echo "INSERT of $RUNS runs: $ins_ms ms"
    echo "wall time, INSERT to the last run finished: $(python3 -c "print(round($wall_ms / 1000, 2))") s"
    echo "  (first created_at to last completed_at: $span s); floor: 2 model latencies = 2 s"
    echo "  runs: $res; peak in flight (sampled every 0.5 s): $peak_flight"
    echo "  per run, insert -> completed: p50 / p99 / max = $lat s"
    echo "  failures: $errs"
    echo "worker (pid $pid): RSS $((rss0 / 1024)) MB before, $((rss1 / 1024)) MB after, peak (VmHWM) $((hwm / 1024)) MB"
    echo "  (VmHWM counts the shared buffers the worker touched as well as its own memory)"
    echo "worker CPU: $(python3 -c "print(round(($cpu1 - $cpu0) / $tck, 2))") s = $(python3 -c "print(round(($cpu1 - $cpu0) / $tck / $RUNS * 1000, 3))") ms per run (utime + stime)"
    if [ -n "$PERF_DATA" ]; then
        wait "$PERF_PID" 2>/dev/null || true
        echo
        echo "perf: the worker's CPU for ${PERF_S:-20} s after the insert, by library and function (self, >= 1.5%):"
        perf report -i "$PERF_DATA" --no-children --percent-limit 1.5 --stdio -g none --sort dso,symbol 2>/dev/null |
            grep -E '^ +[0-9]' | head -25
        rm -f "$PERF_DATA"
    fi
} | tee "$OUT"
