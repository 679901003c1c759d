#!/usr/bin/env bash
# bench/streaming/run.sh: live output (issue 12) under load: N runs at once
# in ONE worker, each running one command that prints a line every 100 ms
# for ~20 s (LINES = 200 lines), with live output ON (the defaults:
# sandbox.live_output_interval = 250 ms, sandbox.max_live_output_bytes =
# 4 MB) and OFF (sandbox.max_live_output_bytes = 0), side by side in the
# same script run.  Phases, in this order (PHASES selects some, then no
# results file is written):
#   smoke-on, smoke-off  SMOKE_N (100) runs; lines start at a barrier
#   main-on, main-off    N (1000) runs; lines start at a barrier
#   nice-on              as main-on, the worker reniced to -10
#   burst-on, burst-off  N runs, no barrier
# Barrier: every command first waits (bash builtins, no fork) until a common
# second, SMOKE_BARRIER_S (10) / BARRIER_S (5 + N * 35 / 1000) after the
# INSERT, so that all runs print at once and no sandbox is still starting:
# sandboxd starts each sandbox's init (bwrap) on its single I/O thread, and
# while 1000 of them start (~15-20 s here) it forwards no output of the
# commands already running (the burst phases show that).  Before each phase
# the cluster is restarted with the phase's setting (ALTER SYSTEM + restart:
# a fresh worker process, so its VmHWM is the phase's own).
#
# Each run's prompt has one ```bash block (modeld turns it into one
# run_command call, then a final answer):
#   mkfifo tick; exec 3<>tick; [wait for the barrier;] for i in $(seq 1 200);
#     do echo "run line $i $EPOCHREALTIME"; read -t 0.1 -u 3; done
# The line's timestamp ($EPOCHREALTIME, microseconds) and the 100 ms wait
# (read with a timeout on an empty FIFO) are bash builtins: `date +%s%N` and
# `sleep 0.1` would be 2 process starts per line, 20,000 a second for 1000
# runs, ~36 CPU-seconds a second on this 2-core machine (1.8 ms per
# fork+exec, measured), which would measure fork() rather than the worker.
#
# Per phase: wall time (INSERT to the last run finished); the streaming
# window (first .. last line printed by any run, from the timestamps in the
# tool_results' stdout) and the steady window (all runs printing);
# tool_output events and events/s in them; NOTIFY agent_run_events received
# by one LISTEN session (psql); the worker's CPU (utime + stime of the
# worker pid from sandbox_worker_status(), sampled every 0.2 s, interpolated
# at the window's ends) and its time waiting for a CPU (/proc/<pid>/schedstat
# run delay); its RSS (max VmRSS sampled, and VmHWM at the end); WAL bytes
# (pg_current_wal_lsn before the INSERT and after the last run);
# agent_run_events' growth (pg_total_relation_size); and the latency from a
# line being printed (its timestamp) to its tool_output row's `at`
# (clock_timestamp() at the row's INSERT), over every line of every
# tool_output event.  Checks: every run completed; ON: every run has >= 50
# tool_output events, none after its tool_result, their stdout holds lines
# 1..LINES exactly once in order; every run's tool_result has all lines;
# event `at` never goes back as seq grows, no seq gaps; every run's
# notifications come in increasing seq and the last one names the run's
# last event.
#
# Writes bench/results/streaming.txt (the interpretation below the table is
# written by hand).
# Rerun: sudo bench/streaming/run.sh      (N=1000 SMOKE_N=100 LINES=200; ~7 min)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${N:-1000}
SMOKE_N=${SMOKE_N:-100}
LINES=${LINES:-200}
MIN_EVENTS=${MIN_EVENTS:-50}
OUT=${OUT:-$ROOT/bench/results/streaming.txt}
MAXN=$(( N > SMOKE_N ? N : SMOKE_N ))
SLOTS=$(( MAXN > 1000 ? MAXN : 1000 ))
ulimit -n "$(ulimit -Hn)"
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"
TMP=$(mktemp -d /tmp/bench-streaming.XXXXXX)
sandboxd_start --max-sandboxes $((MAXN * 2)) --max-connections $((MAXN * 4))
modeld_start --max-connections $((MAXN * 4))
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'bench'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = $SLOTS" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.reaper_interval = 0" \
         "sandbox.command_timeout = '10min'" \
         "sandbox.run_timeout = 900"
