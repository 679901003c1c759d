# test/lib/sandboxd.sh - start and stop sandboxd for test scripts.
#
#   source test/lib/sandboxd.sh          (from any directory)
#   sandboxd_start [extra sandboxd flags...]
#   ... E2B_API_URL / E2B_SANDBOX_URL / E2B_API_KEY are exported ...
#   sandboxd_admin PUT /admin/faults '{"rules":[{"path":"/v2/sandboxes","error_rate":1}]}'
#   sandboxd_stop                        (also runs automatically at exit)
#
# sandboxd_start picks free loopback ports, a random e2b_ + 40-hex key and a
# temporary data directory, waits until sandboxd answers, and exports:
#   SANDBOXD_PID SANDBOXD_API_PORT SANDBOXD_SANDBOX_PORT SANDBOXD_API_KEY
#   SANDBOXD_DATA_DIR SANDBOXD_LOG E2B_API_KEY E2B_API_URL E2B_SANDBOX_URL
# Calling it again starts another instance (the variables then describe the
# newest); every instance started is stopped at exit.
#
# sandboxd runs as a background job of the calling shell: wait for your own
# jobs by pid (`wait "$pid"`), since a bare `wait` would wait for sandboxd.
# sandboxd_start installs an EXIT trap (sandboxd_stop_all) unless the shell
# already has one; a caller with its own EXIT trap must call
# sandboxd_stop_all from it.
#
# Environment: SANDBOXD_BIN (default <repo>/hosts/sandboxd/sandboxd, built with
# make if missing), SANDBOXD_START_TIMEOUT (seconds, default 15).

SANDBOXD_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANDBOXD_ALL_PIDS=""
SANDBOXD_ALL_DIRS=""

# Prints 40 random hex digits.
_sandboxd_hex40() {
    od -An -N20 -tx1 /dev/urandom | tr -d ' \n'
}

# Starts one sandboxd; extra arguments are passed to it.
sandboxd_start() {
    local bin="${SANDBOXD_BIN:-$SANDBOXD_REPO_ROOT/hosts/sandboxd/sandboxd}"
    if [ ! -x "$bin" ] || [ ! -x "$(dirname "$bin")/sandboxd-init" ]; then
        make -s -C "$SANDBOXD_REPO_ROOT/hosts/sandboxd" >&2 || return 1
    fi
    local dir key out
    dir="$(mktemp -d "${TMPDIR:-/tmp}/sandboxd-test.XXXXXX")" || return 1
    key="e2b_$(_sandboxd_hex40)"
    out="$dir/stdout"
    "$bin" --api-port 0 --sandbox-port 0 --bind 127.0.0.1 --api-key "$key" \
        --data-dir "$dir/data" "$@" >"$out" 2>"$dir/sandboxd.log" &
    local pid=$!
    SANDBOXD_ALL_PIDS="$SANDBOXD_ALL_PIDS $pid"
    SANDBOXD_ALL_DIRS="$SANDBOXD_ALL_DIRS $dir"
    local deadline=$(( $(date +%s) + ${SANDBOXD_START_TIMEOUT:-15} ))
    local line=""
    while [ "$(date +%s)" -le "$deadline" ]; do
        line="$(head -n1 "$out" 2>/dev/null)"
        [ -n "$line" ] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "sandboxd_start: sandboxd exited; log:" >&2
            cat "$dir/sandboxd.log" >&2
            return 1
        fi
        sleep 0.05
    done
    if [ -z "$line" ]; then
        echo "sandboxd_start: sandboxd did not report its ports in time" >&2
        return 1
    fi
    # line: "sandboxd: api 127.0.0.1:PORT sandbox 127.0.0.1:PORT"
    local api sbx
    api="$(echo "$line" | sed -n 's/.* api [0-9.]*:\([0-9]*\) .*/\1/p')"
    sbx="$(echo "$line" | sed -n 's/.* sandbox [0-9.]*:\([0-9]*\)$/\1/p')"
    export SANDBOXD_PID="$pid" SANDBOXD_API_PORT="$api" SANDBOXD_SANDBOX_PORT="$sbx"
    export SANDBOXD_API_KEY="$key" E2B_API_KEY="$key" SANDBOXD_DATA_DIR="$dir/data"
    export SANDBOXD_LOG="$dir/sandboxd.log"
    export E2B_API_URL="http://127.0.0.1:$api" E2B_SANDBOX_URL="http://127.0.0.1:$sbx"
    while [ "$(date +%s)" -le "$deadline" ]; do
        if curl -fsS -o /dev/null "$E2B_API_URL/health" 2>/dev/null; then
            # stop everything at exit, unless the caller has its own EXIT trap
            # (which should then call sandboxd_stop_all itself)
            [ -n "$(trap -p EXIT)" ] || trap sandboxd_stop_all EXIT
            return 0
        fi
        sleep 0.05
    done
    echo "sandboxd_start: sandboxd does not answer on $E2B_API_URL" >&2
    return 1
}

# Stops one sandboxd (default: the newest) with SIGTERM, SIGKILL after 10 s,
# and removes its temporary directory.
sandboxd_stop() {
    local pid="${1:-$SANDBOXD_PID}"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        local i
        for i in $(seq 1 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    SANDBOXD_ALL_PIDS="$(echo "$SANDBOXD_ALL_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')"
    return 0
}

# Stops every instance and removes their directories (EXIT trap).
sandboxd_stop_all() {
    local pid dir
    for pid in $SANDBOXD_ALL_PIDS; do
        sandboxd_stop "$pid"
    done
    for dir in $SANDBOXD_ALL_DIRS; do
        [ -n "${SANDBOXD_KEEP_LOGS:-}" ] || rm -rf "$dir"
    done
    SANDBOXD_ALL_DIRS=""
}

# sandboxd_admin METHOD PATH [JSON]: calls an admin (or any API) endpoint of
# the newest sandboxd with its key; prints the body; fails on HTTP >= 400.
sandboxd_admin() {
    local method="$1" path="$2" body="${3:-}"
    if [ -n "$body" ]; then
        curl -sS --fail-with-body -X "$method" -H "X-API-Key: $SANDBOXD_API_KEY" \
            -H 'Content-Type: application/json' --data-binary "$body" "$E2B_API_URL$path"
    else
        curl -sS --fail-with-body -X "$method" -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL$path"
    fi
}
