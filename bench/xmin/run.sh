#!/usr/bin/env bash
# bench/xmin/run.sh: the agent-run queue under a held xmin horizon.
#
# Issue 10, item 6: a REPEATABLE READ session idle in transaction for
# DURATION seconds while runs flow steadily.  Each variant (VARIANTS, one
# bench/xmin/NAME.sql each, applied after CREATE EXTENSION) gets its own
# cluster; all variants run AT THE SAME TIME against one sandboxd and one
# modeld, so they share the machine's load.  Timeline of every variant, from
# the same instant:
#
#   0 .. WARMUP                 runs flow (RATE runs/s), nothing held
#   WARMUP .. +DURATION         + one session: BEGIN ISOLATION LEVEL
#                               REPEATABLE READ; SELECT ...; then idle
#   .. +RECOVER                 released, runs still flowing
#
# Each run: create sandbox + plan, one model turn calling run_command
# (`echo hello` in bubblewrap), the final answer, kill; modeld answers
# every model call after MODEL_MS, so a run takes about a second.
#
# Rerun:  sudo bench/xmin/run.sh                 (DURATION=600, the figures)
#         sudo DURATION=60 WARMUP=20 RECOVER=30 bench/xmin/run.sh   (a quick look)
# Writes bench/results/xmin.txt (RESULT=... to write elsewhere); raw data in
# $KEEP_DIR when set (else a temporary directory, removed).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export RATE=${RATE:-4} WARMUP=${WARMUP:-60} DURATION=${DURATION:-600} RECOVER=${RECOVER:-120}
export SAMPLE=${SAMPLE:-10} PREFILL=${PREFILL:-20000}
MODEL_MS=${MODEL_MS:-300}
VARIANTS=${VARIANTS:-"asis fillfactor tuned timeout"}
RESULT=${RESULT:-$ROOT/bench/results/xmin.txt}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"

WORK=${KEEP_DIR:-$(mktemp -d /tmp/xmin-bench.XXXXXX)}
mkdir -p "$WORK"
chmod 755 "$WORK"
export GO_FILE=$WORK/go
rm -f "$GO_FILE"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    modeld_stop
    sandboxd_stop_all
    [ -n "${KEEP_DIR:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# the installed extension (others may reinstall it during the run: compare)
ext_info() {
    local lib sql
    lib=$(pg_config --pkglibdir)/sandbox.so
    sql=$(pg_config --sharedir)/extension/sandbox--1.1.sql
    echo "sandbox.so $(date -u -r "$lib" +%H:%M:%SZ) md5 $(md5sum <"$lib" | cut -c1-8)," \
         "sandbox--1.1.sql md5 $(md5sum <"$sql" | cut -c1-8)"
}
EXT_INFO0="repo HEAD $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?); installed at the start: $(ext_info)"
sandboxd_start --max-sandboxes 2000
modeld_start --latency-ms "$MODEL_MS"
export E2B_API_URL E2B_SANDBOX_URL SANDBOXD_API_KEY MODELD_URL

for v in $VARIANTS; do
    [ -f "$HERE/$v.sql" ] || { echo "no variant $HERE/$v.sql" >&2; exit 1; }
    bash "$HERE/variant.sh" "$v" "$WORK/$v" >"$WORK/$v.log" 2>&1 &
    PIDS+=($!)
done
# all variants start their flow at the same instant
for v in $VARIANTS; do
    while [ ! -e "$WORK/$v/ready" ]; do
        for p in "${PIDS[@]}"; do
            kill -0 "$p" 2>/dev/null || { echo "a variant failed:" >&2; tail -20 "$WORK"/*.log >&2; exit 1; }
        done
        sleep 0.2
    done
done
python3 -c "import time; print(f'{time.time() + 2:.3f}')" >"$GO_FILE.tmp" && mv "$GO_FILE.tmp" "$GO_FILE"
echo "$(date -u +%T) started: variants $VARIANTS, $RATE runs/s each, warm-up $WARMUP s," \
     "held $DURATION s, recovery $RECOVER s (data in $WORK)"
SBD_CPU0=$(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$SANDBOXD_PID/stat")
LOAD_LOG=$WORK/loadavg.txt
status=0
while :; do
    alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    echo "$(date +%s) $(cat /proc/loadavg) $(ps -e --no-headers | wc -l)" >>"$LOAD_LOG"
    sleep 10
done
for p in "${PIDS[@]}"; do wait "$p" || status=1; done
PIDS=()
[ $status = 0 ] || { echo "a variant failed:" >&2; tail -30 "$WORK"/*.log >&2; exit 1; }
SBD_CPU1=$(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$SANDBOXD_PID/stat")
export SBD_CPU=$(python3 -c "print(round($SBD_CPU1 - $SBD_CPU0, 1))")
export MODEL_MS VARIANTS
export EXT_INFO="$EXT_INFO0; at the end: $(ext_info)"
python3 "$HERE/report.py" "$WORK" >"$RESULT.tmp"
mv "$RESULT.tmp" "$RESULT"
cat "$RESULT"
