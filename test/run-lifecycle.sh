#!/usr/bin/env bash
# test/run-lifecycle.sh: the worker's reaper keeps the `sandboxes` table true
# about paused sandboxes (what the pg_regress suite cannot show: its
# database has no worker).  A preloaded cluster whose worker serves the test
# database and reaps every second, with a sandboxd of its own:
#   1. a sandbox created with on_timeout => 'pause' and a 2 s timeout is
#      paused by sandboxd at its timeout; with no call made, its row
#      becomes 'paused' and the sandbox is not killed;
#   2. a paused row whose sandbox runs again (auto_resume: resumed by
#      traffic to its envd) becomes 'running';
#   3. a paused row whose sandbox is gone (killed behind the extension's
#      back) becomes 'expired';
#   4. a sandbox adopted with sandbox_connect() (no pgsandbox_db metadata,
#      never listed) keeps its 'running' row and is not killed;
#   5. a run's row (metadata pgsandbox_run only, as the worker writes it)
#      whose sandbox is gone becomes 'expired'; another database's adopted
#      sandbox keeps its row.
# Exit status 0 when all hold and no backend crashed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 20
export TEST_DB=sandbox_lifecycle
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.reaper_interval = 1" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'"
cleanup() { pg_cleanup; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
psql -X -q -d "$TEST_DB" -c "CREATE EXTENSION sandbox"
export PGDATABASE=$TEST_DB

status=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; status=1; }
q()      { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
api()    { curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $SANDBOXD_API_KEY" "$@"; }

# wait_state ID STATE [SECONDS]: until the row says STATE
wait_state() {
    local deadline=$(( $(date +%s) + ${3:-15} ))
    while [ "$(date +%s)" -le "$deadline" ]; do
        [ "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$1'")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

# 1. paused by E2B at its timeout: the reaper records it
paused=$(q "SELECT sandbox_create(timeout_s => 2, on_timeout => 'pause', auto_resume => true)")
if wait_state "$paused" paused; then
    ok "on_timeout 'pause': the reaper marks the row paused at the timeout"
else
    not_ok "on_timeout 'pause': the row says $(q "SELECT state FROM sandboxes WHERE sandbox_id = '$paused'")"
fi
sleep 2.5   # two more reaper passes: a paused sandbox the table knows is kept
code=$(api "$E2B_API_URL/sandboxes/$paused")
state=$(curl -s -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$paused" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
if [ "$code" = 200 ] && [ "$state" = paused ]; then
    ok "the reaper leaves a paused sandbox alone (E2B: $state)"
else
    not_ok "the paused sandbox: HTTP $code, state '$state'"
fi
[ -n "$(q "SELECT paused_at FROM sandboxes WHERE sandbox_id = '$paused'")" ] \
    && ok "paused_at is set" || not_ok "paused_at is not set"

# 2. resumed by traffic (auto_resume): the reaper records it running
token=$(q "SELECT access_token FROM sandbox_access WHERE sandbox_id = '$paused'")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $paused" -H "E2b-Sandbox-Port: 49983" \
       -H "X-Access-Token: $token" "$E2B_SANDBOX_URL/health")
if wait_state "$paused" running; then
    ok "resumed by traffic (envd answered $code): the reaper marks the row running"
else
    not_ok "resumed by traffic (envd answered $code): the row says $(q "SELECT state FROM sandboxes WHERE sandbox_id = '$paused'")"
fi

# 3. paused, then killed behind the extension's back: expired
gone=$(q "SELECT sandbox_create()")
q "SELECT sandbox_pause('$gone')" >/dev/null
code=$(api -X DELETE "$E2B_API_URL/sandboxes/$gone")
if wait_state "$gone" expired; then
    ok "a paused row whose sandbox is gone (DELETE: $code) becomes expired"
else
    not_ok "a paused row whose sandbox is gone: $(q "SELECT state FROM sandboxes WHERE sandbox_id = '$gone'")"
fi

# 4. adopted: never listed, never reaped, its row untouched
adopted=$(curl -s -X POST -H "X-API-Key: $SANDBOXD_API_KEY" -H 'Content-Type: application/json' \
          -d '{"templateID":"base","timeout":300,"secure":true}' "$E2B_API_URL/sandboxes" |
          sed -n 's/.*"sandboxID":"\([a-z0-9]*\)".*/\1/p')
q "SELECT sandbox_connect('$adopted')" >/dev/null
sleep 3
if [ "$(q "SELECT state FROM sandboxes WHERE sandbox_id = '$adopted'")" = running ] &&
   [ "$(api "$E2B_API_URL/sandboxes/$adopted")" = 200 ]; then
    ok "an adopted sandbox keeps its running row and lives on"
else
    not_ok "the adopted sandbox: row $(q "SELECT state FROM sandboxes WHERE sandbox_id = '$adopted'"), HTTP $(api "$E2B_API_URL/sandboxes/$adopted")"
fi

# 5. rows of sandboxes gone: a run's (metadata pgsandbox_run only, as the
#    worker writes it) becomes expired; an adopted one from another database
#    (never listed here) is left alone
q "INSERT INTO sandboxes (sandbox_id, owner, run_id, template, metadata, created_at)
   VALUES ('igonerun000000000000', 'postgres', '00000000-0000-0000-0000-000000000005', 'base',
           '{\"pgsandbox_run\": \"00000000-0000-0000-0000-000000000005\"}', now() - interval '1 minute'),
          ('iotherdb000000000000', 'postgres', NULL, 'base',
           '{\"pgsandbox_db\": \"1-1\"}', now() - interval '1 minute')"
if wait_state igonerun000000000000 expired; then
    ok "a run's row whose sandbox is gone becomes expired"
else
    not_ok "a run's row whose sandbox is gone: $(q "SELECT state FROM sandboxes WHERE sandbox_id = 'igonerun000000000000'")"
fi
[ "$(q "SELECT state FROM sandboxes WHERE sandbox_id = 'iotherdb000000000000'")" = running ] \
    && ok "another database's adopted sandbox keeps its row" \
    || not_ok "another database's adopted sandbox: $(q "SELECT state FROM sandboxes WHERE sandbox_id = 'iotherdb000000000000'")"
q "DELETE FROM sandboxes WHERE sandbox_id IN ('igonerun000000000000', 'iotherdb000000000000')"

q "SELECT count(sandbox_kill(sandbox_id)) FROM sandboxes WHERE state IN ('running', 'paused')" >/dev/null
pg_check_no_crash || status=1
[ $status -eq 0 ] && echo "lifecycle: all checks passed"
exit $status
