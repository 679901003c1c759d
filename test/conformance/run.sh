#!/usr/bin/env bash
# Conformance test: the official E2B SDKs (e2b 2.50.0 and 2.51.0,
# @e2b/code-interpreter 2.8.0) against sandboxd.
#
#   test/conformance/run.sh            (from any directory)
#
# Installs node_modules with `npm ci` when missing, starts two sandboxd
# instances (a normal one and one with --max-sandboxes 2), runs the node
# tests and exits non-zero on any failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/../lib/sandboxd.sh"
# a node new enough for the pinned SDKs (the project-local one if needed)
source "$HERE/../lib/node.sh"
node_use
echo "conformance: node $(node --version) ($(command -v node))"

if [ ! -d "$HERE/node_modules/e2b" ] || [ ! -d "$HERE/node_modules/e2b-250" ] ||
   [ ! -d "$HERE/node_modules/@e2b/code-interpreter" ]; then
    (cd "$HERE" && npm ci --no-audit --no-fund)
fi

make -s -C "$SANDBOXD_REPO_ROOT/hosts/sandboxd"

sandboxd_start --max-sandboxes 2
export LIMIT_API_URL="$E2B_API_URL" LIMIT_SANDBOX_URL="$E2B_SANDBOX_URL" LIMIT_API_KEY="$E2B_API_KEY" LIMIT_MAX=2

sandboxd_start --max-sandboxes 50 ${SANDBOXD_EXTRA_FLAGS:-}
echo "conformance: sandboxd at $E2B_API_URL (sandbox port $E2B_SANDBOX_URL), limit instance at $LIMIT_API_URL"

cd "$HERE"
status=0
node --test --test-concurrency=1 --test-force-exit conformance.test.mjs || status=$?
if [ "$status" -ne 0 ]; then
    echo "conformance: FAILED; sandboxd log: $SANDBOXD_LOG" >&2
    tail -n 40 "$SANDBOXD_LOG" >&2 || true
fi
exit "$status"
