#!/usr/bin/env bash
# test/run-interactive.sh: interactive runs (issue 12): live output, approvals,
# continued runs (threads) and SQL functions as tools, each tried by its
# owner and by another role.
#
# Servers, each on a free 127.0.0.1 port and stopped at exit: a cluster with
# the extension preloaded (one worker), sandboxd and modeld (the scripted
# model: each ```bash block of a prompt is one run_command call, each
# ```tool NAME block one call of NAME).  Two login roles, ia_a and ia_b
# (sandbox_grant_usage); the runs are ia_a's.
#
# Cases (CASES selects some; default all, in this order):
#   live      a command printing one line a second for 5 s: at least 4
#             tool_output events before its tool_result, the first at least
#             2 s before the result, their stdout is the command's output in
#             order, and a LISTEN agent_run_events session (as ia_a) got a
#             notification covering each of them; run_code's output streams
#             too; a run whose output exceeds
#             sandbox.max_live_output_bytes says what it dropped
#   approve   approval {commands}: the run waits (status waiting, its call in
#             approval_call and in an approval_requested event, no worker,
#             its sandbox alive); ia_b's sandbox_approve is refused (42501),
#             a wrong call id too; ia_a approves: the command runs once, in
#             the same sandbox, and the run completes; LISTEN agent_runs saw
#             executing -> waiting -> pending
#   crash     the worker is killed (kill -9, found through
#             sandbox_worker_status()) while an approved command runs: the
#             run completes on a later attempt, the command ran once (its
#             count file in the kept sandbox) and was followed to its end
#             (or, when it ended while no worker watched, reported
#             interrupted), and no second approval was asked
#   pause     sandbox.pause_waiting_sandboxes: the waiting run's sandbox is
#             paused (its row, and E2B's info), and after the approval the
#             run resumes it: the file written before the wait is there
#   limit     sandbox.e2b_max_sandboxes = 2 and two runs waiting with their
#             sandboxes kept: a third run gets no sandbox (sandbox_limits()
#             counts 2) until one waiting run is cancelled; then it completes
#   reject    rejected with a note: the command never ran (its marker file
#             is absent from the kept sandbox), the model was told (the
#             final answer quotes the note)
#   timeout   approval_timeout 2 s: the call is rejected as timed out and
#             the run completes
#   cancel    cancelled while waiting: cancelled, and its sandbox is killed
#   continue  a run with keep_sandbox writes a file; sandbox_continue_run
#             as ia_a: the new run names its parent, works in the same
#             sandbox (reads the file), and got the first run's
#             conversation (modeld's recall lists the first run's tool
#             result); sandbox_thread() reads both runs' events in order;
#             ia_b cannot continue it; a second continuation of the same
#             run is refused; a run without keep_sandbox cannot be continued
#   sqltools  sandbox_register_tool on a function over a table with
#             row-level security: the agent's call returns only ia_a's rows;
#             ia_b cannot register ia_a's function; a run of ia_b listing a
#             tool it may not EXECUTE is refused at INSERT; a slow function
#             hits sandbox.sql_tool_timeout; a raising function is a tool
#             error; a 10 MB result is capped; a writing function registered
#             read-only is refused and changes nothing; an argument holding
#             SQL is just a value; a registered writing function commits
#             exactly once with its result
#   sqlabuse  ia_b's tools: one enqueues a run naming ia_a's thread and
#             sandbox (the guard still applies inside a tool: it gets
#             neither), one keeps an advisory lock (released after the
#             call), one catches the timeout's cancel forever (the worker
#             exits at twice the timeout, the call is reported interrupted,
#             not run again, and a neighbour run of ia_a completes)
#
# Output: "ok - " / "not ok - " lines; exit status 1 when any check failed.
# Assumes `make install`.  Environment: CASES, RUN_WAIT_S (90).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

CASES=${CASES:-"live approve crash pause limit reject timeout cancel continue sqltools sqlabuse"}
RUN_WAIT_S=${RUN_WAIT_S:-90}
NONCE="$$-$(date +%s%N | tail -c 7)"
TMP=$(mktemp -d /tmp/interactive.XXXXXX)

sandboxd_start --max-sandboxes 50 || exit 1
modeld_start || exit 1
export TEST_DB=sandbox_interactive
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 20" \
         "sandbox.lease_time = 10" \
         "sandbox.reaper_interval = 2" \
         "sandbox.sql_tool_timeout = 1000" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_provider = 'anthropic'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.llm_api_key = 'test-llm-key'" \
         "sandbox.run_timeout = 120" || exit 1
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; rm -rf "$TMP"; return 0; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
export PGDATABASE=$TEST_DB
psql -X -q -c "CREATE EXTENSION sandbox" \
     -c "CREATE ROLE ia_a LOGIN" -c "CREATE ROLE ia_b LOGIN" \
     -c "SELECT sandbox_grant_usage('ia_a'), sandbox_grant_usage('ia_b')" -o /dev/null || exit 1

