#!/usr/bin/env bash
# test/run-regress.sh: the pg_regress suite (sql/, expected/) the way a PGXS
# user runs it: `make installcheck` against a server of their own, with only
# the PG* variables set.  Assumes `make install` has been run.
#
# The "user's server" is a throwaway cluster configured like a production
# one: its own (unreachable) E2B URL and key in postgresql.conf, roles that
# existed before, among them `alice` (a name the suite used to create and
# drop) and `regress_alice`, each with a password and a comment as markers.
#   1. preloaded (worker running, serving the postgres database): the suite
#      passes, uses its own sandboxd and leaves no sandbox live (checked by
#      make installcheck itself), and every pre-existing role is intact and
#      none of the suite's roles is left;
#   2. the same without shared_preload_libraries;
#   3. with a role that the suite itself uses (regress_sandbox_bob) existing
#      beforehand: the suite must fail, and that role must be intact.
# Exit status 0 when all of that holds and no backend crashed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/pg.sh"

pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.e2b_api_key = 'e2b_0123456789012345678901234567890123456789'" \
         "sandbox.e2b_api_url = 'http://127.0.0.1:9'" \
         "sandbox.e2b_sandbox_url = 'http://127.0.0.1:9'"
trap pg_cleanup EXIT

status=0
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; status=1; }

# the roles a user already had
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE ROLE alice LOGIN PASSWORD 'alice-marker';
COMMENT ON ROLE alice IS 'pre-existing: not the suite''s';
CREATE ROLE regress_alice LOGIN PASSWORD 'regress-alice-marker';
COMMENT ON ROLE regress_alice IS 'pre-existing: not the suite''s';
SQL
roles_state() {
    psql -X -At -d postgres -c "
        SELECT string_agg(format('%s %s %s %s', a.rolname, a.oid, a.rolpassword,
                                 shobj_description(a.oid, 'pg_authid')), E'\n' ORDER BY a.rolname)
          FROM pg_authid a WHERE a.rolname !~ '^pg_'"
}
before=$(roles_state)

# make installcheck exactly as a user runs it: only the PG* variables
installcheck() {
    env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 \
        PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
        make -s -C "$ROOT" installcheck "$@"
}

run_suite() {   # $1: label
    local rc=0
    installcheck || rc=$?
    if [ $rc -eq 0 ]; then
        ok "$1: make installcheck passed (and left no sandbox live)"
    else
        not_ok "$1: make installcheck failed ($rc)"
        [ -f "$ROOT/regression.diffs" ] && cat "$ROOT/regression.diffs"
    fi
    after=$(roles_state)
    if [ "$after" = "$before" ]; then
        ok "$1: the roles are those that existed before, unchanged"
    else
        not_ok "$1: roles changed"
        diff <(echo "$before") <(echo "$after") || true
    fi
}

run_suite "preloaded"
preloaded=$(psql -X -At -d postgres -c "SHOW shared_preload_libraries")
[ "$preloaded" = "sandbox" ] || not_ok "the first run was not preloaded ($preloaded)"

pg_conf "shared_preload_libraries = ''"
pg_restart
run_suite "not preloaded"

# 3. a role the suite uses exists already: the suite stops and touches nothing
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE ROLE regress_sandbox_bob LOGIN PASSWORD 'bob-marker';
COMMENT ON ROLE regress_sandbox_bob IS 'pre-existing: not the suite''s';
SQL
before=$(roles_state)
rc=0
out=$(installcheck REGRESS="00_setup 06_privileges" 2>&1) || rc=$?
if [ $rc -ne 0 ] && grep -q "a role regress_sandbox_\* exists already" "$ROOT/regression.diffs" 2>/dev/null; then
    ok "a pre-existing regress_sandbox_bob makes the suite fail, saying why"
else
    not_ok "a pre-existing regress_sandbox_bob: make installcheck returned $rc"
    echo "$out"
fi
if echo "$out" | grep -q "no sandbox left"; then
    ok "and it left no sandbox live"
else
    not_ok "sandboxes left live"; echo "$out"
fi
after=$(roles_state)
if [ "$after" = "$before" ]; then
    ok "and every role, regress_sandbox_bob included, is unchanged"
else
    not_ok "roles changed"; diff <(echo "$before") <(echo "$after") || true
fi
rm -rf "$ROOT/results" "$ROOT/regression.diffs" "$ROOT/regression.out"

pg_check_no_crash || status=1
[ $status -eq 0 ] && echo "regress: all checks passed"
exit $status
