#!/usr/bin/env bash
# bench/queue/run.sh: the agent-run queue and worker, measured end to end
# through sandboxd and modeld (all local).  Writes bench/results/queue.txt.
#
#   1. enqueue -> claim latency: runs inserted one at a time (50 per second);
#      latency = the claim's status event time - the run's created_at.
#   2. throughput: N runs (one bash command each) inserted at once, no added
#      latency; full runs per second until the last one completed.
#   3. 1000 runs at once, modeld answering every call after 1 s (three model
#      calls per run: plan, tool call, final answer): wall time and the
#      worker's peak memory (VmHWM).
#
# Rerun: sudo bench/queue/run.sh        (CLAIMS=500 THROUGHPUT_RUNS=1000 BIG=1000)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLAIMS=${CLAIMS:-500}
THROUGHPUT_RUNS=${THROUGHPUT_RUNS:-1000}
BIG=${BIG:-1000}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 5000
modeld_start
FAST_URL=$MODELD_URL
FAST_PID=$MODELD_PID
modeld_start --latency-ms 1000
SLOW_URL=$MODELD_URL
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'bench'" \
         "sandbox.max_concurrent_runs = $BIG" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$FAST_URL'" \
         "sandbox.reaper_interval = 0" \
         "sandbox.run_timeout = 600"
