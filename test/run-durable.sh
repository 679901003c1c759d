#!/usr/bin/env bash
# test/run-durable.sh: durable runs (issue 10).  A run whose worker dies
# resumes on its next attempt in its own sandbox and never runs a command
# twice; a run whose sandbox is lost follows its on_sandbox_lost policy; a
# model outage costs no run and no attempt.
#
# Every command of every run here calls a counting server on 127.0.0.1
# (test/lib/counter.py) with its own key, so every execution is counted,
# whichever attempt or sandbox ran it.  A run has three commands:
#   cmd1: curl .../hit/<run>-cmd1
#   cmd2: curl .../hit/<run>-cmd2; then either sleep $CMD2_SLEEP, or (a
#         "gated" run) wait until the counter has seen <run>-gate, which the
#         test hits when it wants the command to end     <- the fault lands here
#   cmd3: curl .../hit/<run>-cmd3
# and the fault is injected once the counter has seen <run>-cmd2 (and not
# yet <run>-cmd3).
#
# Cases (CASES selects some, default all, in this order):
#   kill9     kill -9 of the worker during cmd2 of four runs:
#               A (resume, followed): gated, opened only once the run has
#                 resumed, so its cmd2 is still running: the run completes on
#                 attempt 2 in its first sandbox (one sandbox_created,
#                 agent_runs.sandbox_id = that sandbox), with a `resumed`
#                 event {attempt 2, that sandbox, a numeric from_step}; cmd2
#                 was followed by pid to its end (its last tool_result: exit
#                 0 with its final output); every command counted exactly once;
#               D (resume, interrupted): gated, opened right after the kill,
#                 so cmd2 has ended when the run resumes: as A, but cmd2's
#                 last tool_result has "interrupted": true;
#               B, C: their sandbox is deleted (sandboxd API) while the worker
#                 is down, so the resumed attempt finds it lost: B
#                 (on_sandbox_lost 'restart') completes in a new sandbox after
#                 a `sandbox_lost` event; C ('fail') fails with an error that
#                 names the sandbox and says it was lost; neither runs a
#                 command twice, C never runs cmd3.
#   immediate pg_ctl restart -m immediate during cmd2 of A and D (D's gate
#             opened once the server is back): as A and D.
#   sigterm   SIGTERM release (pg_terminate_backend of the worker) during
#             cmd2 of A and D (D's gate opened once D's `released` event is
#             there): as A and D, plus a `released` event.
#   lost      a sandbox deleted under a live run during cmd2 (sandboxd API,
#             the worker untouched): 'restart' completes in a new sandbox
#             (sandbox_lost {sandbox_id, policy} then a second
#             sandbox_created), 'fail' fails naming the sandbox; no command
#             runs twice.
#   reattach  no crash: a command's output stream is cut before its end (so
#             the worker follows the process by pid), and that Connect is
#             answered 503 (then 429) once: the command still runs once
#             (found by the soak: the retry ran the command again).
#   capacity  sandboxd at its concurrent-sandbox limit (the test fills it
#             with sandboxes of its own: E2B's 429) for $CAPACITY_HOLD_S s,
#             longer than the retries of one call, while 3 runs wait for a
#             sandbox: none fails meanwhile; once the test frees its
#             sandboxes all complete on attempt 1, each command once.
#   outage    the model answers 503 to everything for $OUTAGE_S s (modeld's
#             fault API) while $OUTAGE_RUNS runs (two commands each) are
#             pending or in flight: none fails, all on attempt 1, every
#             command counted exactly once, all completed within
#             $OUTAGE_RECOVER_S s after the outage, and
#             sandbox_worker_status().breakers showed the model breaker
#             'open' during the outage (and not open after).
# Then: no sandbox left live in sandboxd, the server log's SIGKILLs are only
# ours, and no other backend crashed.
#
# Output is TAP-like (ok - / not ok - lines); a failing run's events, the
# counter's counts and log tails are printed.  Exit status 1 on any failure.
# Assumes `make install`.  The worker is found through this cluster
# (sandbox_worker_status()), never by name: other clusters run here too.
#
# Environment: CASES (e.g. "kill9 outage"), MAX_SANDBOXES (sandboxd's limit,
# 60: more than CONCURRENCY), CAPACITY_HOLD_S (25), CMD2_SLEEP (4: cmd2 of the
# runs whose sandbox is deleted), OUTAGE_RUNS (100),
# OUTAGE_S (60), OUTAGE_RECOVER_S (120), RUN_WAIT_S (90: how long a resumed
# run may take to end), CONCURRENCY (50: so that, of the outage's runs,
# some are in flight and some pending), KEEP_TMP=1 (keep the cluster's
# directory), DURABLE_VERBOSE=1 (print every run's events).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/counter.sh"
source "$ROOT/test/lib/pg.sh"

CASES=${CASES:-"kill9 immediate sigterm lost reattach capacity outage"}
MAX_SANDBOXES=${MAX_SANDBOXES:-60}
CAPACITY_HOLD_S=${CAPACITY_HOLD_S:-25}
CMD2_SLEEP=${CMD2_SLEEP:-4}
OUTAGE_RUNS=${OUTAGE_RUNS:-100}
OUTAGE_S=${OUTAGE_S:-60}
OUTAGE_RECOVER_S=${OUTAGE_RECOVER_S:-120}
RUN_WAIT_S=${RUN_WAIT_S:-90}
T_SUITE=$(date +%s)

