# test/lib/checks.sh: TAP-style helpers for the shell tests (test/worker/*.sh,
# and suites such as test/run-workspace.sh), sourced after `set -euo pipefail`
# (or `set -uo pipefail`).  They set
# `status=1` on a failure; the test exits with $status.
status=0

# q SQL: one statement through psql, unaligned, tuples only
q() { psql -X -At -q -c "$1"; }
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; status=1; }
# check NAME GOT WANT
check() { if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: got '$2', want '$3'"; fi; }
# check_re NAME GOT REGEX
check_re() { if [[ "$2" =~ $3 ]]; then ok "$1"; else notok "$1: got '${2:0:400}', want /$3/"; fi; }
# err_of USER SQL: "SQLSTATE: message" of the statement's error, or "no error"
err_of() {
    local out
    out=$(PGUSER=$1 psql -X -At -q -v VERBOSITY=verbose -c "$2" 2>&1 >/dev/null)
    if [ -z "$out" ]; then echo "no error"; return; fi
    echo "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): /\1: /p' | head -1
}
# expect_err NAME USER SQL CODE-REGEX: the statement fails with such a code
expect_err() {
    local e
    e=$(err_of "$2" "$3")
    if [[ "$e" =~ ^($4): ]]; then ok "$1 ($e)"; else notok "$1: got '${e:0:300}', want SQLSTATE /$4/"; fi
}
# ms_since T0: milliseconds since a `date +%s%N` reading
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# wait_run ID: waits (30 s at most) for a run to end; prints its status
wait_run() {
    local s=""
    for _ in $(seq 1 600); do
        s=$(q "SELECT status FROM agent_runs WHERE id = '$1'")
        case "$s" in completed|failed|cancelled) echo "$s"; return;; esac
        sleep 0.05
    done
    echo "timeout:$s"
}

# wait_status ID STATUS: waits (5 s at most) until a run has that status
wait_status() {
    for _ in $(seq 1 100); do
        [ "$(q "SELECT status FROM agent_runs WHERE id = '$1'")" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# wait_for_value SQL: polls (5 s at most) until the query answers something
# non-empty, and prints it (or nothing)
wait_for_value() {
    local v=""
    for _ in $(seq 1 100); do
        v=$(q "$1")
        [ -n "$v" ] && break
        sleep 0.05
    done
    echo "$v"
}

# worker_pids: pids of this cluster's sandbox workers (the cluster the PG*
# variables name), from its pg_stat_activity: works with and without the
# extension installed.  Never look processes up by name on the machine:
# another cluster's worker would match.
worker_pids() {
    q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sandbox worker' ORDER BY pid"
}

# worker_cpu_over SECONDS: CPU seconds this cluster's (first) worker uses
# meanwhile
worker_cpu_over() {
    local pid t0 t1
    pid=$(worker_pids | head -1)
    [ -n "$pid" ] || { echo "worker_cpu_over: no sandbox worker in this cluster" >&2; echo 999; return; }
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep "$1"
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    python3 -c "print(($t1 - $t0) / $(getconf CLK_TCK))"
}