cleanup() {
    touch "$TMP/stop"
    [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null
    [ -n "${LISTEN_PID:-}" ] && kill "$LISTEN_PID" 2>/dev/null
    pg_cleanup; modeld_stop; sandboxd_stop_all
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE bench"
export PGDATABASE=bench
psql -X -q -c "CREATE EXTENSION sandbox"
q() { psql -X -At -q -c "$1"; }
tck=$(getconf CLK_TCK)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_script=$(date +%s)

# prompt BARRIER_EPOCH: the command waits (without forking) until that
# second, then prints LINES lines 100 ms apart; 0 = no wait
prompt() {
    local wait=""
    [ "$1" != 0 ] && wait="while (( EPOCHSECONDS < $1 )); do read -t 0.05 -u 3; done; "
    printf '%s\n' "Print a line every 100 ms for a while." '```bash' \
        "mkfifo tick; exec 3<>tick || exit 1; ${wait}for i in \$(seq 1 $LINES); do echo \"run line \$i \$EPOCHREALTIME\"; read -t 0.1 -u 3; done; echo done" '```'
}

worker_pid() {
    local pid=""
    for _ in $(seq 1 200); do
        pid=$(q "SELECT pid FROM sandbox_worker_status() WHERE state = 'running'" 2>/dev/null || true)
        [ -n "$pid" ] && break
        sleep 0.1
    done
    echo "$pid"
}

# sampler PID FILE: "epoch_ns worker_ticks worker_rss_kb sandboxd_ticks
# worker_runqueue_wait_ns" every 0.2 s
sampler() {
    local pid=$1 f=$2
    while [ ! -e "$TMP/stop" ]; do
        echo "$(date +%s%N) $(awk '{print $14 + $15}' "/proc/$pid/stat") $(awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status") $(awk '{print $14 + $15}' "/proc/$SANDBOXD_PID/stat") $(awk '{print $2}' "/proc/$pid/schedstat")" >>"$f" 2>/dev/null || break
        sleep 0.2
    done
}

# phase NAME RUNS on|off BARRIER_S: one measured batch; writes $TMP/NAME.json
phase() {
    local name=$1 runs=$2 live=$3 barrier_s=$4 nice=${5:-0} pid
    echo "== phase $name: $runs runs, live output $live ($(date -u +%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    if [ "$live" = on ]; then q "ALTER SYSTEM RESET sandbox.max_live_output_bytes" >/dev/null
    else q "ALTER SYSTEM SET sandbox.max_live_output_bytes = 0" >/dev/null; fi
    pg_restart -m fast
    pid=$(worker_pid)
    [ -n "$pid" ] || { echo "no worker after the restart" >&2; exit 1; }
    [ "$nice" = 0 ] || renice -n "$nice" -p "$pid" >/dev/null
    local setting; setting=$(q "SHOW sandbox.max_live_output_bytes")
    rm -f "$TMP/stop" "$TMP/$name.samples" "$TMP/$name.listen"
    # one LISTEN session: a query every 0.1 s makes psql print what arrived
    { echo "LISTEN agent_run_events;"
      while [ ! -e "$TMP/stop" ]; do echo "SELECT 1;"; sleep 0.1; done
      echo "SELECT pg_sleep(0.5);"; } | psql -X -q -At >"$TMP/$name.listen" 2>&1 &
    LISTEN_PID=$!
    sampler "$pid" "$TMP/$name.samples" &
    SAMPLER_PID=$!
    sleep 0.5
    local load0 wal0 size0 t0 t1 wall_ms peak_flight=0 left flight hwm load1
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    wal0=$(q "SELECT pg_current_wal_lsn()")
    size0=$(q "SELECT pg_total_relation_size('agent_run_events')")
    t0=$(date +%s%N)
    local barrier=0
    [ "$barrier_s" != 0 ] && barrier=$(( t0 / 1000000000 + barrier_s ))
    psql -X -q -At -v p="$(prompt $barrier)" -v ph="$name" >/dev/null <<SQL
INSERT INTO agent_runs (prompt, metadata)
SELECT :'p', jsonb_build_object('phase', :'ph', 'i', i) FROM generate_series(1, $runs) i;
SQL
    while :; do
        read -r left flight <<<"$(q "SELECT count(*) FILTER (WHERE status NOT IN ('completed', 'failed', 'cancelled')),
                                          count(*) FILTER (WHERE status IN ('planning', 'executing'))
                                     FROM agent_runs WHERE metadata->>'phase' = '$name'" | tr '|' ' ')"
        [ "$flight" -gt "$peak_flight" ] && peak_flight=$flight
        [ "$left" = 0 ] && break
        if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -gt 600 ]; then
            echo "phase $name: $left runs unfinished after 600 s" >&2; break
        fi
        sleep 0.5
    done
    t1=$(date +%s%N)
    wall_ms=$(( (t1 - t0) / 1000000 ))
    sleep 1   # the last notifications reach the listener
    hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$pid/status")
    touch "$TMP/stop"
    wait "$SAMPLER_PID" 2>/dev/null || true
    wait "$LISTEN_PID" 2>/dev/null || true
    SAMPLER_PID=""; LISTEN_PID=""
    load1=$(cut -d' ' -f1-3 /proc/loadavg)
    local wal size ev
    wal=$(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')")
    size=$(( $(q "SELECT pg_total_relation_size('agent_run_events')") - size0 ))
    # everything measured in SQL, as one JSON object
    ev=$(psql -X -q -At -v ph="$name" -v lines="$LINES" -v minev="$MIN_EVENTS" -v barrier="$barrier" <<'SQL'
WITH r AS (SELECT * FROM agent_runs WHERE metadata->>'phase' = :'ph'),
e AS (SELECT e.* FROM agent_run_events e JOIN r ON r.id = e.run_id),
rl AS (SELECT e.run_id, (m[2])::numeric AS ts
         FROM e, regexp_matches(e.data->>'stdout', 'run line ([0-9]+) ([0-9]+\.[0-9]{6})', 'g') m
        WHERE e.kind = 'tool_result'),
rs AS (SELECT run_id, min(ts) AS f, max(ts) AS l FROM rl GROUP BY run_id),
w AS (SELECT to_timestamp(min(f)) AS s0, to_timestamp(max(l)) AS s1, to_timestamp(max(f)) AS q0, to_timestamp(min(l)) AS q1
        FROM rs),
per AS (SELECT r.id, r.status,
               count(*) FILTER (WHERE kind = 'tool_output') AS outs,
               min(seq) FILTER (WHERE kind = 'tool_result') AS res_seq,
               max(seq) FILTER (WHERE kind = 'tool_output') AS last_out,
               string_agg(data->>'stdout', '' ORDER BY seq) FILTER (WHERE kind = 'tool_output') AS live,
               min(data->>'stdout') FILTER (WHERE kind = 'tool_result') AS res_out,
               sum((data->>'dropped')::bigint) FILTER (WHERE kind = 'tool_output') AS dropped
          FROM r LEFT JOIN e ON e.run_id = r.id GROUP BY r.id, r.status),
want AS (SELECT string_agg(i::text, ',' ORDER BY i) AS s FROM generate_series(1, :lines) i),
lines AS (SELECT extract(epoch FROM e.at) - (m[2])::numeric AS lat
            FROM e, regexp_matches(e.data->>'stdout', 'run line ([0-9]+) ([0-9]+\.[0-9]{6})', 'g') m
           WHERE e.kind = 'tool_output'),
lat AS (SELECT count(*) AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY lat) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY lat) AS p95,
               max(lat) AS max FROM lines),
back AS (SELECT count(*) AS n FROM (SELECT at < lag(at) OVER (PARTITION BY run_id ORDER BY seq) AS b FROM e) x WHERE b),
gaps AS (SELECT count(*) AS n FROM (SELECT run_id, count(*) AS c, max(seq) AS m, min(seq) AS f FROM e GROUP BY run_id) x
          WHERE c <> m - f + 1)
SELECT jsonb_build_object(
  'runs', (SELECT count(*) FROM r),
  'completed', (SELECT count(*) FROM r WHERE status = 'completed'),
  'failed', (SELECT count(*) FROM r WHERE status = 'failed'),
  'later_attempt', (SELECT count(*) FROM r WHERE attempts > 1),
  'errors', (SELECT coalesce(string_agg(DISTINCT left(error, 160), ' | '), '') FROM r WHERE status <> 'completed'),
  'events', (SELECT count(*) FROM e),
  'tool_output', (SELECT count(*) FROM e WHERE kind = 'tool_output'),
  'tool_output_bytes', (SELECT coalesce(sum(octet_length(data::text)), 0) FROM e WHERE kind = 'tool_output'),
  'dropped', (SELECT coalesce(sum(dropped), 0) FROM per),
  'outs_min', (SELECT min(outs) FROM per), 'outs_avg', (SELECT round(avg(outs), 1) FROM per),
  'outs_max', (SELECT max(outs) FROM per),
  'runs_below_min', (SELECT count(*) FROM per WHERE outs < :minev),
  'out_after_result', (SELECT count(*) FROM per WHERE last_out > res_seq OR (outs > 0 AND res_seq IS NULL)),
  'live_lines_ok', (SELECT count(*) FROM per, want
                     WHERE (SELECT string_agg(m[1], ',') FROM regexp_matches(coalesce(live, ''), 'run line ([0-9]+) ', 'g') m) = want.s),
  'result_lines_ok', (SELECT count(*) FROM per, want
                     WHERE (SELECT string_agg(m[1], ',') FROM regexp_matches(coalesce(res_out, ''), 'run line ([0-9]+) ', 'g') m) = want.s),
  'at_backwards', (SELECT n FROM back), 'seq_gaps', (SELECT n FROM gaps),
  'last_seq', (SELECT jsonb_object_agg(r.id, r.last_seq) FROM r),
  'w_s0', (SELECT extract(epoch FROM s0) FROM w), 'w_s1', (SELECT extract(epoch FROM s1) FROM w),
  'w_q0', (SELECT extract(epoch FROM q0) FROM w), 'w_q1', (SELECT extract(epoch FROM q1) FROM w),
  'out_in_full', (SELECT count(*) FROM e, w WHERE kind = 'tool_output' AND at BETWEEN s0 AND s1),
  'out_in_steady', (SELECT count(*) FROM e, w WHERE kind = 'tool_output' AND at BETWEEN q0 AND q1),
  'ev_in_full', (SELECT count(*) FROM e, w WHERE at BETWEEN s0 AND s1),
  'lat_n', (SELECT n FROM lat), 'lat_p50', (SELECT round(p50::numeric, 3) FROM lat),
  'lat_p95', (SELECT round(p95::numeric, 3) FROM lat), 'lat_max', (SELECT round(max::numeric, 3) FROM lat),
  'cmd_p50', (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l - f)::numeric, 2) FROM rs),
  'cmd_max', (SELECT round(max(l - f), 2) FROM rs),
  'late', (SELECT CASE WHEN :barrier = 0 THEN NULL ELSE count(*) FILTER (WHERE f > :barrier + 1) END FROM rs),
  'first_spread', (SELECT round(max(f) - min(f), 2) FROM rs),
  'run_p50', (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::numeric, 2) FROM r),
  'run_max', (SELECT round(max(extract(epoch FROM completed_at - created_at))::numeric, 2) FROM r))
