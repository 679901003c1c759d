#!/usr/bin/env bash
# Scale check: N sandboxes (default 1000) created on a sandboxd started with
# --max-sandboxes 2000, then one short command in each, all at once (each
# the sandbox's first command, so each also starts its bwrap + init), then
# all killed.  Prints timings, failures, and sandboxd's threads/fds/RSS.
#
#   bench/sandboxd/scale.sh          N=1000 by default
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../../test/lib/sandboxd.sh"
ROOT="$SANDBOXD_REPO_ROOT"
N="${N:-1000}"
PY="$(command -v /usr/bin/python3 || command -v python3)"
make -s -C "$ROOT/sandboxd" || exit 1
CLIENT="$ROOT/test/sandboxd/.build/connect_client"
mkdir -p "$(dirname "$CLIENT")"
cc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$ROOT/common" -o "$CLIENT" \
    "$ROOT/test/sandboxd/connect_client.c" "$ROOT/common/b64.c" -ljansson || exit 1
W="$(mktemp -d "${TMPDIR:-/tmp}/sandboxd-scale.XXXXXX")"
trap 'sandboxd_stop_all; rm -rf "$W"' EXIT
sandboxd_start --max-sandboxes 2000 || exit 1
stat_line() { echo "threads=$(ls /proc/$SANDBOXD_PID/task | wc -l) fds=$(ls /proc/$SANDBOXD_PID/fd | wc -l) rss_kb=$(awk '/^VmRSS/ {print $2}' /proc/$SANDBOXD_PID/status)"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

t0=$(date +%s%N)
seq 1 "$N" | xargs -P 32 -I{} curl -s -X POST -H "X-API-Key: $SANDBOXD_API_KEY" -H 'Content-Type: application/json' \
    -d '{"templateID":"base","timeout":600}' -o "$W/s{}.json" "$E2B_API_URL/v2/sandboxes"
echo "created $N sandboxes in $(ms $t0) ms (32 parallel curl processes); $(stat_line)"
"$PY" - "$W" "$N" > "$W/list" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    j = json.load(open(f"{w}/s{i}.json"))
    print(j["sandboxID"], j["envdAccessToken"])
PY

t0=$(date +%s%N)
CP=()
i=0
while read -r sid tok; do
    i=$((i + 1))
    "$CLIENT" --port "$SANDBOXD_SANDBOX_PORT" --sandbox "$sid" --token "$tok" --cmd "echo run-$i; sleep 2" > "$W/r$i.json" &
    CP+=($!)
done < "$W/list"
echo "launched $N commands in $(ms $t0) ms; 1 s later: $(sleep 1; stat_line)"
wait "${CP[@]}"
echo "all $N commands finished $(ms $t0) ms after the first was launched"
"$PY" - "$W" "$N" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
ok, bad, el = 0, [], []
for i in range(1, n + 1):
    try:
        j = json.loads(open(f"{w}/r{i}.json").read())
        if j["eos"] == {} and j["stdout_bytes"] == len(f"run-{i}\n") and j["end"]["exited"]:
            ok += 1
            el.append(j["elapsed_ms"])
        else:
            bad.append((i, j))
    except Exception as e:
        bad.append((i, str(e)))
el.sort()
print(f"commands ok: {ok}/{n}; per-command wall time (incl. 2 s sleep and the sandbox's start) p50 {el[len(el)//2] if el else '-'} ms, max {el[-1] if el else '-'} ms")
for b in bad[:5]:
    print("  failed:", b)
PY
echo "after: $(stat_line)"
t0=$(date +%s%N)
cut -d' ' -f1 "$W/list" | xargs -P 32 -I{} curl -s -o /dev/null -X DELETE -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/{}"
echo "killed $N sandboxes in $(ms $t0) ms"
sleep 2
echo "after kill: $(stat_line), sandbox dirs left: $(ls "$SANDBOXD_DATA_DIR" | grep -c '^i'), zombies: $(ps -eo ppid=,stat= | awk -v p=$SANDBOXD_PID '$1==p && $2 ~ /^Z/' | wc -l)"
