#!/usr/bin/env bash
# test/run-regress.sh: the pg_regress suite (sql/, expected/) against a
# throwaway cluster with the extension preloaded and a local sandboxd.
# Assumes `make install` has been run.  Exit status: 0 when every test passed
# and no backend crashed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 50
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.workers = 0" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'"
# (the libraries above install their own EXIT traps: ours replaces them)
cleanup() { pg_cleanup; sandboxd_stop_all; }
trap cleanup EXIT

cd "$ROOT"
status=0
make -s installcheck PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres || status=$?
if [ $status -ne 0 ] && [ -f regression.diffs ]; then
    cat regression.diffs
fi
pg_check_no_crash || status=1
# nothing left running in sandboxd
live=$(sandboxd_admin GET /admin/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')
if [ "$live" != "0" ]; then
    echo "regress: $live sandboxes still live in sandboxd after the suite" >&2
    status=1
fi
exit $status
