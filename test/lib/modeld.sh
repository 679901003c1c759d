# test/lib/modeld.sh: start and stop the scripted model server for tests.
#
#   source test/lib/modeld.sh          (from any directory)
#   modeld_start [modeld flags...]     # exports MODELD_PID MODELD_PORT MODELD_URL
#                                      #   ANTHROPIC_BASE_URL OPENAI_BASE_URL MODELD_API_KEY
#   modeld_admin METHOD PATH [JSON]    # e.g. modeld_admin PUT /admin/faults '{"rules":[]}'
#   modeld_stop
#
# modeld listens on 127.0.0.1 on a free port (--port 0; the port is read from
# its "modeld: listening on ..." line).  MODELD_API_KEY is the --api-key given
# (if any), else "modeld-any-key" (modeld then accepts any key).  The binary is
# $MODELD_BIN, default <repo>/hosts/modeld/modeld, built with make if missing.
# modeld's stderr goes to $MODELD_LOG (a temp file unless set; a temp file
# is removed by modeld_stop unless MODELD_KEEP_LOG is set).  The caller stops
# modeld, typically with `trap modeld_stop EXIT`.

MODELD__ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

modeld_start() {
    local bin=${MODELD_BIN:-$MODELD__ROOT/hosts/modeld/modeld}
    if [ ! -x "$bin" ]; then
        make -s -C "$MODELD__ROOT/hosts/modeld" >&2 || return 1
    fi
    local key="" prev=""
    for a in "$@"; do
        [ "$prev" = "--api-key" ] && key=$a
        case $a in --api-key=*) key=${a#--api-key=} ;; esac
        prev=$a
    done
    MODELD__OUT=$(mktemp /tmp/modeld-out.XXXXXX)
    if [ -z "${MODELD_LOG:-}" ]; then
        MODELD_LOG=$(mktemp /tmp/modeld-log.XXXXXX)
        MODELD__OWN_LOG=$MODELD_LOG
    fi
    export MODELD_LOG
    "$bin" --port 0 "$@" >"$MODELD__OUT" 2>>"$MODELD_LOG" &
    MODELD_PID=$!
    local i line=""
    for i in $(seq 1 100); do
        line=$(grep -m1 '^modeld: listening on ' "$MODELD__OUT" 2>/dev/null || true)
        [ -n "$line" ] && break
        if ! kill -0 "$MODELD_PID" 2>/dev/null; then
            echo "modeld_start: modeld exited; log:" >&2
            cat "$MODELD_LOG" >&2
            return 1
        fi
        sleep 0.05
    done
    if [ -z "$line" ]; then
        echo "modeld_start: modeld did not report its port" >&2
        kill "$MODELD_PID" 2>/dev/null
        return 1
    fi
    MODELD_PORT=${line##*:}
    MODELD_URL="http://127.0.0.1:$MODELD_PORT"
    MODELD_API_KEY=${key:-modeld-any-key}
    ANTHROPIC_BASE_URL=$MODELD_URL
    OPENAI_BASE_URL=$MODELD_URL/v1
    export MODELD_PID MODELD_PORT MODELD_URL MODELD_API_KEY ANTHROPIC_BASE_URL OPENAI_BASE_URL
}

# modeld_admin METHOD PATH [JSON]: calls an admin route, prints the body,
# fails on an HTTP status >= 400.
modeld_admin() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS --fail-with-body -X "$method" -H "Authorization: Bearer $MODELD_API_KEY")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "$MODELD_URL$path"
}

modeld_stop() {
    [ -n "${MODELD_PID:-}" ] || return 0
    kill "$MODELD_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        kill -0 "$MODELD_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$MODELD_PID" 2>/dev/null || true
    wait "$MODELD_PID" 2>/dev/null || true
    rm -f "${MODELD__OUT:-}"
    if [ -n "${MODELD__OWN_LOG:-}" ] && [ -z "${MODELD_KEEP_LOG:-}" ]; then
        rm -f "$MODELD__OWN_LOG"
        [ "${MODELD_LOG:-}" = "$MODELD__OWN_LOG" ] && unset MODELD_LOG
        MODELD__OWN_LOG=
    fi
    MODELD_PID=
}
