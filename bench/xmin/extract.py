#!/usr/bin/env python3
"""bench/xmin/extract.py LOGDIR WORKER_PID OUTDIR: from a variant cluster's
jsonlog, the worker's claim and rescue statements as auto_explain logged them
(EXPLAIN ANALYZE, BUFFERS of every execution) -> OUTDIR/explain.jsonl, and the
autovacuum reports -> OUTDIR/autovacuum.log.  Keeps the full plans of the
first and the last claim and of the one that touched the most buffers
(claim_plan_first/last/max.json)."""
import glob
import json
import os
import re
import sys
from datetime import datetime

logdir, worker_pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def epoch(ts):
    # "2026-11-30 12:50:01.123 UTC"
    return datetime.strptime(ts.replace(" UTC", "+0000"), "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def walk(node, parent_sub=None):
    yield node, parent_sub
    for child in node.get("Plans", []):
        yield from walk(child, child.get("Subplan Name", parent_sub))


def bufs(node):
    return (node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0))


def kind_of(text):
    # queue_claim: the single-scan claim of 1.1 before 918eb77, and the
    # fair-share claim after it (a loose index scan over owners) both move
    # the chosen rows with this UPDATE
    if "SET status = 'planning', attempts = r.attempts + 1" in text:
        return "claim"
    if "WITH lapsed" in text:
        return "rescue"
    if "UPDATE" in text and "plan_version" in text:
        return "advance"
    if "SET lease_until" in text and "x AS" in text:
        return "renew"
    return "other"


first_claim = last_claim = max_claim = None
others = {}
with open(os.path.join(out, "explain.jsonl"), "w") as ex, \
        open(os.path.join(out, "autovacuum.log"), "w") as av:
    for path in sorted(glob.glob(os.path.join(logdir, "*.json"))):
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                msg = rec.get("message", "")
                if msg.startswith("automatic vacuum") or msg.startswith("automatic analyze"):
                    av.write(rec["timestamp"] + " " + msg.replace("\n", " | ") + "\n")
                    continue
                if not msg.startswith("duration:") or "plan:" not in msg:
                    continue
                m = re.match(r"duration: ([0-9.]+) ms", msg)
                plan = json.loads(msg.split("plan:", 1)[1])
                text = plan.get("Query Text", "")
                kind = kind_of(text)
                t = epoch(rec["timestamp"])
                dur = float(m.group(1))
                if kind in ("advance", "renew", "other"):
                    o = others.setdefault(kind, [0, 0.0])
                    o[0] += 1
                    o[1] += dur
                    continue
                top = plan["Plan"]
                row = {"t": t, "kind": kind, "ms": dur, "pid": rec.get("pid"),
                       "rows": top.get("Actual Rows"),
                       # the top node pulls CTEs c and u; CTE e (the events'
                       # INSERT) runs on its own at the end of the statement
                       "stmt_buffers": bufs(top) + sum(bufs(n) for n, s in walk(top)
                                                       if n.get("Subplan Name") == "CTE e")}
                # every scan of the pending index (the fair-share claim probes
                # it once per owner, then once per owner for its runs)
                ix = [n for n, _ in walk(top) if n.get("Index Name") == "agent_runs_claim"]
                row["claim_index_buffers"] = sum(bufs(n) for n in ix)
                row["claim_index_loops"] = sum(n.get("Actual Loops", 0) for n in ix)
                row["fair"] = "WITH RECURSIVE" in text
                # the scan part: LockRows and what it pulls (the index scans),
                # inside CTE c (claim) or CTE lapsed (rescue)
                for n, sub in walk(top):
                    if n.get("Node Type") == "LockRows":
                        row["lock_ms"] = n.get("Actual Total Time")
                        row["lock_rows"] = n.get("Actual Rows")
                        row["lock_buffers"] = bufs(n)
                        for c, _ in walk(n):
                            if c.get("Relation Name") == "agent_runs":
                                row["scan"] = c.get("Node Type")
                                row["index"] = c.get("Index Name")
                                row["scan_ms"] = c.get("Actual Total Time")
                                row["scan_rows"] = c.get("Actual Rows")
                                row["scan_buffers"] = bufs(c)
                                break
                        break
                ex.write(json.dumps(row) + "\n")
                if kind == "claim":
                    if first_claim is None:
                        first_claim = plan
                    last_claim = (plan, row)
                    if max_claim is None or row.get("lock_buffers", 0) > max_claim[1].get("lock_buffers", 0):
                        max_claim = (plan, row)
with open(os.path.join(out, "claim_plan_first.json"), "w") as f:
    json.dump(first_claim, f, indent=1)
if last_claim:
    with open(os.path.join(out, "claim_plan_last.json"), "w") as f:
        json.dump(last_claim[0], f, indent=1)
if max_claim:
    # the claim that touched the most buffers (the end of the held window)
    with open(os.path.join(out, "claim_plan_max.json"), "w") as f:
        json.dump(max_claim[0], f, indent=1)
with open(os.path.join(out, "other_statements.json"), "w") as f:
    json.dump(others, f)
