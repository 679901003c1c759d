#!/usr/bin/env bash
# test/run-installcheck.sh PG_REGRESS [ARGS...]: what `make installcheck`
# runs pg_regress through (the Makefile puts it in front of PGXS's
# pg_regress_installcheck command).
#
# The suite runs against the server that the PG* variables name, as usual
# for PGXS, with the extension installed there (`make install`), preloaded
# or not; the connecting role must be a superuser.  The suite's E2B is a
# sandboxd of its own: this script
#   - starts one on loopback ports with a random key, its sandboxes' hosts
#     under localhost:<sandbox port> (hosts/sandboxd, built
#     with `make sandboxd` when missing: needs pkg-config, libmicrohttpd-dev,
#     libjansson-dev),
#   - points the suite's sessions at it, and only them: PGOPTIONS carries
#     sandbox.e2b_api_url, sandbox.e2b_sandbox_url and sandbox.e2b_api_key
#     for every psql that pg_regress starts (the server's own configuration,
#     a real E2B key included, is neither used nor changed; the tests read
#     the URL and key back with current_setting() where they need sandboxd's
#     admin API),
#   - runs pg_regress, then fails when sandboxd still holds a live sandbox
#     (counters.sandboxes_live of /admin/stats), and stops it (which ends
#     whatever the suite left).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ $# -eq 0 ]; then
    echo "usage: $0 PG_REGRESS [ARGS...]   (run by 'make installcheck')" >&2
    exit 2
fi

if [ ! -x "$ROOT/hosts/sandboxd/sandboxd" ] || [ ! -x "$ROOT/hosts/sandboxd/sandboxd-init" ]; then
    echo "installcheck: building the local sandboxd (make sandboxd)" >&2
    if ! make -s -C "$ROOT" sandboxd >&2; then
        echo "installcheck: could not build hosts/sandboxd; it needs pkg-config," \
             "libmicrohttpd-dev and libjansson-dev (then: make tools)" >&2
        exit 1
    fi
fi

source "$ROOT/test/lib/sandboxd.sh"
trap sandboxd_stop_all EXIT
# --domain: sandbox_host() names a host sandboxd serves (as E2B's per-port
# hosts: http://<port>-<id>.localhost:<sandbox port>/, which curl resolves
# to loopback); --metrics-interval 1: sandbox_metrics() has samples soon.
sandboxd_start --max-sandboxes 50 --domain 'localhost:{sandbox_port}' --metrics-interval 1

# The suite's sessions (and only they) use this sandboxd.  Superuser-only
# settings are accepted in PGOPTIONS from a superuser, and are applied
# when the library loads if it is not preloaded.
export PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c sandbox.e2b_api_url=$E2B_API_URL -c sandbox.e2b_sandbox_url=$E2B_SANDBOX_URL -c sandbox.e2b_api_key=$SANDBOXD_API_KEY"
echo "installcheck: sandboxd on $E2B_API_URL (sandboxes on $E2B_SANDBOX_URL)"

status=0
"$@" || status=$?

stats=$(sandboxd_admin GET /admin/stats) || { echo "installcheck: sandboxd does not answer" >&2; exit 1; }
live=$(printf '%s' "$stats" | sed -n 's/.*"sandboxes_live":\([0-9]*\).*/\1/p')
created=$(printf '%s' "$stats" | sed -n 's/.*"sandboxes_created":\([0-9]*\).*/\1/p')
if [ "$live" != "0" ]; then
    echo "installcheck: FAILED: $live of the suite's $created sandboxes are still live" \
         "(stopping sandboxd ends them)" >&2
    status=1
else
    echo "installcheck: no sandbox left ($created created, all ended)"
fi
exit $status