SQL
)
    echo "$ev" >"$TMP/$name.sql.json"
    python3 - "$TMP/$name.samples" "$TMP/$name.listen" "$TMP/$name.json" "$tck" "$TMP/$name.sql.json" <<PY
import json, re, sys
samples_f, listen_f, out_f, tck = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ev = json.load(open(sys.argv[5]))
S = []
for line in open(samples_f):
    p = line.split()
    if len(p) == 5:
        S.append((int(p[0]) / 1e9, int(p[1]) / tck, int(p[2]), int(p[3]) / tck, int(p[4]) / 1e9))
def at(t, k):
    # linear interpolation of column k at time t
    if not S: return None
    if t <= S[0][0]: return S[0][k]
    for a, b in zip(S, S[1:]):
        if a[0] <= t <= b[0]:
            return a[k] + (b[k] - a[k]) * (t - a[0]) / (b[0] - a[0]) if b[0] > a[0] else a[k]
    return S[-1][k]
def cpu(t0, t1, k=1):
    if t0 is None or t1 is None or t1 <= t0: return None
    return at(t1, k) - at(t0, k)
t_ins, t_end = $t0 / 1e9, $t1 / 1e9
ev.update(name="$name", live="$live", barrier_s=$barrier_s, nice=$nice, setting="$setting", n=$runs, pid=$pid, wall_s=$wall_ms / 1000,
          peak_flight=$peak_flight, wal=int($wal), size=int($size), hwm_kb=$hwm,
          load0="$load0", load1="$load1")
