#!/usr/bin/env python3
"""bench/xmin/report.py WORKDIR: the variants of bench/xmin/run.sh side by
side (text, for bench/results/xmin.txt)."""
import csv
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time

work = sys.argv[1]
env = os.environ
variants = env.get("VARIANTS", "asis fillfactor tuned timeout").split()
RATE, WARMUP, DURATION, RECOVER = (float(env[k]) for k in ("RATE", "WARMUP", "DURATION", "RECOVER"))
T0 = float(open(os.path.join(work, "go")).read())
HOLD, RELEASE, END = T0 + WARMUP, T0 + WARMUP + DURATION, T0 + WARMUP + DURATION + RECOVER


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def buckets():
    """(label, start, end): warm-up, each minute held, each minute after."""
    out = [("warm-up", T0, HOLD)]
    t, i = HOLD, 1
    while t < RELEASE - 1:
        out.append((f"held {i:2d}m", t, min(t + 60, RELEASE)))
        t, i = t + 60, i + 1
    t, i = RELEASE, 1
    while t < END - 1:
        out.append((f"after {i}m", t, min(t + 60, END)))
        t, i = t + 60, i + 1
    return out


B = buckets()


def load(v):
    d = os.path.join(work, v)
    runs = []
    with open(os.path.join(d, "runs.csv")) as f:
        for row in csv.reader(f):
            c = float(row[0])
            runs.append({"created": c, "claim": float(row[1]) if row[1] else None,
                         "done": float(row[3]) if row[3] else None, "status": row[4]})
    samples = [json.loads(x) for x in open(os.path.join(d, "samples.jsonl"))]
    ex = [json.loads(x) for x in open(os.path.join(d, "explain.jsonl"))]
    av = open(os.path.join(d, "autovacuum.log")).read().splitlines()
    meta = json.load(open(os.path.join(d, "meta.json")))
    return {"runs": runs, "samples": samples, "explain": ex, "av": av, "meta": meta,
            "pgbench": open(os.path.join(d, "pgbench.txt")).read()}


D = {v: load(v) for v in variants}


def fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def last_sample(v, t):
    s = [x for x in D[v]["samples"] if x["t"] <= t + 1]
    return s[-1] if s else D[v]["samples"][0]


def table(title, cols, rowfn, width=22):
    """rows = buckets, one column group per variant."""
    lines = [title]
    head = f"{'':10s}" + "".join(f"{v:>{width}s}" for v in variants)
    lines.append(head)
    sub = f"{'':10s}" + "".join(f"{cols:>{width}s}" for _ in variants)
    lines.append(sub)
    for label, a, b in B:
        lines.append(f"{label:10s}" + "".join(f"{rowfn(v, a, b):>{width}s}" for v in variants))
    return "\n".join(lines)


def lat(v, a, b):
    return [(r["claim"] - r["created"]) * 1000 for r in D[v]["runs"]
            if a <= r["created"] < b and r["claim"]]


def claims(v, a, b, kind="claim"):
    return [e for e in D[v]["explain"] if e["kind"] == kind and a <= e["t"] < b]


def full(v, a, b):
    """claim executions that walked the whole way: the fair-share claim
    alternates between statements that probe agent_runs_claim 4-5 times
    (the owner's dead entries walked 3 times) and 2 times (once); a p50 over
    both flips between the two.  The single-scan claim: every execution."""
    return [e for e in claims(v, a, b) if e.get("claim_index_loops", 5) >= 4]


def row_latency(v, a, b):
    xs = lat(v, a, b)
    return f"{len(xs)} {fmt(pct(xs, .5), 2)} / {fmt(pct(xs, .99), 1)}"


def row_stmt(v, a, b):
    xs = [e["ms"] for e in claims(v, a, b)]
    return f"{fmt(pct(xs, .5), 3)} / {fmt(pct(xs, .99), 3)}"


def row_buf(v, a, b):
    xs = [e.get("lock_buffers", 0) for e in full(v, a, b)]
    return f"{fmt(pct(xs, .5), 0)} / {fmt(max(xs) if xs else None)}"


def row_cidx(v, a, b):
    xs = claims(v, a, b)
    return (f"{fmt(pct([e.get('claim_index_loops', 0) for e in xs], .5), 0)} / "
            f"{fmt(pct([e.get('claim_index_buffers', 0) for e in xs], .5), 0)}")


