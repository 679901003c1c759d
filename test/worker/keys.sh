#!/usr/bin/env bash
# test/worker/keys.sh: the E2B key can come from the secret store
# (sandbox.e2b_api_key = 'secret:NAME', a superuser's secret): backends and
# the worker use it, a secret owned by another role is not taken for a key,
# and the value never reaches the server log.  Run by test/run-worker.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/checks.sh"

status=0
as() { local role=$1; shift; psql -X -At -q -c "SET ROLE $role" -c "$1" 2>&1 || true; }
# set_secret ROLE NAME: the E2B key as a secret of ROLE, never as a literal in
# a logged statement (a psql variable, in a session that logs nothing)
set_secret() {
    printf '%s\n' "SET log_statement = 'none';" "SET ROLE $1;" \
        "SELECT sandbox_set_secret('$2', :'v');" |
        psql -X -q -v ON_ERROR_STOP=1 -v v="$SANDBOXD_API_KEY" -o /dev/null
}

q "DROP ROLE IF EXISTS regress_keys_a" >/dev/null
q "CREATE ROLE regress_keys_a" >/dev/null
q "SELECT sandbox_grant_usage('regress_keys_a')" >/dev/null
set_secret postgres KEYS_SU_E2B
set_secret regress_keys_a KEYS_USER_E2B

# a backend: a superuser's session names the secret instead of holding the key
out=$(psql -X -At -q -c "SET sandbox.e2b_api_key = 'secret:KEYS_SU_E2B'" \
           -c "SELECT stdout FROM sandbox_exec('echo via-secret')" 2>&1 || true)
check "a backend's call uses the key named by 'secret:NAME'" "$out" "via-secret"

# a secret a non-superuser owns is never taken for a key (no key, not its value)
out=$(psql -X -At -q -c "SET sandbox.e2b_api_key = 'secret:KEYS_USER_E2B'" \
           -c "SELECT stdout FROM sandbox_exec('echo no')" 2>&1 || true)
case "$out" in *"no E2B API key is configured"*) ok "a role's own secret is not taken for the E2B key";;
    *) notok "a role's own secret is not taken for the E2B key: got '$out'";; esac

# the worker reads it in its database pass
q "ALTER SYSTEM SET sandbox.e2b_api_key = 'secret:KEYS_SU_E2B'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null; sleep 1
run=$(as regress_keys_a "INSERT INTO agent_runs (prompt) VALUES ('Run \`echo via-secret\`') RETURNING id")
check "the worker uses the key named by 'secret:NAME'" "$(wait_run "$run")" "completed"
if grep -qF "$SANDBOXD_API_KEY" "$PG_SERVER_LOG"; then
    notok "the key never appears in the server log: $(grep -F "$SANDBOXD_API_KEY" "$PG_SERVER_LOG" | sed "s/$SANDBOXD_API_KEY/<KEY>/g" | head -3)"
else
    ok "the key never appears in the server log"
fi
# (resetting to postgresql.conf, where this test cluster holds the key in
# clear, makes PostgreSQL log the value: see docs/configuration.md)
q "ALTER SYSTEM RESET sandbox.e2b_api_key" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null; sleep 0.5


q "SELECT sandbox_drop_secret('KEYS_SU_E2B'), sandbox_drop_secret('KEYS_USER_E2B')" >/dev/null
q "DELETE FROM agent_runs WHERE owner = 'regress_keys_a'::regrole" >/dev/null
q "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM regress_keys_a;
   REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM regress_keys_a;
   REVOKE ALL ON SCHEMA public FROM regress_keys_a" >/dev/null 2>&1 || true
q "DROP OWNED BY regress_keys_a; DROP ROLE regress_keys_a" >/dev/null
exit $status