ev["rss_max_kb"] = max((s[2] for s in S), default=0)
ev["rss_start_kb"] = S[0][2] if S else 0
ev["cpu_all"] = cpu(t_ins, t_end)
ev["cpu_full"] = cpu(ev["w_s0"] and float(ev["w_s0"]), ev["w_s1"] and float(ev["w_s1"]))
ev["cpu_steady"] = cpu(ev["w_q0"] and float(ev["w_q0"]), ev["w_q1"] and float(ev["w_q1"]))
ev["wait_full"] = cpu(ev["w_s0"] and float(ev["w_s0"]), ev["w_s1"] and float(ev["w_s1"]), 4)
ev["sbx_full"] = cpu(ev["w_s0"] and float(ev["w_s0"]), ev["w_s1"] and float(ev["w_s1"]), 3)
# notifications: per run, seqs in the order received
seqs = {}
pat = re.compile(r'Asynchronous notification "agent_run_events" with payload "\{"id":"([0-9a-f-]+)","seq":([0-9]+)\}"')
for line in open(listen_f):
    m = pat.search(line)
    if m:
        seqs.setdefault(m.group(1), []).append(int(m.group(2)))
last = ev.pop("last_seq") or {}
ev["notifies"] = sum(len(v) for k, v in seqs.items() if k in last)
ev["notify_runs"] = sum(1 for k in seqs if k in last)
ev["notify_unordered"] = sum(1 for k, v in seqs.items() if k in last and any(b <= a for a, b in zip(v, v[1:])))
ev["notify_last_ok"] = sum(1 for k, v in seqs.items() if k in last and max(v) == last[k])
json.dump(ev, open(out_f, "w"))
PY
    echo "   done in $(python3 -c "print($wall_ms / 1000)") s: $(python3 -c "