def row_rescue(v, a, b):
    xs = claims(v, a, b, "rescue")
    return (f"{fmt(pct([e['ms'] for e in xs], .5), 2)} / "
            f"{fmt(max([e.get('lock_buffers', 0) for e in xs]) if xs else None)}")


def row_dead(v, a, b):
    s = last_sample(v, b)
    t = s["tables"]["agent_runs"] if s else None
    return f"{t['dead']} / {t['ins'] - t['del']}" if t else "-"


def row_hot(v, a, b):
    s0, s1 = last_sample(v, a), last_sample(v, b)
    if not s0 or not s1:
        return "-"
    t0, t1 = s0["tables"]["agent_runs"], s1["tables"]["agent_runs"]
    du, dh = t1["upd"] - t0["upd"], t1["hot"] - t0["hot"]
    return f"{dh}/{du} = {100.0 * dh / du:.0f}%" if du else "-"


def idx_name(v, suffix):
    s = D[v]["samples"][-1]["indexes"]
    return [k for k in s if k.endswith(suffix)][0]


def row_sizes(v, a, b):
    s = last_sample(v, b)
    if not s:
        return "-"
    kb = lambda n: s["indexes"][n]["bytes"] // 1024
    return (f"{s['tables']['agent_runs']['heap_bytes'] // 1024} {kb('agent_runs_claim')} "
            f"{kb('agent_runs_in_flight')} {kb('agent_runs_pkey')}")


def row_events(v, a, b):
    s = last_sample(v, b)
    if not s:
        return "-"
    t = s["tables"]["agent_run_events"]
    return f"{t['dead']} {t['heap_bytes'] // 1024} {s['indexes']['agent_run_events_pkey']['bytes'] // 1024}"


def row_xmin(v, a, b):
    ss = [s for s in D[v]["samples"] if a < s["t"] <= b + 1]
    h = max([s.get("held_xmin_age") or 0 for s in ss], default=0)
    o = max([s.get("oldest_xmin_age") or 0 for s in ss], default=0)
    return f"{h or '-'} {o or '-'}"


def row_scan(v, a, b):
    xs = [e.get("lock_ms") or 0 for e in full(v, a, b)]
    return f"{fmt(pct(xs, .5), 3)} / {fmt(pct(xs, .99), 3)}"


def window(v, a, b):
    xs = lat(v, a, b)
    st = [e["ms"] for e in claims(v, a, b)]
    bf = [e.get("lock_buffers", 0) for e in claims(v, a, b)]
    return xs, st, bf


out = []
W = out.append
load_lines = [l.split() for l in open(os.path.join(work, "loadavg.txt"))]
loads = [float(l[1]) for l in load_lines]
W("agent-run queue under a held xmin horizon (issue 10, item 6)")
W(f"date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(T0))}   host: {socket.gethostname()} "
  f"({os.cpu_count()} cores, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GB)   "
  f"{D[variants[0]]['meta']['version'].split(' on ')[0]}")
W(f"rerun: sudo bench/xmin/run.sh   (RATE={env['RATE']} WARMUP={env['WARMUP']} DURATION={env['DURATION']} "
  f"RECOVER={env['RECOVER']} PREFILL={env['PREFILL']} MODEL_MS={env['MODEL_MS']} VARIANTS=\"{' '.join(variants)}\")")
W("")
W(f"load: the {len(variants)} variants ran at the same time, each on its own cluster (1 worker,")
W(f"  max_concurrent_runs 100, shared_buffers 128MB), against one sandboxd and one modeld;")
W(f"  each: {env['PREFILL']} finished runs (+4 events each) in the table first, then {env['RATE']} runs/s inserted")
W(f"  (pgbench -R, one INSERT per transaction) for {int(WARMUP)} s warm-up + {int(DURATION)} s held + {int(RECOVER)} s after;")
W(f"  a run = sandbox + plan, a model turn calling run_command (echo in bubblewrap), the")
W(f"  final answer, kill; every model answer after {env['MODEL_MS']} ms.  sandboxd CPU: {env.get('SBD_CPU')} s.")
W(f"  machine load average (1 min) during the run: min {min(loads):.2f}, mean "
  f"{statistics.mean(loads):.2f}, max {max(loads):.2f} (includes other engineers' tests)")
