#!/usr/bin/env bash
# test/run-multiworker.sh: several workers share one queue.  Three workers,
# each allowed 8 runs at once, take 150 runs: every run completes exactly
# once on its first attempt, every worker takes part, and none holds more
# than its share at a time.  Then one worker is stopped (SIGTERM) in the
# middle of a second batch: its runs are released and finished by the
# others (or by its successor), still exactly once, and the command of a
# released run is not re-run after it finished.  A lock on agent_runs
# longer than the lease stalls every worker without any run being taken
# from its live worker; a worker that really stalls (SIGSTOP) loses its
# runs to another, and its late writes are fenced off.  Assumes `make
# install`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 200
modeld_start
export TEST_DB=sandbox_multi
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 3" \
         "sandbox.max_concurrent_runs = 8" \
         "sandbox.lease_time = 6" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 120"
# (the libraries above install their own EXIT traps: ours replaces them)
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
export PGDATABASE=$TEST_DB
psql -X -q -c "CREATE EXTENSION sandbox"
source "$ROOT/test/lib/checks.sh"

# wait_batch TAG: waits (90 s at most) until no run of the batch is live
wait_batch() {
    for _ in $(seq 1 900); do
        [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$1'
                  AND status IN ('pending', 'planning', 'executing')")" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM sandbox_worker_status() WHERE state = 'running'")" = 3 ] && break
    sleep 0.1
done
check "three workers run" "$(q "SELECT count(*) FROM sandbox_worker_status() WHERE state = 'running'")" "3"

# --- 150 runs shared by three workers
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Share %s.
\`\`\`bash
sleep 0.2; echo shared-%s
\`\`\`
\$p\$, i, i), jsonb_build_object('batch', 'one', 'i', i) FROM generate_series(1, 150) i" >/dev/null
peak=0
for _ in $(seq 1 900); do
    n=$(q "SELECT coalesce(max(runs_in_flight), 0) FROM sandbox_worker_status()")
    [ "$n" -gt "$peak" ] && peak=$n
    [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'one'
              AND status IN ('pending', 'planning', 'executing')")" = 0 ] && break
    sleep 0.1
done
check "all 150 runs complete" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'one' AND status = 'completed'")" "150"
check "each exactly once, on its first attempt" \
      "$(q "SELECT count(*) FROM agent_runs r WHERE metadata->>'batch' = 'one' AND attempts = 1
              AND (SELECT count(*) FROM agent_run_events e WHERE e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'completed') = 1
              AND (SELECT count(*) FROM agent_run_events e WHERE e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'planning') = 1")" "150"
check "with its own command's output" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'one'
              AND result->>'text' LIKE '%shared-' || (metadata->>'i') || E'\n%'")" "150"
check "every worker took part" \
      "$(q "SELECT count(DISTINCT e.data->>'worker_pid') FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
              WHERE r.metadata->>'batch' = 'one' AND e.kind = 'status' AND e.data->>'to' = 'planning'")" "3"
check "no worker held more than its 8 runs at once (peak seen: $peak)" "$([ "$peak" -le 8 ] && echo yes)" "yes"
check "the workers' counters add up to 150 completed" \
      "$(q "SELECT sum(runs_completed) FROM sandbox_worker_status()")" "150"

# --- one worker stopped mid-batch: its runs are released and finished once
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Release %s.
\`\`\`bash
echo once >> /tmp/ran; sleep 1; wc -l < /tmp/ran
\`\`\`
\$p\$, i), jsonb_build_object('batch', 'two', 'i', i) FROM generate_series(1, 30) i" >/dev/null
victim=$(wait_for_value "SELECT pid FROM sandbox_worker_status() WHERE runs_in_flight > 0 ORDER BY runs_in_flight DESC LIMIT 1")
sleep 0.5
kill -TERM "$victim"
wait_batch two || true
check "after a worker stopped mid-batch, all 30 runs complete" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'two' AND status = 'completed'")" "30"
check "its runs were released with an event" \
      "$(q "SELECT count(*) > 0 FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
              WHERE r.metadata->>'batch' = 'two' AND e.kind = 'released'")" "t"
check "and each run completed exactly once" \
      "$(q "SELECT count(*) FROM agent_runs r WHERE metadata->>'batch' = 'two'
              AND (SELECT count(*) FROM agent_run_events e WHERE e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'completed') = 1")" "30"
# a released run resumes in its own sandbox: its command ran once there
# ("1"), was reported interrupted, or was followed by pid after the release
# (the tool result says so; what it printed before may be missing), never
# started twice
check "each released run's command ran once in its sandbox, was reported interrupted, or was followed" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'two'
              AND (result->>'text' LIKE E'%stdout ---\n1\n%' OR result->>'text' LIKE '%interrupted%'
                   OR result->>'text' LIKE '%followed the same process%')")" "30"
check "no released run's command ran twice" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'two' AND result->>'text' LIKE E'%stdout ---\n2\n%'")" "0"
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM sandbox_worker_status() WHERE state = 'running'")" = 3 ] && break
    sleep 0.1
done
check "the stopped worker came back" "$(q "SELECT count(*) FROM sandbox_worker_status() WHERE state = 'running'")" "3"

# --- a lock on agent_runs longer than the lease (VACUUM FULL, a table
# rewrite) stalls every worker; afterwards no worker may take over another
# live worker's runs (that would run their commands twice)
q "ALTER SYSTEM SET sandbox.lease_time = 2" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Stall %s.
\`\`\`bash
sleep 2; echo stalled-%s
\`\`\`
\$p\$, i, i), jsonb_build_object('batch', 'three', 'i', i) FROM generate_series(1, 12) i" >/dev/null
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(DISTINCT worker_pid) FROM agent_runs WHERE metadata->>'batch' = 'three' AND status = 'executing'")" -ge 2 ] && break
    sleep 0.05
done
psql -X -q -c "BEGIN" -c "LOCK TABLE agent_runs IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(6)" -c "COMMIT" >/dev/null
wait_batch three || true
check "after a 6 s lock (lease 2 s), all 12 runs complete" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = 'three' AND status = 'completed'")" "12"
check "none taken over from its live worker (attempt 1, no rescue)" \
      "$(q "SELECT count(*) FILTER (WHERE attempts = 1) || '|' ||
                   (SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
                     WHERE r.metadata->>'batch' = 'three' AND e.kind = 'rescued')
              FROM agent_runs WHERE metadata->>'batch' = 'three'")" "12|0"

# --- a user's row lock on one run (SELECT ... FOR UPDATE, 5 s, lease 2 s):
# its worker's passes give up after lock_timeout and try again, still alive,
# so no other worker takes over any of its runs
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Row lock %s.
\`\`\`bash
sleep 1; echo row-%s
\`\`\`
\$p\$, i, i), jsonb_build_object('batch', 'rowlock', 'i', i) FROM generate_series(1, 12) i" >/dev/null
held=$(wait_for_value "SELECT id FROM agent_runs WHERE metadata->>'batch' = 'rowlock' AND status = 'executing' LIMIT 1")
psql -X -q -c "BEGIN" -c "SELECT 1 FROM agent_runs WHERE id = '$held' FOR UPDATE" -c "SELECT pg_sleep(5)" -c "COMMIT" >/dev/null
wait_batch rowlock || true
check "after a 5 s row lock (lease 2 s), all 12 runs complete on attempt 1, none rescued" \
      "$(q "SELECT count(*) FILTER (WHERE status = 'completed' AND attempts = 1) || '|' ||
                   (SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
                     WHERE r.metadata->>'batch' = 'rowlock' AND e.kind = 'rescued')
              FROM agent_runs WHERE metadata->>'batch' = 'rowlock'")" "12|0"

# --- a worker that really stalls (SIGSTOP, lease 2 s): another takes its
# runs once the lease lapsed; when it wakes, its late writes are fenced off
q "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Freeze %s.
\`\`\`bash
sleep 2; echo thawed-%s
\`\`\`
\$p\$, i, i), jsonb_build_object('batch', 'four', 'i', i) FROM generate_series(1, 12) i" >/dev/null
frozen=""
for _ in $(seq 1 200); do
    # stop it while it sleeps in its wait (no lock held), with runs executing
    frozen=$(q "SELECT a.pid FROM pg_stat_activity a
                 WHERE a.backend_type = 'sandbox worker' AND a.wait_event_type = 'Extension'
                   AND (SELECT count(*) FROM agent_runs r WHERE r.worker_pid = a.pid
                          AND r.metadata->>'batch' = 'four' AND r.status = 'executing') > 0
                 LIMIT 1")
    [ -n "$frozen" ] && break
    sleep 0.02
done
kill -STOP "$frozen"
for _ in $(seq 1 150); do
    [ "$(q "SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
              WHERE r.metadata->>'batch' = 'four' AND e.kind = 'rescued'")" != 0 ] && break
    sleep 0.1
done
kill -CONT "$frozen"
wait_batch four || true
q "ALTER SYSTEM RESET sandbox.lease_time" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
check "a stalled worker's runs are taken over once its lease lapsed" \
      "$(q "SELECT count(*) > 0 FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
              WHERE r.metadata->>'batch' = 'four' AND e.kind = 'rescued' AND e.data->>'reason' = 'lease expired'
                AND (e.data->>'worker_pid')::int = $frozen")" "t"
check "and all 12 runs complete, each exactly once" \
      "$(q "SELECT count(*) FROM agent_runs r WHERE metadata->>'batch' = 'four' AND status = 'completed'
              AND (SELECT count(*) FROM agent_run_events e WHERE e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'completed') = 1")" "12"
check "the woken worker is still running" "$(kill -0 "$frozen" 2>/dev/null && echo yes)" "yes"

for _ in $(seq 1 50); do
    live=$(sandboxd_admin GET /admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')
    [ "$live" = 0 ] && break
    sleep 0.2
done
check "no sandbox is left live in sandboxd" "$live" "0"
pg_check_no_crash || status=1
if [ $status != 0 ]; then
    echo "--- server log (errors and worker lines)"
    grep -E "ERROR|WARNING|FATAL|sandbox worker" "$PG_SERVER_LOG" | tail -40
fi
exit $status
