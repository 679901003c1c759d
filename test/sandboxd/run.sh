#!/usr/bin/env bash
# sandboxd protocol and robustness tests beyond what the SDKs exercise:
# Connect framing split across reads, large and binary outputs, 100
# concurrent commands (fd/zombie checks), expiry mid-command,
# Connect-Timeout-Ms, killing whole process trees (bwrap and fallback
# mode), fault injection, error bodies of 404/401/502 paths, path escapes.
#
#   test/sandboxd/run.sh          (from any directory; exits non-zero on failure)
#
# Set SANDBOXD_BIN to test another build (e.g. an ASan one).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/sandboxd.sh"
ROOT="$SANDBOXD_REPO_ROOT"

PASS=0
FAIL=0
# ok NAME: records a pass.  bad NAME DETAIL: records a failure.
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1: ${2:-}"; }
# check NAME COMMAND...: passes if the command succeeds.
check() { local n="$1"; shift; if "$@"; then ok "$n"; else bad "$n" "$*"; fi; }
# jget JSON EXPR: evaluates a python expression on the parsed JSON (as `j`).
PY="$(command -v /usr/bin/python3 || command -v python3)"
jget() { "$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); v=eval(sys.argv[2]); print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$1" "$2"; }

make -s -C "$ROOT/hosts/sandboxd" || exit 1
mkdir -p "$HERE/.build"
CLIENT="$HERE/.build/connect_client"
if [ ! -x "$CLIENT" ] || [ "$HERE/connect_client.c" -nt "$CLIENT" ]; then
    cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I"$ROOT/hosts/common" -o "$CLIENT" \
        "$HERE/connect_client.c" "$ROOT/hosts/common/b64.c" -ljansson || exit 1
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sandboxd-tests.XXXXXX")"
trap 'sandboxd_stop_all; rm -rf "$WORK"' EXIT

sandboxd_start --max-sandboxes 200 --log-requests || exit 1
SPORT=$SANDBOXD_SANDBOX_PORT
echo "# sandboxd pid $SANDBOXD_PID, api $E2B_API_URL, sandbox $E2B_SANDBOX_URL"

