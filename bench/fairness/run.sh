#!/usr/bin/env bash
# bench/fairness/run.sh: how long another owner's new run waits behind one
# owner's 100,000 pending runs.  One worker (sandbox.max_concurrent_runs =
# 20) busy with alice's runs (prompts without code: sandbox, plan, answer);
# bob inserts one run at a time (SAMPLES of them, 0.5 s apart): wait =
# started_at - created_at.  The pre-fairness claim (a0ff3ac, one global
# ORDER BY priority DESC, run_after, created_at) is not built side by side:
# its order is evaluated on the same table (bob's run's rank among the
# pending runs under that ORDER BY) and its delay is that rank / the
# worker's measured throughput.  Writes bench/results/fairness.txt.
#
# Rerun: sudo bench/fairness/run.sh     (PENDING=100000 SAMPLES=10; ~3 min)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PENDING=${PENDING:-100000}
SAMPLES=${SAMPLES:-10}
SLOTS=${SLOTS:-20}
OUT=${OUT:-$ROOT/bench/results/fairness.txt}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"
sandboxd_start --max-sandboxes 1000
modeld_start
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'bench'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = $SLOTS" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 600"
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox"
q() { psql -X -At -q -c "$1"; }
for r in alice bob; do q "CREATE ROLE $r LOGIN"; q "SELECT sandbox_grant_usage('$r')" >/dev/null; done
# (inserted by the superuser with the owner set: the rows a non-superuser's
# INSERT would make, whatever state the INSERT trigger is in)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

t0=$(date +%s%N)
q "INSERT INTO agent_runs (prompt, owner) SELECT 'Answer ' || i || ' in one word.', 'alice' FROM generate_series(1, $PENDING) i" >/dev/null
ins_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 5   # the worker is busy with alice's runs
c0=$(q "SELECT count(*) FROM agent_runs WHERE status = 'completed'"); tc0=$(date +%s%N)
waits=()
ranks=()
for s in $(seq 1 "$SAMPLES"); do
    id=$(q "INSERT INTO agent_runs (prompt, owner) VALUES ('Answer bob $s.', 'bob') RETURNING id")
    # its rank under the old claim's order, among the due pending runs
    ranks+=("$(q "SELECT count(*) FROM agent_runs a, agent_runs b WHERE b.id = '$id' AND a.status = 'pending'
                    AND (a.priority > b.priority OR (a.priority = b.priority AND (a.run_after, a.created_at) < (b.run_after, b.created_at)))")")
    for _ in $(seq 1 200); do
        [ -n "$(q "SELECT 1 FROM agent_runs WHERE id = '$id' AND started_at IS NOT NULL")" ] && break
        sleep 0.05
    done
    waits+=("$(q "SELECT coalesce(round(extract(epoch FROM e.at - r.created_at) * 1000)::int, -1) FROM agent_runs r JOIN agent_run_events e ON e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'planning' WHERE r.id = '$id' UNION ALL SELECT -1 LIMIT 1")")
    sleep 0.5
done
c1=$(q "SELECT count(*) FROM agent_runs WHERE status = 'completed'"); tc1=$(date +%s%N)
rate=$(python3 -c "print(round(($c1 - $c0) / (($tc1 - $tc0) / 1e9), 1))")
pend=$(q "SELECT count(*) FROM agent_runs WHERE status = 'pending' AND owner = 'alice'::regrole")
sorted=$(printf '%s\n' "${waits[@]}" | sort -n | tr '\n' ' ')
rank_min=$(printf '%s\n' "${ranks[@]}" | sort -n | head -1)
old_s=$(python3 -c "print(round($rank_min / $rate))")
load1=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "fair claims: another owner's run behind one owner's $PENDING pending runs"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname) ($(nproc) cores)   commit: $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "load (1/5/15 min) before: $load0, after: $load1 (other engineers' tests share the 2 cores)"
    echo "rerun: sudo bench/fairness/run.sh   (PENDING=$PENDING SAMPLES=$SAMPLES SLOTS=$SLOTS)"
    echo "one worker, sandbox.max_concurrent_runs = $SLOTS; alice's runs: no code (sandbox, plan, final answer)"
    echo
    echo "alice's INSERT ... SELECT generate_series of $PENDING runs: $ins_ms ms"
    echo "bob's runs, insert -> claim (the claim's status event time - created_at), $SAMPLES samples, sorted (ms):"
    echo "  $sorted"
    echo "  (alice still had $pend runs pending at the end)"
    echo "worker throughput meanwhile: $rate runs/s"
    echo
    echo "pre-fairness claim (a0ff3ac: ORDER BY priority DESC, run_after, created_at over all owners):"
    echo "  bob's run ranked behind $rank_min..$(printf '%s\n' "${ranks[@]}" | sort -n | tail -1) of alice's pending runs"
    echo "  -> expected wait = rank / throughput = $rank_min / $rate = ~${old_s} s (~$(( old_s / 60 )) min)"
} | tee "$OUT"