for v in variants:
    d = D[v]
    m = re.search(r"latency average = ([0-9.]+ ms)", d["pgbench"])
    n = sum(1 for r in d["runs"])
    ok = sum(1 for r in d["runs"] if r["status"] == "completed")
    cpu = [s.get("worker_cpu_s") for s in d["samples"] if s.get("worker_cpu_s") is not None]
    W(f"  {v}: {n} runs inserted, {ok} completed; worker CPU {cpu[-1] - cpu[0]:.1f} s")
W("")
fair = [e.get("fair") for v in variants for e in D[v]["explain"] if e["kind"] == "claim"]
W("claim statement: " + ("the fair-share claim (db6eeeb, issue 13: WITH RECURSIVE loose index scan over owners,"
                         " then each owner's best runs, index agent_runs_claim ((owner::oid), owner_id,"
                         " priority DESC, run_after, created_at) WHERE pending)" if any(fair) else
                         "the single-scan claim (before db6eeeb: ORDER BY priority DESC, run_after,"
                         " created_at LIMIT n FOR UPDATE SKIP LOCKED on agent_runs_claim"
                         " (priority DESC, run_after, created_at) WHERE pending)"))
W(f"extension: {env.get('EXT_INFO', '?')}")
W("")
W("held: BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM agent_runs; then idle in")
W("  transaction until the end of the window (its backend_xmin: 'xmin age' below).")
W("")
W("definitions")
W("  claim latency  = the claim's status event time (clock_timestamp() in the claim statement,")
W("                   after its scan) - the run's created_at (the INSERT's now()); per run,")
W("                   bucketed by created_at.  'n p50 / p99' in ms.")
W("  claim stmt     = the worker's own claim statement (src/queue.c queue_claim, every")
W("                   execution, also those that found nothing) as auto_explain logged it with")
W("                   ANALYZE, BUFFERS: execution time p50 / p99 in ms.")
W("  claim buffers  = shared buffers (hit + read) of its LockRows node (in CTE c) and all it")
W("                   pulls: every scan of the pending index agent_runs_claim: p50 / max.")
W("                   Fair-share claim: 'claim scan' and 'claim buffers' count only the")
W("                   executions that probed agent_runs_claim 4-5 times (about half; they walk")
W("                   the owner's dead entries 3 times); the others probe it twice and walk")
W("                   them once (a third of the buffers).")
W("  rescue         = the worker's rescue statement (every 5 s, scans agent_runs_in_flight):")
W("                   execution p50 ms / max buffers of its scan.")
W("  claim scan     = the time of that LockRows node (the scans of agent_runs_claim and the")
W("                   row locks, without the UPDATE and the events' INSERT): p50 / p99 ms.")
W("  dead / rows    = pg_stat_user_tables n_dead_tup of agent_runs / rows in it (n_tup_ins -")
W("                   n_tup_del) at the bucket's end.")
W("  HOT            = n_tup_hot_upd / n_tup_upd of agent_runs within the bucket.")
W("  sizes (kB)     = agent_runs heap, agent_runs_claim, agent_runs_in_flight, agent_runs_pkey.")
W("  events         = agent_run_events n_dead_tup, heap kB, pkey kB.")
W("")
W("variants (bench/xmin/NAME.sql applied after CREATE EXTENSION):")
for v in variants:
    body = [l for l in open(os.path.join(os.path.dirname(__file__), v + ".sql"))
            if l.strip() and not l.startswith("--")]
    W(f"  {v}: " + " ".join(x.strip() for x in body))
W("")
W(table("claim latency: n p50 / p99 ms", "n p50 / p99", row_latency))
W("")
W(table("claim stmt: p50 / p99 ms", "p50 / p99", row_stmt))
W("")
W(table("claim scan (LockRows in CTE c, with the index scans it pulls): p50 / p99 ms", "p50 / p99", row_scan))
W("")
W(table("claim buffers: p50 / max", "p50 / max", row_buf))
W("")
if any(fair):
    W(table("claim: scans of agent_runs_claim per statement / their buffers (p50)", "scans / buffers", row_cidx))
    W("")