# api METHOD PATH [JSON]: prints "STATUS BODY" for the api port.
api() {
    local m="$1" p="$2" d="${3:-}"
    local args=(-s -o "$WORK/body" -w '%{http_code}' -X "$m" -H "X-API-Key: $SANDBOXD_API_KEY")
    [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
    local code; code="$(curl "${args[@]}" "$E2B_API_URL$p")"
    echo "$code $(cat "$WORK/body")"
}
# new_sandbox [JSON]: creates a sandbox, sets SID and TOK.
new_sandbox() {
    local body='{"templateID":"base"}'
    [ $# -gt 0 ] && body="$1"
    local r; r="$(api POST /v2/sandboxes "$body")"
    SID="$(jget "${r#* }" 'j["sandboxID"]')"
    TOK="$(jget "${r#* }" 'j.get("envdAccessToken","")')"
}
# run_client ARGS...: runs the Connect client against SID/TOK.
run_client() { "$CLIENT" --port "$SPORT" --sandbox "$SID" --token "$TOK" "$@"; }
# unary PATH JSON: envd unary call, prints "STATUS BODY".
unary() {
    local code; code="$(curl -s -o "$WORK/ubody" -w '%{http_code}' -X POST "$E2B_SANDBOX_URL$1" \
        -H "E2b-Sandbox-Id: $SID" -H "X-Access-Token: $TOK" -H 'Content-Type: application/json' --data-binary "$2")"
    echo "$code $(cat "$WORK/ubody")"
}
fd_count() { ls "/proc/$SANDBOXD_PID/fd" | wc -l; }
zombies() { ps -eo ppid=,stat= | awk -v p="$1" '$1==p && $2 ~ /^Z/' | wc -l; }

# Processes are looked at only among those this test started: the
# descendants of a sandboxd it runs (sandboxd and the sandbox init are child
# subreapers, so a sandbox's orphans stay below sandboxd), never by name
# across the machine.
# tree_pids MARKER [ROOT]: pids of ROOT's (default $SANDBOXD_PID)
# descendants whose command line contains MARKER.
tree_pids() {
    "$PY" - "${2:-$SANDBOXD_PID}" "$1" <<'PYEOF'
import os, sys
root, marker = int(sys.argv[1]), sys.argv[2].encode()
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
found, todo = [], [root]
while todo:
    for c in kids.get(todo.pop(), []):
        todo.append(c)
        try:
            if marker in open(f"/proc/{c}/cmdline", "rb").read().replace(b"\0", b" "):
                found.append(c)
        except OSError:
            pass
print(" ".join(map(str, sorted(found))))
PYEOF
}
# tree_count MARKER [ROOT]: how many of them
tree_count() { local p; p=$(tree_pids "$@"); set -- $p; echo $#; }
# no_proc MARKER [ROOT]: true if no descendant of ROOT has MARKER in its
# command line.
no_proc() { [ -z "$(tree_pids "$@")" ]; }
wait_no_proc() { local i; for i in $(seq 1 60); do no_proc "$@" && return 0; sleep 0.1; done; return 1; }
# pids_gone MARKER PID...: true if none of these processes (recorded while
# their sandboxd lived) still runs with MARKER in its command line.
pids_gone() {
    local m=$1 p; shift
    for p in "$@"; do
        tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$m" && return 1
    done
    return 0
}
wait_pids_gone() { local i; for i in $(seq 1 60); do pids_gone "$@" && return 0; sleep 0.1; done; return 1; }

echo "# --- framing --- ($SECONDS s)"
new_sandbox
s="$(run_client --cmd 'echo framing-ok; echo to-err >&2' --write-chunk 1 --write-delay-us 200 --read-random \
      --stdout-file "$WORK/f.out" --stderr-file "$WORK/f.err")"
check "request envelope in 1-byte writes, response read in random sizes" \
    test "$(jget "$s" '[j["http_status"], j["events_first"], j["eos"], j["http_complete"], j["protocol_error"], j["end"]]')" \
    = '[200, "start", {}, true, false, {"exited": true, "status": "exit status 0"}]'
check "stdout/stderr bytes through 1-byte framing" test "$(cat "$WORK/f.out")|$(cat "$WORK/f.err")" = "framing-ok|to-err"
s="$(run_client --cmd 'exit 7' --read-chunk 1)"
check "exit code 7 end event (1-byte reads)" test "$(jget "$s" 'j["end"]')" = '{"exitCode": 7, "exited": true, "status": "exit status 7", "error": "exit status 7"}'

echo "# --- large and binary output --- ($SECONDS s)"
s="$(run_client --cmd 'head -c 1048576 /dev/urandom > /tmp/one && sha256sum /tmp/one | cut -c1-64 > /tmp/one.sha && cat /tmp/one' \
      --read-random --stdout-file "$WORK/one")"
want="$(curl -s "$E2B_SANDBOX_URL/files?path=/tmp/one.sha" -H "E2b-Sandbox-Id: $SID" | tr -d '\n')"
check "1 MiB output: exact byte count" test "$(jget "$s" 'j["stdout_bytes"]')" = 1048576
check "1 MiB output: sha256 matches the sandbox's" test "$(sha256sum "$WORK/one" | cut -c1-64)" = "$want"
check "data chunks are at most 32 KiB" test "$(jget "$s" 'j["max_chunk"] <= 32768 and j["data_events"] >= 32')" = true
t0=$(date +%s%N)
s="$(run_client --cmd 'head -c 52428800 /dev/urandom > /tmp/big && sha256sum /tmp/big | cut -c1-64 > /tmp/big.sha && cat /tmp/big && rm /tmp/big' \
      --stdout-file "$WORK/big")"
t1=$(date +%s%N)
want="$(curl -s "$E2B_SANDBOX_URL/files?path=/tmp/big.sha" -H "E2b-Sandbox-Id: $SID" | tr -d '\n')"
check "50 MiB output: exact byte count" test "$(jget "$s" 'j["stdout_bytes"]')" = 52428800
check "50 MiB output: sha256 matches ($(( (t1 - t0) / 1000000 )) ms)" test "$(sha256sum "$WORK/big" | cut -c1-64)" = "$want"
rm -f "$WORK/big"
s="$(run_client --cmd "printf '\\x00\\xff\\xfe\\x80abc\\xc3\\x28\\n'; printf '\\xe2\\x82' >&2" --read-random \
      --stdout-file "$WORK/bin.out" --stderr-file "$WORK/bin.err")"
check "binary / non-UTF-8 stdout preserved" test "$(od -An -tx1 "$WORK/bin.out" | tr -d ' \n')" = "00fffe80616263c3280a"
check "binary / non-UTF-8 stderr preserved" test "$(od -An -tx1 "$WORK/bin.err" | tr -d ' \n')" = "e282"
s="$(run_client --cmd 'echo a; sleep 1; echo b' --events)"
check "output streams while the command runs (two data events, not one)" test "$(jget "$(echo "$s" | tail -1)" 'j["data_events"]')" = 2

echo "# --- 100 concurrent commands --- ($SECONDS s)"
fds_before=$(fd_count)
SIDS=()
for i in $(seq 1 5); do new_sandbox; SIDS+=("$SID:$TOK"); done
CPIDS=()
for i in $(seq 1 100); do
    st="${SIDS[$((i % 5))]}"
    "$CLIENT" --port "$SPORT" --sandbox "${st%%:*}" --token "${st#*:}" \
        --cmd "echo start-$i; sleep 0.5; echo done-$i" --stdout-file "$WORK/c$i.out" > "$WORK/c$i.json" &
    CPIDS+=($!)
done
wait "${CPIDS[@]}"  # not a bare `wait`: sandboxd itself is a background job of this shell
good="$("$PY" - "$WORK" <<'PYEOF'
import json, sys
w, good = sys.argv[1], 0
for i in range(1, 101):
    out = open(f"{w}/c{i}.out").read()
    j = json.load(open(f"{w}/c{i}.json"))
    if out == f"start-{i}\ndone-{i}\n" and j["eos"] == {} and j["end"]["exited"] and j["events_first"] == "start":
        good += 1
print(good)
PYEOF
)"
check "100 concurrent commands all completed correctly ($good/100)" test "$good" = 100
for st in "${SIDS[@]}"; do api DELETE "/sandboxes/${st%%:*}" >/dev/null; done
sleep 1
fds_after=$(fd_count)
check "no fd leak after 100 concurrent commands (fds $fds_before -> $fds_after)" test "$fds_after" -le "$((fds_before + 4))"
check "no zombie children of sandboxd" test "$(zombies "$SANDBOXD_PID")" = 0

echo "# --- Connect-Timeout-Ms --- ($SECONDS s)"
new_sandbox
s="$(run_client --cmd 'echo x; exec sleep 27.1828' --timeout-ms 1000)"
check "deadline_exceeded end-of-stream after Connect-Timeout-Ms" \
    test "$(jget "$s" '[j["eos"], j["end"], j["http_complete"]]')" = '[{"error": {"code": "deadline_exceeded", "message": "context deadline exceeded"}}, null, true]'
check "deadline arrives on time ($(jget "$s" 'j["elapsed_ms"]') ms)" test "$(jget "$s" '900 <= j["elapsed_ms"] <= 3000')" = true
check "process killed at the deadline" wait_no_proc "sleep 27.1828"
s="$(run_client --cmd 'sleep 2.5; echo late' --keepalive 1)"
check "keepalive events every Keepalive-Ping-Interval" test "$(jget "$s" 'j["keepalives"] >= 2 and j["stdout_bytes"] == 5')" = true

echo "# --- sandbox expiring mid-command --- ($SECONDS s)"
new_sandbox '{"templateID":"base","timeout":3}'
EXP="$SID"
s="$(run_client --cmd 'echo before; exec sleep 31.4159')"
check "stream ends with an error when the sandbox expires" \
    test "$(jget "$s" '[j["eos"]["error"]["code"], j["end"], j["stdout_bytes"]]')" = '["unavailable", null, 7]'
check "expired sandbox's process is gone" wait_no_proc "sleep 31.4159"
r="$(api GET "/sandboxes/$EXP")"
check "expired sandbox answers 404" test "${r%% *}" = 404
sleep 0.5
check "expired sandbox's directory is removed" test ! -e "$SANDBOXD_DATA_DIR/$EXP"

echo "# --- kill kills the whole process tree (bubblewrap) --- ($SECONDS s)"
new_sandbox
run_client --cmd 'sleep 33.31 & (sleep 33.32 &) ; setsid sleep 33.33 & nohup sh -c "sleep 33.34" >/dev/null 2>&1 & echo spawned; wait' > "$WORK/tree.json" &
CPID=$!
for i in $(seq 1 50); do [ "$(tree_count 'sleep 33.3')" -ge 4 ] && break; sleep 0.1; done
check "tree started (4 sleeps)" test "$(tree_count 'sleep 33.3')" -ge 4
r="$(api DELETE "/sandboxes/$SID")"
check "DELETE answers 204" test "${r%% *}" = 204
check "every process of the killed sandbox is gone" wait_no_proc "sleep 33.3"
wait "$CPID"
check "the open stream ended with an error" test "$(jget "$(cat "$WORK/tree.json")" 'j["eos"]["error"]["code"]')" = unavailable
r="$(api DELETE "/sandboxes/$SID")"
check "second DELETE answers E2B's 404 body" test "$r" = "404 {\"code\":404,\"message\":\"Sandbox \\\"$SID\\\" doesn't exist or you don't have access to it\"}"

echo "# --- background command: SendSignal, Connect, List, SendInput --- ($SECONDS s)"
new_sandbox
run_client --json '{"process":{"cmd":"/bin/bash","args":["-l","-c","read line; echo got:$line; sleep 34.5"]},"tag":"bg1"}' \
    --events --stdout-file "$WORK/bg.out" > "$WORK/bg.txt" &
BG=$!
sleep 0.5
r="$(unary /process.Process/List '{}')"
PID="$(jget "${r#* }" '[p["pid"] for p in j["processes"] if p.get("tag")=="bg1"][0]')"
check "List shows the tagged process" test -n "$PID"
r="$(unary /process.Process/SendInput "{\"process\":{\"pid\":$PID},\"input\":{\"stdin\":\"$(printf 'hello\n' | base64)\"}}")"
check "SendInput answers 200 {}" test "$r" = "200 {}"
s="$(run_client --path /process.Process/Connect --json "{\"process\":{\"pid\":$PID}}" --timeout-ms 1500)"
check "Connect reattaches (start event first, then deadline)" test "$(jget "$s" '[j["events_first"], j["start_pid"], j["eos"]["error"]["code"]]')" = "[\"start\", $PID, \"deadline_exceeded\"]"
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$PID},\"signal\":\"SIGNAL_SIGKILL\"}")"
check "SendSignal answers 200 {}" test "$r" = "200 {}"
wait "$BG"
check "stdin reached the process" test "$(cat "$WORK/bg.out")" = "got:hello"
check "killed process ends with signal: killed" grep -q '"exitCode":-1,"status":"signal: killed","error":"signal: killed"' "$WORK/bg.txt"
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$PID},\"signal\":\"SIGNAL_SIGKILL\"}")"
check "signal to an ended pid is not_found" test "$r" = "404 {\"code\":\"not_found\",\"message\":\"process with pid $PID not found\"}"
s="$(run_client --path /process.Process/Connect --json '{"process":{"pid":999999}}')"
check "Connect to an unknown pid ends with not_found" test "$(jget "$s" 'j["eos"]["error"]["code"]')" = not_found

echo "# --- pause / resume / connect / refreshes --- ($SECONDS s)"
new_sandbox '{"templateID":"base","metadata":{"t":"pause"}}'
run_client --cmd 'sleep 37.1 & echo bg' >/dev/null
r="$(api POST "/sandboxes/$SID/pause" '{}')"
check "pause: 204" test "${r%% *}" = 204
P371=$(tree_pids 'sleep 37.1'); P371=${P371%% *}
check "pause freezes the processes (state T)" bash -c "ps -o stat= -p '$P371' | grep -q T"
r="$(api POST "/sandboxes/$SID/pause" '{}')"
check "pause again: 409" test "$r" = "409 {\"code\":409,\"message\":\"Sandbox \\\"$SID\\\" is already paused\"}"
r="$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $SID" "$E2B_SANDBOX_URL/health")"
check "traffic to a paused sandbox: 502" test "$r" = 502
r="$(api GET '/sandboxes?metadata=t%3Dpause')"
check "legacy GET /sandboxes lists running sandboxes only" test "$r" = "200 []"
r="$(api GET '/v2/sandboxes?metadata=t%3Dpause&state=paused')"
check "GET /v2/sandboxes?state=paused lists it" test "$(jget "${r#* }" '[s["state"] for s in j]')" = '["paused"]'
r="$(api POST "/sandboxes/$SID/connect" '{}')"
check "v1 connect without timeout: 400" test "${r%% *}" = 400
r="$(api POST "/v2/sandboxes/$SID/connect" '{"timeout":60}')"
check "v2 connect resumes: 201" test "${r%% *}" = 201
check "resumed processes run again" bash -c "ps -o stat= -p '$P371' | grep -qv T"
r="$(api POST "/sandboxes/$SID/connect" '{"timeout":60}')"
check "v1 connect on a running sandbox: 200" test "${r%% *}" = 200
r="$(api POST "/sandboxes/$SID/resume" '{"timeout":60}')"
check "deprecated resume on a running sandbox: 409" test "${r%% *}" = 409
r="$(api POST "/sandboxes/$SID/refreshes" '{"duration":3601}')"
check "refreshes above 3600 s: 400" test "${r%% *}" = 400
r="$(api POST "/sandboxes/$SID/refreshes" '{"duration":600}')"
check "refreshes: 204" test "${r%% *}" = 204
r="$(api POST "/sandboxes/$SID/pause" '{"memory":false}')"
check "pause without memory kills the processes" wait_no_proc "sleep 37.1"
r="$(api POST "/v2/sandboxes/$SID/connect" '{}')"
s="$(run_client --cmd 'echo fresh')"
check "after a filesystem-only pause, commands run in a fresh init" test "$(jget "$s" 'j["stdout_bytes"]')" = 6
api DELETE "/sandboxes/$SID" >/dev/null

echo "# --- fault injection --- ($SECONDS s)"
new_sandbox
r="$(sandboxd_admin PUT /admin/faults '{"seed":42,"rules":[{"server":"api","method":"GET","path":"/v2/sandboxes","error_rate":0.5,"error_status":503}]}')"
check "PUT /admin/faults accepted" test "$(jget "$r" 'j["seed"] == 42 and len(j["rules"]) == 1')" = true
n503=0
for i in $(seq 1 60); do r="$(api GET /v2/sandboxes)"; [ "${r%% *}" = 503 ] && n503=$((n503 + 1)); done
check "about half the answers are 503 ($n503/60)" test "$n503" -ge 15 -a "$n503" -le 45
r="$(api GET /v2/sandboxes)"
sandboxd_admin PUT /admin/faults '{"rules":[{"server":"api","path":"/v2/sandboxes","rate_limit_rate":1,"retry_after":7,"times":2}]}' >/dev/null
h1="$(curl -s -D - -o /dev/null -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/v2/sandboxes" | tr -d '\r')"
h2="$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/v2/sandboxes")"
h3="$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/v2/sandboxes")"
check "429 with Retry-After: 7" bash -c "grep -q '^HTTP/1.1 429' <<<'$h1' && grep -qi '^Retry-After: 7$' <<<'$h1'"
check "\"times\":2 limits the rule to two requests (then $h3)" test "$h2-$h3" = "429-200"
sandboxd_admin PUT /admin/faults '{"rules":[{"server":"sandbox","path":"/process.Process/Start","drop_rate":1,"after_messages":2}]}' >/dev/null
s="$(run_client --cmd 'echo one; sleep 0.2; echo two; sleep 0.2; echo three')"
check "dropped connection mid-stream (no final chunk, no end)" \
    test "$(jget "$s" '[j["http_complete"], j["eos_seen"], j["end"], j["events"]]')" = '[false, false, null, 2]'
