#!/usr/bin/env bash
# Scale check for sandboxd: N (default 1000) sandboxes on a sandboxd with
# --max-sandboxes 2000, then one short command (`echo; sleep 2`) in each,
# all at once through the official e2b SDK (one node process, N concurrent
# streams; each is its sandbox's first command, so each also starts the
# sandbox's bwrap + init), then all killed.  Prints timings and sandboxd's
# peak threads/fds/RSS, and checks that nothing is left behind.
#
#   bench/sandboxd/scale.sh          (N=1000 by default)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../../test/lib/sandboxd.sh"
ROOT="$SANDBOXD_REPO_ROOT"
CONF="$ROOT/test/conformance"
N="${N:-1000}"
make -s -C "$ROOT/hosts/sandboxd" || exit 1
[ -d "$CONF/node_modules/e2b" ] || (cd "$CONF" && npm ci --no-audit --no-fund) || exit 1
cp "$HERE/scale.mjs" "$CONF/.scale.mjs"
SAMPLES="$(mktemp "${TMPDIR:-/tmp}/sandboxd-scale.XXXXXX")"
trap 'sandboxd_stop_all; rm -f "$CONF/.scale.mjs" "$SAMPLES"' EXIT
sandboxd_start --max-sandboxes 2000 || exit 1
echo "scale: sandboxd pid $SANDBOXD_PID, N=$N"

# samples "threads fds rss_kb" every 0.5 s while the driver runs
( while kill -0 "$SANDBOXD_PID" 2>/dev/null; do
      echo "$(ls /proc/$SANDBOXD_PID/task | wc -l) $(ls /proc/$SANDBOXD_PID/fd | wc -l) $(awk '/^VmRSS/ {print $2}' /proc/$SANDBOXD_PID/status)"
      sleep 0.5
  done > "$SAMPLES" ) &
SAMPLER=$!
(cd "$CONF" && N="$N" node .scale.mjs)
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null
echo "scale: peak threads $(sort -n -k1 "$SAMPLES" | tail -1 | cut -d' ' -f1), peak fds $(sort -n -k2 "$SAMPLES" | tail -1 | cut -d' ' -f2), peak RSS $(sort -n -k3 "$SAMPLES" | tail -1 | cut -d' ' -f3) kB"
sleep 2
echo "scale: after kill: threads $(ls /proc/$SANDBOXD_PID/task | wc -l), fds $(ls /proc/$SANDBOXD_PID/fd | wc -l), sandbox dirs left $(ls "$SANDBOXD_DATA_DIR" | grep -c '^i'), zombie children $(ps -eo ppid=,stat= | awk -v p=$SANDBOXD_PID '$1==p && $2 ~ /^Z/' | wc -l), bwrap children $(pgrep -c -P "$SANDBOXD_PID" bwrap)"
