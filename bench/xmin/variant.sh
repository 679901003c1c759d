#!/usr/bin/env bash
# bench/xmin/variant.sh NAME OUTDIR: one variant of bench/xmin/run.sh on its
# own throwaway cluster (started by run.sh, which passes sandboxd's and
# modeld's URLs in the environment and releases all variants at once).
#
#   cluster: sandbox + auto_explain preloaded, one worker; auto_explain logs
#            every statement of the worker with ANALYZE and BUFFERS as JSON
#            (jsonlog), our own sessions switch it off (PGOPTIONS)
#   schema:  CREATE EXTENSION sandbox, then bench/xmin/NAME.sql, then PREFILL
#            finished runs with 4 events each (a table that keeps its history)
#   load:    pgbench inserts RATE runs/s for WARMUP + DURATION + RECOVER s;
#            at WARMUP a REPEATABLE READ session runs one SELECT and stays
#            idle in transaction for DURATION s
#   samples: every SAMPLE s, pg_stat_user_tables / _indexes, sizes, xmin ages
#
# Writes into OUTDIR: samples.jsonl, runs.csv, explain.jsonl (the worker's
# claim and rescue statements, from auto_explain), autovacuum.log,
# pgbench.txt, meta.json.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=$1
OUT=$2
: "${RATE:?}" "${WARMUP:?}" "${DURATION:?}" "${RECOVER:?}" "${SAMPLE:?}" "${PREFILL:?}"
: "${E2B_API_URL:?}" "${E2B_SANDBOX_URL:?}" "${SANDBOXD_API_KEY:?}" "${MODELD_URL:?}" "${GO_FILE:?}"
mkdir -p "$OUT"
source "$ROOT/test/lib/pg.sh"

pg_start "shared_preload_libraries = 'sandbox,auto_explain'" \
         "sandbox.database = 'bench'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 100" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_provider = 'anthropic'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.llm_api_key = 'bench-llm-key'" \
         "sandbox.reaper_interval = 0" \
         "sandbox.run_timeout = 120" \
         "shared_buffers = '128MB'" \
         "auto_explain.log_min_duration = 0" \
         "auto_explain.log_analyze = on" \
         "auto_explain.log_buffers = on" \
         "auto_explain.log_timing = on" \
         "auto_explain.log_format = json" \
         "logging_collector = on" \
         "log_destination = 'jsonlog'" \
         "log_directory = 'log'" \
         "log_autovacuum_min_duration = 0"
HOLDER_PID=
INSERT_PID=
cleanup() {
    [ -n "$INSERT_PID" ] && kill "$INSERT_PID" 2>/dev/null
    [ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null
    pg_cleanup
}
trap cleanup EXIT
# our own sessions are not logged by auto_explain: only the worker is
export PGOPTIONS="-c auto_explain.log_min_duration=-1"
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
q() { psql -X -At -c "$1"; }
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION sandbox" -f "$HERE/$NAME.sql" >/dev/null
# history: PREFILL finished runs and their events, as a queue table that
# keeps its runs (sandbox.retention = 0, the default) looks after a while
psql -X -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO public.agent_runs (prompt, status, attempts, last_seq, started_at, completed_at,
                               created_at, updated_at, result, metadata)
SELECT 'old run ' || i, 'completed', 1, 4, t, t + interval '1 s', t, t + interval '1 s',
       '{"text": "done", "turns": 2}', '{"b": "prefill"}'
  FROM generate_series(1, $PREFILL) i, LATERAL (SELECT now() - i * interval '10 s' AS t) x;
INSERT INTO public.agent_run_events (run_id, seq, attempt, kind, data)
SELECT id, s, 1, 'status', '{"from": "pending", "to": "planning"}'
  FROM public.agent_runs, generate_series(1, 4) s;
VACUUM (ANALYZE) public.agent_runs;
VACUUM (ANALYZE) public.agent_run_events;
CHECKPOINT;
SQL
for _ in $(seq 1 100); do
    [ "$(q "SELECT state FROM sandbox_worker_status()")" = running ] && break
    sleep 0.1
done
WORKER_PID=$(q "SELECT pid FROM sandbox_worker_status() LIMIT 1")
q "SELECT json_build_object('variant', '$NAME', 'version', version(), 'worker_pid', $WORKER_PID,
        'reloptions', (SELECT reloptions FROM pg_class WHERE oid = 'public.agent_runs'::regclass),
        'indexes', (SELECT json_agg(indexdef ORDER BY indexname) FROM pg_indexes
                     WHERE tablename IN ('agent_runs', 'agent_run_events')))" >"$OUT/meta.json"