sandboxd_admin PUT /admin/faults '{"rules":[{"server":"sandbox","path":"/process.Process/Start","cut_rate":1}]}' >/dev/null
s="$(run_client --cmd 'echo cut-me')"
check "cut stream: clean HTTP end without end event or end-of-stream" \
    test "$(jget "$s" '[j["http_complete"], j["eos_seen"], j["end"], j["stdout_bytes"]]')" = '[true, false, null, 7]'
sandboxd_admin PUT /admin/faults '{"rules":[{"server":"api","path":"/sandboxes","method":"GET","drop_rate":1}]}' >/dev/null
curl -s -o /dev/null -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes"; rc=$?
check "dropped connection on a plain request (curl exit $rc = empty reply)" test "$rc" = 52
sandboxd_admin PUT /admin/faults '{"rules":[{"path":"/v2/sandboxes","latency_ms":400}]}' >/dev/null
t="$(curl -s -o /dev/null -w '%{time_total}' -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/v2/sandboxes")"
check "added latency ($t s)" python3 -c "import sys; sys.exit(0 if float('$t') >= 0.4 else 1)"
r="$(sandboxd_admin POST /admin/faults '{"path":"/v2/sandboxes","eror_rate":1}' 2>&1)"
check "a misspelled rule key is rejected" grep -q 'unknown fault rule key' <<<"$r"
sandboxd_admin DELETE /admin/faults >/dev/null
r="$(api GET /v2/sandboxes)"
check "DELETE /admin/faults resets (200 again)" test "${r%% *}" = 200
st="$(sandboxd_admin GET /admin/stats)"
check "stats count injected faults and requests by route" \
    test "$(jget "$st" 'j["counters"]["faults_error"] >= 15 and j["counters"]["faults_rate_limit"] == 2 and j["counters"]["faults_drop"] >= 2 and j["counters"]["faults_cut"] >= 1 and j["requests"]["api"]["GET /v2/sandboxes"]["503"] >= 15')" = true