source "$ROOT/test/lib/checks.sh"   # status, ok, notok, check, check_re, err_of, expect_err
# here a statement's error (or notice) is part of what it answers
q() { psql -X -At -q -c "$1" 2>&1; }
qa() { PGUSER=ia_a psql -X -At -q -c "$1" 2>&1; }
qb() { PGUSER=ia_b psql -X -At -q -c "$1" 2>&1; }
col() { q "SELECT $2 FROM agent_runs WHERE id = '$1'"; }
evf() { q "SELECT data->>'$3' FROM agent_run_events WHERE run_id = '$1' AND kind = '$2' ORDER BY seq LIMIT 1"; }
wait_for_status() { # RUN STATUS-REGEX [SECONDS]: until the run's status matches
    local s="" i
    for i in $(seq 1 $(( ${3:-$RUN_WAIT_S} * 10 ))); do
        s=$(col "$1" status)
        [[ "$s" =~ ^($2)$ ]] && { echo "$s"; return 0; }
        sleep 0.1
    done
    echo "timeout:$s"
    return 1
}
show_events() {
    echo "    events of run $1 ($(col "$1" status): $(col "$1" "left(error, 300)")):"
    q "SELECT seq, kind, left(data::text, 240) FROM agent_run_events WHERE run_id = '$1' ORDER BY seq" | sed 's/^/    | /'
}
ended() { # NAME RUN WANT
    local st
    st=$(wait_for_status "$2" "completed|failed|cancelled")
    if [ "$st" = "$3" ]; then ok "$1: $3"; return 0; fi
    notok "$1: status $st, want $3"
    show_events "$2"
    return 1
}
has_case() { [[ " $CASES " == *" $1 "* ]]; }
is_uuid() { [[ "$1" =~ ^[0-9a-f-]{36}$ ]]; }
enq() { # NAME USER "(COLUMNS) VALUES (...)": prints the id, or fails the check
    local id
    id=$(PGUSER=$2 psql -X -At -q -c "INSERT INTO agent_runs $3 RETURNING id" 2>&1)
    if is_uuid "$id"; then echo "$id"; return 0; fi
    notok "$1: INSERT failed: ${id:0:300}" >&2
    echo ""
    return 1
}
# listener USER CHANNEL SECONDS FILE: a psql session that LISTENs and polls,
# printing notifications into FILE, in the background
listener() {
    {
        echo "LISTEN $2;"
        for _ in $(seq 1 $(( $3 * 10 ))); do echo "SELECT pg_sleep(0.1);"; done
    } | PGUSER=$1 psql -X -q -At >"$4" 2>&1 &
    echo $!
}

