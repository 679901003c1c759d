#!/usr/bin/env bash
# bench/exec/run.sh: in one run, the mean round trip of
#   SELECT * FROM sandbox_exec(id, 'true')        (pgbench, one session)
# and of the official E2B SDK's commands.run('true') (node, one client),
# against the same sandboxd, alternating three rounds of each.  Writes
# bench/results/exec_roundtrip.txt.  Rerun: sudo bench/exec/run.sh [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER_ROUND=${1:-5}
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/pg.sh"
source "$ROOT/test/lib/node.sh"
node_use   # a node new enough for the SDK (the project-local one if needed)
(cd "$ROOT/test/conformance" && [ -d node_modules ] || npm ci --silent)

sandboxd_start --max-sandboxes 10
pg_start "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'"
cleanup() { pg_cleanup; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE EXTENSION sandbox"
ID=$(psql -X -At -d postgres -c "SELECT sandbox_create(timeout_s => 3600)")
script=$(mktemp)
echo "SELECT * FROM sandbox_exec('$ID', 'true');" >"$script"

pg_round() {
    pgbench -n -d postgres -c 1 -T "$SECONDS_PER_ROUND" -f "$script" 2>/dev/null |
        awk '/latency average/ {print $4} /number of transactions actually processed/ {split($0,a,": "); n=a[2]}' | head -1
}
sdk_round() {
    node "$ROOT/bench/exec/sdk_exec.mjs" "$SECONDS_PER_ROUND"
}

pgbench -n -d postgres -c 1 -t 50 -f "$script" >/dev/null 2>&1   # warm-up
pg_means=(); sdk_means=()
for round in 1 2 3; do
    pg_means+=("$(pg_round)")
    sdk_means+=("$(sdk_round | awk '{print $2}')")
    echo "round $round: sandbox_exec ${pg_means[-1]} ms, SDK commands.run ${sdk_means[-1]} ms"
done
psql -X -q -d postgres -c "SELECT sandbox_kill('$ID')" >/dev/null

out="$ROOT/bench/results/exec_roundtrip.txt"
python3 - "$out" "${pg_means[@]}" "${sdk_means[@]}" <<'PY'
import sys, statistics, platform, datetime
out = sys.argv[1]; v = [float(x) for x in sys.argv[2:]]
pg, sdk = v[:3], v[3:]
pm, sm = statistics.mean(pg), statistics.mean(sdk)
text = f"""sandbox_exec round trip vs the official E2B SDK, same sandboxd, one client each
date: {datetime.datetime.utcnow().isoformat(timespec='seconds')}Z   host: {platform.node()} ({platform.machine()})
rerun: sudo bench/exec/run.sh [SECONDS_PER_ROUND]

                                          round1    round2    round3      mean
SELECT * FROM sandbox_exec(id, 'true')  {pg[0]:8.3f}  {pg[1]:8.3f}  {pg[2]:8.3f}  {pm:8.3f} ms
SDK sbx.commands.run('true') (e2b 2.51)  {sdk[0]:8.3f}  {sdk[1]:8.3f}  {sdk[2]:8.3f}  {sm:8.3f} ms

ratio sandbox_exec / SDK: {pm/sm:.3f}
"""
open(out, "w").write(text)
print(text)
PY