check "stats count sandboxes created/killed/expired/live" \
    test "$(jget "$st" 'j["counters"]["sandboxes_created"] >= 9 and j["counters"]["sandboxes_killed"] >= 6 and j["counters"]["sandboxes_expired"] >= 1 and "sandboxes_live" in j["counters"]')" = true

echo "# --- error bodies --- ($SECONDS s)"
r="$(api GET /sandboxes/inonexistent00000000000)"
check "GET unknown sandbox: 404 body" test "$r" = '404 {"code":404,"message":"Sandbox \"inonexistent00000000000\" doesn'"'"'t exist or you don'"'"'t have access to it"}'
r="$(curl -s -w ' %{http_code}' "$E2B_API_URL/v2/sandboxes")"
check "no API key: 401 body" test "$r" = '{"code":401,"message":"Invalid API key, please visit https://e2b.dev/docs/api-key for more information."} 401'
r="$(curl -s -w ' %{http_code}' -H 'x-api-key: e2b_wrong' "$E2B_API_URL/v2/sandboxes")"
check "wrong API key: 401" test "${r##* }" = 401
r="$(curl -s -w ' %{http_code}' -H "x-api-key: $SANDBOXD_API_KEY" "$E2B_API_URL/v2/sandboxes")"
check "lower-case x-api-key header accepted" test "${r##* }" = 200
r="$(api POST /v2/sandboxes '{"templateID":"nope"}')"
check "unknown template: 404" test "$r" = "404 {\"code\":404,\"message\":\"template 'nope' not found\"}"
r="$(api POST /v2/sandboxes '{"templateID":"base","timeout":86401}')"
check "timeout above 24 h: 400" test "$r" = '400 {"code":400,"message":"Timeout cannot be greater than 24 hours"}'
r="$(api POST /v2/sandboxes '{"templateID":"base","timeout":0}')"
check "timeout 0: 400" test "${r%% *}" = 400
r="$(curl -s -w ' %{http_code}' -X POST -H 'E2b-Sandbox-Id: inope' -H 'Content-Type: application/json' -d '{}' "$E2B_SANDBOX_URL/process.Process/List")"
check "unknown sandbox on the sandbox port: 502 body" test "$r" = '{"sandboxId":"inope","message":"The sandbox was not found","code":502} 502'
new_sandbox
r="$(curl -s -w ' %{http_code}' -X POST -H "E2b-Sandbox-Id: $SID" -H 'X-Access-Token: wrong' -H 'Content-Type: application/json' -d '{}' "$E2B_SANDBOX_URL/process.Process/List")"
check "wrong access token: envd 401" test "$r" = '{"code":401,"message":"unauthorized access, please provide a valid access token or method signing if supported"} 401'
r="$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $SID" "$E2B_SANDBOX_URL/health")"
check "GET /health without token: 204" test "$r" = 204
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $SID" -H 'E2b-Sandbox-Port: 49999' "$E2B_SANDBOX_URL/health")"
check "code interpreter port on a base sandbox: 502 port not open" test "$r" = "{\"sandboxId\":\"$SID\",\"message\":\"The sandbox is running but port is not open\",\"port\":49999,\"code\":502} 502"
r="$(unary /filesystem.Filesystem/Stat '{"path":"/home/user/nope"}')"
check "Stat of a missing file: not_found" test "$r" = '404 {"code":"not_found","message":"file not found: lstat /home/user/nope: no such file or directory"}'
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $SID" "$E2B_SANDBOX_URL/files?path=nope")"
check "GET /files of a missing file: 404 JSON" test "$r" = "{\"code\":404,\"message\":\"path '/home/user/nope' does not exist\"} 404"
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $SID" "$E2B_SANDBOX_URL/files?path=/home/user")"
check "GET /files of a directory: 400" test "${r##* }" = 400
r="$(unary /filesystem.Filesystem/ListDir '{"path":"/home/user/nope"}')"
check "ListDir of a missing directory: not_found" test "${r%% *}" = 404

echo "# --- path escapes --- ($SECONDS s)"
run_client --cmd 'ln -s /etc/passwd /home/user/pw; ln -s /etc /home/user/etc; ln -s ../../.. /home/user/up' >/dev/null
for p in /etc/passwd ../../etc/passwd /home/user/../../../etc/passwd /home/user/pw /home/user/up/etc/passwd; do
    r="$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $SID" --get --data-urlencode "path=$p" "$E2B_SANDBOX_URL/files")"
    check "GET /files?path=$p does not reach the host (status $r)" test "$r" = 404
done
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $SID" -F "file=@/dev/null;filename=/home/user/etc/sandboxd-escape-test" "$E2B_SANDBOX_URL/files")"
check "upload through a symlink to /etc does not write the host /etc" test ! -e /etc/sandboxd-escape-test
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $SID" -F "file=@/dev/null;filename=/etc/x" "$E2B_SANDBOX_URL/files")"
check "upload outside /home/user and /tmp: 400" test "${r##* }" = 400
r="$(unary /filesystem.Filesystem/Remove '{"path":"/home/user/up/tmp"}')"
check "Remove through a symlink to / cannot remove the sandbox's /tmp itself" test "${r%% *}" = 403
r="$(unary /filesystem.Filesystem/MakeDir '{"path":"/home/user/up/newtop"}')"
check "MakeDir through a symlink to / is refused" test "${r%% *}" = 403
check "the sandbox root stays untouched" test ! -e "$SANDBOXD_DATA_DIR/$SID/root/newtop"
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $SID" -H 'Content-Type: application/octet-stream' --data-binary 'raw!' "$E2B_SANDBOX_URL/files?path=/tmp/raw.txt")"
check "octet-stream upload" test "$r" = '[{"name":"raw.txt","type":"file","path":"/tmp/raw.txt"}] 200'
check "octet-stream upload readable by commands" test "$(jget "$(run_client --cmd 'cat /tmp/raw.txt' --stdout-file "$WORK/raw")" 'j["stdout_bytes"]')" = 4

echo "# --- fallback mode (--no-bwrap) --- ($SECONDS s)"
MAIN_ENV="$(declare -p SANDBOXD_PID SANDBOXD_API_PORT SANDBOXD_SANDBOX_PORT SANDBOXD_API_KEY E2B_API_KEY \
    SANDBOXD_DATA_DIR SANDBOXD_LOG E2B_API_URL E2B_SANDBOX_URL)"
