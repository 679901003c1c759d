#!/usr/bin/env bash
# bench/queue/claim_plan.sh: the claim query with a million finished runs in
# the table stays an index scan of pending rows only.  Writes
# bench/results/claim_plan.txt.  Rerun: sudo bench/queue/claim_plan.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/test/lib/pg.sh"
pg_start "shared_preload_libraries = 'sandbox'" "sandbox.workers = 0"
trap pg_cleanup EXIT
export PGDATABASE=postgres
psql -X -q -c "CREATE EXTENSION sandbox" \
     -c "INSERT INTO agent_runs (prompt, status, completed_at, attempts)
         SELECT 'done', 'completed', now() - i * interval '1 s', 1 FROM generate_series(1, 1000000) i" \
     -c "INSERT INTO agent_runs (prompt) SELECT 'waiting' FROM generate_series(1, 100)" \
     -c "ANALYZE agent_runs"
{
    echo "claim query with 1,000,000 finished runs and 100 pending ones"
    echo "date: $(date -u +%FT%TZ)   rerun: sudo bench/queue/claim_plan.sh"
    echo
    psql -X -c "EXPLAIN (ANALYZE, COSTS OFF) SELECT id FROM agent_runs
                 WHERE status = 'pending' AND run_after <= clock_timestamp()
                 ORDER BY priority DESC, run_after, created_at LIMIT 100 FOR UPDATE SKIP LOCKED"
} | tee "$ROOT/bench/results/claim_plan.txt"
