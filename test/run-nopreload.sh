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
# redirects: followed within one origin, refused across origins (the key
# travels in a header and must never reach another host)
portfile=$(mktemp)
python3 "$ROOT/test/lib/redirector.py" "$portfile" &
redir_pid=$!
for _ in $(seq 1 50); do [ -s "$portfile" ] && break; sleep 0.1; done
rport=$(cat "$portfile")
same=$(psql -X -At -d postgres -c "SET sandbox.e2b_api_url = 'http://127.0.0.1:$rport/same'" \
            -c "SELECT sandbox_create()" 2>&1 | tail -1)
check "a same-origin redirect is followed" "$same" "iredirected0000000001"
other=$(psql -X -At -d postgres -c "SET sandbox.e2b_api_url = 'http://127.0.0.1:$rport/other'" \
             -c "SELECT sandbox_create()" 2>&1 | grep -o "redirected to another origin" || true)
check "a redirect to another origin is refused" "$other" "redirected to another origin"
check "the key went only to the first origin's paths" \
      "$(curl -s "http://127.0.0.1:$rport/seen")" '["/same/sandboxes", "/final/sandboxes", "/other/sandboxes"]'
kill "$redir_pid" 2>/dev/null || true
rm -f "$portfile"

pg_check_no_crash || status=1
exit $status