sandboxd_start --max-sandboxes "$MAX_SANDBOXES"
modeld_start
counter_start
export TEST_DB=sandbox_durable
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = ${CONCURRENCY:-50}" \
         "sandbox.lease_time = 4" \
         "sandbox.reaper_interval = 2" \
         "sandbox.max_attempts = 5" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 600" \
         "restart_after_crash = on"
# (the libraries above install their own EXIT traps: ours replaces them)
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; counter_stop; return 0; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
export PGDATABASE=$TEST_DB
psql -X -q -c "CREATE EXTENSION sandbox"

status=0
QERR=$PGDATA_DIR/psql-errors.log
# q SQL: one statement, unaligned, tuples only; errors go to $QERR (and
# leave the answer empty) so that a crash-restart in progress does not stop
# the script
q() { psql -X -At -q -c "$1" 2>>"$QERR" || true; }
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; status=1; CASE_FAILED=1; }
# check NAME GOT WANT
check() { if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: got '$2', want '$3'"; fi; }
note() { echo "# $*"; }

wait_for_pg() {
    for _ in $(seq 1 300); do
        psql -X -At -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
postmaster_pid() { head -1 "$PGDATA_DIR/data/postmaster.pid"; }
# worker_pid: this cluster's worker, read through this cluster
worker_pid() { q "SELECT pid FROM sandbox_worker_status() WHERE pid IS NOT NULL ORDER BY worker LIMIT 1"; }
# wait_worker [NOT_PID]: waits (30 s at most) for this cluster's worker, one
# whose pid is not NOT_PID, in state running; prints its pid
wait_worker() {
    local pid=""
    for _ in $(seq 1 300); do
        pid=$(q "SELECT pid FROM sandbox_worker_status() WHERE pid IS NOT NULL AND state = 'running'
                 ORDER BY worker LIMIT 1")
        [ -n "$pid" ] && [ "$pid" != "${1:-}" ] && { echo "$pid"; return 0; }
        sleep 0.1
    done
    return 1
}
# our_worker PID: PID is a child of this cluster's postmaster
our_worker() {
    local ppid
    ppid=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f2)
    [ -n "$ppid" ] && [ "$ppid" = "$(postmaster_pid)" ]
}

KILLED_PIDS=""
# kill_worker: SIGKILL to this cluster's worker (checked to be a child of
# this cluster's postmaster); sets KILLED (its pid).  Does not wait for the
# restart.
kill_worker() {
    local pid
    KILLED=""
    pid=$(wait_worker) || { notok "no worker in this cluster to kill"; return 1; }
    our_worker "$pid" || { notok "worker $pid is not a child of this cluster's postmaster; not killed"; return 1; }
    kill -9 "$pid"
    KILLED_PIDS="$KILLED_PIDS $pid"
    KILLED=$pid
}

# sandboxd helpers: delete one sandbox; count live ones
sbd_delete() {
    curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $SANDBOXD_API_KEY" \
        "$E2B_API_URL/sandboxes/$1"
}
sbd_live() {
    sandboxd_admin GET /admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])'
}

