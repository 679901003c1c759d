#!/usr/bin/env bash
# bench/memory/run.sh: the worker's peak memory under the size bounds of
# issue 9 (sandbox.max_prompt_bytes, sandbox.max_llm_response_bytes).
# Writes bench/results/memory.txt.
#
#   1. 1000 ordinary runs in flight at once (model latency 1 s): peak RSS.
#   2. 20 runs with the largest prompt allowed (sandbox.max_prompt_bytes,
#      1 MB by default), the model answering after 1 s: worker peak RSS.
#   3. 5 runs whose model answers are 60 MB (over max_llm_response_bytes,
#      8 MB): each fails at the cap; worker peak RSS.
#   A 100 MB prompt is refused at INSERT (it used to take the worker to
#   2.1 GB).  Peak = VmHWM of the worker process, read after each phase (it
#   only grows, so each figure includes the phases before it).
#
# Rerun: bench/memory/run.sh            (as root, from any directory)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 2000
modeld_start --latency-ms 1000
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'bench'" \
         "sandbox.max_concurrent_runs = 1000" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.reaper_interval = 0" \
         "sandbox.run_timeout = 600"
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox"
q() { psql -X -At -c "$1"; }
for _ in $(seq 1 100); do
    [ "$(q "SELECT state FROM sandbox_worker_status()")" = running ] && break
    sleep 0.1
done
# the worker of this cluster, never a process found by name
wpid=$(q "SELECT pid FROM sandbox_worker_status()")
hwm() { awk '/VmHWM/ {printf "%.0f MB", $2/1024}' "/proc/$wpid/status"; }
wait_label() {
    while [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = '$1' AND status IN ('pending','planning','executing')")" != 0 ]; do
        sleep 0.2
    done
}
start_hwm=$(hwm)

t0=$(date +%s.%N)
q "INSERT INTO agent_runs (prompt, metadata)
   SELECT 'Say hello', '{\"b\": \"many\"}' FROM generate_series(1, 1000)" >/dev/null
peak_inflight=0
while :; do
    n=$(q "SELECT runs_in_flight FROM sandbox_worker_status()")
    [ "$n" -gt "$peak_inflight" ] && peak_inflight=$n
    [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'b' = 'many' AND status IN ('pending','planning','executing')")" = 0 ] && break
    sleep 0.2
done
many_s=$(echo "$(date +%s.%N) - $t0" | bc)
many_done=$(q "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM agent_runs WHERE metadata->>'b' = 'many'")
many_hwm=$(hwm)

max=$(q "SELECT setting::int FROM pg_settings WHERE name = 'sandbox.max_prompt_bytes'")
t0=$(date +%s.%N)
q "INSERT INTO agent_runs (prompt, metadata)
   SELECT 'Say hello. ' || repeat('x', $max - 11), '{\"b\": \"big\"}' FROM generate_series(1, 20)" >/dev/null
wait_label big
big_s=$(echo "$(date +%s.%N) - $t0" | bc)
big_done=$(q "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM agent_runs WHERE metadata->>'b' = 'big'")
big_hwm=$(hwm)

q "INSERT INTO agent_runs (prompt, metadata)
   SELECT '[[modeld: huge=60M on=exec]] Say hello', '{\"b\": \"huge\"}' FROM generate_series(1, 5)" >/dev/null
wait_label huge
huge_failed=$(q "SELECT count(*) FILTER (WHERE status = 'failed' AND error LIKE '%exceeded%') || '/' || count(*) FROM agent_runs WHERE metadata->>'b' = 'huge'")
huge_hwm=$(hwm)

refused=$(psql -X -At -c "INSERT INTO agent_runs (prompt) VALUES (repeat('x', 100 * 1024 * 1024))" 2>&1 | head -1 || true)

report="$ROOT/bench/results/memory.txt"
{
    echo "# bench/memory/run.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; model latency 1 s; rerun: bench/memory/run.sh"
    echo "worker peak RSS (VmHWM) at start:                               $start_hwm"
    echo "1000 ordinary runs at once (peak $peak_inflight in flight):       $many_hwm  ($many_done completed in ${many_s%.*} s)"
    echo "then 20 runs with a ${max}-byte prompt (the largest allowed):   $big_hwm  ($big_done completed in ${big_s%.*} s)"
    echo "then 5 runs whose model answers 60 MB (cap 8 MB):               $huge_hwm  ($huge_failed failed at the cap)"
    echo "a 100 MB prompt at INSERT: $refused"
} | tee "$report"