cleanup() { pg_cleanup; modeld_stop; kill "$FAST_PID" 2>/dev/null; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox"
q() { psql -X -At -c "$1"; }

wait_all() {
    local label=$1 left
    while :; do
        left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = '$label'
                  AND status IN ('pending', 'planning', 'executing')")
        [ "$left" = 0 ] && return 0
        sleep 0.05
    done
}

# the worker of this cluster (never a process found by name on the machine)
worker_pid() { q "SELECT pid FROM sandbox_worker_status() LIMIT 1"; }
# cpu_s PID: user+system CPU seconds of a process and its reaped children
cpu_s() { awk '{printf "%.2f", ($14+$15+$16+$17)/100}' "/proc/$1/stat"; }
SBD_PID=$SANDBOXD_PID

# the worker (re)starts once the database exists: measure from then on
for _ in $(seq 1 100); do
    [ "$(q "SELECT state FROM sandbox_worker_status()")" = running ] && break
    sleep 0.1
done
echo "1. enqueue -> claim latency ($CLAIMS runs, one at a time)"
script=$(mktemp)
echo "INSERT INTO agent_runs (prompt, metadata) VALUES ('claim latency', '{\"b\": \"claim\"}');" >"$script"
pgbench -n -c 1 -R 50 -t "$CLAIMS" -f "$script" >/dev/null 2>&1
wait_all claim
claim=$(q "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' ||
                  round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) || ' ' ||
                  round(max(ms)::numeric, 2)
             FROM (SELECT extract(epoch FROM (e.at - r.created_at)) * 1000 AS ms
                     FROM agent_runs r JOIN agent_run_events e ON e.run_id = r.id AND e.seq = 1
                    WHERE r.metadata->>'b' = 'claim') s")
echo "   p50 / p99 / max: $claim ms"

echo "2. throughput: $THROUGHPUT_RUNS runs inserted at once"
w_cpu0=$(cpu_s "$(worker_pid)"); s_cpu0=$(cpu_s "$SBD_PID")
t0=$(date +%s.%N)
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Run %s.
\`\`\`bash
echo run-%s
\`\`\`
\$p\$, i, i), '{\"b\": \"tp\"}' FROM generate_series(1, $THROUGHPUT_RUNS) i" >/dev/null
wait_all tp
t1=$(date +%s.%N)
tp_wall=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
tp_rate=$(python3 -c "print(f'{$THROUGHPUT_RUNS / ($t1 - $t0):.1f}')")
tp_ok=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = 'tp' AND status = 'completed'")
tp_wcpu=$(python3 -c "print(f'{$(cpu_s "$(worker_pid)") - $w_cpu0:.2f}')")
tp_scpu=$(python3 -c "print(f'{$(cpu_s "$SBD_PID") - $s_cpu0:.2f}')")
echo "   $tp_ok/$THROUGHPUT_RUNS completed in $tp_wall s: $tp_rate runs/s (CPU: worker $tp_wcpu s, sandboxd $tp_scpu s)"

echo "3. $BIG runs at once, 1 s model latency per call"
psql -X -q -c "ALTER SYSTEM SET sandbox.llm_api_url = '$SLOW_URL'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
pid=$(worker_pid)
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
w_cpu0=$(cpu_s "$pid"); s_cpu0=$(cpu_s "$SBD_PID")
t0=$(date +%s.%N)
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Slow %s.
\`\`\`bash
echo slow-%s
\`\`\`
\$p\$, i, i), '{\"b\": \"big\"}' FROM generate_series(1, $BIG) i" >/dev/null
peak_inflight=0
while :; do
    left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = 'big' AND status IN ('pending', 'planning', 'executing')")
    inflight=$(q "SELECT runs_in_flight FROM sandbox_worker_status()")
    [ "$inflight" -gt "$peak_inflight" ] && peak_inflight=$inflight
    [ "$left" = 0 ] && break
    sleep 0.1
done
t1=$(date +%s.%N)
big_wall=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
big_ok=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = 'big' AND status = 'completed'")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
big_wcpu=$(python3 -c "print(f'{$(cpu_s "$pid") - $w_cpu0:.2f}')")
big_scpu=$(python3 -c "print(f'{$(cpu_s "$SBD_PID") - $s_cpu0:.2f}')")
calls=$(q "SELECT sum(llm_calls) FROM agent_runs WHERE metadata->>'b' = 'big'")
echo "   $big_ok/$BIG completed in $big_wall s ($calls model calls); peak $peak_inflight runs in flight;"
echo "   worker RSS before $((rss_before / 1024)) MB, peak (VmHWM) $((hwm / 1024)) MB; CPU: worker $big_wcpu s, sandboxd $big_scpu s"

echo "4. $BIG runs at once, 1 s model latency, no command (the worker without sandboxd's process work)"
pid=$(worker_pid)
w_cpu0=$(cpu_s "$pid"); s_cpu0=$(cpu_s "$SBD_PID")
t0=$(date +%s.%N)
q "INSERT INTO agent_runs (prompt, metadata) SELECT format('Say hello %s.', i), '{\"b\": \"nocmd\"}'
     FROM generate_series(1, $BIG) i" >/dev/null
wait_all nocmd
t1=$(date +%s.%N)
nc_wall=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
nc_ok=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = 'nocmd' AND status = 'completed'")
nc_calls=$(q "SELECT sum(llm_calls) FROM agent_runs WHERE metadata->>'b' = 'nocmd'")
nc_wcpu=$(python3 -c "print(f'{$(cpu_s "$pid") - $w_cpu0:.2f}')")
nc_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "   $nc_ok/$BIG completed in $nc_wall s ($nc_calls model calls); worker CPU $nc_wcpu s"

out="$ROOT/bench/results/queue.txt"
cat >"$out" <<EOF
agent-run queue and worker, end to end through sandboxd and modeld on one machine
date: $(date -u +%FT%TZ)   host: $(hostname) ($(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GB)
rerun: sudo bench/queue/run.sh   (CLAIMS=$CLAIMS THROUGHPUT_RUNS=$THROUGHPUT_RUNS BIG=$BIG)

1. enqueue -> claim latency, $CLAIMS runs inserted one at a time at 50/s
   (claim status event time - created_at)        p50 / p99 / max = $claim ms

2. throughput, $THROUGHPUT_RUNS runs inserted at once, no added latency
   (create sandbox + plan, tool call, command in bwrap, final answer, kill)
   $tp_ok/$THROUGHPUT_RUNS completed in $tp_wall s = $tp_rate full runs/s
   CPU seconds used meanwhile: worker $tp_wcpu, sandboxd $tp_scpu (machine: $(nproc) cores)

3. $BIG runs at once, every model call answered after 1 s (3 calls per run)
   $big_ok/$BIG completed in $big_wall s; peak $peak_inflight runs in flight in one worker
   worker memory: RSS $((rss_before / 1024)) MB before, peak (VmHWM) $((hwm / 1024)) MB
   CPU seconds used meanwhile: worker $big_wcpu, sandboxd $big_scpu
   (sandboxd runs every command in bubblewrap on this machine: its process work, not the
   worker, bounds this figure; see 4)

4. $BIG runs at once, every model call answered after 1 s, prompts without a command
   (plan + one model turn each, sandbox created and killed: the worker's own capacity)
   $nc_ok/$BIG completed in $nc_wall s ($nc_calls model calls); worker CPU $nc_wcpu s;
   worker peak RSS (VmHWM, includes shared buffers it touched) $((nc_hwm / 1024)) MB
EOF
cat "$out"
