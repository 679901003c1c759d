#!/usr/bin/env bash
# sandboxd figures -> bench/sandboxd/results.txt
#
#   bench/sandboxd/run.sh            (from any directory; rerunnable)
#
# 1. Throughput: commands.run('true') from 16 concurrent SDK clients (the
#    official e2b 2.51.0 SDK, each client with its own sandbox) for ~10 s.
# 2. Memory: sandboxd's RSS with 20 live code-interpreter sandboxes, each
#    having run one command and holding a live Python context; also the
#    memory of the sandboxes' own processes (bwrap, init, python).
# Uses the SDKs installed in test/conformance (npm ci there if missing).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../../test/lib/sandboxd.sh"
ROOT="$SANDBOXD_REPO_ROOT"
CONF="$ROOT/test/conformance"
OUT="$HERE/results.txt"
CLIENTS="${CLIENTS:-16}"
DURATION="${DURATION:-10}"

make -s -C "$ROOT/sandboxd"
if [ ! -d "$CONF/node_modules/e2b" ] || [ ! -d "$CONF/node_modules/@e2b/code-interpreter" ]; then
    (cd "$CONF" && npm ci --no-audit --no-fund)
fi
export NODE_PATH="$CONF/node_modules"
# bench.mjs resolves 'e2b' from test/conformance/node_modules
cp "$HERE/bench.mjs" "$CONF/.bench.mjs"
trap 'rm -f "$CONF/.bench.mjs"; sandboxd_stop_all' EXIT

sandboxd_start --max-sandboxes 100
echo "bench: sandboxd pid $SANDBOXD_PID"

# kB of a process's VmRSS
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# all descendants of a pid
descendants() {
    local p kids
    for p in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        echo "$p"
        descendants "$p"
    done
}
# sum of a field (Rss or Pss, kB) over pids from /proc/PID/smaps_rollup
sum_field() {
    local f="$1"; shift
    local t=0 p v
    for p in "$@"; do
        v=$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

echo "bench: throughput, $CLIENTS clients x ${DURATION}s ..."
RPS_JSON="$(cd "$CONF" && CLIENTS="$CLIENTS" BENCH_SECONDS="$DURATION" node .bench.mjs rps)"
echo "bench: $RPS_JSON"
RSS_IDLE=$(rss_kb "$SANDBOXD_PID")

echo "bench: memory with 20 code-interpreter sandboxes ..."
coproc BENCH { cd "$CONF" && SANDBOXES=20 exec node .bench.mjs rss; }
read -r READY <&"${BENCH[0]}"
sleep 1
RSS_20=$(rss_kb "$SANDBOXD_PID")
PSS_20=$(sum_field Pss "$SANDBOXD_PID")
KIDS=($(descendants "$SANDBOXD_PID"))
KIDS_RSS=$(sum_field Rss "${KIDS[@]}")
KIDS_PSS=$(sum_field Pss "${KIDS[@]}")
NPY=$(for p in "${KIDS[@]}"; do cat /proc/$p/comm 2>/dev/null; done | grep -c python || true)
THREADS=$(ls /proc/$SANDBOXD_PID/task | wc -l)
FDS=$(ls /proc/$SANDBOXD_PID/fd | wc -l)
echo done >&"${BENCH[1]}"
wait "$BENCH_PID" || true

{
    echo "sandboxd benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "rerun: bench/sandboxd/run.sh   (CLIENTS=$CLIENTS DURATION=$DURATION)"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); load before run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "isolation: $(curl -s "$E2B_API_URL/health" | node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>console.log(JSON.parse(d).isolation))')"
    echo
    echo "1. commands.run('true') with the e2b 2.51.0 SDK, $CLIENTS concurrent clients (one sandbox each, one node process), ${DURATION} s:"
    echo "   $RPS_JSON"
    echo
    echo "2. memory with 20 live code-interpreter sandboxes (each ran one command and runCode('x = 6 * 7'), so each"
    echo "   has a running init and a live Python context):"
    echo "   sandboxd RSS:   ${RSS_20} kB (PSS ${PSS_20} kB); idle after the throughput run: ${RSS_IDLE} kB; threads $THREADS, fds $FDS"
    echo "   sandbox processes (${#KIDS[@]} processes: bwrap, sandboxd-init, $NPY python drivers): RSS sum ${KIDS_RSS} kB, PSS sum ${KIDS_PSS} kB"
} > "$OUT"
cat "$OUT"
echo "bench: written to $OUT"
