#!/usr/bin/env bash
# test/run-worker.sh: pgTAP tests (test/pgtap/*.sql) and shell tests
# (test/worker/*.sh) of the background worker, with sandboxd and the scripted
# model server running.  Assumes `make install` has been run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 200
modeld_start
export TEST_DB=sandbox_test
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 100" \
         "sandbox.lease_time = 10" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_provider = 'anthropic'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.llm_api_key = 'test-llm-key'" \
         "sandbox.run_timeout = 120"
# (the libraries above install their own EXIT traps: ours replaces them)
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
psql -X -q -d "$TEST_DB" -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION sandbox" \
     -f "$ROOT/test/pgtap/helpers.psql"
export PGDATABASE=$TEST_DB

# WORKER_ONLY=NAME runs only test/worker/NAME.sh (no pgTAP), for debugging
status=0
[ -n "${WORKER_ONLY:-}" ] || pg_prove -v --ext .sql "$ROOT"/test/pgtap/[0-9]*.sql || status=1
for t in "$ROOT"/test/worker/*.sh; do
    [ -e "$t" ] || continue
    [ -z "${WORKER_ONLY:-}" ] || [ "$(basename "$t" .sh)" = "$WORKER_ONLY" ] || continue
    echo "--- $(basename "$t")"
    if ! bash "$t"; then
        echo "FAILED: $(basename "$t")"
        status=1
    fi
done

pg_check_no_crash || status=1
# the worker never deadlocks with DROP EXTENSION or a user's lock
if grep -q "deadlock detected" "$PG_SERVER_LOG"; then
    echo "not ok - the server log reports a deadlock"
    status=1
fi
if [ $status != 0 ]; then
    echo "--- server log (errors and worker lines)"
    grep -E "ERROR|WARNING|FATAL|sandbox worker" "$PG_SERVER_LOG" | tail -40
fi
# every sandbox the runs created is gone
for i in $(seq 1 50); do
    live=$(sandboxd_admin GET /admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')
    [ "$live" = 0 ] && break
    sleep 0.2
done
if [ "$live" != 0 ]; then
    echo "worker tests: $live sandboxes still live in sandboxd" >&2
    status=1
fi
exit $status
