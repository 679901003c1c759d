#!/usr/bin/env bash
# test/run-faults.sh: nothing lost, nothing leaked.  Runs agent runs through
#   A. crashes: kill -9 of the worker (repeatedly), pg_ctl restart -m
#      immediate, and a sandboxd restart, all mid-run;
#   B. faults: sandboxd and modeld answering 5% 5xx, 2% 429 with Retry-After,
#      1% dropped connections, and streams cut before their end;
# and checks: every run terminal, none completed twice, every event sequence
# gap-free, no sandbox left live in sandboxd, the worker running again, and
# no backend crash other than our own kill -9.
#
# Also the soak test: RUNS=10000 KILL_EVERY=10 test/run-faults.sh soak
# (it prints runs completed, failed with reasons, duplicates, leaks and wall
# time, and writes bench/results/soak.txt).  Assumes `make install`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-ci}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 2000
SBD_API_PORT=$SANDBOXD_API_PORT; SBD_SB_PORT=$SANDBOXD_SANDBOX_PORT; SBD_KEY=$SANDBOXD_API_KEY
SBD_DIR=$(dirname "$SANDBOXD_DATA_DIR")
modeld_start
export TEST_DB=sandbox_faults
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.max_concurrent_runs = ${CONCURRENCY:-100}" \
         "sandbox.lease_time = 4" \
         "sandbox.reaper_interval = 2" \
         "sandbox.max_attempts = 5" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 300" \
         "restart_after_crash = on"
SBD_EXTRA_PID=""
cleanup() {
    pg_cleanup; modeld_stop; sandboxd_stop_all
    [ -n "$SBD_EXTRA_PID" ] && kill "$SBD_EXTRA_PID" 2>/dev/null
    return 0
}
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
export PGDATABASE=$TEST_DB
psql -X -q -c "CREATE EXTENSION sandbox"
status=0

q() { psql -X -At -c "$1" 2>/dev/null || true; }

