#!/usr/bin/env bash
# scripts/test.sh: install what is needed, check that every tool is there in
# the version the suites need, build everything with -Wall -Wextra -Werror,
# install the extension, and run every test suite, several at a time.
# This is the README's test command and what CI runs (.ci/run).  Run as
# root on Debian 12 (PostgreSQL itself runs as the postgres user); as
# another user, with sudo.
#
#   ./scripts/test.sh                  # everything
#   ONLY=faults ./scripts/test.sh      # the suites whose line contains "faults"
#   JOBS=1 ./scripts/test.sh           # one suite at a time
#
# Each suite's output goes to log/test/<suite>.log; a failed suite's log
# (its last $FAIL_TAIL lines, default 80) is printed, and a summary with
# each suite's time ends the run.
#
# Environment: ONLY (filter), JOBS (suites at once, default 4), TIMING_JOBS
# (timing-sensitive suites at once, default 2), FAIL_TAIL, TEST_LOG_DIR,
# SKIP_BUILD=1 (use what is built and installed), CHECK_ONLY=1 (install
# and check the tools, then stop).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# --- the suites --------------------------------------------------------------
# One line each: "name|command [args]|flags".  Flags: "timing" (sensitive to
# CPU starvation: at most TIMING_JOBS of them run at once), "regressdir"
# (writes results/ and regression.diffs at the top level: one at a time),
# "optional" (skipped while its script does not exist).  Longest first: the
# scheduler starts them in this order.
# (test/run-installcheck.sh is not a suite of its own: it is the wrapper
# that `make installcheck` runs pg_regress through, exercised by
# test/run-regress.sh.)
SUITES=(
    "durable runs: resume, lost sandboxes, model outage|test/run-durable.sh|timing"
    "worker (pgTAP, LISTEN)|test/run-worker.sh|timing"
    "crashes and faults, beside a neighbour cluster|test/run-neighbour.sh test/run-faults.sh|timing"
    "sandboxd protocol tests|test/sandboxd/run.sh|"
    "three workers, one queue|test/run-multiworker.sh|timing"
    "fair claims and provider limits|test/run-fairness.sh|timing"
    "several databases, a launcher|test/run-multidb.sh|timing"
    "reaper and paused sandboxes|test/run-lifecycle.sh|timing"
    "workspace: repos, secrets, artifacts, budgets (issue 11)|test/run-workspace.sh|timing"
    "interactive runs: live output, approvals, threads, SQL tools (issue 12)|test/run-interactive.sh|timing"
    "live terminal in headless Chromium (issue 12)|test/run-browser.sh|timing"
    "security|test/security/run.sh|optional"
    "Supabase-like cluster|test/run-supabase.sh|optional"
    "upgrade 1.0 -> 1.1|test/run-upgrade.sh|optional"
    "pg_regress (make installcheck)|test/run-regress.sh|regressdir"
    "gcc and clang builds|test/run-build.sh|optional"
    "E2B SDK conformance|test/conformance/run.sh|"
    "modeld SDK conformance|test/modeld/run.sh|"
    "without shared_preload_libraries|test/run-nopreload.sh|"
)
# Measured on 2 cores (12 suites): one at a time 377 s; JOBS=3 TIMING_JOBS=2
# 191 s; JOBS=4 TIMING_JOBS=2 118-119 s; JOBS=4 TIMING_JOBS=3 109-136 s
# (as fast, with more timing risk).
JOBS=${JOBS:-4}
declare -A GROUP_LIMIT=([timing]=${TIMING_JOBS:-2} [regressdir]=1)
FAIL_TAIL=${FAIL_TAIL:-80}
LOG_DIR=${TEST_LOG_DIR:-$ROOT/log/test}

# --- what the suites need ----------------------------------------------------
"$ROOT/scripts/install-deps.sh"
source "$ROOT/test/lib/node.sh"

