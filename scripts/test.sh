#!/usr/bin/env bash
# scripts/test.sh: install what is needed, build everything with
# -Wall -Wextra -Werror, install the extension, and run every test suite.
# This is the README's test command and what CI runs.  Run as root on
# Debian 12 (PostgreSQL itself runs as the postgres user).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/install-deps.sh"
make -s clean >/dev/null 2>&1 || true
make -s -j2
make -s -j2 tools
make -s install >/dev/null

suites=(
    "sandboxd protocol tests:test/sandboxd/run.sh"
    "E2B SDK conformance:test/conformance/run.sh"
    "modeld SDK conformance:test/modeld/run.sh"
    "pg_regress:test/run-regress.sh"
    "without shared_preload_libraries:test/run-nopreload.sh"
    "worker (pgTAP, LISTEN):test/run-worker.sh"
    "three workers, one queue:test/run-multiworker.sh"
    "crashes and faults:test/run-faults.sh"
)
if [ -n "${ONLY:-}" ]; then
    filtered=()
    for s in "${suites[@]}"; do [[ "$s" == *"$ONLY"* ]] && filtered+=("$s"); done
    suites=("${filtered[@]}")
fi

failed=()
for s in "${suites[@]}"; do
    name=${s%%:*}; script=${s#*:}
    echo "=== $name ($script)"
    start=$(date +%s)
    if "$ROOT/$script"; then
        echo "=== $name: ok ($(( $(date +%s) - start )) s)"
    else
        echo "=== $name: FAILED ($(( $(date +%s) - start )) s)"
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all test suites passed"
