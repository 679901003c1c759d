#!/usr/bin/env bash
# scripts/install-deps.sh: install every tool that building, the demo and
# the test suites use, on a fresh Debian 12 machine.  Debian packages come
# from Debian's archive (installing them needs root: run as root, or with
# sudo as another user).  Node.js: the pinned npm SDKs of the suites need a
# newer node than Debian 12's 18; when the system's node is missing or too
# old, a new enough one is installed from the npm registry into
# <repo>/.tools/node (see test/lib/node.sh), leaving the system's node as it
# is.  The suites' own npm packages are installed by the suites (npm ci,
# pinned by package-lock.json).  Debian's chromium is for the browser suite
# (test/run-browser.sh drives it headless with puppeteer-core).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES=(
    build-essential pkg-config curl ca-certificates python3 procps util-linux
    postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap
    libtap-parser-sourcehandler-pgtap-perl      # pg_prove (only a Recommends of pgtap)
    libcurl4-openssl-dev
    libmicrohttpd-dev libjansson-dev bubblewrap
    git                                         # the workspace suite's git server and repo runs
    chromium                                    # the browser suite (examples/live-terminal, headless)
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm: Debian's, unless some node/npm is already there (a
# newer one is provided below when it is too old)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps: missing Debian packages: ${missing[*]}" >&2
        echo "install-deps: run as root, e.g. sudo $0" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    hash -r
fi
echo "install-deps: all Debian packages present"

# the node every pinned lock file needs: the suites' SDKs and the live
# terminal example (its test's puppeteer-core wants >= 22.12)
NODE_LOCKS="$ROOT/test/conformance/package-lock.json $ROOT/test/modeld/package-lock.json $ROOT/examples/live-terminal/package-lock.json"
source "$ROOT/test/lib/node.sh"
node_ensure