# --- live output -------------------------------------------------------------
if has_case live; then
    lfile="$TMP/live.listen"
    lpid=$(listener ia_a agent_run_events 30 "$lfile")
    sleep 0.5
    run=$(enq "live" ia_a "(prompt) VALUES (\$p\$Print slowly.
\`\`\`bash
for i in 1 2 3 4 5; do echo line \$i; sleep 1; done
\`\`\`
\$p\$)")
    if [ -n "$run" ] && ended "live: the run" "$run" completed; then
        n=$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")
        before=$(q "SELECT count(*) FROM agent_run_events o, agent_run_events r
                     WHERE o.run_id = '$run' AND r.run_id = '$run' AND o.kind = 'tool_output'
                       AND r.kind = 'tool_result' AND o.seq < r.seq")
        if [ "$n" -ge 4 ] && [ "$before" = "$n" ]; then ok "live: $n tool_output events, all before the tool_result"
        else notok "live: $n tool_output events ($before before the tool_result), want >= 4"; show_events "$run"; fi
        lead=$(q "SELECT round(extract(epoch FROM (SELECT at FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result')
                                   - (SELECT min(at) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output')))::int")
        if [ "${lead:-0}" -ge 2 ]; then ok "live: the first line was written ${lead} s before the command's result"
        else notok "live: the first tool_output came only ${lead} s before the result"; fi
        check "live: the events' stdout is the command's output, in order" \
            "$(q "SELECT string_agg(data->>'stdout', '' ORDER BY seq) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")" \
            "$(printf 'line 1\nline 2\nline 3\nline 4\nline 5')"
        check "live: tool_output names the call and the tool" \
            "$(q "SELECT count(*) FROM agent_run_events o JOIN agent_run_events c ON c.run_id = o.run_id AND c.kind = 'tool_call'
                   AND c.data->>'id' = o.data->>'call_id' WHERE o.run_id = '$run' AND o.kind = 'tool_output' AND o.data->>'tool' = 'run_command'")" "$n"
        sleep 1
        kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
        seqs=$(grep -o "\"id\":\"$run\",\"seq\":[0-9]*" "$lfile" | sed 's/.*"seq"://' | sort -n | tr '\n' ' ')
        uncovered=""
        for s in $(q "SELECT seq FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output' ORDER BY seq"); do
            covered=no
            for m in $seqs; do [ "$m" -ge "$s" ] && [ "$m" -le $((s + 3)) ] && covered=yes; done
            [ $covered = yes ] || uncovered="$uncovered $s"
        done
        if [ -n "$seqs" ] && [ -z "$uncovered" ]; then ok "live: LISTEN agent_run_events (as ia_a) was told of every tool_output (seqs $seqs)"
        else notok "live: notifications for seqs '$seqs' miss tool_output events$uncovered"; fi
        check "live: ia_b cannot read ia_a's live output" \
            "$(qb "SELECT count(*) FROM agent_run_events WHERE run_id = '$run'")" "0"
    fi
    kill "$lpid" 2>/dev/null
    # code in the interpreter streams too (run_code)
    run=$(enq "live code" ia_a "(prompt, template) VALUES (\$p\$Code, slowly.
\`\`\`tool run_code
{\"code\": \"import time\\nfor i in range(4):\\n    print('code line', i, flush=True)\\n    time.sleep(1)\"}
\`\`\`
\$p\$, 'code-interpreter-v1')")
    if [ -n "$run" ] && ended "live code: the run" "$run" completed; then
        n=$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")
        if [ "$n" -ge 3 ]; then ok "live code: run_code's output came as $n tool_output events"
        else notok "live code: $n tool_output events, want >= 3"; show_events "$run"; fi
        check_re "live code: in order" \
            "$(q "SELECT string_agg(data->>'stdout', '' ORDER BY seq) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")" \
            "code line 0.*code line 1.*code line 2.*code line 3"
    fi
    # the per-run budget: 750,030 bytes printed (25 kB at a time), 256 kB shown
    q "ALTER SYSTEM SET sandbox.max_live_output_bytes = '256kB'" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    run=$(enq "live budget" ia_a "(prompt) VALUES (\$p\$Print a lot.
\`\`\`bash
for i in \$(seq 1 30); do yes xxxxxxxxx | head -c 25000; echo; sleep 0.2; done
\`\`\`
\$p\$)")
    if [ -n "$run" ] && ended "live budget: the run" "$run" completed; then
        shown=$(q "SELECT coalesce(sum(octet_length(data->>'stdout')), 0) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")
        dropped=$(q "SELECT coalesce(sum((data->>'dropped')::bigint), 0) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")
        if [ "$shown" -eq 262144 ] && [ $((shown + dropped)) -eq 750030 ]; then
            ok "live budget: $shown bytes shown, $dropped counted as dropped (750,030 printed)"
        else notok "live budget: shown $shown, dropped $dropped (want 262144 shown, shown + dropped = 750030)"; show_events "$run"; fi
        check_re "live budget: the events say why" \
            "$(q "SELECT string_agg(DISTINCT data->>'dropped_reason', ' | ') FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")" \
            "max_live_output_bytes"
        check "live budget: the tool_result still has the output's head" \
            "$(q "SELECT left(data->>'stdout', 5) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result'")" "xxxxx"
    fi
    q "ALTER SYSTEM RESET sandbox.max_live_output_bytes" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
fi

# waiting RUN: until the run waits (prints its call id)
waiting_call() {
    if ! wait_for_status "$1" waiting 60 >/dev/null; then echo ""; return 1; fi
    col "$1" approval_call
}

# --- approve -----------------------------------------------------------------
if has_case approve; then
    lfile="$TMP/approve.listen"
    lpid=$(listener ia_a agent_runs 40 "$lfile")
    sleep 0.5
    run=$(enq "approve" ia_a "(prompt, approval) VALUES (\$p\$Needs a yes.
\`\`\`bash
echo approved-ran-$NONCE >> /home/user/ran.txt; cat /home/user/ran.txt
\`\`\`
\$p\$, '{commands}')")
    call=$(waiting_call "$run")
    if [ -z "$call" ]; then notok "approve: the run never waited"; show_events "$run"
    else
        ok "approve: the run waits on call $call"
        check "approve: approval_requested names the call and the tool" \
            "$(q "SELECT data->>'call_id' || ' ' || (data->>'tool') || ' ' || (data->'input' ? 'command')::text FROM agent_run_events WHERE run_id = '$run' AND kind = 'approval_requested'")" \
            "$call run_command true"
        check "approve: a waiting run holds no worker and no lease" \
            "$(col "$run" "coalesce(worker_pid::text, 'none') || ' ' || coalesce(lease_until::text, 'none') || ' ' || (approval_deadline > now())::text")" "none none true"
        sb=$(col "$run" sandbox_id)
        check "approve: its sandbox is alive while it waits" "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")" "running"
        expect_err "approve: ia_b cannot approve ia_a's call" ia_b "SELECT sandbox_approve('$run', '$call', true)" 42501
        expect_err "approve: a wrong call id is refused" ia_a "SELECT sandbox_approve('$run', 'toolu_wrong', true)" 22023
        check "approve: still waiting after those" "$(col "$run" status)" "waiting"
        check "approve: ia_a approves" "$(qa "SELECT sandbox_approve('$run', '$call', true, 'go ahead')")" "t"
        check "approve: a second answer decides nothing" "$(qa "SELECT sandbox_approve('$run', '$call', false)" | tail -1)" "f"
        if ended "approve: the run" "$run" completed; then
            check "approve: the command ran once" \
                "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result'")" "approved-ran-$NONCE"
            check "approve: in the same sandbox" "$(col "$run" sandbox_id)" "$sb"
            check "approve: the approval event says who" \
                "$(q "SELECT (data->>'approved') || ' ' || (data->>'by') || ' ' || (data->>'note') FROM agent_run_events WHERE run_id = '$run' AND kind = 'approval'")" "true ia_a go ahead"
            check "approve: events in order" \
                "$(q "SELECT string_agg(kind, ' ' ORDER BY seq) FROM agent_run_events WHERE run_id = '$run' AND kind IN ('approval_requested', 'approval', 'resumed', 'tool_result')")" \
                "approval_requested approval resumed tool_result"
            check "approve: waits counted" "$(col "$run" waits)" "1"
        fi
    fi
    sleep 1
    kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
    statuses=$(grep -o "\"id\":\"$run\",\"status\":\"[a-z]*\"" "$lfile" | sed 's/.*"status":"\([a-z]*\)".*/\1/' | tr '\n' ' ')
    check "approve: LISTEN agent_runs saw the wait and its end" "$statuses" "pending planning executing waiting pending planning executing completed "
fi

# --- an approved command when the worker dies under it ----------------------------
if has_case crash; then
    run=$(enq "crash" ia_a "(prompt, approval, keep_sandbox) VALUES (\$p\$Approve, then crash.
\`\`\`bash
echo started >> /home/user/count.txt; sleep 4; echo done-$NONCE
\`\`\`
\$p\$, '{commands}', '5 minutes')")
    call=$(waiting_call "$run")
    if [ -z "$call" ]; then notok "crash: the run never waited"; show_events "$run"
    else
        check "crash: approved" "$(qa "SELECT sandbox_approve('$run', '$call', true)")" "t"
        # the command runs (its first live line), then the worker is killed
        for _ in $(seq 1 100); do
            [ "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'resumed'")" = 1 ] && break
            sleep 0.1
        done
        sleep 1.5
        wpid=$(q "SELECT pid FROM sandbox_worker_status() LIMIT 1")
        if [[ "$wpid" =~ ^[0-9]+$ ]]; then kill -9 "$wpid"; ok "crash: worker $wpid killed during the approved command"
        else notok "crash: no worker pid ($wpid)"; fi
        if ended "crash: the run" "$run" completed; then
            sb=$(col "$run" sandbox_id)
            check "crash: the approved command ran once" \
                "$(qa "SELECT stdout FROM sandbox_exec('$sb', 'cat /home/user/count.txt')")" "started"
            # followed to its end, or (it ended while no worker watched) reported
            # interrupted: never started again
            check_re "crash: its result was followed, or reported interrupted" \
                "$(q "SELECT coalesce(data->>'stdout', '') || ' ' || coalesce(data->>'interrupted', '') FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result'")" "^(done-$NONCE |  ?true)$"
            check "crash: no second approval was asked" \
                "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'approval_requested'")" "1"
        fi
    fi
fi

# --- a waiting run's sandbox paused (sandbox.pause_waiting_sandboxes) ----------------
if has_case pause; then
    q "ALTER SYSTEM SET sandbox.pause_waiting_sandboxes = on" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    run=$(enq "pause" ia_a "(prompt, approval) VALUES (\$p\$Write, wait paused, read.
\`\`\`tool write_file
{\"path\": \"/home/user/kept.txt\", \"content\": \"kept-$NONCE\"}
\`\`\`
\`\`\`bash
cat /home/user/kept.txt
\`\`\`
\$p\$, '{run_command}')")
    call=$(waiting_call "$run")
    if [ -z "$call" ]; then notok "pause: the run never waited"; show_events "$run"
    else
        sb=$(col "$run" sandbox_id)
        state=""
        for _ in $(seq 1 100); do
            state=$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")
            [ "$state" = paused ] && break
            sleep 0.1
        done
        check "pause: the waiting run's sandbox is paused (its row)" "$state" "paused"
        check "pause: ... and E2B says so" "$(qa "SELECT sandbox_info('$sb')->>'state'")" "paused"
        check "pause: ia_a approves" "$(qa "SELECT sandbox_approve('$run', '$call', true)")" "t"
        if ended "pause: the run" "$run" completed; then
            check "pause: resumed in the same sandbox, its file still there" \
                "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result' AND data->>'name' = 'run_command'")" "kept-$NONCE"
            check "pause: same sandbox" "$(col "$run" sandbox_id)" "$sb"
        fi
    fi
    q "ALTER SYSTEM RESET sandbox.pause_waiting_sandboxes" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
fi

# --- sandbox.e2b_max_sandboxes counts the sandboxes kept for waiting runs --------
if has_case limit; then
    q "ALTER SYSTEM SET sandbox.e2b_max_sandboxes = 2" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    w1=$(enq "limit" ia_a "(prompt, approval) VALUES (\$p\$Wait one.
\`\`\`bash
echo one
\`\`\`
\$p\$, '{commands}')")
    w2=$(enq "limit" ia_a "(prompt, approval) VALUES (\$p\$Wait two.
\`\`\`bash
echo two
\`\`\`
\$p\$, '{commands}')")
    c1=$(waiting_call "$w1"); c2=$(waiting_call "$w2")
    if [ -z "$c1" ] || [ -z "$c2" ]; then notok "limit: the two runs did not both wait"
    else
        third=$(enq "limit" ia_a "(prompt) VALUES (\$p\$Third.
\`\`\`bash
echo third
\`\`\`
\$p\$)")
        sleep 4
        check "limit: with 2 sandboxes kept for waiting runs, a third run gets none (limit 2)" \
            "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$third' AND kind = 'sandbox_created'")" "0"
        check "limit: sandbox_limits() counts them (none available)" \
            "$(q "SELECT available FROM sandbox_limits() WHERE name = 'e2b_sandboxes'")" "0"
        qa "SELECT sandbox_cancel_run('$w1')" >/dev/null
        ended "limit: once one waiting run is cancelled, the third run" "$third" completed >/dev/null \
            && ok "limit: once one waiting run is cancelled, the third run gets its sandbox and completes"
        qa "SELECT sandbox_approve('$w2', '$c2', true)" >/dev/null
        ended "limit: the other waiting run, approved" "$w2" completed >/dev/null && ok "limit: the other waiting run completes once approved"
    fi
    q "ALTER SYSTEM RESET sandbox.e2b_max_sandboxes" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
fi

# --- reject ------------------------------------------------------------------
if has_case reject; then
    run=$(enq "reject" ia_a "(prompt, approval, keep_sandbox) VALUES (\$p\$Needs a yes.
\`\`\`bash
touch /home/user/should-not-exist
\`\`\`
\$p\$, '{run_command}', '5 minutes')")
    call=$(waiting_call "$run")
    if [ -z "$call" ]; then notok "reject: the run never waited"; show_events "$run"
    else
        check "reject: ia_a rejects with a note" "$(qa "SELECT sandbox_approve('$run', '$call', false, 'not on a Friday')")" "t"
        if ended "reject: the run" "$run" completed; then
            check_re "reject: the model was told, with the note" "$(col "$run" "result->>'text'")" "rejected.*not on a Friday"
            check "reject: the tool_result says rejected" \
                "$(q "SELECT (data->>'rejected') || ' ' || (data->>'is_error') FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result'")" "true true"
            sb=$(col "$run" sandbox_id)
            check "reject: the command never ran" \
                "$(qa "SELECT exit_code FROM sandbox_exec('$sb', 'test -e /home/user/should-not-exist')")" "1"
        fi
    fi
fi

# --- timeout -----------------------------------------------------------------
if has_case timeout; then
    run=$(enq "timeout" ia_a "(prompt, approval, approval_timeout) VALUES (\$p\$No one answers.
\`\`\`bash
echo never
\`\`\`
\$p\$, '{all}', '2 seconds')")
    call=$(waiting_call "$run")
    if [ -z "$call" ]; then notok "timeout: the run never waited"; show_events "$run"
    elif ended "timeout: the run" "$run" completed; then
        check "timeout: the approval event says timed out" \
            "$(q "SELECT (data->>'approved') || ' ' || (data->>'timed_out') || ' ' || (data->>'call_id') FROM agent_run_events WHERE run_id = '$run' AND kind = 'approval'")" "false true $call"
        check_re "timeout: the model was told" "$(col "$run" "result->>'text'")" "approval_timeout"
        check "timeout: the command never ran" \
            "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_output'")" "0"
    fi
fi

# --- cancel while waiting ---------------------------------------------------------
if has_case cancel; then
    run=$(enq "cancel" ia_a "(prompt, approval) VALUES (\$p\$Cancelled while waiting.
\`\`\`bash
echo never
\`\`\`
\$p\$, '{commands}')")
    call=$(waiting_call "$run")
    if [ -z "$call" ]; then notok "cancel: the run never waited"; show_events "$run"
    else
        sb=$(col "$run" sandbox_id)
        check "cancel: ia_a cancels the waiting run" "$(qa "SELECT sandbox_cancel_run('$run')")" "t"
        check "cancel: cancelled, waiting no more" "$(col "$run" "status || ' ' || coalesce(approval_deadline::text, 'none')")" "cancelled none"
        state=""
        for _ in $(seq 1 150); do
            state=$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$sb'")
            [ "$state" != running ] && break
            sleep 0.2
        done
        check_re "cancel: its sandbox is killed" "$state" "^(killed|expired)$"
        check "cancel: approving it now decides nothing" "$(qa "SELECT sandbox_approve('$run', '$call', true)" | tail -1)" "f"
    fi
fi

# --- continue ----------------------------------------------------------------
if has_case continue; then
    first=$(enq "continue" ia_a "(prompt, keep_sandbox) VALUES (\$p\$Remember this.
\`\`\`bash
echo remember-$NONCE > /home/user/note.txt; echo wrote-note
\`\`\`
\$p\$, '10 minutes')")
    if [ -n "$first" ] && ended "continue: the first run" "$first" completed; then
        expect_err "continue: ia_b cannot continue ia_a's run" ia_b \
            "SELECT sandbox_continue_run('$first', 'Mine now')" "42501|P0002"
        second=$(qa "SELECT sandbox_continue_run('$first', \$p\$Now read it back. [[modeld: recall]]
\`\`\`bash
cat /home/user/note.txt
\`\`\`
\$p\$)")
        if ! is_uuid "$second"; then notok "continue: sandbox_continue_run failed: $second"
        elif ended "continue: the continued run" "$second" completed; then
            check "continue: it names its parent and thread" "$(col "$second" "parent_id::text || ' ' || thread_id::text")" "$first $first"
            check "continue: it worked in the first run's sandbox" "$(col "$second" sandbox_id)" "$(col "$first" sandbox_id)"
            check "continue: it read the first run's file" \
                "$(q "SELECT data->>'stdout' FROM agent_run_events WHERE run_id = '$second' AND kind = 'tool_result'")" "remember-$NONCE"
            check_re "continue: the model got the first run's conversation" "$(col "$second" "result->>'text'")" "wrote-note"
            check "continue: sandbox_thread reads both runs in order" \
                "$(qa "SELECT string_agg(DISTINCT r, ',') FROM (SELECT CASE WHEN run_id = '$first' THEN 'first' ELSE 'second' END AS r, seq, row_number() OVER () AS n FROM sandbox_thread('$second')) t")" "first,second"
            check "continue: the thread's events are ordered, first run first" \
                "$(qa "SELECT bool_and(ok) FROM (SELECT (lag(run_id) OVER w IS NULL OR lag(run_id) OVER w = run_id AND lag(seq) OVER w < seq OR lag(run_id) OVER w = '$first') AS ok FROM (SELECT run_id, seq, row_number() OVER () n FROM sandbox_thread('$first')) x WINDOW w AS (ORDER BY n)) y")" "t"
            check "continue: ia_b sees nothing of the thread" "$(qb "SELECT count(*) FROM sandbox_thread('$second')")" "0"
            expect_err "continue: a run is continued once (a thread is a line)" ia_a \
                "SELECT sandbox_continue_run('$first', 'again')" 23505
        fi
    fi
    plain=$(enq "continue: a run without keep_sandbox" ia_a "(prompt) VALUES (\$p\$Gone after.
\`\`\`bash
true
\`\`\`
\$p\$)")
    if [ -n "$plain" ] && ended "continue: the run without keep_sandbox" "$plain" completed; then
        sleep 1
        expect_err "continue: its sandbox is gone, so it cannot be continued" ia_a \
            "SELECT sandbox_continue_run('$plain', 'more')" 55000
    fi
fi

# --- SQL tools -----------------------------------------------------------------
if has_case sqltools; then
    psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || notok "sqltools: setup"
CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO ia_a, ia_b;
GRANT CREATE ON SCHEMA app TO ia_a;
CREATE TABLE app.orders (id serial PRIMARY KEY, owner name NOT NULL DEFAULT current_user, item text, amount int);
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON app.orders USING (owner = current_user);
GRANT SELECT, INSERT ON app.orders TO ia_a, ia_b;
GRANT USAGE ON SEQUENCE app.orders_id_seq TO ia_a, ia_b;
INSERT INTO app.orders (owner, item, amount) VALUES ('ia_a', 'apple-$NONCE', 3), ('ia_b', 'secret-pear', 99);
CREATE TABLE app.log (id serial PRIMARY KEY, note text);
GRANT SELECT, INSERT ON app.log TO ia_a;
GRANT USAGE ON SEQUENCE app.log_id_seq TO ia_a;
ALTER TABLE app.orders OWNER TO postgres;
SET ROLE ia_a;
CREATE FUNCTION app.my_orders(min_amount int DEFAULT 0) RETURNS TABLE (item text, amount int)
  LANGUAGE sql STABLE AS \$\$ SELECT item, amount FROM app.orders WHERE amount >= min_amount ORDER BY id \$\$;
COMMENT ON FUNCTION app.my_orders(int) IS 'The orders of the current user';
CREATE FUNCTION app.slow() RETURNS int LANGUAGE sql AS \$\$ SELECT pg_sleep(5)::text::int \$\$;
CREATE FUNCTION app.boom() RETURNS int LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'boom-$NONCE' USING HINT = 'do not'; END \$\$;
CREATE FUNCTION app.big() RETURNS TABLE (n int, pad text) LANGUAGE sql AS \$\$ SELECT g, repeat('x', 1000) FROM generate_series(1, 10000) g \$\$;
CREATE FUNCTION app.add_log(note text) RETURNS int LANGUAGE sql AS \$\$ INSERT INTO app.log (note) VALUES (note) RETURNING id \$\$;
CREATE FUNCTION app.add_log_rw(note text) RETURNS int LANGUAGE sql AS \$\$ INSERT INTO app.log (note) VALUES (note) RETURNING id \$\$;
CREATE FUNCTION app.echo(s text) RETURNS text LANGUAGE sql AS \$\$ SELECT s \$\$;
SELECT sandbox_register_tool('app.my_orders(int)');
SELECT sandbox_register_tool('app.slow()', 'sleeps');
SELECT sandbox_register_tool('app.boom()', 'raises');
SELECT sandbox_register_tool('app.big()', '10 MB of rows');
SELECT sandbox_register_tool('app.add_log(text)', 'writes, but registered read-only');
SELECT sandbox_register_tool('app.add_log_rw(text)', 'writes', read_only => false);
SELECT sandbox_register_tool('app.echo(text)', 'echoes');
REVOKE EXECUTE ON FUNCTION app.my_orders(int), app.slow(), app.boom(), app.big(), app.add_log(text), app.add_log_rw(text), app.echo(text) FROM PUBLIC;
RESET ROLE;
SQL
    check_re "sqltools: the schema comes from the arguments" \
        "$(q "SELECT input_schema::text FROM sandbox_sql_tools WHERE name = 'my_orders'")" '"min_amount": \{"type": "integer"\}'
    expect_err "sqltools: ia_b cannot register ia_a's function" ia_b "SELECT sandbox_register_tool('app.echo(text)', 'mine')" 42501
    expect_err "sqltools: ia_b may not list a tool it cannot EXECUTE" ia_b \
        "INSERT INTO agent_runs (prompt, tools) VALUES ('x', '{my_orders}')" 42501
    run=$(enq "sqltools" ia_a "(prompt, tools) VALUES (\$p\$Use the database.
\`\`\`tool my_orders
{}
\`\`\`
\`\`\`tool slow
{}
\`\`\`
\`\`\`tool boom
{}
\`\`\`
\`\`\`tool big
{}
\`\`\`
\`\`\`tool add_log
{\"note\": \"read-only-$NONCE\"}
\`\`\`
\`\`\`tool echo
{\"s\": \"x'); DROP TABLE app.orders; --\"}
\`\`\`
\`\`\`tool add_log_rw
{\"note\": \"written-$NONCE\"}
\`\`\`
\$p\$, '{run_command,my_orders,slow,boom,big,add_log,echo,add_log_rw}')")
    if [ -n "$run" ] && ended "sqltools: the run" "$run" completed; then
        res() { q "SELECT data->>'$2' FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result' AND data->>'name' = '$1'"; }
        check_re "sqltools: my_orders returns ia_a's rows only" "$(res my_orders content)" "apple-$NONCE"
        check "sqltools: ... and not ia_b's" "$(res my_orders content | grep -c secret-pear)" "0"
        check_re "sqltools: the slow function hits sql_tool_timeout" "$(res slow content)" "sql_tool_timeout"
        check_re "sqltools: the raising function is a tool error" "$(res boom is_error) $(res boom content)" "^true .*boom-$NONCE"
        check_re "sqltools: the 10 MB result is capped" "$(res big content)" '"truncated": ?true'
        check_re "sqltools: ... within sandbox.sql_tool_max_bytes" "$(res big content | wc -c)" "^[0-9]{6,7}$"
        check_re "sqltools: the writing function registered read-only is refused" "$(res add_log content)" "read-only"
        check "sqltools: ... and wrote nothing" "$(q "SELECT count(*) FROM app.log WHERE note = 'read-only-$NONCE'")" "0"
        check_re "sqltools: SQL in an argument is a value" "$(res echo content)" "DROP TABLE app.orders"
        check "sqltools: ... and the table is there" "$(q "SELECT count(*) FROM app.orders")" "2"
        check "sqltools: the read-write function wrote once" "$(q "SELECT count(*) FROM app.log WHERE note = 'written-$NONCE'")" "1"
        check "sqltools: every call is an event" \
            "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result' AND (data->>'sql')::bool")" "7"
    fi
fi

# --- SQL tools that try to escape -------------------------------------------------
if has_case sqlabuse; then
    # a victim run of ia_a with a kept sandbox, whose ids ia_b learnt (LISTEN tells)
    victim=$(enq "sqlabuse: victim" ia_a "(prompt, keep_sandbox) VALUES (\$p\$Victim.
\`\`\`bash
echo victim-secret-$NONCE > /home/user/secret.txt
\`\`\`
\$p\$, '10 minutes')")
    ended "sqlabuse: the victim's run" "$victim" completed >/dev/null
    vsb=$(col "$victim" sandbox_id)
    psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || notok "sqlabuse: setup"
CREATE SCHEMA bsch AUTHORIZATION ia_b;
SET ROLE ia_b;
-- a writing tool that enqueues a run forging the worker's columns: the victim's
-- thread and sandbox, a status
CREATE FUNCTION bsch.forge(thread text, sbx text) RETURNS text LANGUAGE sql AS \$\$
  INSERT INTO public.agent_runs (prompt, thread_id, sandbox_id, run_after)
  VALUES ('forged', thread::uuid, sbx, now() + interval '1 hour')
  RETURNING coalesce(thread_id::text, 'no-thread') || '|' || coalesce(sandbox_id, 'no-sandbox') || '|' || status \$\$;
-- a tool that ignores the cancel of sandbox.sql_tool_timeout
CREATE FUNCTION bsch.hang() RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE c int := 0; BEGIN
  LOOP BEGIN PERFORM pg_catalog.pg_sleep(1); EXCEPTION WHEN query_canceled THEN c := c + 1; END; END LOOP;
  RETURN c; END \$\$;
-- a tool that keeps a session-level advisory lock
CREATE FUNCTION bsch.lock() RETURNS boolean LANGUAGE sql AS \$\$ SELECT pg_catalog.pg_try_advisory_lock(4242) \$\$;
SELECT sandbox_register_tool('bsch.forge(text,text)', 'forges', read_only => false);
SELECT sandbox_register_tool('bsch.hang()', 'hangs');
SELECT sandbox_register_tool('bsch.lock()', 'locks', read_only => false);
RESET ROLE;
SQL
    run=$(enq "sqlabuse" ia_b "(prompt, tools) VALUES (\$p\$Escape.
\`\`\`tool forge
{\"thread\": \"$victim\", \"sbx\": \"$vsb\"}
\`\`\`
\`\`\`tool lock
{}
\`\`\`
\`\`\`tool hang
{}
\`\`\`
\$p\$, '{forge,lock,hang}')")
    other=$(enq "sqlabuse: a neighbour run" ia_a "(prompt) VALUES (\$p\$Neighbour.
\`\`\`bash
sleep 2; echo neighbour-done
\`\`\`
\$p\$)")
    if [ -n "$run" ] && ended "sqlabuse: the abusing run" "$run" completed; then
        res() { q "SELECT data->>'$2' FROM agent_run_events WHERE run_id = '$run' AND kind = 'tool_result' AND data->>'name' = '$1'"; }
        check_re "sqlabuse: a run enqueued by a tool gets no thread, sandbox or status of its choosing" \
            "$(res forge content)" "no-thread\\|no-sandbox\\|pending"
        check "sqlabuse: ... and joined no thread of ia_a's" \
            "$(q "SELECT count(*) FROM agent_runs WHERE thread_id = '$victim' OR (sandbox_id = '$vsb' AND id <> '$victim')")" "0"
        check "sqlabuse: the tool's advisory lock did not outlive the call" \
            "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242")" "0"
        check_re "sqlabuse: the tool that ignores the cancel ends as interrupted (the worker restarted)" \
            "$(res hang content)" "interrupted"
        check "sqlabuse: the hang stopped the worker at most once" \
            "$(q "SELECT count(*) FROM agent_run_events WHERE run_id = '$run' AND kind = 'rescued'")" "1"
    fi
    [ -n "$other" ] && ended "sqlabuse: the neighbour run completes" "$other" completed >/dev/null && ok "sqlabuse: the neighbour run completed"
    q "UPDATE agent_runs SET status = 'cancelled' WHERE prompt = 'forged' AND status = 'pending'" >/dev/null
fi

exit $status
