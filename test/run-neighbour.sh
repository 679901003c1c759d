#!/usr/bin/env bash
# test/run-neighbour.sh CMD [ARGS...]: runs CMD (e.g. test/run-faults.sh)
# beside a neighbouring cluster, and proves that CMD touched only what it
# started.  The neighbour is a cluster of its own with the extension
# preloaded, a running worker, its own sandboxd and modeld (test/lib), and
# a steady trickle of agent runs while CMD runs.  Afterwards its worker must
# be the same process (pid and start time, read through the neighbour
# cluster), its postmaster must not have restarted or logged a killed
# process, and every run it got must have completed on its first attempt,
# claimed by that worker, with no rescue, and no sandbox left.
#
#   test/run-neighbour.sh test/run-faults.sh
#
# CMD runs with the caller's environment (the neighbour's PG*, E2B_* and
# model variables are not passed on).  Exit status: CMD's when it failed,
# else 1 when the neighbour was disturbed, else 0.  Assumes `make install`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

# what the libraries below export, to be kept from CMD
NB_VARS="PGHOST PGPORT PGUSER PGDATABASE PGDATA_DIR PG_SERVER_LOG TEST_DB
 SANDBOXD_PID SANDBOXD_API_PORT SANDBOXD_SANDBOX_PORT SANDBOXD_API_KEY SANDBOXD_DATA_DIR SANDBOXD_LOG
 E2B_API_KEY E2B_API_URL E2B_SANDBOX_URL
 MODELD_PID MODELD_PORT MODELD_URL MODELD_API_KEY MODELD_LOG ANTHROPIC_BASE_URL OPENAI_BASE_URL"
declare -A NB_ORIG=()
for v in $NB_VARS; do [ -n "${!v+x}" ] && NB_ORIG[$v]=${!v}; done

source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

NB_DB=sandbox_neighbour
sandboxd_start --max-sandboxes 200
modeld_start
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$NB_DB'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 20" \
         "sandbox.lease_time = 10" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 120"
FEEDER_PID=""
cleanup() {
    [ -n "$FEEDER_PID" ] && kill "$FEEDER_PID" 2>/dev/null
    pg_cleanup; modeld_stop; sandboxd_stop_all
    return 0
}
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $NB_DB"
export PGDATABASE=$NB_DB
psql -X -q -c "CREATE EXTENSION sandbox"

status=0
q() { psql -X -At -q -c "$1"; }
notok() { echo "neighbour: not ok - $1"; status=1; }
worker() { q "SELECT pid || ' ' || started_at FROM sandbox_worker_status() WHERE pid IS NOT NULL ORDER BY worker LIMIT 1"; }

before=""
for _ in $(seq 1 100); do before=$(worker) && [ -n "$before" ] && break; sleep 0.1; done
[ -n "$before" ] || { echo "neighbour: its worker did not start" >&2; exit 1; }
NB_PID=${before%% *}
PM_PID=$(head -1 "$PGDATA_DIR/data/postmaster.pid")
echo "neighbour: cluster on 127.0.0.1:$PGPORT (postmaster $PM_PID), worker pid $NB_PID (started ${before#* })"

# a run every 0.5 s, each running a command for 1 s: the worker always has
# runs and sandboxes in flight while CMD runs
(
    i=0
    while :; do
        i=$((i + 1))
        psql -X -q -c "INSERT INTO agent_runs (prompt, metadata) VALUES (\$p\$Neighbour run $i.
\`\`\`bash
sleep 1; echo neighbour-$i
\`\`\`
\$p\$, '{\"batch\": \"neighbour\", \"i\": $i}')" >/dev/null 2>&1 || true
        sleep 0.5
    done
) &
FEEDER_PID=$!

echo "neighbour: running $*"
cmd_status=0
(
    for v in $NB_VARS; do
        if [ -n "${NB_ORIG[$v]+x}" ]; then export "$v=${NB_ORIG[$v]}"; else unset "$v"; fi
    done
    exec "$@"
) || cmd_status=$?

kill "$FEEDER_PID" 2>/dev/null; wait "$FEEDER_PID" 2>/dev/null || true; FEEDER_PID=""
for _ in $(seq 1 600); do
    [ "$(q "SELECT count(*) FROM agent_runs WHERE status IN ('pending', 'planning', 'executing')")" = 0 ] && break
    sleep 0.1
done

after=$(worker || true)
echo "neighbour: worker before: $before"
echo "neighbour: worker after:  $after"
[ "$after" = "$before" ] || notok "the neighbour's worker changed (killed or restarted) while $1 ran"
[ "$(head -1 "$PGDATA_DIR/data/postmaster.pid" 2>/dev/null)" = "$PM_PID" ] || notok "the neighbour's postmaster changed"
if grep -E "terminated by signal|was terminated by exception|PANIC|server process .* was terminated" "$PG_SERVER_LOG"; then
    notok "the neighbour's server log shows a killed process"
fi
total=$(q "SELECT count(*) FROM agent_runs")
good=$(q "SELECT count(*) FROM agent_runs r WHERE status = 'completed' AND attempts = 1
            AND result->>'text' LIKE '%neighbour-' || (metadata->>'i') || '%'
            AND NOT EXISTS (SELECT 1 FROM agent_run_events e WHERE e.run_id = r.id AND e.kind IN ('rescued', 'released'))
            AND (SELECT array_agg(DISTINCT e.data->>'worker_pid') FROM agent_run_events e
                  WHERE e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'planning') = ARRAY['$NB_PID']")
rescued=$(q "SELECT coalesce(sum(runs_rescued), 0) FROM sandbox_worker_status()")
echo "neighbour: $total runs while $1 ran; $good completed on their first attempt by worker $NB_PID" \
     "with their command's output; rescued: $rescued"
[ "$total" -ge 5 ] || notok "only $total runs: the neighbour was not exercised"
[ "$good" = "$total" ] || {
    notok "$((total - good)) runs were disturbed"
    q "SELECT '  ' || status || ' attempts ' || attempts || ' ' || coalesce(left(error, 120), '') FROM agent_runs r
        WHERE status <> 'completed' OR attempts <> 1 LIMIT 5"
}
[ "$rescued" = 0 ] || notok "the neighbour's worker rescued $rescued runs"
live=x
for _ in $(seq 1 50); do
    live=$(sandboxd_admin GET /admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')
    [ "$live" = 0 ] && break
    sleep 0.2
done
[ "$live" = 0 ] || notok "$live sandboxes still live in the neighbour's sandboxd"

if [ "$status" = 0 ]; then
    echo "neighbour: undisturbed (worker $NB_PID kept its pid and every run)"
fi
[ "$cmd_status" = 0 ] || exit "$cmd_status"
exit "$status"