W(table("rescue: p50 ms / max buffers", "p50 / maxbuf", row_rescue))
W("")
W(table("agent_runs dead / rows (end of bucket)", "dead / rows", row_dead))
W("")
W(table("agent_runs HOT updates in the bucket", "hot/upd", row_hot))
W("")
W(table("sizes kB: heap claim in_flight pkey", "heap claim infl pkey", row_sizes, 24))
W("")
W(table("agent_run_events: dead heap-kB pkey-kB", "dead heap pkey", row_events))
W("")
W(table("xmin age (held session, oldest)", "held oldest", row_xmin))
W("")
W("over the whole held window (claim latency p50 / p99 ms; claim stmt p50 / p99 ms;")
W("claim buffers p50 first held minute -> last held minute; dead tuples at hold -> at release):")
for v in variants:
    xs, st, bf = window(v, HOLD, RELEASE)
    f1 = [e.get("lock_buffers", 0) for e in full(v, HOLD, HOLD + 60)]
    fl = [e.get("lock_buffers", 0) for e in full(v, RELEASE - 60, RELEASE)]
    s0, s1 = last_sample(v, HOLD), last_sample(v, RELEASE)
    t0, t1 = s0["tables"]["agent_runs"], s1["tables"]["agent_runs"]
    e0, e1 = s0["tables"]["agent_run_events"], s1["tables"]["agent_run_events"]
    hot = (t1["hot"] - t0["hot"]) / max(1, t1["upd"] - t0["upd"]) * 100
    nrun = sum(1 for r in D[v]["runs"] if HOLD <= r["created"] < RELEASE)
    upr = (t1["upd"] - t0["upd"]) / max(1, nrun)
    W(f"  {v:11s} latency {fmt(pct(xs, .5), 2)} / {fmt(pct(xs, .99), 1)}; stmt {fmt(pct(st, .5), 3)} / "
      f"{fmt(pct(st, .99), 3)}; buffers {fmt(pct(f1, .5), 0)} -> {fmt(pct(fl, .5), 0)}; "
      f"dead runs {t0['dead']} -> {t1['dead']}, events {e0['dead']} -> {e1['dead']}; HOT {hot:.0f}%"
      f" of {upr:.1f} updates per run")
    xs, st, bf = window(v, RELEASE, END)
    W(f"  {'':11s} after release: latency {fmt(pct(xs, .5), 2)} / {fmt(pct(xs, .99), 1)}; stmt "
      f"{fmt(pct(st, .5), 3)} / {fmt(pct(st, .99), 3)}; buffers p50 {fmt(pct(bf, .5), 0)}")
W("")
W("what the claim walks near the end of the window: runs claimed from the hold to the last held minute")
W("(each left one dead entry in agent_runs_claim that every claim visits in the heap) against")
W("the claim's scan in the last but one held minute (p50; the last one jumps, see the tables),")
W("less the same in the warm-up:")
for v in variants:
    held_end = RELEASE
    if v == "timeout":
        held_end = HOLD + 60   # the session was ended after 60 s idle
    n = sum(1 for r in D[v]["runs"] if r["claim"] and HOLD <= r["claim"] < RELEASE - 60)
    n_h = sum(1 for r in D[v]["runs"] if r["claim"] and HOLD <= r["claim"] < held_end)
    last = full(v, RELEASE - 120, RELEASE - 60)
    warm = full(v, T0, HOLD)
    sc = pct([e.get("lock_ms") or 0 for e in last], .5) - pct([e.get("lock_ms") or 0 for e in warm], .5)
    bf = pct([e.get("lock_buffers", 0) for e in last], .5) - pct([e.get("lock_buffers", 0) for e in warm], .5)
    W(f"  {v:11s} {n} runs claimed while held" + (f" ({n_h} before the session was ended)" if v == "timeout" else "") +
      f"; claim scan {sc:+.3f} ms, {bf:+.0f} buffers (p50)")
W("")
W("autovacuum of agent_runs (log_autovacuum_min_duration = 0):")
for v in variants:
    runs_av = [l for l in D[v]["av"] if "automatic vacuum" in l and ".agent_runs\"" in l]
    W(f"  {v}: {len(runs_av)} runs")
    for l in runs_av:
        ts = l[11:19]
        m = re.search(r"tuples: (\d+) removed, (\d+) remain, (\d+) are dead but not yet removable", l)
        el = re.search(r"system usage: CPU: user: ([0-9.]+) s, system: ([0-9.]+) s, elapsed: ([0-9.]+) s", l)
        W(f"    {ts} removed {m.group(1) if m else '?'}, dead not yet removable "
          f"{m.group(3) if m else '?'}, elapsed {el.group(3) if el else '?'} s")
print("\n".join(out))
