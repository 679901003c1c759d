#!/usr/bin/env bash
# test/run-build.sh: the extension builds clean with gcc and with clang
# (`make CC=clang`): -Werror applies to our own warnings, never to
# PostgreSQL's gcc-chosen flags.  Each build runs from scratch in a
# temporary copy of what the extension's build reads (Makefile, src/,
# control and SQL files), so the checkout's own build is left alone.  A
# build fails the test when make fails or prints any warning.  Also checks
# META.json (PGXN meta spec 1.0.2): valid JSON, the required keys, semantic
# versions, and that it names the control file's default version and the
# script that installs it.
# Environment: COMPILERS (default "gcc clang").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

status=0
for cc in ${COMPILERS:-gcc clang}; do
    if ! command -v "$cc" >/dev/null; then
        echo "not ok - $cc: not installed"; status=1; continue
    fi
    dir="$WORK/$cc"
    mkdir -p "$dir"
    # what `make` reads for the extension (hosts/ is built by `make tools`)
    cp -r "$ROOT/Makefile" "$ROOT/src" "$ROOT"/sandbox.control "$ROOT"/sandbox--*.sql "$dir/"
    make -s -C "$dir" clean >/dev/null 2>&1 || true
    rc=0
    make -s -C "$dir" -j2 CC="$cc" >"$dir/build.log" 2>&1 || rc=$?
    warnings=$(grep -ciE "warning|error" "$dir/build.log" || true)
    if [ $rc -ne 0 ] || [ "$warnings" -ne 0 ] || [ ! -f "$dir/sandbox.so" ]; then
        echo "not ok - make CC=$cc (exit $rc, $warnings warning/error lines)"
        sed 's/^/    /' "$dir/build.log"
        status=1
    else
        echo "ok - make CC=$cc: sandbox.so built, no warning ($($cc --version | head -n1))"
    fi
done

# META.json
if python3 - "$ROOT" <<'PY'
import json, os, re, sys
root = sys.argv[1]
meta = json.load(open(os.path.join(root, "META.json")))
errors = []
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in meta:
        errors.append("missing " + key)
semver = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z-]+)?$")
if meta.get("meta-spec", {}).get("version") != "1.0.2":
    errors.append("meta-spec version is not 1.0.2")
if not semver.match(meta.get("version", "")):
    errors.append("version %r is not a semantic version" % meta.get("version"))
control = open(os.path.join(root, "sandbox.control")).read()
default = re.search(r"^default_version\s*=\s*'([^']+)'", control, re.M).group(1)
want = default + ".0" if default.count(".") == 1 else default
prov = meta.get("provides", {}).get("sandbox", {})
if meta.get("version") != want or prov.get("version") != want:
    errors.append("versions %s/%s, control says %s" % (meta.get("version"), prov.get("version"), want))
if prov.get("file") != "sandbox--%s.sql" % default:
    errors.append("provides.file %r is not sandbox--%s.sql" % (prov.get("file"), default))
for key in ("file", "docfile"):
    if key in prov and not os.path.isfile(os.path.join(root, prov[key])):
        errors.append("provides.%s %s does not exist" % (key, prov[key]))
if meta.get("release_status", "stable") not in ("stable", "testing", "unstable"):
    errors.append("bad release_status")
if errors:
    print("not ok - META.json: " + "; ".join(errors))
    sys.exit(1)
print("ok - META.json: PGXN meta spec 1.0.2, %s %s (license: %s)" % (meta["name"], meta["version"], meta["license"]))
PY
then :; else status=1; fi
exit $status
