#!/usr/bin/env bash
# bench/claim/run.sh: latency of the worker's claim statement (copied from
# src/queue.c queue_claim by bench/claim/extract.py, so it follows the tree)
# on a table with 1,000,000 finished runs and 100,000 pending ones, each
# execution in a transaction that is rolled back.  pgbench -M prepared runs
# it as the worker does (a prepared statement: custom plans, then the generic
# one if cheaper), one client, and logs every transaction; p50/p99/max are
# of the transaction BEGIN; claim; ROLLBACK (a BEGIN; SELECT 1; ROLLBACK
# baseline is printed beside it).  Writes bench/results/claim.txt.
#
#   pending runs of one owner (100,000) / of 1,000 identities under one role
#   (100 each) / with sandbox.max_runs_per_owner = 3 and 3 runs in flight for
#   every identity; claims of n = 1, 20, 200 runs.
#
# Rerun: sudo bench/claim/run.sh        (TX=1000 per case, TX_BIG=200 for n = 200; ~5 min)
# Each rolled-back claim leaves its n updated row versions dead, with their
# entries in agent_runs_in_flight (status planning): TX * n per case.  Each
# case starts after a VACUUM; within a case they pile up (autovacuum may
# clean), which slows the max_runs_per_owner cases most: their count of
# runs in flight per owner reads that index.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TX=${TX:-1000}
TX_BIG=${TX_BIG:-200}   # for n = 200
OUT=${OUT:-$ROOT/bench/results/claim.txt}
source "$ROOT/test/lib/pg.sh"
pg_start "shared_buffers = '512MB'" "max_wal_size = '4GB'"
trap pg_cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox" 2>/dev/null
q() { psql -X -At -q -c "$1"; }
WORK=$(mktemp -d /tmp/bench-claim.XXXXXX)
chmod 777 "$WORK"
python3 "$ROOT/bench/claim/extract.py" public > "$WORK/claim.sql"
{ echo "BEGIN;"; cat "$WORK/claim.sql"; echo "ROLLBACK;"; } > "$WORK/tx.sql"
printf 'BEGIN;\nSELECT 1;\nROLLBACK;\n' > "$WORK/base.sql"

# the statement runs at all (on the empty table) before the long load
(cd "$WORK" && pgbench -n -M prepared -c 1 -t 3 -f tx.sql -D n=1 -D lease=60 -D timeout=600 -D pid=1 \
    -D cur_owner=0 -D per_owner=0 >/dev/null 2>"$WORK/err") || { cat "$WORK/err"; exit 1; }
t0=$(date +%s)
# 1,000,000 finished runs (triggers off: rows as the worker leaves them)
q "SET session_replication_role = replica;
   INSERT INTO agent_runs (prompt, status, attempts, started_at, completed_at, created_at, owner_id, result)
   SELECT 'Finished ' || i, 'completed', 1, now() - interval '1 day', now() - interval '1 day' + i * interval '10 ms',
          now() - interval '1 day', 'u' || (i % 1000), '{\"text\":\"done\"}'
     FROM generate_series(1, 1000000) i"
load_s=$(( $(date +%s) - t0 ))

# pending SET: one owner's 100,000 or 1,000 identities' 100 each
set_pending() {
    q "DELETE FROM agent_runs WHERE status IN ('pending', 'planning')"
    q "SET session_replication_role = replica;
       INSERT INTO agent_runs (prompt, owner_id, created_at)
       SELECT 'Pending ' || i, $1, now() - interval '1 hour' + i * interval '1 ms' FROM generate_series(1, 100000) i"
    q "VACUUM ANALYZE agent_runs"
}
# in_flight K: K runs planning for every identity with pending runs
in_flight() {
    q "SET session_replication_role = replica;
       INSERT INTO agent_runs (prompt, owner_id, status, attempts, started_at, lease_until, deadline_at, worker_pid)
       SELECT 'In flight', o, 'planning', 1, now(), now() + interval '1 hour', now() + interval '1 hour', 1
         FROM (SELECT DISTINCT owner_id AS o FROM agent_runs WHERE status = 'pending') d, generate_series(1, $1)"
    q "ANALYZE agent_runs"
}
pct() { # FILE: p50 p99 max of pgbench's per-transaction log (microseconds)
    awk '{print $3}' "$1" | sort -n | awk '{a[NR]=$1} END {
        printf "%.2f / %.2f / %.2f ms", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000, a[NR]/1000 }'
}
bench_case() { # LABEL N PER_OWNER
    local tx=$TX
    [ "$2" -ge 200 ] && tx=$TX_BIG
    rm -f "$WORK"/log*
    q "VACUUM agent_runs"
    (cd "$WORK" && pgbench -n -M prepared -c 1 -t "$tx" -f tx.sql -l --log-prefix=log \
        -D n="$2" -D lease=60 -D timeout=600 -D pid=1 -D cur_owner=0 -D per_owner="$3" \
        >/dev/null 2>"$WORK/err") || { cat "$WORK/err"; return 1; }
    printf '  %-50s n=%-4s %5s tx  %s\n' "$1" "$2" "$tx" "$(pct "$(ls "$WORK"/log* | head -1)")"
}
{
    echo "claim statement latency (src/queue.c queue_claim), one client, pgbench -M prepared"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname) ($(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet -- src/queue.c || echo ' + uncommitted src/queue.c')"
    echo "load at start (1/5/15 min): $(cut -d' ' -f1-3 /proc/loadavg)  (2 cores; other engineers' tests run here too)"
    echo "rerun: sudo bench/claim/run.sh   (TX=$TX transactions per case, TX_BIG=$TX_BIG for n = 200)"
    echo "table: 1,000,000 finished runs (loaded in ${load_s} s) + 100,000 pending; shared_buffers 512MB"
    echo "each figure: p50 / p99 / max of BEGIN; claim; ROLLBACK (a VACUUM before each case; the dead"
    echo "versions of the rolled-back claims pile up within a case: tx * n of them)"
    echo
    rm -f "$WORK"/log*
    (cd "$WORK" && pgbench -n -c 1 -t "$TX" -f base.sql -l --log-prefix=log >/dev/null 2>&1)
    printf '  %-50s %5s tx  %s\n' "baseline: BEGIN; SELECT 1; ROLLBACK" "$TX" "$(pct "$(ls "$WORK"/log* | head -1)")"
    set_pending "NULL"
    for n in 1 20 200; do bench_case "100,000 pending of one owner" $n 0; done
    set_pending "'p' || (i % 1000)"
    for n in 1 20 200; do bench_case "100,000 pending of 1,000 identities (100 each)" $n 0; done
    in_flight 3
    for n in 1 20 200; do bench_case "same, max_runs_per_owner 3, every identity at 3" $n 3; done
    echo
    echo "plan of the claim (n = 20, 1,000 identities, none capped), EXPLAIN ANALYZE in a rolled-back transaction:"
    q "DELETE FROM agent_runs WHERE status = 'planning'"
    q "ANALYZE agent_runs"
    sed -e 's/(:n)/(20)/g; s/(:lease)/(60)/g; s/(:timeout)/(600)/g; s/(:pid)/(1)/g; s/(:cur_owner)/(0)/g; s/(:per_owner)/(0)/g' \
        "$WORK/claim.sql" > "$WORK/explain.sql"
    { echo "BEGIN;"; echo "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY ON)"; cat "$WORK/explain.sql"; echo "ROLLBACK;"; } |
        psql -X -q 2>&1 | grep -E "Execution Time|Planning Time|Index|Seq Scan|Sort" | sed 's/^/  /' | head -40
} | tee "$OUT"
rm -rf "$WORK"