MAIN_PID=$SANDBOXD_PID
sandboxd_start --no-bwrap --faults '{"seed":7,"rules":[{"path":"/nothing","error_rate":1}]}' || exit 1
r="$(sandboxd_admin GET /admin/faults)"
check "--faults installs a configuration at start" test "$(jget "$r" '[j["seed"], j["rules"][0]["path"]]')" = '[7, "/nothing"]'
SPORT=$SANDBOXD_SANDBOX_PORT
check "fallback mode is announced loudly" grep -q 'bubblewrap is NOT in use' "$SANDBOXD_LOG"
new_sandbox
s="$(run_client --cmd 'echo "$HOME"; pwd' --stdout-file "$WORK/fb.out")"
check "fallback: HOME and cwd map into the sandbox directory" test "$(sed -n 1p "$WORK/fb.out")" = "$SANDBOXD_DATA_DIR/$SID/root/home/user"
run_client --cmd 'sleep 35.51 & (sleep 35.52 &) ; setsid sleep 35.53 & echo ok; wait' > /dev/null &
CPID=$!
for i in $(seq 1 50); do [ "$(tree_count 'sleep 35.5')" -ge 3 ] && break; sleep 0.1; done
check "fallback: tree started" test "$(tree_count 'sleep 35.5')" -ge 3
api DELETE "/sandboxes/$SID" >/dev/null
check "fallback: every process of the killed sandbox is gone" wait_no_proc "sleep 35.5"
wait "$CPID"
check "fallback: no zombie children" test "$(zombies "$SANDBOXD_PID")" = 0
FB_PID=$SANDBOXD_PID
FB_DIR=$SANDBOXD_DATA_DIR
sandboxd_stop "$FB_PID"
check "fallback: SIGTERM removes the data directories" test -z "$(ls "$FB_DIR" 2>/dev/null | grep '^i')"

echo "# --- graceful shutdown --- ($SECONDS s)"
eval "$MAIN_ENV"
SPORT=$SANDBOXD_SANDBOX_PORT
for i in 1 2; do
    new_sandbox
    run_client --cmd 'sleep 36.1 & echo bg' >/dev/null
done
DATA_MAIN="$SANDBOXD_DATA_DIR"
check "SIGTERM: sandboxes with processes exist before" test "$(ls "$DATA_MAIN" | grep -c '^i')" -ge 2
# (after sandboxd exits its processes have no sandboxd above them: follow
# the pids recorded now)
P361=$(tree_pids 'sleep 36.1' "$MAIN_PID")
check "SIGTERM: the sandboxes' processes run before ($(echo $P361 | wc -w))" test "$(echo $P361 | wc -w)" -ge 2
sandboxd_stop "$MAIN_PID"
check "SIGTERM: sandboxd exited" bash -c "! kill -0 $MAIN_PID 2>/dev/null"
check "SIGTERM: no sandbox directory left" test -z "$(ls "$DATA_MAIN" 2>/dev/null | grep '^i')"
# shellcheck disable=SC2086
check "SIGTERM: no sandbox process left" wait_pids_gone "sleep 36.1" $P361

