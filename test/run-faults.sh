#!/usr/bin/env bash
# test/run-faults.sh: nothing lost, nothing leaked, and every failure
# accounted for.  Runs agent runs through
#   A. crashes: kill -9 of the worker (twice) and pg_ctl restart -m
#      immediate, mid-run;
#   B. a sandboxd restart mid-run (every sandbox of the old one is gone);
#   C. faults: sandboxd and modeld answering 5% 5xx, 2% 429 with Retry-After,
#      1% dropped connections, and streams cut before their end;
# and checks: every run terminal, none completed twice, every event sequence
# gap-free, no sandbox left live in sandboxd, the worker running again, and
# no backend crash other than our own kill -9.  Each phase also bounds its
# failures, and prints the counts:
#   A: no run may fail, except after sandbox.max_attempts crashes (which
#      needs as many crashes as max_attempts: 3 < 5 here, so none), and no
#      run takes more attempts than 1 + the crashes we caused;
#   B: only runs whose sandbox died with the restart may fail ("sandbox ...
#      is gone", naming a sandbox the old sandboxd held when it stopped);
#   C: no crash, no rescue, every run on its first attempt; a run may fail
#      only when its events show the injected fault used up its retries
#      (each operation is tried 6 times, ~8% faults: ~3e-7 per operation),
#      at most FAULT_MAX_FAILED (1) of them.
# The worker is found through this test's own cluster (never by name on the
# machine), each kill must be followed by a new worker of this cluster, and
# the server log may show only the workers we killed: a worker killed by
# someone else, or one that does not come back, turns the suite red.
#
# Also the soak test: RUNS=10000 KILL_EVERY=10 test/run-faults.sh soak
# (it prints runs completed, failed with reasons, duplicates, leaks and wall
# time, and writes bench/results/soak.txt, or $SOAK_REPORT).  Every soak
# run's command counts itself on a counting server (test/lib/counter.py,
# key soak-<run>-s<step>), so the soak also reports the commands executed
# and those executed more than once, which must be none: a command is never
# run twice, whatever the crashes (issue 10).  Assumes `make install`.
# Modes: ci (default: A, B, C), crash (A, B), faults (C), soak.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-ci}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"
source "$ROOT/test/lib/counter.sh"

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
    pg_cleanup; modeld_stop; sandboxd_stop_all; counter_stop
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

notok() { echo "not ok - $1"; status=1; }

# worker_pid: this cluster's worker, through this cluster (never a process
# looked up by name: that would find any cluster's worker on the machine)
worker_pid() { q "SELECT pid FROM sandbox_worker_status() WHERE pid IS NOT NULL ORDER BY worker LIMIT 1"; }

# wait_worker [NOT_PID]: waits (30 s at most) for this cluster's worker,
# one whose pid is not NOT_PID; prints its pid (or nothing)
wait_worker() {
    local pid=""
    for _ in $(seq 1 300); do
        pid=$(worker_pid)
        [ -n "$pid" ] && [ "$pid" != "${1:-}" ] && { echo "$pid"; return 0; }
        sleep 0.1
    done
    return 1
}

# our postmaster's pid
postmaster_pid() { head -1 "$PGDATA_DIR/data/postmaster.pid"; }

# kill_worker: SIGKILL to this cluster's worker (checked to be a child of
# this cluster's postmaster), then waits for the server and for a new
# worker.  Counts the crash; a worker that does not come back is a failure.
KILLED_PIDS=""
CRASHES=0
kill_worker() {
    local pid pm ppid new
    pid=$(wait_worker) || { notok "no worker in this cluster to kill"; return 0; }
    pm=$(postmaster_pid)
    ppid=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2)
    if [ "$ppid" != "$pm" ]; then
        notok "worker $pid is not a child of this cluster's postmaster $pm (parent: '$ppid'); not killed"
        return 0
    fi
    kill -9 "$pid"
    KILLED_PIDS="$KILLED_PIDS $pid"; CRASHES=$((CRASHES + 1))
    echo "  killed this cluster's worker $pid (postmaster $pm) with SIGKILL"
    wait_for_pg
    if new=$(wait_worker "$pid"); then
        echo "  the worker is back: pid $new"
    else
        notok "no new worker within 30 s after killing $pid"
    fi
}

