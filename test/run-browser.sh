#!/usr/bin/env bash
# test/run-browser.sh: the live terminal example (examples/live-terminal,
# issue 12) in headless Chromium, end to end.
#
# Servers, each on a free 127.0.0.1 port and stopped at exit: sandboxd,
# modeld (the scripted model: the prompt's ```bash block is its run_command
# call), a cluster with the extension preloaded whose worker serves the test
# database, and the example's server.js.  Two login roles with passwords
# (scram-sha-256 in pg_hba.conf for them, so a wrong password is refused),
# each granted sandbox_grant_usage.  examples/live-terminal/test/
# browser.test.mjs then drives Debian's chromium through puppeteer-core:
# role A signs in, A's run (approval '{commands}') of a command printing one
# line a second for 5 s waits for approval in the page, role B sees none of
# it and cannot approve it, A clicks approve, "line 1" shows in the page's
# terminal before the command ends (before its tool_result exists, seconds
# before "line 5"), and the run is shown completed; a call A rejects never
# runs; B's own run, started from B's page, stays B's.
#
# Installs what it needs when missing: Debian's chromium (apt-get, as root),
# a new enough node (test/lib/node.sh: puppeteer-core 25 wants >= 22.12), the
# example's npm packages (npm ci, pinned by its package-lock.json).
# Output: "ok - " / "not ok - " lines; exit status 1 when any check failed.
# Assumes `make install`.  Environment: KEEP_TMP=1, WAIT_S (how long a run
# may take to reach a state, default 120), CHROMIUM (default
# /usr/bin/chromium).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP=$ROOT/examples/live-terminal
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# --- what the test needs ---------------------------------------------------------
if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && [ "$CHROMIUM" = /usr/bin/chromium ]; then
        echo "# installing Debian's chromium"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
    [ -x "$CHROMIUM" ] || { echo "not ok - $CHROMIUM not found (Debian package: chromium; scripts/install-deps.sh installs it)"; exit 1; }
fi
# the node the example's pinned packages need (its lock file alone decides)
NODE_LOCKS="$APP/package-lock.json"
source "$ROOT/test/lib/node.sh"
if ! node_use 2>/dev/null; then
    node_ensure >&2 || { echo "not ok - no node new enough for $APP/package-lock.json"; exit 1; }
    node_use || { echo "not ok - no node new enough for $APP/package-lock.json"; exit 1; }
fi
if [ ! -f "$APP/node_modules/.package-lock.json" ] || [ "$APP/package-lock.json" -nt "$APP/node_modules/.package-lock.json" ] ||
   [ ! -d "$APP/node_modules/pg" ] || [ ! -d "$APP/node_modules/puppeteer-core" ]; then
    (cd "$APP" && npm ci --no-audit --no-fund --loglevel=error) || { echo "not ok - npm ci in $APP"; exit 1; }
fi
echo "# node $(node --version) ($(command -v node)), $("$CHROMIUM" --version 2>/dev/null | head -1)"

source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

# --- servers ------------------------------------------------------------------------
sandboxd_start --max-sandboxes 20 || exit 1
modeld_start || exit 1
export TEST_DB=sandbox_browser
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_provider = 'anthropic'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.llm_api_key = 'test-llm-key'" \
         "sandbox.run_timeout = 300" || exit 1
APP_PID=""
APP_DIR=$(mktemp -d /tmp/live-terminal.XXXXXX)
cleanup() {
    if [ -n "$APP_PID" ]; then kill "$APP_PID" 2>/dev/null; wait "$APP_PID" 2>/dev/null; fi
    pg_cleanup; modeld_stop; sandboxd_stop_all
    [ -z "${KEEP_TMP:-}" ] && rm -rf "$APP_DIR"
    return 0
}
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB" || exit 1
export PGDATABASE=$TEST_DB

# two roles with passwords (random; given to psql through variables, not in
# the SQL text); PostgreSQL checks them: scram-sha-256 for these roles over TCP
PASS_A="a-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
PASS_B="b-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
psql -X -q -v ON_ERROR_STOP=1 -v pa="$PASS_A" -v pb="$PASS_B" >/dev/null <<'SQL' || exit 1
CREATE EXTENSION sandbox;
CREATE ROLE lt_a LOGIN PASSWORD :'pa';
CREATE ROLE lt_b LOGIN PASSWORD :'pb';
SELECT sandbox_grant_usage('lt_a'), sandbox_grant_usage('lt_b');
SQL
sed -i '1i host all lt_a,lt_b 127.0.0.1/32 scram-sha-256' "$PGDATA_DIR/data/pg_hba.conf"
pg_reload
sleep 0.5

# the example's server, as its README starts it (PG* from the environment)
APP_PORT=$(pg__free_port)
PORT=$APP_PORT node "$APP/server.js" >"$APP_DIR/server.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$APP_DIR/server.log" 2>/dev/null && break
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.05
done
grep -q "listening on" "$APP_DIR/server.log" || { echo "not ok - server.js did not start:"; cat "$APP_DIR/server.log"; exit 1; }
echo "# server.js on http://127.0.0.1:$APP_PORT (pid $APP_PID)"

# --- the browser -----------------------------------------------------------------
status=0
APP_URL="http://127.0.0.1:$APP_PORT" ROLE_A=lt_a PASS_A="$PASS_A" ROLE_B=lt_b PASS_B="$PASS_B" \
    timeout -k 10 900 node "$APP/test/browser.test.mjs" || status=1

if kill -0 "$APP_PID" 2>/dev/null; then
    echo "ok - server.js still runs"
else
    echo "not ok - server.js exited:"; sed 's/^/#   /' "$APP_DIR/server.log"; status=1
fi
if pg_check_no_crash; then echo "ok - no backend crashed"; else echo "not ok - a backend crashed"; status=1; fi
if [ "$status" != 0 ]; then
    echo "# server.js log:"; sed 's/^/#   /' "$APP_DIR/server.log" | tail -n 40
    echo "# the worker's log lines (server log):"
    grep -E "sandbox|ERROR|WARNING" "$PG_SERVER_LOG" | tail -n 40 | sed 's/^/#   /'
fi
exit "$status"
