#!/usr/bin/env bash
# test/modeld/run.sh: conformance test of modeld against the official
# Anthropic and OpenAI npm SDKs (versions pinned by package-lock.json).
# Builds modeld, installs the SDKs if needed (npm ci), starts its own modeld
# with an API key, runs modeld.test.mjs with node:test, stops modeld.
# Exit status: 0 when every test passed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

make -s -C "$ROOT/hosts/modeld"

# a node new enough for the pinned SDKs (openai 7.57.0 wants >= 22; the
# project-local one from scripts/install-deps.sh when the system's is older)
source "$ROOT/test/lib/node.sh"
node_use
echo "modeld SDK tests: node $(node --version) ($(command -v node))"

cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ ! -d node_modules/@anthropic-ai/sdk ] || [ ! -d node_modules/openai ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi

# shellcheck source=../lib/modeld.sh
source "$ROOT/test/lib/modeld.sh"
trap modeld_stop EXIT
modeld_start --api-key "modeld-test-key-$$" ${MODELD_FLAGS:-}

status=0
timeout 120 node --test --test-concurrency=1 --test-reporter=spec modeld.test.mjs structured.test.mjs toolblocks.test.mjs continue.test.mjs || status=$?
if [ "$status" != 0 ]; then
    echo "modeld log ($MODELD_LOG):" >&2
    tail -n 50 "$MODELD_LOG" >&2 || true
fi
exit "$status"