# sbd_live_ids: the ids of sandboxd's running sandboxes, space-separated
sbd_live_ids() {
    python3 - "$E2B_API_URL" "$SBD_KEY" <<'PY'
import json, sys, urllib.request
url, key, ids, tok = sys.argv[1], sys.argv[2], [], ""
while True:
    req = urllib.request.Request(url + "/v2/sandboxes?state=running&limit=100" +
                                 ("&nextToken=" + tok if tok else ""), headers={"X-API-Key": key})
    with urllib.request.urlopen(req) as r:
        ids += [s["sandboxID"] for s in json.load(r)]
        tok = r.headers.get("X-Next-Token") or ""
    if not tok:
        break
print(" ".join(ids))
PY
}

# restart_sandboxd replaces sandboxd with a fresh one on the same ports and
# key: every sandbox of the old one is gone.  Before stopping it, the old
# one refuses new sandboxes (503: the runs retry, on the new one) and its
# live sandboxes are listed in LOST_SANDBOXES: the sandboxes that die with
# the restart.
LOST_SANDBOXES=""
restart_sandboxd() {
    local pid=${SBD_EXTRA_PID:-$SANDBOXD_PID}
    curl -sS -o /dev/null -X PUT -H "X-API-Key: $SBD_KEY" -H 'Content-Type: application/json' \
        --data-binary '{"rules":[{"server":"api","method":"POST","path":"/sandboxes","error_rate":1,"error_status":503},
                                 {"server":"api","method":"POST","path":"/v2/sandboxes","error_rate":1,"error_status":503}]}' \
        "$E2B_API_URL/admin/faults"
    sleep 0.3   # creations already under way finish
    LOST_SANDBOXES=$(sbd_live_ids)
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    mkdir -p "$SBD_DIR/data2"
    "$ROOT/hosts/sandboxd/sandboxd" --api-port "$SBD_API_PORT" --sandbox-port "$SBD_SB_PORT" --bind 127.0.0.1 \
        --api-key "$SBD_KEY" --max-sandboxes 2000 --data-dir "$SBD_DIR/data2" \
        >"$SBD_DIR/stdout2" 2>>"$SBD_DIR/sandboxd2.log" &
    SBD_EXTRA_PID=$!
    for _ in $(seq 1 100); do curl -fsS -o /dev/null "$E2B_API_URL/health" 2>/dev/null && break; sleep 0.05; done
    echo "  restarted sandboxd (pid $SBD_EXTRA_PID); $(echo $LOST_SANDBOXES | wc -w) sandboxes died with the old one"
}