# wait_for_pg waits until the server accepts connections again.
wait_for_pg() {
    for _ in $(seq 1 300); do
        psql -X -At -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

kill_worker() {
    local pid
    pid=$(pgrep -f "postgres: sandbox worker" | head -1 || true)
    if [ -n "$pid" ]; then
        kill -9 "$pid"
        echo "  killed worker $pid with SIGKILL"
    fi
}

# restart_sandboxd replaces sandboxd with a fresh one on the same ports and
# key: every sandbox of the old one is gone.
restart_sandboxd() {
    local pid=${SBD_EXTRA_PID:-$SANDBOXD_PID}
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    mkdir -p "$SBD_DIR/data2"
    "$ROOT/hosts/sandboxd/sandboxd" --api-port "$SBD_API_PORT" --sandbox-port "$SBD_SB_PORT" --bind 127.0.0.1 \
        --api-key "$SBD_KEY" --max-sandboxes 2000 --data-dir "$SBD_DIR/data2" \
        >"$SBD_DIR/stdout2" 2>>"$SBD_DIR/sandboxd2.log" &
    SBD_EXTRA_PID=$!
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "$E2B_API_URL/health" 2>/dev/null && break; sleep 0.05; done
    echo "  restarted sandboxd (pid $SBD_EXTRA_PID)"
}

# enqueue N LABEL SLEEP: N runs whose command sleeps SLEEP seconds.
enqueue() {
    q "INSERT INTO agent_runs (prompt, metadata)
       SELECT format(\$p\$Batch %s run %s.
\`\`\`bash
sleep $3; echo done-%s
\`\`\`
\$p\$, '$2', i, i), jsonb_build_object('batch', '$2')
         FROM generate_series(1, $1) i" >/dev/null
}

# wait_batch LABEL TIMEOUT: waits until no run of the batch is live.
wait_batch() {
    local left
    for _ in $(seq 1 $(( $2 * 5 ))); do
        left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$1'
                  AND status IN ('pending', 'planning', 'executing')")
        [ "$left" = 0 ] && return 0
        sleep 0.2
    done
    echo "  $left runs of batch $1 still live after $2 s"
    return 1
}

# check LABEL: the invariants.
check() {
    local label=$1 bad
    echo "  outcome: $(q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM
        (SELECT status, count(*) n FROM agent_runs WHERE metadata->>'batch' = '$label' GROUP BY status) s")"
    q "SELECT '    failed: ' || count(*) || ' x ' || left(error, 120) FROM agent_runs
        WHERE metadata->>'batch' = '$label' AND status = 'failed' GROUP BY left(error, 120) ORDER BY count(*) DESC LIMIT 5"
    bad=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label'
             AND status NOT IN ('completed', 'failed', 'cancelled')")
    [ "$bad" = 0 ] || { echo "not ok - $label: $bad runs not terminal"; status=1; }
    bad=$(q "SELECT count(*) FROM (SELECT e.run_id FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
             WHERE r.metadata->>'batch' = '$label' AND e.kind = 'status' AND e.data->>'to' = 'completed'
             GROUP BY e.run_id HAVING count(*) > 1) d")
    [ "$bad" = 0 ] || { echo "not ok - $label: $bad runs completed twice"; status=1; }
    bad=$(q "SELECT count(*) FROM agent_runs r WHERE r.metadata->>'batch' = '$label' AND status = 'completed'
             AND NOT EXISTS (SELECT 1 FROM agent_run_events e WHERE e.run_id = r.id AND e.kind = 'status'
                             AND e.data->>'to' = 'completed')")
    [ "$bad" = 0 ] || { echo "not ok - $label: $bad completed runs without their status event"; status=1; }
    bad=$(q "SELECT count(*) FROM (SELECT run_id, bool_and(seq = rn) ok FROM
             (SELECT e.run_id, e.seq, row_number() OVER (PARTITION BY e.run_id ORDER BY e.seq) rn
                FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
               WHERE r.metadata->>'batch' = '$label') s GROUP BY run_id) g WHERE NOT ok")
    [ "$bad" = 0 ] || { echo "not ok - $label: $bad runs with a gap in their events"; status=1; }
    # a completed run quotes its command's output, or the tool error the
    # model was given (a stream cut mid-command is reported, not re-run), or
    # a tool result that says the stream broke and was followed again by pid
    # (what the command printed while nobody listened is missing)
    bad=$(q "SELECT count(*) FROM agent_runs r WHERE r.metadata->>'batch' = '$label' AND status = 'completed'
             AND r.result->>'text' NOT LIKE '%done-%'
             AND NOT EXISTS (SELECT 1 FROM agent_run_events e WHERE e.run_id = r.id
                             AND e.kind = 'tool_result'
                             AND (e.data ? 'error' OR e.data->>'stream_resumed' = 'true'))")
    [ "$bad" = 0 ] || { echo "not ok - $label: $bad completed runs without their command's output"; status=1; }
    echo "  completed with a tool error fed to the model: $(q "SELECT count(*) FROM agent_runs r
             WHERE r.metadata->>'batch' = '$label' AND status = 'completed' AND r.result->>'text' NOT LIKE '%done-%'")"
    echo "  tool results whose stream was followed again by pid: $(q "SELECT count(*) FROM agent_run_events e
             JOIN agent_runs r ON r.id = e.run_id WHERE r.metadata->>'batch' = '$label'
             AND e.kind = 'tool_result' AND e.data->>'stream_resumed' = 'true'")"
}

# check_no_leaks: sandboxd's live sandboxes drop to 0 (kill jobs, reaper).
check_no_leaks() {
    local live=x
    for _ in $(seq 1 150); do
        live=$(curl -sS -H "X-API-Key: $SBD_KEY" "$E2B_API_URL/admin/stats" |
               python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')
        [ "$live" = 0 ] && break
        sleep 0.2
    done
    if [ "$live" = 0 ]; then echo "  sandboxd: 0 live sandboxes"; else
        echo "not ok - $live sandboxes still live in sandboxd"; status=1; fi
    local rows
    rows=$(q "SELECT count(*) FROM sandboxes WHERE state = 'running'")
    [ "$rows" = 0 ] || { echo "not ok - $rows sandboxes rows still say running"; status=1; }
}

check_worker() {
    local st
    for _ in $(seq 1 100); do
        st=$(q "SELECT state FROM sandbox_worker_status() WHERE pid IS NOT NULL")
        [ "$st" = running ] && break
        sleep 0.1
    done
    [ "$st" = running ] && echo "  the worker is running" || { echo "not ok - worker state '$st'"; status=1; }
}

crash_phase() {
    local label=crash n=${CRASH_RUNS:-60}
    echo "A. crashes: $n runs; kill -9 the worker twice, restart -m immediate, restart sandboxd"
    enqueue "$n" "$label" 2
    sleep 1; kill_worker; wait_for_pg
    sleep 1.5; kill_worker; wait_for_pg
    sleep 1.5; pg_restart -m immediate; echo "  pg_ctl restart -m immediate"; wait_for_pg
    sleep 1; restart_sandboxd
    wait_batch "$label" 120 || status=1
    check "$label"
    check_no_leaks
    check_worker
}

fault_phase() {
    local label=faults n=${FAULT_RUNS:-60}
    echo "B. faults: $n runs; 5% 5xx, 2% 429 + Retry-After, 1% drops, 2% cut streams"
    local rules='{"rules":[
        {"error_rate":0.05,"error_status":503,"rate_limit_rate":0.02,"retry_after":1,"drop_rate":0.01,"cut_rate":0.02}]}'
    curl -sS -o /dev/null -X PUT -H "X-API-Key: $SBD_KEY" -H 'Content-Type: application/json' \
        --data-binary "$rules" "$E2B_API_URL/admin/faults"
    modeld_admin PUT /admin/faults '{"rules":[{"error_rate":0.05,"error_status":529,"rate_limit_rate":0.02,"retry_after":1,"drop_rate":0.01}]}' >/dev/null
    enqueue "$n" "$label" 0.2
    wait_batch "$label" 180 || status=1
    curl -sS -o /dev/null -X DELETE -H "X-API-Key: $SBD_KEY" "$E2B_API_URL/admin/faults"
    modeld_admin DELETE /admin/faults >/dev/null
    echo "  retries: $(q "SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
                          WHERE r.metadata->>'batch' = '$label' AND e.kind = 'retry'")"
    check "$label"
    check_no_leaks
    check_worker
}

soak() {
    local label=soak n=${RUNS:-10000} every=${KILL_EVERY:-10} start end kills=0
    echo "soak: $n runs under faults, the worker killed every $every s"
    local rules='{"rules":[
        {"error_rate":0.05,"error_status":503,"rate_limit_rate":0.02,"retry_after":1,"drop_rate":0.01,"cut_rate":0.02}]}'
    curl -sS -o /dev/null -X PUT -H "X-API-Key: $SBD_KEY" -H 'Content-Type: application/json' \
        --data-binary "$rules" "$E2B_API_URL/admin/faults"
    modeld_admin PUT /admin/faults '{"rules":[{"error_rate":0.05,"error_status":529,"rate_limit_rate":0.02,"retry_after":1,"drop_rate":0.01}]}' >/dev/null
    start=$(date +%s)
    enqueue "$n" "$label" 0.1
    while :; do
        left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label'
                  AND status IN ('pending', 'planning', 'executing')")
        [ "$left" = 0 ] && break
        sleep "$every"
        left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label'
                  AND status IN ('pending', 'planning', 'executing')")
        [ "$left" = 0 ] && break
        kill_worker >/dev/null; kills=$((kills + 1)); wait_for_pg
        echo "  $(date +%T) $left runs live; worker killed $kills times"
    done
    end=$(date +%s)
    curl -sS -o /dev/null -X DELETE -H "X-API-Key: $SBD_KEY" "$E2B_API_URL/admin/faults"
    modeld_admin DELETE /admin/faults >/dev/null
    check "$label"
    check_no_leaks
    local report="$ROOT/bench/results/soak.txt"
    {
        echo "soak: $n agent runs through sandboxd and modeld under faults (5% 5xx, 2% 429 + Retry-After,"
        echo "1% dropped connections, 2% cut streams), the worker killed with SIGKILL every $every s"
        echo "rerun: sudo RUNS=$n KILL_EVERY=$every test/run-faults.sh soak"
        echo "date: $(date -u +%FT%TZ)   host: $(hostname) ($(nproc) cores)"
        echo
        echo "wall time:        $((end - start)) s   (worker killed $kills times)"
        q "SELECT 'runs ' || rpad(status::text, 12) || count(*) FROM agent_runs
            WHERE metadata->>'batch' = '$label' GROUP BY status ORDER BY status"
        q "SELECT '  failed: ' || count(*) || ' x ' || left(error, 100) FROM agent_runs
            WHERE metadata->>'batch' = '$label' AND status = 'failed' GROUP BY left(error, 100) ORDER BY count(*) DESC"
        echo "lost (not terminal): $(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label'
                                      AND status NOT IN ('completed', 'failed', 'cancelled')")"
        echo "completed twice:     $(q "SELECT count(*) FROM (SELECT run_id FROM agent_run_events
                                      WHERE kind = 'status' AND data->>'to' = 'completed' GROUP BY run_id HAVING count(*) > 1) d")"
        echo "leaked sandboxes:    $(curl -sS -H "X-API-Key: $SBD_KEY" "$E2B_API_URL/admin/stats" |
                                      python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')"
        echo "retries:             $(q "SELECT count(*) FROM agent_run_events WHERE kind = 'retry'")"
        echo "rescues:             $(q "SELECT count(*) FROM agent_run_events WHERE kind = 'rescued'")"
        echo "completed without the command's output in the answer (a tool error, or a stream followed again after its output): $(q "SELECT count(*)
              FROM agent_runs WHERE metadata->>'batch' = '$label' AND status = 'completed' AND result->>'text' NOT LIKE '%done-%'")"
        echo "tool results whose stream was followed again by pid (stream_resumed): $(q "SELECT count(*) FROM agent_run_events e
              JOIN agent_runs r ON r.id = e.run_id WHERE r.metadata->>'batch' = '$label'
              AND e.kind = 'tool_result' AND e.data->>'stream_resumed' = 'true'")"
    } | tee "$report"
}

if [ -n "${KEEP_FOR_DEBUG:-}" ]; then trap - EXIT; fi
case "$MODE" in
    ci) crash_phase; fault_phase ;;
    crash) crash_phase ;;
    faults) fault_phase ;;
    soak) soak ;;
esac

# crashes other than our own SIGKILLs
if grep -E "terminated by signal" "$PG_SERVER_LOG" | grep -v "signal 9: Killed" | grep -q .; then
    echo "not ok - a server process crashed:"; grep -E "terminated by signal" "$PG_SERVER_LOG" | grep -v "signal 9"
    status=1
fi
[ $status = 0 ] && echo "faults: all checks passed"
if [ -n "${KEEP_FOR_DEBUG:-}" ]; then echo "kept: PGPORT=$PGPORT PGDATABASE=$PGDATABASE"; fi
exit $status
