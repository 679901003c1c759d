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

# no_proc MARKER: true if no process has MARKER in its command line.
no_proc() { ! pgrep -f -- "$1" >/dev/null; }
wait_no_proc() { local i; for i in $(seq 1 60); do no_proc "$1" && return 0; sleep 0.1; done; return 1; }

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
for i in $(seq 1 50); do [ "$(pgrep -f 'sleep 33.3' | wc -l)" -ge 4 ] && break; sleep 0.1; done
check "tree started (4 sleeps)" test "$(pgrep -f 'sleep 33.3' | wc -l)" -ge 4
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
check "pause freezes the processes (state T)" bash -c "ps -o stat= -p \$(pgrep -f 'sleep 37.1' | head -1) | grep -q T"
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
check "resumed processes run again" bash -c "ps -o stat= -p \$(pgrep -f 'sleep 37.1' | head -1) | grep -qv T"
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
for i in $(seq 1 50); do [ "$(pgrep -f 'sleep 35.5' | wc -l)" -ge 3 ] && break; sleep 0.1; done
check "fallback: tree started" test "$(pgrep -f 'sleep 35.5' | wc -l)" -ge 3
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
sandboxd_stop "$MAIN_PID"
check "SIGTERM: sandboxd exited" bash -c "! kill -0 $MAIN_PID 2>/dev/null"
check "SIGTERM: no sandbox directory left" test -z "$(ls "$DATA_MAIN" 2>/dev/null | grep '^i')"
check "SIGTERM: no sandbox process left" wait_no_proc "sleep 36.1"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
