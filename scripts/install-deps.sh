#!/usr/bin/env bash
# scripts/install-deps.sh: install what building and testing need on a fresh
# Debian 12 machine (run as root).  Packages come from Debian's archive only;
# the test-only npm packages are installed by the suites themselves
# (npm ci, pinned by package-lock.json).
set -euo pipefail

PACKAGES=(
    build-essential pkg-config curl ca-certificates python3 procps
    postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
    libtap-parser-sourcehandler-pgtap-perl
    libcurl4-openssl-dev
    libmicrohttpd-dev libjansson-dev bubblewrap
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"
