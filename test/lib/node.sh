# test/lib/node.sh: the Node.js the npm-based suites and benches run with.
#
#   source test/lib/node.sh
#   node_use            # puts a new enough node first on PATH, or fails
#   node_ensure         # (scripts/install-deps.sh) installs it if needed
#   node_check [NODE]   # is NODE (default: `node` on PATH) new enough?
#   node_required       # prints what the lock files require
#
# "New enough" is read from the lock files (test/*/package-lock.json): the
# node version must satisfy the `engines.node` range of every package that
# is not optional (today openai 7.57.0 wants >= 22.0.0, e2b 2.51.0 wants
# >= 20.18.1 <21 || >= 22).  Debian 12's own nodejs is 18: when the
# system's node is missing or too old, node_ensure installs Node.js from the
# npm registry (the npm package `node`, $NODE_LOCAL_SPEC, whose install
# script fetches the `node-linux-<arch>` binary package) into
# $NODE_LOCAL_DIR (default <repo>/.tools/node, git-ignored).  The system's
# node is left as it is; node_use puts $NODE_LOCAL_DIR/bin first on PATH for
# the calling script only.  npm itself is the system's (Debian's npm
# package), which then runs under the new node.

NODE__ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODE_LOCAL_DIR=${NODE_LOCAL_DIR:-$NODE__ROOT/.tools/node}
NODE_LOCAL_SPEC=${NODE_LOCAL_SPEC:-node@22}
NODE_LOCKS=${NODE_LOCKS:-"$NODE__ROOT/test/conformance/package-lock.json $NODE__ROOT/test/modeld/package-lock.json"}

# node__engines MODE [VERSION]: MODE "check" exits 0 when VERSION satisfies
# every non-optional package's engines.node (and prints the unmet ones on
# stderr); MODE "show" prints the distinct requirements.
node__engines() {
    # shellcheck disable=SC2086
    python3 - "$@" $NODE_LOCKS <<'PY'
import json, os, re, sys

mode = sys.argv[1]
version = sys.argv[2] if mode == "check" else None
locks = [p for p in sys.argv[3 if mode == "check" else 2:] if os.path.exists(p)]

def parse(v):
    v = v.strip().lstrip("v=")
    parts = re.split(r"[.]", v.split("-")[0].split("+")[0])
    out = []
    for p in parts[:3]:
        out.append(None if p in ("x", "X", "*", "") else int(p))
    while len(out) < 3:
        out.append(None)
    return out

def bound(op, v):
    """comparators (op, (a, b, c)) for one range element"""
    a, b, c = parse(v)
    if a is None:
        return []
    full = (a, b or 0, c or 0)
    if op in ("", "="):
        if b is None:
            return [(">=", (a, 0, 0)), ("<", (a + 1, 0, 0))]
        if c is None:
            return [(">=", (a, b, 0)), ("<", (a, b + 1, 0))]
        return [("=", full)]
    if op == "^":
        if a > 0 or b is None:
            return [(">=", full), ("<", (a + 1, 0, 0))]
        if b > 0 or c is None:
            return [(">=", full), ("<", (0, b + 1, 0))]
        return [(">=", full), ("<", (0, 0, c + 1))]
    if op == "~":
        if b is None:
            return [(">=", full), ("<", (a + 1, 0, 0))]
        return [(">=", full), ("<", (a, b + 1, 0))]
    if op == "<=" and (b is None or c is None):
        return [("<", (a + 1, 0, 0) if b is None else (a, b + 1, 0))]
    if op == ">" and (b is None or c is None):
        return [(">=", (a + 1, 0, 0) if b is None else (a, b + 1, 0))]
    return [(op, full)]

def satisfies(ver, rng):
    ver = tuple(x or 0 for x in parse(ver))
    for alt in rng.split("||"):
        alt = alt.strip()
        if alt in ("", "*", "x"):
            return True
        m = re.match(r"^(\S+)\s+-\s+(\S+)$", alt)
        if m:
            comps = bound(">=", m.group(1)) + bound("<=", m.group(2))
        else:
            toks = re.findall(r"(<=|>=|<|>|=|\^|~)?\s*([0-9xX*][0-9A-Za-z.*+-]*)", alt)
            comps = []
            for op, v in toks:
                comps += bound(op, v)
        ok = True
        for op, b in comps:
            if not {"=": ver == b, ">=": ver >= b, ">": ver > b,
                    "<": ver < b, "<=": ver <= b}[op]:
                ok = False
        if ok:
            return True
    return False

reqs = {}
for lock in locks:
    pkgs = json.load(open(lock)).get("packages", {})
    for path, p in pkgs.items():
        rng = (p.get("engines") or {}).get("node") if isinstance(p.get("engines"), dict) else None
        if not path or not rng or p.get("optional") or p.get("devOptional"):
            continue
        name = path.split("node_modules/")[-1]
        reqs.setdefault(rng, []).append("%s@%s" % (name, p.get("version", "?")))

if mode == "show":
    for rng, who in sorted(reqs.items()):
        print("%s (%s%s)" % (rng, ", ".join(who[:2]), ", ..." if len(who) > 2 else ""))
    sys.exit(0)
bad = [(r, w) for r, w in reqs.items() if not satisfies(version, r)]
for r, w in bad:
    print("node %s does not satisfy %s (required by %s)" % (version, r, ", ".join(w)), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# node_required: prints the node ranges the pinned npm packages require.
node_required() { node__engines show; }

# node_check [NODE]: 0 when NODE (default `node` on PATH) runs and is new
# enough; the reasons otherwise on stderr.
node_check() {
    local bin=${1:-node} v
    v=$("$bin" --version 2>/dev/null) || { echo "$bin: not found or does not run" >&2; return 1; }
    node__engines check "${v#v}"
}

# node_use: the suites' node.  The system's when it is new enough, else the
# project-local one (first on PATH, exported); fails with what to run.
node_use() {
    if [ -x "$NODE_LOCAL_DIR/bin/node" ] && node_check "$NODE_LOCAL_DIR/bin/node" 2>/dev/null; then
        if ! command -v node >/dev/null || ! node_check node 2>/dev/null; then
            case ":$PATH:" in *":$NODE_LOCAL_DIR/bin:"*) ;; *) PATH="$NODE_LOCAL_DIR/bin:$PATH" ;; esac
            export PATH
        fi
    fi
    if ! command -v node >/dev/null; then
        echo "node_use: no node on PATH and none in $NODE_LOCAL_DIR; run scripts/install-deps.sh" >&2
        return 1
    fi
    if ! node_check node; then
        echo "node_use: $(command -v node) $(node --version) is too old; run scripts/install-deps.sh" \
             "(it installs $NODE_LOCAL_SPEC into $NODE_LOCAL_DIR)" >&2
        return 1
    fi
    if ! command -v npm >/dev/null; then
        echo "node_use: npm not found; run scripts/install-deps.sh (Debian package npm)" >&2
        return 1
    fi
}