# the column of issue 10; without it (an extension built before it) the runs
# are enqueued without a policy and the missing column is reported
HAVE_POLICY=$(q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'agent_runs'::regclass
                 AND attname = 'on_sandbox_lost' AND NOT attisdropped")

# prompt3 KEY [gate]: the three counted commands of a run (see the header);
# with "gate", cmd2 ends once the counter has seen KEY-gate (at most 120 s)
prompt3() {
    local wait="sleep $CMD2_SLEEP"
    [ "${2:-}" = gate ] &&
        wait="for i in \$(seq 1 1200); do [ \"\$(curl -fsS $COUNTER_URL/count/$1-gate)\" -ge 1 ] 2>/dev/null && break; sleep 0.1; done"
    cat <<EOF
Durable run $1: three commands, each one counted.
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$1-cmd1; echo step1-$1
\`\`\`
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$1-cmd2; $wait; echo step2-$1
\`\`\`
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$1-cmd3; echo step3-$1
\`\`\`
EOF
}

# enqueue3 KEY [POLICY] [gate]: enqueues a run with prompt3 KEY; prints its id
enqueue3() {
    local key=$1 policy=${2:-} cols="prompt, metadata" vals id
    vals="\$p\$$(prompt3 "$key" "${3:-}")\$p\$, '{\"durable\": \"$key\"}'"
    if [ -n "$policy" ]; then
        # (without the column, reported once at the start, the run is
        # enqueued without its policy)
        [ "$HAVE_POLICY" = 1 ] && { cols="$cols, on_sandbox_lost"; vals="$vals, '$policy'"; }
    fi
    id=$(q "INSERT INTO agent_runs ($cols) VALUES ($vals) RETURNING id")
    [ -n "$id" ] || { echo "# $key: could not enqueue:" >&2; tail -3 "$QERR" >&2; }
    echo "$id"
}

# wait_hit KEY [SECONDS]: waits until the counter has seen KEY
wait_hit() {
    local n=0
    for _ in $(seq 1 $(( ${2:-30} * 20 ))); do
        n=$(counter_get "$1" 2>/dev/null || echo 0)
        [ "${n:-0}" -ge 1 ] && return 0
        sleep 0.05
    done
    return 1
}

# wait_runs SECONDS ID...: waits until every run has ended
wait_runs() {
    local secs=$1 left ids; shift
    ids=$(printf "'%s'," "$@"); ids=${ids%,}
    for _ in $(seq 1 $(( secs * 5 ))); do
        left=$(q "SELECT count(*) FROM agent_runs WHERE id IN ($ids)
                  AND status NOT IN ('completed', 'failed', 'cancelled')")
        [ "$left" = 0 ] && return 0
        sleep 0.2
    done
    return 1
}

run_field() { q "SELECT $2 FROM agent_runs WHERE id = '$1'"; }
first_sandbox() {
    q "SELECT data->>'sandbox_id' FROM agent_run_events WHERE run_id = '$1' AND kind = 'sandbox_created' ORDER BY seq LIMIT 1"
}
n_events() { q "SELECT count(*) FROM agent_run_events WHERE run_id = '$1' AND kind = '$2'"; }

# dump_run ID KEY: what a failing case prints about one run
dump_run() {
    echo "#   run $1 ($2): $(q "SELECT format('status %s, attempts %s, sandbox_id %s, error %s',
                              status, attempts, sandbox_id, coalesce(left(error, 200), '-'))
                              FROM agent_runs WHERE id = '$1'")"
    echo "#   counts: cmd1 $(counter_get "$2-cmd1") cmd2 $(counter_get "$2-cmd2") cmd3 $(counter_get "$2-cmd3")"
    q "SELECT format('#   %3s %s a%s %-16s %s', seq, to_char(at, 'HH24:MI:SS.MS'), attempt, kind, left(data::text, 260))
         FROM agent_run_events WHERE run_id = '$1' ORDER BY seq"
}

# counts_are KEY WANT1 WANT2 WANT3 LABEL: each command's executions
counts_are() {
    local got
    got="$(counter_get "$1-cmd1") $(counter_get "$1-cmd2") $(counter_get "$1-cmd3")"
    check "$5: commands executed (cmd1 cmd2 cmd3)" "$got" "$2 $3 $4"
}

# cmd2_result ID: how the interrupted command's result was recorded (note)
cmd2_result() {
    q "SELECT string_agg(format('attempt %s: %s', e.attempt,
              CASE WHEN e.data->>'interrupted' = 'true' THEN 'interrupted'
                   WHEN e.data->>'stream_resumed' = 'true' THEN 'followed by pid (stream_resumed)'
                   WHEN e.data ? 'error' THEN 'error: ' || left(e.data->>'error', 100)
                   ELSE 'exit ' || coalesce(e.data->>'exit_code', '?') END), '; ' ORDER BY e.seq)
         FROM agent_run_events e
        WHERE e.run_id = '$1' AND e.kind = 'tool_result'
          AND e.data->>'id' IN (SELECT c.data->>'id' FROM agent_run_events c WHERE c.run_id = '$1'
                                AND c.kind = 'tool_call' AND c.data->'input'->>'command' LIKE '%-cmd2;%')"
}

# check_resumed LABEL ID KEY followed|interrupted: a run whose worker died
# during cmd2 and that resumed in its first sandbox, cmd2 still running then
# (followed by pid to its end) or not (reported interrupted)
check_resumed() {
    local label=$1 id=$2 key=$3 how=$4 sbx first ev last
    CASE_FAILED=
    check "$label: the run completed" "$(run_field "$id" status)" completed
    counts_are "$key" 1 1 1 "$label: each command executed exactly once"
    check "$label: attempts" "$(run_field "$id" attempts)" 2
    first=$(first_sandbox "$id")
    check "$label: one sandbox for the whole run (sandbox_created events)" "$(n_events "$id" sandbox_created)" 1
    sbx=$(run_field "$id" sandbox_id)
    check "$label: agent_runs.sandbox_id is the first sandbox" "$sbx" "$first"
    ev=$(q "SELECT format('%s|%s|%s', data->>'attempt', data->>'sandbox_id', (data->>'from_step') ~ '^[0-9]+$')
              FROM agent_run_events WHERE run_id = '$id' AND kind = 'resumed' ORDER BY seq LIMIT 1")
    check "$label: a resumed event {attempt 2, the first sandbox, a numeric from_step}" "$ev" "2|$first|t"
    # cmd2's last tool_result: "interrupted", exit code, its final output there
    last=$(q "SELECT format('%s|%s|%s', coalesce(e.data->>'interrupted', 'false'), coalesce(e.data->>'exit_code', '-'),
                            coalesce(e.data->>'stdout' LIKE '%step2-$key%', false))
                FROM agent_run_events e
               WHERE e.run_id = '$id' AND e.kind = 'tool_result'
                 AND e.data->>'id' IN (SELECT c.data->>'id' FROM agent_run_events c WHERE c.run_id = '$id'
                                       AND c.kind = 'tool_call' AND c.data->'input'->>'command' LIKE '%-cmd2;%')
               ORDER BY e.seq DESC LIMIT 1")
    if [ "$how" = followed ]; then
        check "$label: cmd2, still running at the resume, followed to its end (interrupted|exit|final output)" "$last" "false|0|t"
    else
        check "$label: cmd2, ended before the resume, reported interrupted" "${last%%|*}" true
    fi
    note "$label: from_step $(q "SELECT string_agg(data->>'from_step', ',') FROM agent_run_events
                                 WHERE run_id = '$id' AND kind = 'resumed'");" \
         "cmd2's result: $(cmd2_result "$id")"
    [ -z "$CASE_FAILED" ] && [ -z "${DURABLE_VERBOSE:-}" ] || dump_run "$id" "$key"
}

# check_lost LABEL ID KEY POLICY: a run whose sandbox was deleted during cmd2
check_lost() {
    local label=$1 id=$2 key=$3 policy=$4 first ev second
    CASE_FAILED=
    first=$(first_sandbox "$id")
    ev=$(q "SELECT format('%s|%s', data->>'sandbox_id', data->>'policy')
              FROM agent_run_events WHERE run_id = '$id' AND kind = 'sandbox_lost' ORDER BY seq LIMIT 1")
    check "$label: a sandbox_lost event {the first sandbox, policy}" "$ev" "$first|$policy"
    if [ "$policy" = restart ]; then
        check "$label: the run completed" "$(run_field "$id" status)" completed
        counts_are "$key" 1 1 1 "$label: no command executed twice (cmd3 once, in the new sandbox)"
        check "$label: two sandboxes (sandbox_created events)" "$(n_events "$id" sandbox_created)" 2
        second=$(q "SELECT data->>'sandbox_id' FROM agent_run_events WHERE run_id = '$id'
                    AND kind = 'sandbox_created' ORDER BY seq OFFSET 1 LIMIT 1")
        check "$label: the second sandbox is new and created after sandbox_lost" \
              "$(q "SELECT coalesce('$second' <> '$first' AND '$second' <> '' AND
                          (SELECT min(seq) FROM agent_run_events WHERE run_id = '$id' AND kind = 'sandbox_lost')
                        < (SELECT max(seq) FROM agent_run_events WHERE run_id = '$id' AND kind = 'sandbox_created'), false)")" t
    else
        check "$label: the run failed" "$(run_field "$id" status)" failed
        check "$label: its error names the sandbox and says it was lost" \
              "$(q "SELECT error LIKE '%$first%' AND error ILIKE '%lost%' FROM agent_runs WHERE id = '$id'")" t
        counts_are "$key" 1 1 0 "$label: cmd1 and cmd2 once, cmd3 never"
        check "$label: no second sandbox (sandbox_created events)" "$(n_events "$id" sandbox_created)" 1
    fi
    note "$label: attempts $(run_field "$id" attempts); cmd2's result: $(cmd2_result "$id");" \
         "error: $(run_field "$id" "coalesce(left(error, 150), '-')")"
    [ -z "$CASE_FAILED" ] && [ -z "${DURABLE_VERBOSE:-}" ] || dump_run "$id" "$key"
}

# await_cmd2 LABEL KEY: waits (30 s at most) until the run KEY runs cmd2
await_cmd2() {
    local label=$1 key=$2
    if ! wait_hit "$key-cmd2" 30; then
        notok "$label: the run never reached its second command (harness)"
        return 1
    fi
}
# the fault must land during cmd2: cmd3 not run yet
landed_in_cmd2() {
    local n
    n=$(counter_get "$2-cmd3")
    [ "$n" = 0 ] || notok "$1: the fault landed after cmd3 had started (harness timing; CMD2_SLEEP=$CMD2_SLEEP)"
}

RUN_TAG=$(date +%s)   # keys unique per suite run (the counter is ours anyway)

open_gate() { curl -fsS -o /dev/null "$COUNTER_URL/hit/$1-gate"; }

# open_gate_when_resumed ID KEY: opens the gate of run ID once it has resumed
# (a `resumed` event), or once it runs cmd2 again (no resume: today's
# behaviour), or after RUN_WAIT_S s; in the background (sets GATE_PID)
open_gate_when_resumed() {
    (
        for _ in $(seq 1 $(( RUN_WAIT_S * 5 ))); do
            [ "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$1' AND kind = 'resumed'")" = 0 ] || break
            [ "$(counter_get "$2-cmd2" 2>/dev/null || echo 0)" -lt 2 ] || break
            sleep 0.2
        done
        open_gate "$2"
    ) &
    GATE_PID=$!
}

# --- kill -9 of the worker during cmd2 ----------------------------------------
case_kill9() {
    echo "# kill9: kill -9 of the worker during the second of three commands (runs A, D, B, C)"
    local ka=k9a-$RUN_TAG kd=k9d-$RUN_TAG kb=k9b-$RUN_TAG kc=k9c-$RUN_TAG a d b c sb sc pid new t0 code k
    a=$(enqueue3 "$ka" "" gate); d=$(enqueue3 "$kd" "" gate)
    b=$(enqueue3 "$kb" restart); c=$(enqueue3 "$kc" fail)
    for k in "$ka" "$kd" "$kb" "$kc"; do await_cmd2 kill9 "$k" || return 0; done
    for k in "$ka" "$kd" "$kb" "$kc"; do landed_in_cmd2 kill9 "$k"; done
    sb=$(first_sandbox "$b"); sc=$(first_sandbox "$c")
    kill_worker || return 0
    pid=$KILLED; t0=$(date +%s)
    # D: its cmd2 ends while the worker is down
    open_gate "$kd"
    # B and C: their sandboxes die while the worker is down
    for s in "$sb" "$sc"; do
        code=$(sbd_delete "$s")
        [ "$code" = 204 ] || notok "kill9: deleting sandbox $s through sandboxd answered $code (harness)"
    done
    note "kill9: killed this cluster's worker $pid with SIGKILL; opened D's gate; deleted B's sandbox $sb and C's $sc"
    wait_for_pg || notok "kill9: the server did not come back"
    new=$(wait_worker "$pid") || notok "kill9: no new worker within 30 s"
    note "kill9: a new worker, pid $new"
    open_gate_when_resumed "$a" "$ka"
    wait_runs "$RUN_WAIT_S" "$a" "$d" "$b" "$c" || notok "kill9: runs still live $RUN_WAIT_S s after the kill"
    wait "$GATE_PID" 2>/dev/null || true
    note "kill9: runs ended $(( $(date +%s) - t0 )) s after the kill"
    check_resumed "kill9 A (resume, cmd2 followed)" "$a" "$ka" followed
    check_resumed "kill9 D (resume, cmd2 interrupted)" "$d" "$kd" interrupted
    check_lost "kill9 B (sandbox lost while the worker was down, restart)" "$b" "$kb" restart
    check_lost "kill9 C (sandbox lost while the worker was down, fail)" "$c" "$kc" fail
}

# --- pg_ctl restart -m immediate during cmd2 -----------------------------------
case_immediate() {
    echo "# immediate: pg_ctl restart -m immediate during the second of three commands (runs A, D)"
    local ka=imma-$RUN_TAG kd=immd-$RUN_TAG a d t0
    a=$(enqueue3 "$ka" "" gate); d=$(enqueue3 "$kd" "" gate)
    await_cmd2 immediate "$ka" && await_cmd2 immediate "$kd" || return 0
    landed_in_cmd2 immediate "$ka"; landed_in_cmd2 immediate "$kd"
    t0=$(date +%s)
    pg_restart -m immediate || notok "immediate: pg_ctl restart -m immediate failed"
    # D: its cmd2 ends before the run can resume (the rescue's backoff)
    open_gate "$kd"
    note "immediate: restarted the server with -m immediate; opened D's gate"
    wait_for_pg || notok "immediate: the server did not come back"
    wait_worker >/dev/null || notok "immediate: no worker after the restart"
    open_gate_when_resumed "$a" "$ka"
    wait_runs "$RUN_WAIT_S" "$a" "$d" || notok "immediate: runs still live $RUN_WAIT_S s after the restart"
    wait "$GATE_PID" 2>/dev/null || true
    note "immediate: runs ended $(( $(date +%s) - t0 )) s after the restart"
    check_resumed "immediate A (cmd2 followed)" "$a" "$ka" followed
    check_resumed "immediate D (cmd2 interrupted)" "$d" "$kd" interrupted
}

# --- SIGTERM release during cmd2 ------------------------------------------------
case_sigterm() {
    echo "# sigterm: SIGTERM release (pg_terminate_backend of the worker) during the second of three commands (runs A, D)"
    local ka=terma-$RUN_TAG kd=termd-$RUN_TAG a d pid t0 new
    a=$(enqueue3 "$ka" "" gate); d=$(enqueue3 "$kd" "" gate)
    await_cmd2 sigterm "$ka" && await_cmd2 sigterm "$kd" || return 0
    landed_in_cmd2 sigterm "$ka"; landed_in_cmd2 sigterm "$kd"
    pid=$(wait_worker) || { notok "sigterm: no worker"; return 0; }
    our_worker "$pid" || { notok "sigterm: worker $pid is not a child of this cluster's postmaster"; return 0; }
    t0=$(date +%s)
    check "sigterm: pg_terminate_backend(worker $pid)" "$(q "SELECT pg_terminate_backend($pid)")" t
    # D: its cmd2 ends once the worker has let the run go
    for _ in $(seq 1 100); do
        [ "$(n_events "$d" released)" = 0 ] || break
        sleep 0.05
    done
    open_gate "$kd"
    note "sigterm: D released: $(n_events "$d" released); opened D's gate"
    new=$(wait_worker "$pid") || notok "sigterm: the worker did not come back within 30 s"
    note "sigterm: the worker is back: pid $new"
    open_gate_when_resumed "$a" "$ka"
    wait_runs "$RUN_WAIT_S" "$a" "$d" || notok "sigterm: runs still live $RUN_WAIT_S s after the SIGTERM"
    wait "$GATE_PID" 2>/dev/null || true
    note "sigterm: runs ended $(( $(date +%s) - t0 )) s after the SIGTERM"
    check "sigterm: A has a released event" "$(n_events "$a" released)" 1
    check "sigterm: D has a released event" "$(n_events "$d" released)" 1
    check_resumed "sigterm A (cmd2 followed)" "$a" "$ka" followed
    check_resumed "sigterm D (cmd2 interrupted)" "$d" "$kd" interrupted
}

# --- a sandbox deleted under a live run -----------------------------------------
case_lost() {
    echo "# lost: the run's sandbox deleted through sandboxd's API during its second command (worker alive)"
    local kr=lostr-$RUN_TAG kf=lostf-$RUN_TAG r f sr sf code wpid
    wpid=$(wait_worker) || true
    r=$(enqueue3 "$kr" restart); f=$(enqueue3 "$kf" fail)
    await_cmd2 lost "$kr" && await_cmd2 lost "$kf" || return 0
    landed_in_cmd2 lost "$kr"; landed_in_cmd2 lost "$kf"
    sr=$(first_sandbox "$r"); sf=$(first_sandbox "$f")
    for s in "$sr" "$sf"; do
        code=$(sbd_delete "$s")
        [ "$code" = 204 ] || notok "lost: deleting sandbox $s through sandboxd answered $code (harness)"
    done
    note "lost: deleted sandboxes $sr (restart) and $sf (fail)"
    wait_runs "$RUN_WAIT_S" "$r" "$f" || notok "lost: runs still live $RUN_WAIT_S s after their sandboxes died"
    check_lost "lost (restart)" "$r" "$kr" restart
    check_lost "lost (fail)" "$f" "$kf" fail
    check "lost: the worker kept its pid" "$(worker_pid)" "$wpid"
}

# --- a broken stream followed by pid, whose Connect fails once ---------------------
case_reattach() {
    local k st code id rid wpid
    echo "# reattach: a command's stream cut before its end, the Connect that follows it answered 503, or 429, once"
    wpid=$(wait_worker) || true
    for code in 503 429; do
        k=reat$code-$RUN_TAG
        # the next Start stream ends without its end-of-stream message; the
        # next Connect (the worker following the process) is refused once
        for rule in '{"server":"sandbox","path":"/process.Process/Start","cut_rate":1,"times":1}' \
                    "{\"server\":\"sandbox\",\"path\":\"/process.Process/Connect\",\"error_rate\":1,\"error_status\":$code,\"retry_after\":1,\"times\":1}"; do
            rid=$(sandboxd_admin POST /admin/faults "$rule" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') ||
                notok "reattach: sandboxd refused the fault rule $rule (harness)"
            RULES="${RULES:-} $rid"
        done
        id=$(q "INSERT INTO agent_runs (prompt, metadata) VALUES (\$p\$Reattach run $k.
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$k-cmd1; sleep 1; echo once-$k
\`\`\`
\$p\$, '{\"durable\": \"$k\"}') RETURNING id")
        wait_runs "$RUN_WAIT_S" "$id" || notok "reattach $code: the run is still live after $RUN_WAIT_S s"
        for rid in $RULES; do sandboxd_admin DELETE "/admin/faults/$rid" >/dev/null 2>&1 || true; done
        RULES=""
        CASE_FAILED=
        check "reattach $code: the run completed" "$(run_field "$id" status)" completed
        check "reattach $code: the command executed once" "$(counter_get "$k-cmd1")" 1
        check "reattach $code: on its first attempt" "$(run_field "$id" attempts)" 1
        check "reattach $code: the worker followed the process (a reattach_command retry event)" \
              "$(q "SELECT count(*) > 0 FROM agent_run_events WHERE run_id = '$id' AND kind = 'retry'
                    AND data->>'op' = 'reattach_command'")" t
        [ -z "$CASE_FAILED" ] && [ -z "${DURABLE_VERBOSE:-}" ] || dump_run "$id" "$k"
    done
    check "reattach: the worker kept its pid" "$(worker_pid)" "$wpid"
}

# --- sandboxd at its concurrent-sandbox limit (E2B's 429) ----------------------
case_capacity() {
    local batch=cap-$RUN_TAG live free ids=() id code t0 i failed notdone att twice missing
    echo "# capacity: sandboxd at its limit of $MAX_SANDBOXES sandboxes for $CAPACITY_HOLD_S s while 3 runs wait"
    live=$(sbd_live)
    free=$(( MAX_SANDBOXES - live ))
    # (four at a time)
    mapfile -t ids < <(seq 1 "$free" | xargs -P 4 -I{} curl -sS -X POST -H "X-API-Key: $SANDBOXD_API_KEY" \
                           -H 'Content-Type: application/json' --data-binary '{"templateID":"base","timeout":300}' \
                           -w '\n' "$E2B_API_URL/sandboxes" | grep -o '"sandboxID": *"[^"]*"' | cut -d'"' -f4)
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "X-API-Key: $SANDBOXD_API_KEY" \
                -H 'Content-Type: application/json' --data-binary '{"templateID":"base","timeout":10}' "$E2B_API_URL/sandboxes")
    check "capacity: sandboxd is full (${#ids[@]} sandboxes of ours, $live of the runs'; one more is refused)" "$code" 429
    q "INSERT INTO agent_runs (prompt, metadata)
       SELECT format(\$p\$Capacity run %s.
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$batch-%s-cmd1; echo cap-%s
\`\`\`
\$p\$, i, i, i), jsonb_build_object('batch', '$batch', 'i', i)
         FROM generate_series(1, 3) i" >/dev/null
    t0=$(date +%s)
    sleep "$CAPACITY_HOLD_S"
    note "capacity: after $CAPACITY_HOLD_S s at the limit, runs:" \
         "$(q "SELECT string_agg(status || ' ' || c, ', ') FROM (SELECT status, count(*) c FROM agent_runs
               WHERE metadata->>'batch' = '$batch' GROUP BY status ORDER BY status) s");" \
         "e2b_api breaker: $(q "SELECT breakers->'e2b_api' FROM sandbox_worker_status() WHERE pid IS NOT NULL LIMIT 1")"
    check "capacity: no run failed while sandboxd was full" \
          "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch' AND status = 'failed'")" 0
    for id in "${ids[@]}"; do sbd_delete "$id" >/dev/null; done
    note "capacity: deleted our ${#ids[@]} sandboxes"
    for _ in $(seq 1 $(( RUN_WAIT_S * 2 ))); do
        [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch'
                AND status NOT IN ('completed', 'failed', 'cancelled')")" = 0 ] && break
        sleep 0.5
    done
    note "capacity: runs ended $(( $(date +%s) - t0 - CAPACITY_HOLD_S )) s after the sandboxes were freed"
    CASE_FAILED=
    check "capacity: every run completed" \
          "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch' AND status <> 'completed'")" 0
    check "capacity: every run on its first attempt" \
          "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch' AND attempts <> 1")" 0
    check "capacity: each command executed once" \
          "$(counter_get "$batch-1-cmd1") $(counter_get "$batch-2-cmd1") $(counter_get "$batch-3-cmd1")" "1 1 1"
    if [ -n "$CASE_FAILED" ] || [ -n "${DURABLE_VERBOSE:-}" ]; then
        for i in 1 2 3; do
            dump_run "$(q "SELECT id FROM agent_runs WHERE metadata->>'batch' = '$batch' AND metadata->>'i' = '$i'")" "$batch-$i"
        done
    fi
}

# --- the model answering 503 for OUTAGE_S seconds ---------------------------------
case_outage() {
    local n=$OUTAGE_RUNS batch=outage-$RUN_TAG hits t_fault t_end t_done now states="" st out
    local wpid failed not_done attempts twice missing open_seen after_state next_note qerr=""
    echo "# outage: the model answers 503 for $OUTAGE_S s while $n runs are pending or in flight"
    wpid=$(wait_worker) || true
    q "INSERT INTO agent_runs (prompt, metadata)
       SELECT format(\$p\$Outage run %s.
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$batch-%s-cmd1; sleep 8; echo one-%s
\`\`\`
\`\`\`bash
curl -fsS $COUNTER_URL/hit/$batch-%s-cmd2; echo two-%s
\`\`\`
\$p\$, i, i, i, i, i), jsonb_build_object('batch', '$batch', 'i', i)
         FROM generate_series(1, $n) i" >/dev/null
    # the outage starts once a tenth of the runs run their first command
    # (8 s long, so that none can complete before, even on a loaded
    # machine): the others are pending
    # (CONCURRENCY < OUTAGE_RUNS), planning or waiting for a model turn
    for _ in $(seq 1 300); do
        hits=$(counter_counts | python3 -c "import json,sys; print(sum(1 for k in json.load(sys.stdin) if k.startswith('$batch-') and k.endswith('-cmd1')))")
        [ "$hits" -ge $(( (n + 9) / 10 )) ] && break
        sleep 0.1
    done
    modeld_admin PUT /admin/faults '{"rules":[{"server":"model","error_rate":1,"error_status":503}]}' >/dev/null
    t_fault=$(date +%s)
    note "outage: 503 from $(date -u +%T) ($hits first commands had started); runs:" \
         "$(q "SELECT string_agg(status || ' ' || c, ', ') FROM (SELECT status, count(*) c FROM agent_runs
               WHERE metadata->>'batch' = '$batch' GROUP BY status ORDER BY status) s")"
    check "outage: every run pending or in flight as the outage began (runs ended before it)" \
          "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch'
                AND status IN ('completed', 'failed', 'cancelled')")" 0
    next_note=$(( t_fault + 10 ))
    while :; do
        now=$(date +%s)
        [ $(( now - t_fault )) -ge "$OUTAGE_S" ] && break
        # the model breaker's state, one word: its state, "none" (no model
        # breaker), or "error" (the query failed: no breakers column)
        if out=$(psql -X -At -q -c "SELECT coalesce(breakers->'model'->>'state', 'none') FROM sandbox_worker_status()
                                    WHERE pid IS NOT NULL ORDER BY worker LIMIT 1" 2>&1); then
            st=${out:-none}
        else
            st=error; [ -n "$qerr" ] || qerr=$(echo "$out" | head -1)
        fi
        states="$states $st"
        if [ "$now" -ge "$next_note" ]; then
            next_note=$(( next_note + 10 ))
            note "outage +$(( now - t_fault )) s: model breaker '$st'; runs:" \
                 "$(q "SELECT string_agg(status || ' ' || c, ', ') FROM (SELECT status, count(*) c FROM agent_runs
                       WHERE metadata->>'batch' = '$batch' GROUP BY status ORDER BY status) s")"
        fi
        sleep 1
    done
    modeld_admin DELETE /admin/faults >/dev/null
    t_end=$(date +%s)
    note "outage: the model answers again from $(date -u +%T)"
    t_done=""
    for _ in $(seq 1 $(( OUTAGE_RECOVER_S * 2 ))); do
        [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch'
                AND status NOT IN ('completed', 'failed', 'cancelled')")" = 0 ] && { t_done=$(date +%s); break; }
        sleep 0.5
    done
    after_state=$(q "SELECT breakers->'model'->>'state' FROM sandbox_worker_status() WHERE pid IS NOT NULL")
    open_seen=no
    case " $states " in *" open "*) open_seen=yes ;; esac
    note "outage: model breaker states seen during the outage (samples):" \
         "$(echo $states | tr ' ' '\n' | sort | uniq -c | awk '{printf "%s %s; ", $2, $1}')${qerr:+(query: $qerr)}"
    note "outage: runs claimed (pending -> planning) from 5 s into the outage to its end:" \
         "$(q "SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id
               WHERE r.metadata->>'batch' = '$batch' AND e.kind = 'status' AND e.data->>'to' = 'planning'
                 AND e.at BETWEEN to_timestamp($t_fault + 5) AND to_timestamp($t_end)")"
    [ -n "$t_done" ] && note "outage: every run ended $(( t_done - t_end )) s after the outage"
    failed=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch' AND status = 'failed'")
    not_done=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch' AND status <> 'completed'")
    attempts=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'batch' = '$batch' AND attempts <> 1")
    CASE_FAILED=
    check "outage: no run failed" "$failed" 0
    check "outage: every run completed within $OUTAGE_RECOVER_S s after the outage" "$not_done" 0
    check "outage: no run burned an attempt (runs with attempts <> 1)" "$attempts" 0
    read -r twice missing <<<"$(counter_counts | python3 -c "
import json, sys
c = {k: v for k, v in json.load(sys.stdin).items() if k.startswith('$batch-')}
want = ['$batch-%d-cmd%d' % (i, s) for i in range(1, $n + 1) for s in (1, 2)]
print(sum(1 for k in want if c.get(k, 0) > 1), sum(1 for k in want if c.get(k, 0) == 0))")"
    check "outage: commands executed twice" "$twice" 0
    check "outage: commands never executed" "$missing" 0
    check "outage: sandbox_worker_status().breakers showed the model breaker open during the outage" "$open_seen" yes
    check "outage: the model breaker is closed once the runs completed" "$after_state" closed
    check "outage: the worker kept its pid" "$(worker_pid)" "$wpid"
    if [ -n "$CASE_FAILED" ]; then
        q "SELECT '#   failed: ' || count(*) || ' x ' || left(error, 160) FROM agent_runs
            WHERE metadata->>'batch' = '$batch' AND status = 'failed' GROUP BY left(error, 160) ORDER BY count(*) DESC LIMIT 5"
        q "SELECT '#   ' || status || ' attempts ' || attempts || ': ' || count(*) FROM agent_runs
            WHERE metadata->>'batch' = '$batch' GROUP BY status, attempts ORDER BY 1"
        local one
        one=$(q "SELECT id FROM agent_runs WHERE metadata->>'batch' = '$batch' AND (status <> 'completed' OR attempts <> 1)
                 ORDER BY created_at LIMIT 1")
        if [ -n "$one" ]; then
            echo "#   one of them:"
            q "SELECT format('#   %3s %s a%s %-14s %s', seq, to_char(at, 'HH24:MI:SS.MS'), attempt, kind, left(data::text, 200))
                 FROM agent_run_events WHERE run_id = '$one' ORDER BY seq"
        fi
        echo "#   breakers query: $(psql -X -At -q -c "SELECT breakers FROM sandbox_worker_status()" 2>&1 | head -2)"
    fi
}

echo "# durable runs: cases '$CASES'; counter at $COUNTER_URL; cluster 127.0.0.1:$PGPORT"
[ "$HAVE_POLICY" = 1 ] || notok "agent_runs.on_sandbox_lost does not exist in the installed extension"
for c in $CASES; do
    t=$(date +%s)
    case $c in
        kill9|immediate|sigterm|lost|reattach|capacity|outage) "case_$c" ;;
        *) notok "unknown case '$c'" ;;
    esac
    note "case $c: $(( $(date +%s) - t )) s"
done

# --- suite-wide checks ---------------------------------------------------------
live=x
for _ in $(seq 1 100); do
    live=$(sbd_live 2>/dev/null || echo x)
    [ "$live" = 0 ] && break
    sleep 0.2
done
check "no sandbox left live in sandboxd" "$live" 0
bad=$(q "SELECT count(*) FROM agent_runs WHERE status NOT IN ('completed', 'failed', 'cancelled')")
check "no run left live" "$bad" 0
bad=$(q "SELECT count(*) FROM (SELECT run_id FROM agent_run_events WHERE kind = 'status' AND data->>'to' = 'completed'
         GROUP BY run_id HAVING count(*) > 1) d")
check "no run completed twice" "$bad" 0
bad=$(q "SELECT count(*) FROM (SELECT run_id, bool_and(seq = rn) ok FROM (SELECT run_id, seq,
         row_number() OVER (PARTITION BY run_id ORDER BY seq) rn FROM agent_run_events) s GROUP BY run_id) g WHERE NOT ok")
check "no gap in any run's events" "$bad" 0
# the server log's SIGKILLed processes are the workers we killed; nothing else crashed
for p in $(grep -E "terminated by signal 9" "$PG_SERVER_LOG" | sed -n 's/.*(PID \([0-9]*\)).*/\1/p' | sort -u); do
    case " $KILLED_PIDS " in *" $p "*) ;; *) notok "process $p of this cluster was SIGKILLed by someone else" ;; esac
done
if grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" | grep -v "signal 9: Killed" | grep -q .; then
    notok "a server process crashed:"
    grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" | grep -v "signal 9" | head -5
fi

if [ "$status" != 0 ]; then
    echo "# --- server log (errors and worker lines), last 40"
    grep -E "ERROR|WARNING|FATAL|sandbox worker|terminated" "$PG_SERVER_LOG" | tail -40 | sed 's/^/#   /'
    echo "# --- sandboxd log, last 15"
    tail -15 "$SANDBOXD_LOG" 2>/dev/null | sed 's/^/#   /'
    [ -s "$QERR" ] && { echo "# --- psql errors, last 10"; tail -10 "$QERR" | sed 's/^/#   /'; }
fi
echo "# durable: $(( $(date +%s) - T_SUITE )) s"
if [ "$status" = 0 ]; then echo "durable: all checks passed"; else echo "durable: FAILED"; fi
exit "$status"