sample() {
    local phase=$1 cpu
    cpu=$(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$WORKER_PID/stat" 2>/dev/null || echo null)
    q "SELECT json_build_object(
         't', extract(epoch FROM clock_timestamp()), 'phase', '$phase',
         'loadavg', '$(cut -d' ' -f1 /proc/loadavg)'::float, 'worker_cpu_s', $cpu,
         'tables', (SELECT json_object_agg(relname, json_build_object(
              'live', n_live_tup, 'dead', n_dead_tup, 'ins', n_tup_ins, 'upd', n_tup_upd,
              'hot', n_tup_hot_upd, 'del', n_tup_del, 'autovacuum', autovacuum_count,
              'heap_bytes', pg_relation_size(relid), 'total_bytes', pg_total_relation_size(relid)))
            FROM pg_stat_user_tables WHERE relname IN ('agent_runs', 'agent_run_events')),
         'indexes', (SELECT json_object_agg(indexrelname, json_build_object(
              'bytes', pg_relation_size(indexrelid), 'scans', idx_scan, 'tup_read', idx_tup_read))
            FROM pg_stat_user_indexes WHERE relname IN ('agent_runs', 'agent_run_events')),
         'held_xmin_age', (SELECT max(age(backend_xmin)) FROM pg_stat_activity
                            WHERE application_name = 'xmin_holder'),
         'oldest_xmin_age', (SELECT max(age(backend_xmin)) FROM pg_stat_activity),
         'in_flight', (SELECT sum(runs_in_flight) FROM sandbox_worker_status()))" >>"$OUT/samples.jsonl"
}

echo ready >"$OUT/ready"
while [ ! -s "$GO_FILE" ]; do sleep 0.1; done
T0=$(cat "$GO_FILE")
python3 -c "import time; time.sleep(max(0.0, $T0 - time.time()))"

total=$((WARMUP + DURATION + RECOVER))
cat >"$OUT/insert.sql" <<'EOF'
INSERT INTO public.agent_runs (prompt, metadata) VALUES (E'Say hello.\n```bash\necho hello\n```\n', '{"b": "flow"}');
EOF
pgbench -n -c 1 -R "$RATE" -T "$total" -f "$OUT/insert.sql" >"$OUT/pgbench.txt" 2>&1 &
INSERT_PID=$!

hold_at=$(python3 -c "print($T0 + $WARMUP)")
release_at=$(python3 -c "print($T0 + $WARMUP + $DURATION)")
end_at=$(python3 -c "print($T0 + $total)")
held=0
next=$T0
while :; do
    now=$(date +%s.%N)
    if [ $held = 0 ] && python3 -c "import sys; sys.exit(0 if $now >= $hold_at else 1)"; then
        { echo "BEGIN ISOLATION LEVEL REPEATABLE READ;"
          echo "SELECT count(*) FROM public.agent_runs;"
          sleep "$DURATION"
          echo "COMMIT;"; } | PGAPPNAME=xmin_holder psql -X -q >/dev/null &
        HOLDER_PID=$!
        held=1
    fi
    phase=$(python3 -c "n=$now; print('warmup' if n < $hold_at else 'held' if n < $release_at else 'released')")
    sample "$phase"
    python3 -c "import sys; sys.exit(0 if $now >= $end_at else 1)" && break
    next=$(python3 -c "print($next + $SAMPLE)")
    sleep "$(python3 -c "import time; print(max(0.0, $next - time.time()))")"
done
wait "$INSERT_PID" || true
INSERT_PID=
wait "$HOLDER_PID" 2>/dev/null || true
HOLDER_PID=
# let the last runs finish
for _ in $(seq 1 300); do
    [ "$(q "SELECT count(*) FROM agent_runs WHERE status IN ('pending', 'planning', 'executing')")" = 0 ] && break
    sleep 0.1
done
sample end

# every flow run: created, claimed (the claim's status event, written by the
# claim statement itself after its scan), completed, in epoch seconds
q "COPY (SELECT extract(epoch FROM r.created_at), extract(epoch FROM e.at),
              extract(epoch FROM r.started_at), extract(epoch FROM r.completed_at), r.status
           FROM agent_runs r
           LEFT JOIN agent_run_events e ON e.run_id = r.id AND e.seq = 1
          WHERE r.metadata->>'b' = 'flow' ORDER BY r.created_at) TO STDOUT WITH CSV" >"$OUT/runs.csv"
# stop the server so that the log is complete, then extract from it
pg_stop
python3 "$HERE/extract.py" "$PGDATA_DIR/data/log" "$WORKER_PID" "$OUT"