import json; e = json.load(open('$TMP/$name.json'))
print(e['completed'], 'completed,', e['failed'], 'failed,', e['tool_output'], 'tool_output,', e['notifies'], 'notifications')")" >&2
}

SMOKE_BARRIER_S=${SMOKE_BARRIER_S:-10}
BARRIER_S=${BARRIER_S:-$(( 5 + N * 35 / 1000 ))}
ALL_PHASES="smoke-on smoke-off main-on main-off nice-on burst-on burst-off"
PHASES=${PHASES:-$ALL_PHASES}
for ph in $PHASES; do
    case $ph in
        smoke-*) phase "$ph" "$SMOKE_N" "${ph#smoke-}" "$SMOKE_BARRIER_S" ;;
        main-*) phase "$ph" "$N" "${ph#main-}" "$BARRIER_S" ;;
        nice-*) phase "$ph" "$N" "${ph#nice-}" "$BARRIER_S" -10 ;;
        burst-*) phase "$ph" "$N" "${ph#burst-}" 0 ;;
    esac
done
[ "$PHASES" = "$ALL_PHASES" ] || { echo "(PHASES=$PHASES: no results file)" >&2; exit 0; }
pg_check_no_crash || echo "(the server log shows a crash)" >&2
crash=$(grep -cE "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" || true)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
total_s=$(( $(date +%s) - t_script ))

python3 - "$TMP" "$OUT" <<PY
import json, sys
tmp, out = sys.argv[1], sys.argv[2]
P = [json.load(open(f"{tmp}/{n}.json")) for n in ("smoke-on", "smoke-off", "main-on", "main-off", "nice-on", "burst-on", "burst-off")]
def f(x, d=1):
    return "-" if x is None else (f"{x:,.{d}f}" if isinstance(x, float) else f"{x:,}")
def rate(n, a, b):
    return None if a is None or b is None or float(b) <= float(a) else n / (float(b) - float(a))
def span(a, b):
    return None if a is None or b is None else float(b) - float(a)
def pct(c, a, b):
    s = span(a, b)
    return None if c is None or not s or s <= 0 else 100 * c / s
