#!/usr/bin/env bash
# bench/limits/run.sh: a model limit of N requests per minute, set equal in
# modeld (--rpm N: 429 + retry-after beyond it, as Anthropic) and in the
# extension (sandbox.llm_requests_per_minute = N), with RUNS runs inserted at
# once (prompts without code: 2 model calls each).  One worker.  Throughput
# = model calls modeld answered (200) per minute over a steady window
# (WINDOW_S seconds, starting SKIP_S seconds after the insert), against N.
# After the window the pending runs are deleted and the runs in flight
# finish; every finished run must be completed, on attempt 1.
# Writes bench/results/limits.txt.
#
# Rerun: sudo bench/limits/run.sh       (N=120 RUNS=1000 SKIP_S=30 WINDOW_S=240; ~5 min)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-120}
RUNS=${RUNS:-1000}
SKIP_S=${SKIP_S:-30}
WINDOW_S=${WINDOW_S:-240}
OUT=${OUT:-$ROOT/bench/results/limits.txt}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"
sandboxd_start --max-sandboxes 2000
modeld_start --rpm "$N"
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'bench'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 100" \
         "sandbox.llm_requests_per_minute = $N" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 3600"
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox"
q() { psql -X -At -q -c "$1"; }
# calls modeld answered (200s on the chat route) and its 429s
calls() { modeld_admin GET /admin/stats | python3 -c '
import json, sys
s = json.load(sys.stdin)
r = s["requests"]["model"].get("POST /v1/messages", {})
print(r.get("200", 0), s["counters"].get("model_ratelimit_limited", 0))'; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
q "INSERT INTO agent_runs (prompt) SELECT 'Answer ' || i || ' in one word.' FROM generate_series(1, $RUNS) i" >/dev/null
sleep "$SKIP_S"
read -r a0 l0 <<<"$(calls)"; w0=$(date +%s%N)
samples=()
for i in $(seq 1 $(( WINDOW_S / 30 ))); do
    sleep 30
    read -r a l <<<"$(calls)"
    samples+=("$a")
done
read -r a1 l1 <<<"$(calls)"; w1=$(date +%s%N)
rate=$(python3 -c "print(round(($a1 - $a0) / (($w1 - $w0) / 60e9), 1))")
pct=$(python3 -c "print(round(100 * ($a1 - $a0) / (($w1 - $w0) / 60e9) / $N, 1))")
per30=$(python3 -c "
s = [$a0, $(IFS=,; echo "${samples[*]}")]
print(' '.join(str(b - a) for a, b in zip(s, s[1:])))")
limits=$(q "SELECT name || ': taken ' || taken || ', held ' || held || ', provider_waits ' || provider_waits FROM sandbox_limits() WHERE name = 'llm_requests'")
# stop: the rest of the queue goes, the runs in flight finish
q "DELETE FROM agent_runs WHERE status = 'pending'" >/dev/null
for _ in $(seq 1 600); do
    [ "$(q "SELECT count(*) FROM agent_runs WHERE status IN ('planning', 'executing')")" = 0 ] && break
    sleep 0.2
done
fin=$(q "SELECT count(*) || ' finished: ' || count(*) FILTER (WHERE status = 'completed') || ' completed, '
                || count(*) FILTER (WHERE status = 'failed') || ' failed, '
                || count(*) FILTER (WHERE attempts > 1) || ' on a later attempt'
         FROM agent_runs")
retries=$(q "SELECT count(*) FROM agent_run_events WHERE kind = 'retry'")
read -r a2 l2 <<<"$(calls)"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "a model limit of $N requests/min (modeld --rpm $N and sandbox.llm_requests_per_minute = $N), $RUNS runs at once"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname) ($(nproc) cores)   commit: $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "load (1/5/15 min) before: $load0, after: $load1 (other engineers' tests share the 2 cores)"
    echo "rerun: sudo bench/limits/run.sh   (N=$N RUNS=$RUNS SKIP_S=$SKIP_S WINDOW_S=$WINDOW_S)"
    echo "one worker, max_concurrent_runs 100; runs without code: 2 model calls each"
    echo
    echo "steady window: from ${SKIP_S} s after the insert, $(python3 -c "print(round(($w1 - $w0) / 1e9))") s long"
    echo "  model calls answered in the window: $((a1 - a0)) = $rate per minute = ${pct}% of the limit $N"
    echo "  per 30 s: $per30   (the limit allows $((N / 2)))"
    echo "  modeld's 429s: $((l1 - l0)) in the window, $l2 in all"
    echo "  $limits"
    echo "after the window the pending runs were deleted and those in flight finished:"
    echo "  $fin; retry events: $retries"
    echo "  model calls answered in all: $a2 in $(( $(date +%s) - t0 )) s"
} | tee "$OUT"