echo "# --- issue 14: domain, metrics, network rules, lifecycle, ports (raw protocol) --- ($SECONDS s)"
sandboxd_start --max-sandboxes 4 --metrics-interval 1 --domain 'localhost:{sandbox_port}' || exit 1
SPORT=$SANDBOXD_SANDBOX_PORT
# status_is EXPECTED "STATUS BODY": the status part of an api/unary answer
status_is() { test "${2%% *}" = "$1"; }
# msg_is EXPECTED "STATUS BODY": the E2B error message of an answer
msg_is() { test "$(jget "${2#* }" 'j["message"]')" = "$1"; }
# pyx JSON EXPR: true if the python expression holds for the parsed JSON
pyx() { test "$(jget "$1" "bool($2)")" = true; }
# lst PATH JSON: envd List, prints the pids
list_pids() { jget "$(unary /process.Process/List '{}' | cut -d' ' -f2-)" '[p["pid"] for p in j["processes"]]'; }
# bg_client CMD: starts a command in the background (the client stays attached)
bg_client() { run_client --cmd "$1" > /dev/null 2>&1 & BGC+=($!); }
BGC=()

r="$(api POST /v2/sandboxes '{"templateID":"base"}')"
SID="$(jget "${r#* }" 'j["sandboxID"]')"; TOK="$(jget "${r#* }" 'j["envdAccessToken"]')"
check "--domain with {sandbox_port}: create reports domain localhost:$SPORT" test "$(jget "${r#* }" 'j["domain"]')" = "localhost:$SPORT"
r="$(api GET "/sandboxes/$SID")"
check "GET /sandboxes/{id} reports the domain, no network, no allowInternetAccess (2.51 omits it)" \
    pyx "${r#* }" "j['domain'] == 'localhost:$SPORT' and 'network' not in j and 'allowInternetAccess' not in j and j['lifecycle'] == {'autoResume': False, 'onTimeout': 'kill'}"
r="$(api POST "/sandboxes/$SID/connect" '{"timeout":60}')"
check "connect reports the domain too" test "$(jget "${r#* }" 'j["domain"]')" = "localhost:$SPORT"
r="$(api POST /sandboxes '{"templateID":"base","allow_internet_access":true}')"
SID1="$(jget "${r#* }" 'j["sandboxID"]')"
r="$(api GET "/sandboxes/$SID1")"
check "v1 create: allow_internet_access is reported as allowInternetAccess" pyx "${r#* }" "j['allowInternetAccess'] is True"
api DELETE "/sandboxes/$SID1" >/dev/null

echo "# metrics ($SECONDS s)"
curl -s -o /dev/null -H "E2b-Sandbox-Id: $SID" -H 'Content-Type: application/octet-stream' --data-binary @<(head -c 1048576 /dev/zero) "$E2B_SANDBOX_URL/files?path=/home/user/mb.bin"
bg_client 'exec sleep 41.1'
sleep 2.2
r="$(api GET "/sandboxes/$SID/metrics")"
check "metrics: 200 with samples" pyx "${r#* }" "'${r%% *}' == '200' and len(j) >= 1"
check "metrics: exactly E2B's SandboxMetric keys" pyx "${r#* }" \
    "all(sorted(m) == ['cpuCount','cpuUsedPct','diskTotal','diskUsed','memCache','memTotal','memUsed','timestamp','timestampUnix'] for m in j)"
check "metrics: timestamp is RFC 3339 whole seconds matching timestampUnix, 5 s buckets" pyx "${r#* }" \
    "all(__import__('datetime').datetime.strptime(m['timestamp'], '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=__import__('datetime').timezone.utc).timestamp() == m['timestampUnix'] and m['timestampUnix'] % 5 == 0 for m in j)"
check "metrics: totals 2 CPUs, 512 MiB, 1 GiB; memUsed > 0 (a process runs); diskUsed counts the 1 MiB file" pyx "${r#* }" \
    "all(m['cpuCount'] == 2 and m['memTotal'] == 536870912 and m['diskTotal'] == 1073741824 and m['memCache'] == 0 and isinstance(m['cpuUsedPct'], (int, float)) and 0 <= m['cpuUsedPct'] <= 100 for m in j) and j[-1]['memUsed'] > 0 and j[-1]['diskUsed'] >= 1048576"
r="$(api GET "/sandboxes/$SID/metrics?start=0&end=$(( $(date +%s) + 60 ))")"
check "metrics: an explicit range containing everything" pyx "${r#* }" "len(j) >= 1"
r="$(api GET "/sandboxes/$SID/metrics?start=100&end=200")"
check "metrics: a range with no samples is []" test "$r" = "200 []"
r="$(api GET "/sandboxes/$SID/metrics?start=$(( $(date +%s) + 3600 ))")"
check "metrics: start after the last sample: 400 Invalid time range" test "$r" = '400 {"code":400,"message":"Invalid time range for metrics"}'
r="$(api GET "/sandboxes/$SID/metrics?start=abc")"
check "metrics: a non-integer start: 400" status_is 400 "$r"
r="$(api GET "/sandboxes/$SID/metrics?end=-5")"
check "metrics: a negative end: 400" status_is 400 "$r"
r="$(api GET /sandboxes/inotasandbox0000000000/metrics)"
check "metrics of an unknown sandbox: 200 [] (as E2B)" test "$r" = "200 []"
r="$(api GET /sandboxes/inotasandbox0000000000/metrics?start=5)"
check "metrics of an unknown sandbox with a start: 400 (E2B's empty range ends in 1970)" status_is 400 "$r"
r="$(api GET /sandboxes/Not-A-Valid-id/metrics)"
check "metrics of a malformed ID: 400 Invalid sandbox ID" test "$r" = '400 {"code":400,"message":"Invalid sandbox ID"}'
r="$(curl -s -H "E2b-Sandbox-Id: $SID" -H "X-Access-Token: $TOK" "$E2B_SANDBOX_URL/metrics")"
check "envd /metrics: the sandbox's figures in envd's shape" pyx "$r" \
    "sorted(j) == ['cpu_count','cpu_used_pct','disk_total','disk_used','mem_cache','mem_total','mem_total_mib','mem_used','mem_used_mib','ts'] and j['cpu_count'] == 2 and j['mem_total_mib'] == 512 and j['mem_used'] > 0 and j['disk_used'] >= 1048576"
r="$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $SID" "$E2B_SANDBOX_URL/metrics")"
check "envd /metrics needs the access token" test "$r" = 401
api POST "/sandboxes/$SID/pause" '{}' >/dev/null
n1="$(jget "$(api GET "/sandboxes/$SID/metrics" | cut -d' ' -f2-)" 'len(j)')"
sleep 2.2
r="$(api GET "/sandboxes/$SID/metrics")"
check "metrics of a paused sandbox: 200, its history, no new samples ($n1)" pyx "${r#* }" "'${r%% *}' == '200' and len(j) == $n1 and $n1 >= 1"
r="$(api GET "/sandboxes/$SID")"
check "a paused sandbox's endAt is its pause time" pyx "${r#* }" \
    "abs(__import__('datetime').datetime.strptime(j['endAt'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=__import__('datetime').timezone.utc).timestamp() - $(date +%s)) < 5"
r="$(api PUT "/sandboxes/$SID/network" '{"denyOut":["10.0.0.0/8"]}')"
check "PUT network on a paused sandbox: 404 (E2B: not in its store)" status_is 404 "$r"
r="$(curl -s -w ' %{http_code}' -H "Host: 8080-$SID.localhost" "$E2B_SANDBOX_URL/")"
check "a paused sandbox's port host: 502 not found" test "$r" = "{\"sandboxId\":\"$SID\",\"message\":\"The sandbox was not found\",\"code\":502} 502"
r="$(api POST "/v2/sandboxes/$SID/connect" '{"memory":"no"}')"
check "connect with a non-boolean memory: 400" status_is 400 "$r"
r="$(api POST "/v2/sandboxes/$SID/connect" '{"memory":false}')"
check "connect {memory:false} resumes (201)..." status_is 201 "$r"
check "...without the processes" test "$(list_pids)" = "[]"
s="$(run_client --cmd 'cat /home/user/mb.bin | wc -c')"
check "...with the files (and a fresh init runs commands)" test "$(jget "$s" 'j["stdout_bytes"]')" = 8
api DELETE "/sandboxes/$SID" >/dev/null
r="$(api GET "/sandboxes/$SID/metrics")"
check "metrics of a killed sandbox: [] (sandboxd drops them with it)" test "$r" = "200 []"

echo "# network rules ($SECONDS s)"
netbad() { # netbad NAME STATUS MESSAGE NETWORK_JSON
    local r m; r="$(api POST /v2/sandboxes "{\"templateID\":\"base\",\"network\":$4}")"
    m="$(jget "${r#* }" 'j.get("message")')"
    check "network: $1 -> $2" test "${r%% *}|$m" = "$2|$3"
}
netbad "a domain in denyOut" 400 "invalid denied CIDR example.com" '{"denyOut":["example.com"]}'
netbad "0.0.0.0 in denyOut" 400 "invalid denied CIDR 0.0.0.0" '{"denyOut":["0.0.0.0"]}'
netbad "::/0 in denyOut" 400 "invalid denied CIDR ::/0" '{"denyOut":["::/0"]}'
netbad "a /33 prefix" 400 "invalid denied CIDR 1.2.3.4/33" '{"denyOut":["1.2.3.4/33"]}'
netbad "an unspecified allowed address" 400 "invalid allowed address 0.0.0.0/8" '{"allowOut":["0.0.0.0/8"]}'
netbad "allowed domains without ALL_TRAFFIC denied" 400 "When specifying allowed domains in allow out, you must include 'ALL_TRAFFIC' in deny out to block all other traffic." '{"allowOut":["example.com"],"denyOut":["10.0.0.0/8"]}'
netbad "11 rule domains" 400 "Network rules can have at most 10 domains." "{\"rules\":{$(for i in $(seq 1 11); do printf '"d%d.example.com":[],' "$i"; done | sed 's/,$//')}}"
netbad "an invalid rule domain" 400 'Rule domain "bad domain" is not a valid domain name.' '{"rules":{"bad domain":[]}}'
netbad "two transforms for one domain" 400 'Domain "a.example.com" can have at most 1 transform rule.' '{"rules":{"a.example.com":[{},{}]}}'
netbad "an invalid header name" 400 'Header name "X Y" in rule for domain "a.example.com" must contain only valid HTTP token characters.' '{"rules":{"a.example.com":[{"transform":{"headers":{"X Y":"v"}}}]}}'
netbad "egressProxy" 403 "Egress proxy (network.egressProxy) is not enabled for this team." '{"egressProxy":{"address":"proxy.example.com:1080"}}'
netbad "a non-ASCII maskRequestHost" 400 "mask request host 'bücher.example' is not ASCII. Please use ASCII characters only." '{"maskRequestHost":"bücher.example"}'
r="$(api POST /v2/sandboxes '{"templateID":"base","network":["x"]}')"
check "network: not an object -> 400" status_is 400 "$r"
r="$(api POST /sandboxes '{"templateID":"base","network":{"allowPublicTraffic":false}}')"
check "v1: allowPublicTraffic false without secure -> 400" msg_is "You cannot create a sandbox without public access unless you enable secure envd access via 'secure' flag." "$r"
r="$(api POST /sandboxes '{"templateID":"code-interpreter-v1","secure":true,"network":{"allowPublicTraffic":false,"allowOut":["example.com","8.8.8.8"],"denyOut":["0.0.0.0/0"],"rules":{"api.example.com":[{"transform":{"headers":{"Authorization":"Bearer x"}}}]}}}')"
check "v1 secure with private ingress: 201 with a trafficAccessToken" pyx "${r#* }" "'${r%% *}' == '201' and len(j['trafficAccessToken']) == 64"
SID="$(jget "${r#* }" 'j["sandboxID"]')"; TOK="$(jget "${r#* }" 'j["envdAccessToken"]')"; TT="$(jget "${r#* }" 'j["trafficAccessToken"]')"
r="$(api GET "/sandboxes/$SID")"
check "GET reports the network as stored" pyx "${r#* }" \
    "j['network'] == {'allowOut': ['example.com', '8.8.8.8'], 'denyOut': ['0.0.0.0/0'], 'rules': {'api.example.com': [{'transform': {'headers': {'Authorization': 'Bearer x'}}}]}, 'allowPublicTraffic': False}"
r="$(curl -s -w ' %{http_code}' -X POST -H "E2b-Sandbox-Id: $SID" -H 'E2b-Sandbox-Port: 49999' -H "X-Access-Token: $TOK" -H 'Content-Type: application/json' -d '{"code":"1+1"}' "$E2B_SANDBOX_URL/execute")"
check "private ingress: the code interpreter port needs the traffic token (403)" test "${r##* }" = 403
r="$(curl -s -w ' %{http_code}' -X POST -H "E2b-Sandbox-Id: $SID" -H 'E2b-Sandbox-Port: 49999' -H "X-Access-Token: $TOK" -H "E2B-Traffic-Access-Token: $TT" -H 'Content-Type: application/json' -d '{"code":"1+1"}' "$E2B_SANDBOX_URL/execute")"
check "...and answers with it" bash -c "grep -Eq '\"text\": ?\"2\"' <<<'$r'"
r="$(unary /process.Process/List '{}')"
check "...while envd's port does not need it" status_is 200 "$r"
r="$(api PUT "/sandboxes/$SID/network" '{"allowOut":["example.com"]}')"
check "PUT network validates like create (400)" status_is 400 "$r"
r="$(api PUT "/sandboxes/$SID/network" '{"allow_internet_access":"x"}')"
check "PUT network: a non-boolean allow_internet_access -> 400" status_is 400 "$r"
r="$(api PUT /sandboxes/inotasandbox0000000000/network '{}')"
check "PUT network on an unknown sandbox: 404" status_is 404 "$r"
r="$(api PUT "/sandboxes/$SID/network" '{"denyOut":["192.0.2.1"],"allow_internet_access":false}')"
check "PUT network: 204" test "$r" = "204 "
r="$(api GET "/sandboxes/$SID")"
check "...egress replaced, ingress kept, allowInternetAccess set" pyx "${r#* }" \
    "j['network'] == {'allowPublicTraffic': False, 'denyOut': ['192.0.2.1']} and j['allowInternetAccess'] is False"
api DELETE "/sandboxes/$SID" >/dev/null

echo "# lifecycle ($SECONDS s)"
r="$(api POST /v2/sandboxes '{"templateID":"base","autoPauseMemory":false}')"
check "autoPauseMemory false without autoPause: 400" msg_is "autoPauseMemory=false only applies when autoPause is true." "$r"
r="$(api POST /v2/sandboxes '{"templateID":"base","autoPause":true,"autoPauseMemory":false,"autoResume":{"enabled":true}}')"
check "autoPauseMemory false with autoResume: 400" msg_is "autoPauseMemory=false (filesystem-only auto-pause) cannot be combined with autoResume: a filesystem-only snapshot cannot be auto-resumed by traffic and must be resumed explicitly." "$r"
r="$(api POST /v2/sandboxes '{"templateID":"base","autoPause":1}')"
check "autoPause not a boolean: 400" msg_is "Error when parsing request: json: cannot unmarshal number into Go struct field NewSandboxV2.autoPause of type bool" "$r"
r="$(api POST /v2/sandboxes '{"templateID":"base","autoResume":true}')"
check "autoResume not {enabled}: 400" status_is 400 "$r"
new_sandbox '{"templateID":"base","timeout":1,"autoPause":true,"autoPauseMemory":false}'
bg_client 'exec sleep 41.2'
sleep 0.5
check "filesystem-only autoPause: the process runs before" test "$(list_pids)" != "[]"
for i in $(seq 1 40); do r="$(api GET "/sandboxes/$SID")"; [ "$(jget "${r#* }" 'j["state"]')" = paused ] && break; sleep 0.1; done
check "filesystem-only autoPause: paused at the timeout" test "$(jget "${r#* }" '[j["state"], j["lifecycle"]["onTimeout"]]')" = '["paused", "pause"]'
api POST "/v2/sandboxes/$SID/connect" '{}' >/dev/null
check "filesystem-only autoPause: resumed without the process" test "$(list_pids)" = "[]"
api DELETE "/sandboxes/$SID" >/dev/null
# autoResume at the running limit (--max-sandboxes 4): 429 in the proxy's shape
new_sandbox '{"templateID":"base","autoResume":{"enabled":true}}'
AUTO=$SID; AUTOTOK=$TOK
api POST "/sandboxes/$AUTO/pause" '{}' >/dev/null
FILL=()
for i in 1 2 3 4; do new_sandbox; FILL+=("$SID"); done
r="$(curl -s -w ' %{http_code}' -H "E2b-Sandbox-Id: $AUTO" -H "X-Access-Token: $AUTOTOK" "$E2B_SANDBOX_URL/health")"
check "autoResume at the limit: 429 {sandboxId,message,code}" pyx "${r% *}" "'${r##* }' == '429' and j['sandboxId'] == '$AUTO' and j['code'] == 429 and 'maximum number of concurrent E2B sandboxes (4)' in j['message']"
api DELETE "/sandboxes/${FILL[0]}" >/dev/null
r="$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $AUTO" -H "X-Access-Token: $AUTOTOK" "$E2B_SANDBOX_URL/health")"
check "autoResume below the limit: resumed (204)" test "$r" = 204
r="$(api GET "/sandboxes/$AUTO")"
check "...and it runs for 300 s (E2B's minimum auto-resume timeout)" test "$(jget "${r#* }" 'j["state"]')" = running
for s in "${FILL[@]:1}" "$AUTO"; do api DELETE "/sandboxes/$s" >/dev/null; done

echo "# ports ($SECONDS s)"
new_sandbox '{"templateID":"base","network":{"maskRequestHost":"inner.test:${PORT}"}}'
PORTA=$(( 30000 + RANDOM % 5000 ))
cat > "$WORK/srv.py" <<'PYEOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        if self.path.startswith('/big'):
            b = b'0123456789abcdef' * 65536
        elif self.path.startswith('/missing'):
            self.send_error(404, 'nope'); return
        else:
            b = ('host=%s path=%s' % (self.headers.get('Host'), self.path)).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/x-test')
        self.send_header('Set-Cookie', 'a=1')
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        b = self.rfile.read(n)
        self.send_response(201)
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PYEOF
curl -s -o /dev/null -H "E2b-Sandbox-Id: $SID" -F "file=@$WORK/srv.py;filename=/tmp/srv.py" "$E2B_SANDBOX_URL/files"
bg_client "exec python3 /tmp/srv.py $PORTA"
HOSTA="$PORTA-$SID.localhost:$SPORT"
for i in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOSTA" "$E2B_SANDBOX_URL/")" = 200 ] && break; sleep 0.1; done
r="$(curl -s -D "$WORK/h" -H "Host: $HOSTA" "$E2B_SANDBOX_URL/a/b?c=d%26e")"
check "port host: forwarded to the sandbox's loopback server, Host masked (\${PORT} replaced)" test "$r" = "host=inner.test:$PORTA path=/a/b?c=d%26e"
check "port host: upstream headers come back" bash -c "grep -qi '^Content-Type: application/x-test' '$WORK/h' && grep -qi '^Set-Cookie: a=1' '$WORK/h'"
check "port host: 1 MiB body intact" test "$(curl -s -H "Host: $HOSTA" "$E2B_SANDBOX_URL/big" | sha256sum | cut -c1-64)" = "$(python3 -c "import hashlib; print(hashlib.sha256(b'0123456789abcdef'*65536).hexdigest())")"
r="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOSTA" "$E2B_SANDBOX_URL/missing")"
check "port host: upstream status passes through (404)" test "$r" = 404
r="$(curl -s -w ' %{http_code}' -H "Host: $HOSTA" --data-binary 'raw post' "$E2B_SANDBOX_URL/files?path=/x")"
check "port host: POST to an envd path with a body is forwarded (not an upload)" test "$r" = "raw post 201"
r="$(curl -s -w ' %{http_code}' -H "Host: $HOSTA" -F 'file=@/dev/null;filename=/tmp/nothing' "$E2B_SANDBOX_URL/files")"
check "port host: multipart POST /files forwarded too" test "${r##* }" = 201
r="$(curl -s -w ' %{http_code}' "http://$HOSTA/direct")"
check "port host reachable as http://<port>-<id>.localhost:<sandbox port>/ (curl resolves *.localhost)" test "$r" = "host=inner.test:$PORTA path=/direct 200"
r="$(curl -s -w ' %{http_code}' -H "Host: $SANDBOXD_API_PORT-$SID.localhost" "$E2B_SANDBOX_URL/health")"
check "a host port not owned by the sandbox (sandboxd's api port): 502 port not open" \
    test "$r" = "{\"sandboxId\":\"$SID\",\"message\":\"The sandbox is running but port is not open\",\"port\":$SANDBOXD_API_PORT,\"code\":502} 502"
OWNER=$SID
new_sandbox
r="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $PORTA-$SID.localhost" "$E2B_SANDBOX_URL/")"
check "another sandbox's port host for the same port: 502" test "$r" = 502
api DELETE "/sandboxes/$SID" >/dev/null
api DELETE "/sandboxes/$OWNER" >/dev/null
r="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOSTA" "$E2B_SANDBOX_URL/")"
check "killed sandbox's port host: 502" test "$r" = 502
for p in "${BGC[@]}"; do wait "$p" 2>/dev/null; done
st="$(sandboxd_admin GET /admin/stats)"
check "forwarded requests are counted as PORT-FORWARD" pyx "$st" "j['requests']['sandbox']['PORT-FORWARD']['200'] >= 4 and j['requests']['sandbox']['PORT-FORWARD']['502'] >= 3"
sandboxd_stop "$SANDBOXD_PID"

echo "# spawn / wait semantics ($SECONDS s)"
# spawn TIMEOUT_MS TAG CMD: Start, read the start event, close the
# connection; prints the pid (what a client that spawns and leaves does)
spawn() {
    "$PY" - "$SPORT" "$SID" "$TOK" "$1" "$2" "$3" <<'PYEOF'
import json, socket, struct, sys
port, sid, tok, tmo, tag, cmd = sys.argv[1:]
body = json.dumps({"process": {"cmd": "/bin/bash", "args": ["-l", "-c", cmd]}, "tag": tag, "stdin": True}).encode()
env = b"\0" + struct.pack(">I", len(body)) + body
hdr = ("POST /process.Process/Start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/connect+json\r\n"
       "E2b-Sandbox-Id: %s\r\nX-Access-Token: %s\r\nContent-Length: %d\r\n%s\r\n"
       % (sid, tok, len(env), ("Connect-Timeout-Ms: %s\r\n" % tmo) if tmo != "0" else ""))
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(hdr.encode() + env)
buf = b""
while b'"start"' not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
s.close()
i = buf.index(b'"pid":') + 6
print(int(buf[i:buf.index(b"}", i)]))
PYEOF
}
listed() { test "$(jget "$(unary /process.Process/List '{}' | cut -d' ' -f2-)" "$1 in [p['pid'] for p in j['processes']]")" = "$2"; }
sandboxd_start || exit 1
SPORT=$SANDBOXD_SANDBOX_PORT
new_sandbox
P1="$(spawn 0 sleeper 'exec sleep 42.1')"
P2="$(spawn 1500 short 'exec sleep 42.2')"
sleep 0.3
check "spawn: the process outlives its closed Start stream (no Connect-Timeout-Ms)" listed "$P1" true
check "spawn: listed with its tag" test "$(jget "$(unary /process.Process/List '{}' | cut -d' ' -f2-)" "[p.get('tag') for p in j['processes'] if p['pid'] == $P1]")" = '["sleeper"]'
sleep 2
check "spawn: still alive after 2 s" listed "$P1" true
check "Start's Connect-Timeout-Ms kills the process even after its client left (envd's process context)" listed "$P2" false
s="$(run_client --path /process.Process/Connect --json "{\"process\":{\"pid\":$P1}}" --timeout-ms 800)"
check "wait by pid with a timeout: deadline_exceeded..." test "$(jget "$s" '[j["start_pid"], j["eos"]["error"]["code"]]')" = "[$P1, \"deadline_exceeded\"]"
check "...and the process keeps running (Connect's deadline does not kill)" listed "$P1" true
P3="$(spawn 0 reader 'read x; echo "in:$x"; exit 4')"
run_client --path /process.Process/Connect --json '{"process":{"tag":"reader"}}' --stdout-file "$WORK/w.out" > "$WORK/w.json" 2>/dev/null &
WC=$!
sleep 0.3
r="$(unary /process.Process/SendInput "{\"process\":{\"pid\":$P3},\"input\":{\"stdin\":\"$(printf 'abc\n' | base64)\"}}")"
check "stdin to a spawned process" test "$r" = "200 {}"
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$P1},\"signal\":\"SIGNAL_SIGTERM\"}")"
check "SIGTERM to a spawned process" test "$r" = "200 {}"
wait "$WC"
check "wait (Connect by tag) returns the output and exit code" test "$(cat "$WORK/w.out")|$(jget "$(cat "$WORK/w.json")" '[j["start_pid"], j["end"]["exitCode"]]')" = "in:abc|[$P3, 4]"
for i in $(seq 1 20); do listed "$P1" false && break; sleep 0.1; done
check "the SIGTERMed process is gone" listed "$P1" false
s="$(run_client --path /process.Process/Connect --json "{\"process\":{\"pid\":$P3}}")"
check "a wait after the end: not_found (envd keeps no exited processes)" test "$(jget "$s" 'j["eos"]["error"]["code"]')" = not_found
P4="$(spawn 0 other 'exec sleep 42.4')"
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$P4},\"signal\":\"SIGNAL_SIGINT\"}")"
check "SendSignal with a signal envd lacks: invalid_argument (not an enum name)" test "${r%% *}" = 400
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$P4},\"signal\":2}")"
check "SendSignal 2: envd's unimplemented invalid signal" test "$r" = '501 {"code":"unimplemented","message":"invalid signal: 2"}'
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$P4}}")"
check "SendSignal without a signal: unimplemented SIGNAL_UNSPECIFIED" test "$r" = '501 {"code":"unimplemented","message":"invalid signal: SIGNAL_UNSPECIFIED"}'
r="$(unary /process.Process/SendSignal "{\"process\":{\"pid\":$P4},\"signal\":9}")"
check "SendSignal 9 (the SDK's kill)" test "$r" = "200 {}"
api DELETE "/sandboxes/$SID" >/dev/null
sandboxd_stop "$SANDBOXD_PID"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