rows = [
    ("runs (completed / failed / on a later attempt)", lambda e: f"{e['completed']}/{e['failed']}/{e['later_attempt']}"),
    ("wall time, INSERT to last run finished (s)", lambda e: f(e["wall_s"], 1)),
    ("per run, insert -> completed p50 / max (s)", lambda e: f"{e['run_p50']} / {e['run_max']}"),
    ("barrier: lines start at INSERT + (s)", lambda e: f(e["barrier_s"]) if e["barrier_s"] else "none"),
    ("  runs whose 1st line came > 1 s after it", lambda e: "-" if e["late"] is None else f(e["late"])),
    ("1st lines printed within (s)", lambda e: f(float(e["first_spread"]), 2)),
    ("per run, 1st..last line printed p50 / max (s)", lambda e: f"{e['cmd_p50']} / {e['cmd_max']}"),
    ("streaming window: 1st..last line printed (s)", lambda e: f(span(e["w_s0"], e["w_s1"]), 1)),
    ("  steady window: all runs printing (s)", lambda e: f(span(e["w_q0"], e["w_q1"]), 1)),
    ("tool_output events (all)", lambda e: f(e["tool_output"])),
    ("  per run min / avg / max", lambda e: f"{e['outs_min']} / {e['outs_avg']} / {e['outs_max']}"),
    ("  bytes of their data (MB)", lambda e: f(e["tool_output_bytes"] / 1e6, 1)),
    ("tool_output/s, streaming window", lambda e: f(rate(e["out_in_full"], e["w_s0"], e["w_s1"]), 0)),
    ("tool_output/s, steady window", lambda e: f(rate(e["out_in_steady"], e["w_q0"], e["w_q1"]), 0)),
    ("all events/s, streaming window", lambda e: f(rate(e["ev_in_full"], e["w_s0"], e["w_s1"]), 0)),
    ("NOTIFY agent_run_events received (1 session)", lambda e: f(e["notifies"])),
    ("  per second of the streaming window", lambda e: f(None if not span(e["w_s0"], e["w_s1"]) else e["notifies"] / span(e["w_s0"], e["w_s1"]), 0)),
    ("worker CPU, INSERT..last run (s)", lambda e: f(e["cpu_all"], 2)),
    ("worker CPU, streaming window (s)", lambda e: f(e["cpu_full"], 2)),
    ("  % of one core, streaming window", lambda e: f(pct(e["cpu_full"], e["w_s0"], e["w_s1"]), 0)),
    ("  % of one core, steady window", lambda e: f(pct(e["cpu_steady"], e["w_q0"], e["w_q1"]), 0)),
    ("  ms of CPU per tool_output (window, ON - OFF)", None),
    ("worker waiting for a CPU (runqueue), window (s)", lambda e: f(e["wait_full"], 2)),
    ("sandboxd CPU, streaming window (s)", lambda e: f(e["sbx_full"], 2)),
    ("worker RSS max sampled / VmHWM (MB)", lambda e: f"{e['rss_max_kb'] // 1024} / {e['hwm_kb'] // 1024}"),
    ("WAL generated (MB)", lambda e: f(e["wal"] / 1e6, 1)),
    ("agent_run_events growth (MB)", lambda e: f(e["size"] / 1e6, 1)),
    ("latency printed -> row at: p50 / p95 / max (s)", lambda e: "-" if not e["lat_n"] else f"{e['lat_p50']} / {e['lat_p95']} / {e['lat_max']}"),
    ("  (lines measured)", lambda e: f(e["lat_n"])),
    ("check: runs with < MIN tool_output", lambda e: f(e["runs_below_min"]) if e["live"] == "on" else "n/a"),
    ("check: tool_output after its tool_result", lambda e: f(e["out_after_result"])),
    ("check: runs whose live lines are 1..L in order", lambda e: f(e["live_lines_ok"]) if e["live"] == "on" else "n/a"),
    ("check: runs whose tool_result has 1..L in order", lambda e: f(e["result_lines_ok"])),
    ("check: bytes dropped (live budget / 64 kB)", lambda e: f(e["dropped"])),
    ("check: event at going back with seq / seq gaps", lambda e: f"{e['at_backwards']} / {e['seq_gaps']}"),
    ("check: runs notified / out of order / last seq ok", lambda e: f"{e['notify_runs']} / {e['notify_unordered']} / {e['notify_last_ok']}"),
    ("load before / after the phase (1 min)", lambda e: f"{e['load0'].split()[0]} / {e['load1'].split()[0]}"),
]
def per_output(on, off):
    if on["cpu_full"] is None or off["cpu_full"] is None or not on["out_in_full"]: return "-"
    # CPU per second of window, ON minus OFF, per tool_output per second
    s_on, s_off = span(on["w_s0"], on["w_s1"]), span(off["w_s0"], off["w_s1"])
    extra = on["cpu_full"] / s_on - off["cpu_full"] / s_off
    return f(1000 * extra / (on["out_in_full"] / s_on), 3)