# preflight: every command the suites run, in the version they need; says
# what to install for each one that is missing
preflight() {
    local problems=() v pgbin
    have() { command -v "$1" >/dev/null 2>&1; }
    need() { have "$1" || problems+=("$1 not found (Debian package: $2)"); }
    if have pg_config; then
        v=$(pg_config --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
        [ "$v" = 15 ] || problems+=("pg_config reports PostgreSQL '$v', the suites need 15 (Debian package: postgresql-server-dev-15; put 15's pg_config first on PATH)")
        pgbin=$(pg_config --bindir)
        for c in initdb pg_ctl postgres; do
            [ -x "$pgbin/$c" ] || problems+=("$pgbin/$c not found (Debian package: postgresql-15)")
        done
        [ -f "$(pg_config --sharedir)/extension/pgtap.control" ] ||
            problems+=("the pgtap extension is not installed (Debian package: postgresql-15-pgtap)")
    else
        problems+=("pg_config not found (Debian package: postgresql-server-dev-15)")
    fi
    need psql postgresql-client-15
    need pg_prove libtap-parser-sourcehandler-pgtap-perl
    need bwrap bubblewrap
    need curl curl
    need python3 python3
    need gcc build-essential
    need cc build-essential
    need make build-essential
    need pkg-config pkg-config
    need runuser util-linux
    need ps procps
    need timeout coreutils
    need od coreutils
    if have pkg-config; then
        pkg-config --exists libcurl || problems+=("libcurl not found by pkg-config (Debian package: libcurl4-openssl-dev)")
        pkg-config --exists libmicrohttpd || problems+=("libmicrohttpd not found by pkg-config (Debian package: libmicrohttpd-dev)")
        pkg-config --exists jansson || problems+=("jansson not found by pkg-config (Debian package: libjansson-dev)")
    fi
    id postgres >/dev/null 2>&1 || problems+=("no postgres user (Debian package: postgresql-15)")
    if ! node_use 2>/tmp/test-node.$$; then
        problems+=("$(cat /tmp/test-node.$$)"
                   "the pinned npm packages need node: $(node_required | grep -E '>=2' | tr '\n' ';')")
    fi
    rm -f /tmp/test-node.$$
    # the browser suite: Debian's chromium, and a node for the example's
    # pinned puppeteer-core (>= 22.12)
    [ -x /usr/bin/chromium ] || problems+=("/usr/bin/chromium not found (Debian package: chromium)")
    if have node && ! NODE_LOCKS="$ROOT/examples/live-terminal/package-lock.json" node_check node 2>/tmp/test-node.$$; then
        problems+=("$(cat /tmp/test-node.$$) (examples/live-terminal/package-lock.json)")
    fi
    rm -f /tmp/test-node.$$
    if [ ${#problems[@]} -gt 0 ]; then
        echo "test.sh: missing or unsuitable tools (scripts/install-deps.sh installs them; run it as root):" >&2
        printf '  - %s\n' "${problems[@]}" >&2
        return 1
    fi
    echo "test.sh: tools present: PostgreSQL $(pg_config --version | cut -d' ' -f2), $(pg_prove --version 2>/dev/null | head -1)," \
         "node $(node --version) ($(command -v node)), npm $(npm --version 2>/dev/null), $(bwrap --version)," \
         "$(python3 --version), gcc $(gcc -dumpversion), $(/usr/bin/chromium --version 2>/dev/null | cut -d' ' -f1-2)"
}
preflight
[ -z "${CHECK_ONLY:-}" ] || exit 0

# --- build -------------------------------------------------------------------
if [ -z "${SKIP_BUILD:-}" ]; then
    make -s clean >/dev/null 2>&1 || true
    make -s -j2
    make -s -j2 tools
    make -s install >/dev/null
fi

# --- run the suites ----------------------------------------------------------
names=(); cmds=(); flags=()
for s in "${SUITES[@]}"; do
    [ -z "${ONLY:-}" ] || [[ "$s" == *"$ONLY"* ]] || continue
    IFS='|' read -r n c f <<<"$s"
    names+=("$n"); cmds+=("$c"); flags+=("$f")
done
[ ${#names[@]} -gt 0 ] || { echo "test.sh: no suite matches ONLY='${ONLY:-}'" >&2; exit 1; }

rm -rf "$LOG_DIR"; mkdir -p "$LOG_DIR"
declare -A pid_of=() start_of=() result=() secs=() log_of=()
declare -A running_in=()
pending=()
for i in "${!names[@]}"; do
    log_of[$i]=$LOG_DIR/$(echo "${names[$i]}" | tr -c 'A-Za-z0-9.\n-' '_' | tr -s '_' | sed 's/_$//').log
    read -r script _ <<<"${cmds[$i]}"
    if [[ " ${flags[$i]} " == *" optional "* ]] && [ ! -e "$ROOT/$script" ]; then
        result[$i]=skipped; secs[$i]=0
        continue
    fi
    pending+=("$i")
done

# can_start I: the job and group limits allow suite I now
can_start() {
    local g
    for g in ${flags[$1]}; do
        [ -n "${GROUP_LIMIT[$g]:-}" ] || continue
        [ "${running_in[$g]:-0}" -lt "${GROUP_LIMIT[$g]}" ] || return 1
    done
}
start_suite() {
    local i=$1 g args
    read -ra args <<<"${cmds[$i]}"
    echo "--- start: ${names[$i]} (${cmds[$i]})"
    (cd "$ROOT" && exec "${args[@]}") >"${log_of[$i]}" 2>&1 </dev/null &
    pid_of[$!]=$i
    start_of[$i]=$(date +%s)
    for g in ${flags[$i]}; do running_in[$g]=$(( ${running_in[$g]:-0} + 1 )); done
}
finish_suite() {
    local pid=$1 rc=$2 i=${pid_of[$1]} g
    unset "pid_of[$pid]"
    secs[$i]=$(( $(date +%s) - ${start_of[$i]} ))
    for g in ${flags[$i]}; do running_in[$g]=$(( ${running_in[$g]} - 1 )); done
    if [ "$rc" = 0 ]; then
        result[$i]=ok
        echo "=== ${names[$i]}: ok (${secs[$i]} s)"
    else
        result[$i]=FAILED
        echo "=== ${names[$i]}: FAILED, exit $rc (${secs[$i]} s); last $FAIL_TAIL lines of ${log_of[$i]}:"
        tail -n "$FAIL_TAIL" "${log_of[$i]}" | sed 's/^/    | /'
    fi
}
stop_running() {
    local p
    for p in "${!pid_of[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'echo "test.sh: interrupted; stopping the suites it started"; stop_running; exit 130' INT TERM

t_all=$(date +%s)
echo "test.sh: ${#pending[@]} suites, up to $JOBS at once (timing-sensitive: ${GROUP_LIMIT[timing]}); logs in $LOG_DIR"
while [ ${#pending[@]} -gt 0 ] || [ ${#pid_of[@]} -gt 0 ]; do
    # start what the limits allow, in the list's order
    while [ ${#pid_of[@]} -lt "$JOBS" ] && [ ${#pending[@]} -gt 0 ]; do
        picked=""
        for k in "${!pending[@]}"; do
            if can_start "${pending[$k]}"; then picked=$k; break; fi
        done
        [ -n "$picked" ] || break
        start_suite "${pending[$picked]}"
        unset "pending[$picked]"; pending=("${pending[@]}")
    done
    rc=0; done_pid=""
    wait -n -p done_pid "${!pid_of[@]}" || rc=$?
    [ -n "$done_pid" ] && finish_suite "$done_pid" "$rc"
done
wall=$(( $(date +%s) - t_all ))

echo
echo "summary (wall time $wall s; logs in $LOG_DIR):"
failed=()
for i in "${!names[@]}"; do
    printf '  %-8s %5s s  %s\n' "${result[$i]}" "${secs[$i]}" "${names[$i]}"
    [ "${result[$i]}" = FAILED ] && failed+=("${names[$i]}")
done
if [ ${#failed[@]} -gt 0 ]; then
    out="FAILED: ${failed[0]}"
    for f in "${failed[@]:1}"; do out="$out; $f"; done
    echo "$out"
    exit 1
fi
echo "all test suites passed"
