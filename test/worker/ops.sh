#!/usr/bin/env bash
# Operations: deadlines, the reaper, retention, SIGHUP, SIGTERM, and
# pg_stat_activity.  Runs inside test/run-worker.sh.
set -euo pipefail
source "$(dirname "$0")/../lib/checks.sh"
wait_worker() {
    for _ in $(seq 1 100); do
        [ "$(q "SELECT state FROM sandbox_worker_status()")" = running ] && return 0
        sleep 0.1
    done
    return 1
}

# --- a run longer than its sandbox's largest E2B timeout keeps it alive by
# extending it (sandboxd kills a sandbox whose timeout passes).  Started
# first; checked after the next two cases, which run meanwhile.
q "ALTER SYSTEM SET sandbox.max_sandbox_lifetime = 10" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
long_run=$(q "INSERT INTO agent_runs (prompt, timeout_s) VALUES (\$\$Outlive the sandbox timeout.
\`\`\`bash
sleep 16; echo survived
\`\`\`
\$\$, 60) RETURNING id")
# ... and its first two extensions are answered 503: they are retried in time
long_sbx=$(wait_for_value "SELECT data->>'sandbox_id' FROM agent_run_events WHERE run_id = '$long_run' AND kind = 'sandbox_created'")
curl -sS -o /dev/null -X POST -H "X-API-Key: $SANDBOXD_API_KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"server\":\"api\",\"path\":\"/sandboxes/$long_sbx/timeout\",\"error_rate\":1,\"error_status\":503,\"times\":2}" \
    "$E2B_API_URL/admin/faults"

# --- a run over its deadline fails, and its sandbox is killed
run=$(q "INSERT INTO agent_runs (prompt, timeout_s) VALUES (\$\$Too slow.
\`\`\`bash
sleep 30
\`\`\`
\$\$, 2) RETURNING id")
check "a run over its deadline fails" "$(wait_run "$run")" "failed"
check "with a clear error" "$(q "SELECT error LIKE 'the run did not finish before its deadline%' FROM agent_runs WHERE id = '$run'")" "t"
sleep 0.5
check "and its sandbox is killed" "$(q "SELECT state FROM sandboxes WHERE run_id = '$run'")" "killed"

# --- a command whose stream drops mid-way is followed by pid, not re-run.
# The drop fault cuts the Start stream when its third message ("second")
# is produced; the command then sleeps 2 s more, so the worker's reattach
# (process Connect) finds it running and must stream "third" and the end.
# (rules are added and removed one by one: the run above has its own)
drop_rule=$(curl -sS -X POST -H "X-API-Key: $SANDBOXD_API_KEY" -H 'Content-Type: application/json' \
    --data-binary '{"server":"sandbox","path":"/process.Process/Start","drop_rate":1.0,"after_messages":2}' \
    "$E2B_API_URL/admin/faults" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
run=$(q "INSERT INTO agent_runs (prompt) VALUES (\$\$Dropped.
\`\`\`bash
echo first; sleep 1; echo second; sleep 2; echo third; echo once >> /tmp/ran; cat /tmp/ran | wc -l
\`\`\`
\$\$) RETURNING id")
check "a run whose command stream drops completes" "$(wait_run "$run")" "completed"
curl -sS -o /dev/null -X DELETE -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/admin/faults/$drop_rule"
check "the worker reattached to the command" \
      "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'retry' AND data->>'op' = 'reattach_command'")" "1"
check "and followed it to its end, running it once" \
      "$(q "SELECT format('%s|%s|%s', data->>'stdout' LIKE 'first%third%1%', data->>'exit_code', data->>'stream_resumed')
              FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result'")" "t|0|true"

st=$(wait_run "$long_run")
check "a run outliving its sandbox's 10 s timeout completes" "$st" "completed"
[ "$st" = completed ] || q "SELECT seq, kind, data FROM agent_run_events WHERE run_id = '$long_run' ORDER BY seq" | sed 's/^/#   /'
q "ALTER SYSTEM RESET sandbox.max_sandbox_lifetime" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
check "its sandbox was created with a 10 s timeout" \
      "$(q "SELECT data->>'timeout_s' FROM agent_run_events WHERE run_id = '$long_run' AND kind = 'sandbox_created'")" "10"
check "and extended while the command ran, every 7 s or so (2 to 4 times)" \
      "$(q "SELECT count(*) BETWEEN 2 AND 4 AND bool_and((data->>'timeout_s')::int = 10) FROM agent_run_events WHERE run_id = '$long_run' AND kind = 'sandbox_extended'")" "t"
check "after two failed extensions (503) were retried" \
      "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$long_run' AND kind = 'retry' AND data->>'op' = 'extend_sandbox' AND data->>'status' = '503'")" "2"
check "so the command finished" \
      "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$long_run' AND kind = 'tool_result'")" "survived"
check "and its row carried the extended expiry" \
      "$(q "SELECT expires_at > created_at + interval '15 s' FROM sandboxes WHERE run_id = '$long_run'")" "t"

# --- a user's lock on agent_runs (ALTER TABLE, LOCK TABLE) only delays the
# worker: its runs go on and commit once the lock is gone
run=$(q "INSERT INTO agent_runs (prompt) VALUES (\$\$Locked out.
\`\`\`bash
sleep 1; echo still here
\`\`\`
\$\$) RETURNING id")
wait_status "$run" executing || true
psql -X -q -c "BEGIN" -c "LOCK TABLE agent_runs IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null
check "a run goes on while a user holds agent_runs locked for 3 s" "$(wait_run "$run")" "completed"
check "on its first attempt, never rescued (the command ran once)" \
      "$(q "SELECT format('%s|%s', attempts, (SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'rescued')) FROM agent_runs WHERE id = '$run'")" "1|0"
check "and reports its command's output" \
      "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result'")" "still here"

# --- a worker at capacity sleeps (no empty passes) and claims the next run
# as soon as a slot frees
q "ALTER SYSTEM SET sandbox.max_concurrent_runs = 2" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
full=$(q "INSERT INTO agent_runs (prompt, metadata) SELECT \$\$Fill a slot.
\`\`\`bash
sleep 4
\`\`\`
\$\$, jsonb_build_object('full', i) FROM generate_series(1, 3) i RETURNING id" | tr '\n' ' ')
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata ? 'full' AND status = 'executing'")" = 2 ] && break
    sleep 0.05
done
check "a full worker leaves the third run pending" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata ? 'full' AND status = 'pending'")" "1"
cpu=$(worker_cpu_over 2)
check "and waits without spinning (CPU over 2 s < 0.2 s; used $cpu s)" \
      "$(python3 -c "print($cpu < 0.2)")" "True"
for id in $full; do wait_run "$id" >/dev/null; done
check "which is claimed within a second of a slot freeing" \
      "$(q "WITH claims AS (SELECT e.run_id, min(e.at) AS claimed FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
                           WHERE r.metadata ? 'full' AND e.kind = 'status' AND e.data->>'to' = 'planning' GROUP BY e.run_id),
                 freed AS (SELECT min(completed_at) AS at FROM agent_runs WHERE metadata ? 'full')
            SELECT max(claimed) - (SELECT at FROM freed) BETWEEN interval '0' AND interval '1 second' FROM claims")" "t"
q "ALTER SYSTEM RESET sandbox.max_concurrent_runs" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null

# --- pg_stat_activity shows the worker
check "pg_stat_activity shows the worker" \
      "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'sandbox worker' AND query LIKE 'sandbox worker:%'")" "1"

# --- the reaper kills sandboxes no live run owns
ALTER_REAPER="ALTER SYSTEM SET sandbox.reaper_interval = 1"
q "$ALTER_REAPER" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
tag=$(q "SELECT pg_catalog.format('%s-%s', system_identifier, (SELECT oid FROM pg_database WHERE datname = current_database())) FROM pg_control_system()")
finished=$(q "SELECT id FROM agent_runs WHERE status = 'completed' LIMIT 1")
mk() {  # mk METADATA_JSON -> sandbox id, created behind the extension's back
    curl -sS -X POST -H "X-API-Key: $SANDBOXD_API_KEY" -H 'Content-Type: application/json' \
        -d "{\"templateID\":\"base\",\"timeout\":600,\"metadata\":$1}" "$E2B_API_URL/sandboxes" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxID"])'
}
orphan_done=$(mk "{\"pgsandbox_db\":\"$tag\",\"pgsandbox_run\":\"$finished\",\"pgsandbox_attempt\":\"1\"}")
orphan_unknown=$(mk "{\"pgsandbox_db\":\"$tag\",\"pgsandbox_run\":\"00000000-0000-0000-0000-000000000000\"}")
other_db=$(mk "{\"pgsandbox_db\":\"another-database\",\"pgsandbox_run\":\"$finished\"}")
fresh_sync=$(mk "{\"pgsandbox_db\":\"$tag\"}")
alive() { curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$1"; }
for _ in $(seq 1 60); do
    [ "$(alive "$orphan_done")" = 404 ] && [ "$(alive "$orphan_unknown")" = 404 ] && break
    sleep 0.1
done
check "the reaper kills the sandbox of a finished run" "$(alive "$orphan_done")" "404"
check "the reaper kills the sandbox of an unknown run" "$(alive "$orphan_unknown")" "404"
check "the reaper leaves another database's sandbox alone" "$(alive "$other_db")" "200"
check "the reaper leaves a young sandbox that may be a user's" "$(alive "$fresh_sync")" "200"
curl -s -o /dev/null -X DELETE -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$other_db"
curl -s -o /dev/null -X DELETE -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$fresh_sync"
# a recorded sandbox that vanished behind our back is marked expired
sb=$(q "SELECT sandbox_create()")
curl -s -o /dev/null -X DELETE -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$sb"
q "UPDATE sandboxes SET created_at = now() - interval '1 minute' WHERE sandbox_id = '$sb'" >/dev/null
for _ in $(seq 1 60); do
    [ "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")" = expired ] && break
    sleep 0.1
done
check "a vanished sandbox's row is marked expired" "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")" "expired"
q "ALTER SYSTEM RESET sandbox.reaper_interval" >/dev/null

# --- retention prunes old finished runs and their events
old=$(q "SELECT id FROM agent_runs WHERE status = 'completed' ORDER BY completed_at LIMIT 1")
q "UPDATE agent_runs SET completed_at = now() - interval '2 days' WHERE id = '$old'" >/dev/null
q "ALTER SYSTEM SET sandbox.retention = '1d'" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM agent_runs WHERE id = '$old'")" = 0 ] && break
    sleep 0.1
done
check "retention deletes a run finished two days ago" "$(q "SELECT count(*) FROM agent_runs WHERE id = '$old'")" "0"
check "and its events" "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$old'")" "0"
check "and keeps recent ones" "$(q "SELECT count(*) > 0 FROM agent_runs WHERE status = 'completed'")" "t"
q "ALTER SYSTEM RESET sandbox.retention" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null

# --- SIGTERM: the worker releases its runs, restarts, and they complete
run=$(q "INSERT INTO agent_runs (prompt) VALUES (\$\$Interrupted.
\`\`\`bash
sleep 2; echo finished-after-sigterm
\`\`\`
\$\$) RETURNING id")
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_call'")" = 1 ] && break
    sleep 0.05
done
pid=$(q "SELECT pid FROM sandbox_worker_status()")
t0=$(date +%s%N)
q "SELECT pg_terminate_backend($pid)" >/dev/null
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
t1=$(date +%s%N)
if kill -0 "$pid" 2>/dev/null; then notok "the worker did not exit on SIGTERM"; else
    ok "the worker exits on SIGTERM in $(( (t1 - t0) / 1000000 )) ms"; fi
check "its run was released with an event" \
      "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'released'")" "1"
wait_worker && ok "the worker restarted" || notok "the worker did not restart"
check "the released run completes on its next attempt" "$(wait_run "$run")" "completed"
check "on attempt 2" "$(q "SELECT attempts FROM agent_runs WHERE id = '$run'")" "2"
check "and the first attempt's sandbox was killed" \
      "$(q "SELECT count(*) FROM sandboxes WHERE run_id = '$run' AND state = 'running'")" "0"

exit $status