names = [f"{e['n']} {e['live'].upper()}" + ("" if e["barrier_s"] else " burst") + (" nice" if e["nice"] else "") for e in P]
w0, w = 50, 23
lines = []
lines.append("metric".ljust(w0) + "".join(n.rjust(w) for n in names))
lines.append("-" * (w0 + w * len(P)))
for label, fn in rows:
    label = label.replace("MIN", "$MIN_EVENTS").replace("1..L", "1..$LINES")
    if fn is None:
        cells = [per_output(P[0], P[1]), "", per_output(P[2], P[3]), "", "", per_output(P[5], P[6]), ""]
    else:
        cells = [fn(e) for e in P]
    lines.append(label[:w0].ljust(w0) + "".join(str(c).rjust(w) for c in cells))
with open(f"{tmp}/table", "w") as fh:
    fh.write("\n".join(lines) + "\n")
errs = [f"{e['n']} {e['live']}: {e['errors']}" for e in P if e["errors"]]
with open(f"{tmp}/errors", "w") as fh:
    fh.write("\n".join(errs))
PY
{
    echo "live output (issue 12): N runs at once in one worker, each streaming a line every 100 ms for ~20 s ($LINES lines),"
    echo "live output ON (defaults: live_output_interval 250 ms, max_live_output_bytes 4 MB) vs OFF (max_live_output_bytes = 0)"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname) ($(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB)   commit: $(git -C "$ROOT" rev-parse --short HEAD)"
    echo "load (1/5/15 min) at the start: $load_start, at the end: $load_end (other engineers' tests share the 2 cores); script: ${total_s} s"
    echo "rerun: sudo bench/streaming/run.sh   (N=$N SMOKE_N=$SMOKE_N LINES=$LINES MIN_EVENTS=$MIN_EVENTS)"
    echo "one worker, sandbox.max_concurrent_runs = $SLOTS, command_timeout 10 min, run_timeout 900 s; modeld without latency;"
    echo "sandboxd --max-sandboxes $((MAXN * 2)); the cluster restarted before each phase (fresh worker); fsync = off, full_page_writes = off (test/lib/pg.sh)"
    echo "phases in this order: smoke ($SMOKE_N runs) ON, OFF; main ($N) ON, OFF; nice ($N, ON); burst ($N) ON, OFF; server log crashes: $crash"
    echo "nice: as main ON, with the worker process reniced to -10 (its share of the 2 cores against the sandboxes' processes)"
    echo "smoke and main: every command first waits (bash builtins only) until a common second, the barrier, SMOKE_BARRIER_S=$SMOKE_BARRIER_S /"
    echo "BARRIER_S=$BARRIER_S s after the INSERT, so that all N print at once with no sandbox still starting; burst: no barrier, each"
    echo "command prints as soon as it runs (while sandboxd is still starting the other sandboxes' first processes)"
    echo
    cat "$TMP/table"
    if [ -s "$TMP/errors" ]; then echo; echo "errors of runs that did not complete:"; cat "$TMP/errors"; echo; fi
    echo
    echo "streaming window: from the first line printed by any run to the last (the timestamps in the tool_results' stdout);"
    echo "steady window: from the last run's first line to the first run's last line (all runs printing).  Latency: each"
    echo "printed line's \$EPOCHREALTIME to its tool_output row's at (clock_timestamp() at its INSERT; commit and NOTIFY follow)."
    echo "worker CPU: utime + stime of the worker pid, sampled every 0.2 s and interpolated at the window's ends."
} | tee "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