# node__arch: the node-linux-<arch> package suffix of this machine.
node__arch() {
    case $(uname -m) in
        x86_64) echo x64 ;;
        aarch64|arm64) echo arm64 ;;
        armv7l) echo armv7l ;;
        ppc64le) echo ppc64le ;;
        s390x) echo s390x ;;
        *) uname -m ;;
    esac
}

# node_install_local: installs $NODE_LOCAL_SPEC from the npm registry into
# $NODE_LOCAL_DIR with the system's npm, and links $NODE_LOCAL_DIR/bin/node.
node_install_local() {
    local dir=$NODE_LOCAL_DIR bin ver
    command -v npm >/dev/null || { echo "node_install_local: npm is needed" >&2; return 1; }
    mkdir -p "$dir/bin"
    echo "install-deps: installing $NODE_LOCAL_SPEC from the npm registry into $dir"
    # the package's install script fetches node-linux-<arch> (the binary)
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --ignore-scripts=false \
        --prefix "$dir" "$NODE_LOCAL_SPEC") || return 1
    bin=$dir/node_modules/node/bin/node
    if ! "$bin" --version >/dev/null 2>&1; then
        # the install script did not run (npm configured without scripts):
        # take the same version's binary package directly
        ver=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
              "$dir/node_modules/node/package.json") || return 1
        echo "install-deps: the node package's install script did not run; installing node-linux-$(node__arch)@$ver"
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --prefix "$dir" \
            "node-linux-$(node__arch)@$ver") || return 1
        bin=$dir/node_modules/node-linux-$(node__arch)/bin/node
    fi
    ln -sfn "../${bin#"$dir"/}" "$dir/bin/node"
    "$dir/bin/node" --version >/dev/null || return 1
}

# node_ensure: a new enough node for the suites, installed when missing.
node_ensure() {
    if command -v node >/dev/null && node_check node 2>/dev/null; then
        echo "install-deps: node $(node --version) ($(command -v node)) satisfies the pinned npm packages"
        return 0
    fi
    if [ -x "$NODE_LOCAL_DIR/bin/node" ] && node_check "$NODE_LOCAL_DIR/bin/node" 2>/dev/null; then
        echo "install-deps: using the project-local node $("$NODE_LOCAL_DIR/bin/node" --version) ($NODE_LOCAL_DIR/bin/node)"
        return 0
    fi
    if command -v node >/dev/null; then
        echo "install-deps: the system's node $(node --version) is too old for the pinned npm packages:"
        node_check node 2>&1 | sed 's/^/  /' || true
    else
        echo "install-deps: no node on PATH"
    fi
    node_install_local || { echo "install-deps: could not install $NODE_LOCAL_SPEC into $NODE_LOCAL_DIR" >&2; return 1; }
    if ! node_check "$NODE_LOCAL_DIR/bin/node"; then
        echo "install-deps: $NODE_LOCAL_SPEC ($("$NODE_LOCAL_DIR/bin/node" --version)) is still too old;" \
             "set NODE_LOCAL_SPEC (e.g. node@24) and run again" >&2
        return 1
    fi
    echo "install-deps: project-local node $("$NODE_LOCAL_DIR/bin/node" --version) in $NODE_LOCAL_DIR/bin" \
         "(the system's node is unchanged; the suites put it first on PATH)"
}
