# test/lib/counter.sh - start and stop the counting server (test/lib/counter.py)
# for test scripts: every command a test run executes calls it with curl, so
# that every execution is counted, whichever attempt or sandbox ran it.
#
#   source test/lib/counter.sh           (from any directory)
#   counter_start                        # exports COUNTER_PID COUNTER_PORT COUNTER_URL
#   ... in a command: curl -fsS "$COUNTER_URL/hit/run-7-cmd2" ...
#   counter_get KEY                      # prints KEY's count (0 if never hit)
#   counter_counts                       # prints the JSON object of all counts
#   counter_reset                        # forgets all counts
#   counter_stop                         # (also runs automatically at exit)
#
# The server listens on 127.0.0.1 on a free port (sandboxd's sandboxes share
# the host's network, so a command inside one reaches it).  It runs as a
# background job of the calling shell: wait for your own jobs by pid, since
# a bare `wait` would wait for it.  counter_start installs an EXIT trap
# (counter_stop) unless the shell already has one; a caller with its own
# EXIT trap must call counter_stop from it.  counter_stop stops only the
# process counter_start started (by its pid), never one found by name.
#
# Environment: COUNTER_LOG (a file: each hit is appended as "<time> <key>
# <count>"), COUNTER_START_TIMEOUT (seconds, default 10).

COUNTER__ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COUNTER_PID=""

counter_start() {
    local out
    out="$(mktemp "${TMPDIR:-/tmp}/counter-out.XXXXXX")" || return 1
    COUNTER_LOG="${COUNTER_LOG:-}" python3 "$COUNTER__ROOT/test/lib/counter.py" 0 >"$out" 2>&1 &
    COUNTER_PID=$!
    local deadline=$(( $(date +%s) + ${COUNTER_START_TIMEOUT:-10} )) line=""
    while [ "$(date +%s)" -le "$deadline" ]; do
        line="$(grep -m1 '^counter: listening on ' "$out" 2>/dev/null || true)"
        [ -n "$line" ] && break
        if ! kill -0 "$COUNTER_PID" 2>/dev/null; then
            echo "counter_start: the counter exited:" >&2
            cat "$out" >&2
            rm -f "$out"; COUNTER_PID=""
            return 1
        fi
        sleep 0.05
    done
    rm -f "$out"
    if [ -z "$line" ]; then
        echo "counter_start: the counter did not report its port in time" >&2
        counter_stop
        return 1
    fi
    COUNTER_PORT="${line##*:}"
    COUNTER_URL="http://127.0.0.1:$COUNTER_PORT"
    export COUNTER_PID COUNTER_PORT COUNTER_URL
    if ! curl -fsS -o /dev/null "$COUNTER_URL/health"; then
        echo "counter_start: the counter does not answer on $COUNTER_URL" >&2
        counter_stop
        return 1
    fi
    [ -n "$(trap -p EXIT)" ] || trap counter_stop EXIT
}

# counter_get KEY: prints KEY's count (0 when never hit); fails when the
# counter does not answer
counter_get() {
    curl -fsS "$COUNTER_URL/count/$1" | tr -d '\n'
}

# counter_counts: the JSON object of all counts
counter_counts() {
    curl -fsS "$COUNTER_URL/counts"
}

# counter_reset: forgets all counts
counter_reset() {
    curl -fsS -o /dev/null -X DELETE "$COUNTER_URL/counts"
}

# counter_stop: SIGTERM to the counter this shell started, SIGKILL after 5 s
counter_stop() {
    local pid="${COUNTER_PID:-}"
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        local i
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    COUNTER_PID=""
    return 0
}