# enqueue N LABEL SLEEP [COUNT]: N runs whose command sleeps SLEEP seconds.
# With COUNT (the counter's URL), the command first counts itself there:
# GET COUNT/hit/LABEL-<i>-s1 (i: the run's number in the batch, s1: its
# first and only step).
enqueue() {
    local hit=""
    [ -n "${4:-}" ] && hit="curl -fsS -o /dev/null $4/hit/$2-%s-s1; "
    q "INSERT INTO agent_runs (prompt, metadata)
       SELECT format(\$p\$Batch %s run %s.
\`\`\`bash
${hit}sleep $3; echo done-%s
\`\`\`
\$p\$, '$2', i, ${hit:+i, }i), jsonb_build_object('batch', '$2', 'i', i)
         FROM generate_series(1, $1) i" >/dev/null
}

# command_counts LABEL N: from the counter, for the batch's N runs (one
# step each): "<commands executed> <commands executed twice or more>
# <extra executions> <runs completed without their command counted>"
command_counts() {
    local completed
    completed=$(q "SELECT coalesce(string_agg(metadata->>'i', ','), '') FROM agent_runs
                   WHERE metadata->>'batch' = '$1' AND status = 'completed'")
    counter_counts | python3 -c "
import json, sys
c = json.load(sys.stdin)
keys = ['$1-%d-s1' % i for i in range(1, $2 + 1)]
done = [int(i) for i in '$completed'.split(',') if i]
print(sum(c.get(k, 0) for k in keys),
      sum(1 for k in keys if c.get(k, 0) > 1),
      sum(c.get(k, 0) - 1 for k in keys if c.get(k, 0) > 1),
      sum(1 for i in done if c.get('$1-%d-s1' % i, 0) == 0))"
}

# show_twice LABEL N: the events of (at most 3 of) the batch's runs whose
# command was executed more than once, for the diagnosis
show_twice() {
    local i id
    for i in $(counter_counts | python3 -c "
import json, sys
c = json.load(sys.stdin)
print(' '.join(str(i) for i in range(1, $2 + 1) if c.get('$1-%d-s1' % i, 0) > 1))"); do
        echo "  run $i of the batch: its command executed $(counter_get "$1-$i-s1") times, at" \
             "$(awk -v k="$1-$i-s1" '$2 == k {print $1}' "$PGDATA_DIR/counter-hits.log" 2>/dev/null |
                xargs -r -I{} date -u +%T.%3N -d @{} 2>/dev/null | tr '\n' ' ')"
    done | head -20
    for i in $(counter_counts | python3 -c "
import json, sys
c = json.load(sys.stdin)
print(' '.join(str(i) for i in range(1, $2 + 1) if c.get('$1-%d-s1' % i, 0) > 1))" | cut -d' ' -f1-3); do
        id=$(q "SELECT id FROM agent_runs WHERE metadata->>'batch' = '$1' AND metadata->>'i' = '$i'")
        echo "  events of run $i ($id): $(q "SELECT format('status %s, attempts %s', status, attempts) FROM agent_runs WHERE id = '$id'")"
        q "SELECT format('    %3s %s a%s %-16s %s', seq, to_char(at, 'HH24:MI:SS.MS'), attempt, kind, left(data::text, 300))
             FROM agent_run_events WHERE run_id = '$id' ORDER BY seq"
    done
}

# show_uncounted LABEL N: for the batch's completed runs whose command never
# reached the counter, what their last tool result was, by kind
show_uncounted() {
    local list
    list=$(counter_counts | python3 -c "
import json, sys
c = json.load(sys.stdin)
print(','.join(\"'%d'\" % i for i in range(1, $2 + 1) if c.get('$1-%d-s1' % i, 0) == 0))")
    [ -n "$list" ] || return 0
    q "SELECT '  never counted, completed, last tool result: ' || count(*) || ' x ' || kind FROM (
         SELECT CASE WHEN t.data IS NULL THEN 'none'
                     WHEN t.data->>'interrupted' = 'true' THEN 'interrupted: ' || left(t.data->>'error', 90)
                     WHEN t.data ? 'error' THEN 'error: ' || left(regexp_replace(t.data->>'error', '[0-9]+', 'N', 'g'), 90)
                     ELSE 'exit ' || coalesce(t.data->>'exit_code', '?') END AS kind
           FROM agent_runs r LEFT JOIN LATERAL (SELECT e.data FROM agent_run_events e WHERE e.run_id = r.id
                                                AND e.kind = 'tool_result' ORDER BY e.seq DESC LIMIT 1) t ON true
          WHERE r.metadata->>'batch' = '$1' AND r.status = 'completed' AND r.metadata->>'i' IN ($list)) k
       GROUP BY kind ORDER BY count(*) DESC LIMIT 8"
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
    q "SELECT '    failed: ' || count(*) || ' x ' || e FROM (SELECT regexp_replace(left(error, 120),
              '(sandbox|attempt) \"?[a-z0-9]+\"?', '\\1 ...', 'g') e FROM agent_runs
        WHERE metadata->>'batch' = '$label' AND status = 'failed') f GROUP BY e ORDER BY count(*) DESC LIMIT 5"
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
    # a tool result that says the process was followed again by pid: after
    # a broken stream (stream_resumed) or by a resumed attempt after a crash
    # (reattached); what the command printed while nobody listened is missing
    bad=$(q "SELECT count(*) FROM agent_runs r WHERE r.metadata->>'batch' = '$label' AND status = 'completed'
             AND r.result->>'text' NOT LIKE '%done-%'
             AND NOT EXISTS (SELECT 1 FROM agent_run_events e WHERE e.run_id = r.id
                             AND e.kind = 'tool_result'
                             AND (e.data ? 'error' OR e.data->>'stream_resumed' = 'true'
                                  OR e.data->>'reattached' = 'true'))")
    [ "$bad" = 0 ] || { echo "not ok - $label: $bad completed runs without their command's output"; status=1; }
    echo "  completed with a tool error fed to the model: $(q "SELECT count(*) FROM agent_runs r
             WHERE r.metadata->>'batch' = '$label' AND status = 'completed' AND r.result->>'text' NOT LIKE '%done-%'")"
    echo "  tool results whose stream was followed again by pid: $(q "SELECT count(*) FROM agent_run_events e
             JOIN agent_runs r ON r.id = e.run_id WHERE r.metadata->>'batch' = '$label'
             AND e.kind = 'tool_result' AND e.data->>'stream_resumed' = 'true'")"
    echo "  tool results of a command a resumed attempt followed (reattached): $(q "SELECT count(*) FROM agent_run_events e
             JOIN agent_runs r ON r.id = e.run_id WHERE r.metadata->>'batch' = '$label'
             AND e.kind = 'tool_result' AND e.data->>'reattached' = 'true'")"
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
    for _ in $(seq 1 50); do
        rows=$(q "SELECT count(*) FROM sandboxes WHERE state = 'running'")
        [ "$rows" = 0 ] && break
        sleep 0.2
    done
    [ "$rows" = 0 ] || { echo "not ok - $rows sandboxes rows still say running"; status=1; }
}

# check_worker [PID]: the worker is running (and still is PID: nothing
# crashed or killed it meanwhile)
check_worker() {
    local st pid
    for _ in $(seq 1 100); do
        st=$(q "SELECT state FROM sandbox_worker_status() WHERE pid IS NOT NULL")
        [ "$st" = running ] && break
        sleep 0.1
    done
    [ "$st" = running ] && echo "  the worker is running" || notok "worker state '$st'"
    if [ -n "${1:-}" ]; then
        pid=$(worker_pid)
        [ "$pid" = "$1" ] && echo "  the worker is the same process as at the phase's start ($pid)" ||
            notok "the worker changed during the phase: $1 -> '$pid' (killed or crashed)"
    fi
}

# failures LABEL CLASSIFY_SQL: counts the batch's failed runs by class
# (CLASSIFY_SQL: a CASE over agent_runs r yielding a class name), prints
# "class count" lines
failures() {
    q "SELECT cls || ' ' || count(*) FROM (SELECT $2 AS cls FROM agent_runs r
        WHERE r.metadata->>'batch' = '$1' AND r.status = 'failed') f GROUP BY cls ORDER BY cls"
}
# count_of CLASS LINES: the count of one class in failures' output
count_of() { echo "$2" | awk -v c="$1" '$1 == c {print $2}' | grep . || echo 0; }
# outcome LABEL STATUS: how many runs of the batch ended so
outcome() { q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$1' AND status = '$2'"; }

# the server log's SIGKILLed processes must be the workers we killed
check_kills() {
    local pids p
    pids=$(grep -E "terminated by signal 9" "$PG_SERVER_LOG" | sed -n 's/.*(PID \([0-9]*\)).*/\1/p' | sort -u)
    for p in $pids; do
        case " $KILLED_PIDS " in
            *" $p "*) ;;
            *) notok "process $p of this cluster was SIGKILLed by someone else"
               grep -E "PID $p\)" "$PG_SERVER_LOG" | head -2 ;;
        esac
    done
    echo "  SIGKILLs in the server log: $(echo $pids | wc -w) (ours: $(echo $KILLED_PIDS | wc -w))"
}

crash_phase() {
    local label=crash n=${CRASH_RUNS:-60} max_att f used other
    local max_attempts=5
    echo "A. crashes: $n runs; kill -9 the worker twice, then pg_ctl restart -m immediate"
    enqueue "$n" "$label" 2
    sleep 1; kill_worker
    sleep 1.5; kill_worker
    sleep 1.5; pg_restart -m immediate; CRASHES=$((CRASHES + 1)); echo "  pg_ctl restart -m immediate"
    wait_for_pg
    wait_worker >/dev/null || notok "no worker after the restart"
    wait_batch "$label" 120 || status=1
    check "$label"
    # bounds: a run fails only when the crashes used up its attempts, which
    # takes max_attempts crashes; no run needs more than 1 + crashes attempts
    f=$(failures "$label" "CASE WHEN r.error ~ 'its worker stopped .*sandbox.max_attempts \\($max_attempts\\) is used up'
                               AND r.attempts >= $max_attempts THEN 'attempts_used_up' ELSE 'other' END")
    used=$(count_of attempts_used_up "$f"); other=$(count_of other "$f")
    max_att=$(q "SELECT max(attempts) FROM agent_runs WHERE metadata->>'batch' = '$label'")
    echo "  bounds: $(outcome "$label" completed) completed; failed: $used after max_attempts crashes," \
         "$other otherwise; cancelled $(outcome "$label" cancelled); $CRASHES crashes, at most $max_att attempts;" \
         "$(q "SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
              WHERE r.metadata->>'batch' = '$label' AND e.kind = 'rescued'") rescues"
    [ "$other" = 0 ] || notok "$label: $other runs failed for another reason than the crashes"
    if [ "$used" != 0 ] && [ "$CRASHES" -lt "$max_attempts" ]; then
        notok "$label: $used runs used up $max_attempts attempts with only $CRASHES crashes"
    fi
    [ "$(outcome "$label" cancelled)" = 0 ] || notok "$label: runs were cancelled"
    [ "${max_att:-99}" -le $((CRASHES + 1)) ] || notok "$label: a run took $max_att attempts after $CRASHES crashes"
    check_no_leaks
    check_worker
}

sandboxd_restart_phase() {
    local label=sbdrestart n=${SBD_RUNS:-30} after=10 f lost other wpid busy nlost done
    echo "B. sandboxd restart: $n runs; sandboxd replaced while they run; then $after more"
    wpid=$(wait_worker) || notok "no worker"
    enqueue "$n" "$label" 3
    # restart while commands run
    for _ in $(seq 1 100); do
        busy=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label' AND status = 'executing'")
        [ "$busy" -ge $((n / 2)) ] && break
        sleep 0.1
    done
    echo "  $busy runs executing"
    restart_sandboxd
    curl -sS -o /dev/null -X DELETE -H "X-API-Key: $SBD_KEY" "$E2B_API_URL/admin/faults"
    enqueue "$after" "$label" 0.2
    wait_batch "$label" 120 || status=1
    check "$label"
    # bound: a failed run says its sandbox is gone, and names one that the
    # old sandboxd held when it stopped
    nlost=$(echo $LOST_SANDBOXES | wc -w)
    f=$(failures "$label" "CASE WHEN r.error ~ '^sandbox \"[^\"]+\" is gone'
                               AND substring(r.error FROM '^sandbox \"([^\"]+)\"')
                                   = ANY (string_to_array('$LOST_SANDBOXES', ' '))
                          THEN 'sandbox_died' ELSE 'other' END")
    lost=$(count_of sandbox_died "$f"); other=$(count_of other "$f")
    done=$(outcome "$label" completed)
    echo "  bounds: $done completed (at least the $after enqueued after the restart); failed: $lost whose sandbox" \
         "died with the restart ($nlost sandboxes died), $other otherwise; cancelled $(outcome "$label" cancelled)"
    [ "$done" -ge "$after" ] || notok "$label: only $done runs completed after the restart"
    [ "$nlost" -gt 0 ] || notok "$label: no sandbox was live at the restart: the phase tested nothing"
    [ "$other" = 0 ] || { notok "$label: $other runs failed for another reason than their sandbox dying with the restart"
        q "SELECT '    ' || left(error, 160) FROM agent_runs WHERE metadata->>'batch' = '$label' AND status = 'failed'
            AND NOT (error ~ '^sandbox \"[^\"]+\" is gone') LIMIT 5"; }
    [ "$(outcome "$label" cancelled)" = 0 ] || notok "$label: runs were cancelled"
    check_no_leaks
    check_worker "$wpid"
}

fault_phase() {
    local label=faults n=${FAULT_RUNS:-60} f injected other wpid maxf=${FAULT_MAX_FAILED:-1}
    echo "C. faults: $n runs; 5% 5xx, 2% 429 + Retry-After, 1% drops, 2% cut streams"
    wpid=$(wait_worker) || notok "no worker"
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
    # bound: a run fails only when the injected faults used up an
    # operation's retries: its error names an injected fault (503, 529, 429
    # or a dropped connection) and its events show retries of such faults
    f=$(failures "$label" "CASE WHEN r.error ~ '(answered HTTP (503|529|429)|Empty reply|Connection reset|Recv failure|Send failure)'
                               AND EXISTS (SELECT 1 FROM agent_run_events e WHERE e.run_id = r.id AND e.kind = 'retry'
                                   AND ((e.data->>'status') IN ('503', '529', '429')
                                        OR e.data->>'error' ~ '(Empty reply|Connection reset|Recv failure|Send failure)'))
                          THEN 'injected' ELSE 'other' END")
    injected=$(count_of injected "$f"); other=$(count_of other "$f")
    echo "  bounds: $(outcome "$label" completed) completed; failed: $injected by injected faults (at most $maxf)," \
         "$other otherwise; cancelled $(outcome "$label" cancelled);" \
         "runs on a later attempt: $(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label' AND attempts > 1")"
    [ "$other" = 0 ] || notok "$label: $other runs failed without an injected fault to show for it"
    [ "$injected" -le "$maxf" ] || notok "$label: $injected runs failed by injected faults (at most $maxf expected)"
    [ "$(outcome "$label" cancelled)" = 0 ] || notok "$label: runs were cancelled"
    # nothing crashed: no run was rescued or needed a second attempt
    [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label' AND attempts <> 1")" = 0 ] ||
        notok "$label: runs needed more than one attempt (the worker was stopped or crashed)"
    check_no_leaks
    check_worker "$wpid"
}

soak() {
    local label=soak n=${RUNS:-10000} every=${KILL_EVERY:-10} start end kills=0
    local executed twice extra uncounted
    echo "soak: $n runs under faults, the worker killed every $every s; every command counts itself"
    # (each hit's time is logged, to tell which attempt ran a command twice)
    COUNTER_LOG=$PGDATA_DIR/counter-hits.log counter_start
    local rules='{"rules":[
        {"error_rate":0.05,"error_status":503,"rate_limit_rate":0.02,"retry_after":1,"drop_rate":0.01,"cut_rate":0.02}]}'
    curl -sS -o /dev/null -X PUT -H "X-API-Key: $SBD_KEY" -H 'Content-Type: application/json' \
        --data-binary "$rules" "$E2B_API_URL/admin/faults"
    modeld_admin PUT /admin/faults '{"rules":[{"error_rate":0.05,"error_status":529,"rate_limit_rate":0.02,"retry_after":1,"drop_rate":0.01}]}' >/dev/null
    start=$(date +%s)
    enqueue "$n" "$label" 0.1 "$COUNTER_URL"
    while :; do
        left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label'
                  AND status IN ('pending', 'planning', 'executing')")
        [ "$left" = 0 ] && break
        sleep "$every"
        left=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$label'
                  AND status IN ('pending', 'planning', 'executing')")
        [ "$left" = 0 ] && break
        kill_worker >/dev/null; kills=$((kills + 1))
        echo "  $(date +%T) $left runs live; worker killed $kills times"
    done
    end=$(date +%s)
    curl -sS -o /dev/null -X DELETE -H "X-API-Key: $SBD_KEY" "$E2B_API_URL/admin/faults"
    modeld_admin DELETE /admin/faults >/dev/null
    check "$label"
    check_no_leaks
    read -r executed twice extra uncounted <<<"$(command_counts "$label" "$n")"
    echo "  commands executed: $executed; executed twice or more: $twice ($extra extra executions);" \
         "completed runs whose command was never counted: $uncounted"
    if [ "$twice" != 0 ]; then
        notok "$label: $twice commands executed more than once ($extra extra executions)"
        show_twice "$label" "$n"
    fi
    # (a completed run whose command never ran is possible: a dropped Start
    # whose outcome the worker cannot know goes to the model as a tool
    # error, and so does a command recorded but not yet started when the
    # worker died; so that figure is reported, not a failure, with what
    # those runs' last tool result said)
    [ "$uncounted" = 0 ] || show_uncounted "$label" "$n"
    local report=${SOAK_REPORT:-$ROOT/bench/results/soak.txt}
    {
        echo "soak: $n agent runs through sandboxd and modeld under faults (5% 5xx, 2% 429 + Retry-After,"
        echo "1% dropped connections, 2% cut streams), the worker killed with SIGKILL every $every s;"
        echo "every run's command counts itself on a counting server (one key per run and step)"
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
        echo "commands executed:   $executed (one command per run)"
        echo "commands executed twice or more: $twice ($extra extra executions)"
        echo "completed runs whose command was never counted: $uncounted"
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
    ci) crash_phase; sandboxd_restart_phase; fault_phase ;;
    crash) crash_phase; sandboxd_restart_phase ;;
    faults) fault_phase ;;
    soak) soak ;;
esac

# crashes other than our own SIGKILLs
if grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" | grep -v "signal 9: Killed" | grep -q .; then
    echo "not ok - a server process crashed:"
    grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" | grep -v "signal 9"
    status=1
fi
check_kills
if [ $status = 0 ]; then echo "faults: all checks passed"; else echo "faults: FAILED"; fi
if [ -n "${KEEP_FOR_DEBUG:-}" ]; then echo "kept: PGPORT=$PGPORT PGDATABASE=$PGDATABASE"; fi
exit $status
