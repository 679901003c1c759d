#!/usr/bin/env bash
# test/run-nopreload.sh: the synchronous functions work without
# shared_preload_libraries, with the E2B key taken from the server's
# environment (E2B_API_KEY) instead of a setting.  Assumes `make install`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/pg.sh"
sandboxd_start
# pg_ctl passes its environment to the server: the key is only there
export E2B_API_KEY=$SANDBOXD_API_KEY
pg_start "sandbox.e2b_api_url = '$E2B_API_URL'" "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'"
unset E2B_API_KEY
cleanup() { pg_cleanup; sandboxd_stop_all; }
trap cleanup EXIT
status=0
check() {
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1: got '$2', want '$3'"; status=1; fi
}
psql -X -q -d postgres -c "CREATE EXTENSION sandbox"
check "not preloaded" "$(psql -X -At -d postgres -c "SHOW shared_preload_libraries")" ""
check "one-shot exec with the key from the environment" \
      "$(psql -X -At -d postgres -c "SELECT stdout FROM sandbox_exec('echo no-preload')")" "no-preload"
id=$(psql -X -At -d postgres -c "SELECT sandbox_create()")
check "exec in a sandbox" "$(psql -X -At -d postgres -c "SELECT exit_code FROM sandbox_exec('$id', 'exit 4')")" "4"
check "kill" "$(psql -X -At -d postgres -c "SELECT sandbox_kill('$id')")" "t"
check "no workers without preloading" "$(psql -X -At -d postgres -c "SELECT count(*) FROM sandbox_worker_status()")" "0"
# the key never shows up as a setting
check "the key is not a setting (library loaded)" \
      "$(psql -X -At -d postgres -c "SELECT count(*) FROM sandbox_worker_status()" \
              -c "SELECT current_setting('sandbox.e2b_api_key') = ''" | tail -1)" "t"
pg_check_no_crash || status=1
exit $status
