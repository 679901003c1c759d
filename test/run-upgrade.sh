#!/usr/bin/env bash
# test/run-upgrade.sh: ALTER EXTENSION sandbox UPDATE (1.0 -> the default
# version) gives exactly what a fresh install of the default version gives,
# schema and data.
#
# In a throwaway cluster (not preloaded) with a sandboxd of its own:
#   database A: CREATE EXTENSION sandbox VERSION '1.0'; usage granted to two
#     roles; real sandboxes through sandboxd (one live, one killed) and a run
#     enqueued by a role, both through the library being tested (the new
#     version's, on the 1.0 schema: as between `make install` and ALTER
#     EXTENSION UPDATE; the test fails when it cannot serve them, and uses
#     rows inserted directly instead); runs in every status with their
#     events, sandboxes in every state (inserted as the worker would have
#     written them); a data-only dump of A is taken; then ALTER EXTENSION
#     sandbox UPDATE.
#   database B: a fresh CREATE EXTENSION sandbox (default version); the same
#     grants; A's data-only dump loaded (COPY with column lists, triggers
#     off: the same rows, with the new columns' defaults).
# Then compares A and B, and fails (exit 1, with a unified diff) on any
# difference in:
#   - the schema: pg_dump --schema-only --binary-upgrade (the only mode in
#     which pg_dump writes out an extension's member objects), normalized
#     only for artefacts: comments, SET lines, OIDs, relfrozenxid, physical
#     leftovers of dropped columns and fast defaults, the order of objects,
#     and the order of GRANTs within one object's ACL.  Column order,
#     defaults, constraints, index predicates, policies, triggers, ACLs and
#     initial privileges, function definitions and enum value order are
#     compared as they are;
#   - the extension: version (= the control file's default, and not 1.0 in
#     A), schema, owner, config tables with their conditions, and the list of
#     member objects (pg_depend deptype 'e'); and in each database, no object
#     in the extension's schemas that is not a member;
#   - the data: every member table, row by row in primary key order, column
#     by column (new columns included), and member sequences.
#
# The test runs the checkout's files, not the installed ones: the server is a
# private copy of the installed PostgreSQL (bin, lib and share dirs, in the
# same relative layout so it finds its own share and lib dirs) whose
# extension directory holds the checkout's sandbox.control, sandbox--*.sql
# and sandbox.so (the installed sandbox.so when the checkout has none).
# That also lets it prove that it catches differences without touching the
# tree or the installed server: unless UPGRADE_PROVE=0, it then appends
# deliberate differences to private copies of the scripts (a column only in
# the upgrade, a column at another position, a default, data changed by the
# upgrade, enum value order, a grant, an object dropped from the extension,
# an index predicate, a policy, a function body, a constraint) and checks
# that each one fails the comparison, naming the difference; and that
# artefacts (a column added then dropped, a fast default, grants and objects
# created in another order) add no difference.
#
# Environment: KEEP_TMP=1 keeps the work directory; UPGRADE_PROVE=0 skips
# the proof.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FROM_VERSION=1.0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-upgrade.XXXXXX")
chmod 755 "$WORK"
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$WORK"' EXIT

# --- a private copy of the installed PostgreSQL ------------------------------
# PostgreSQL finds its share and lib dirs relative to its binary, so a copy of
# the bin dir beside a share dir and a lib dir laid out as installed is a
# server of its own.
SYS_BINDIR=$(pg_config --bindir)
SYS_SHAREDIR=$(pg_config --sharedir)
SYS_PKGLIBDIR=$(pg_config --pkglibdir)
prefix=$(python3 -c 'import os,sys; print(os.path.commonpath(sys.argv[1:]))' \
         "$SYS_BINDIR" "$SYS_SHAREDIR" "$SYS_PKGLIBDIR")
PRIV="$WORK/pg"
PRIV_BINDIR="$PRIV${SYS_BINDIR#"$prefix"}"
PRIV_SHAREDIR="$PRIV${SYS_SHAREDIR#"$prefix"}"
PRIV_PKGLIBDIR="$PRIV${SYS_PKGLIBDIR#"$prefix"}"
mkdir -p "$PRIV_BINDIR" "$(dirname "$PRIV_SHAREDIR")" "$PRIV_PKGLIBDIR"
for b in postgres initdb pg_ctl; do cp "$SYS_BINDIR/$b" "$PRIV_BINDIR/"; done
cp -a "$SYS_SHAREDIR" "$PRIV_SHAREDIR"
for f in "$SYS_PKGLIBDIR"/*; do ln -s "$f" "$PRIV_PKGLIBDIR/"; done
rm -f "$PRIV_SHAREDIR"/extension/sandbox.control "$PRIV_SHAREDIR"/extension/sandbox--*.sql \
      "$PRIV_PKGLIBDIR/sandbox.so"
if [ -f "$ROOT/sandbox.so" ]; then
    cp "$ROOT/sandbox.so" "$PRIV_PKGLIBDIR/"
else
    echo "# no sandbox.so in the checkout (run make): using the installed one" >&2
    cp "$SYS_PKGLIBDIR/sandbox.so" "$PRIV_PKGLIBDIR/"
fi
EXTDIR="$PRIV_SHAREDIR/extension"
SQL_FILES=$(cd "$ROOT" && ls sandbox--*.sql)
# a snapshot of the checkout's scripts, so that the whole run sees one state
mkdir -p "$WORK/src"
(cd "$ROOT" && cp sandbox.control $SQL_FILES "$WORK/src/")
DEFAULT_VERSION=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$WORK/src/sandbox.control")
UPGRADE_SCRIPT="sandbox--$FROM_VERSION--$DEFAULT_VERSION.sql"
FULL_SCRIPT="sandbox--$DEFAULT_VERSION.sql"
for f in "sandbox--$FROM_VERSION.sql" "$UPGRADE_SCRIPT" "$FULL_SCRIPT"; do
    [ -f "$WORK/src/$f" ] || { echo "not ok - $f is missing"; exit 1; }
done

# install_scripts [UPGRADE_EXTRA [FULL_EXTRA [FULL_REGEX FULL_REPLACEMENT]]]:
# the checkout's scripts into the private extension dir, with optional SQL
# appended to the upgrade script and to the full script, and an optional
# substitution (Python re, first match, DOTALL) in the full script.
install_scripts() {
    cp "$WORK/src/sandbox.control" "$WORK/src/"sandbox--*.sql "$EXTDIR/"
    [ -z "${1:-}" ] || printf '\n%s\n' "$1" >>"$EXTDIR/$UPGRADE_SCRIPT"
    [ -z "${2:-}" ] || printf '\n%s\n' "$2" >>"$EXTDIR/$FULL_SCRIPT"
    if [ -n "${3:-}" ]; then
        python3 - "$EXTDIR/$FULL_SCRIPT" "$3" "$4" <<'PY'
import re, sys
path, regex, repl = sys.argv[1:]
text, n = re.subn(regex, repl, open(path).read(), count=1, flags=re.S)
if n != 1:
    sys.exit("%r matches nothing in %s" % (regex, path))
open(path, "w").write(text)
PY
    fi
}

# --- the normalizer of pg_dump --schema-only --binary-upgrade ----------------
cat >"$WORK/normalize.py" <<'PY'
import re, sys

def normalize(text):
    lines = text.split("\n")
    blocks, cur = [], None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("-- Name: "):
            cur = [line]
            blocks.append(cur)
            continue
        if cur is None or line.strip() == "" or line.startswith("--"):
            continue
        if (line.startswith("SET ") or line.startswith("\\restrict") or line.startswith("\\unrestrict")
                or line.startswith("SELECT pg_catalog.set_config('search_path'")):
            continue
        # OIDs, relfilenodes, attribute versions, fast-default missing values
        if "pg_catalog.binary_upgrade_set_next_" in line or "binary_upgrade_set_missing_value" in line:
            continue
        # relfrozenxid/relminmxid of a table and of its toast table; the
        # physical leftovers of dropped columns: multi-line catalog UPDATEs
        if line.startswith("UPDATE pg_catalog.pg_class") or line.startswith("UPDATE pg_catalog.pg_attribute"):
            while i < len(lines) and not lines[i - 1].rstrip().endswith(";"):
                i += 1
            continue
        if "pg.dropped." in line:
            # a dropped column kept in the column list: if it was the last
            # column, the comma before it goes too
            if not line.rstrip().endswith(",") and not line.lstrip().startswith("ALTER TABLE"):
                if cur and len(cur) > 1 and cur[-1].endswith(","):
                    cur[-1] = cur[-1][:-1]
            continue
        line = re.sub(r"(binary_upgrade_create_empty_extension\('[^']*', '[^']*', (?:true|false), '[^']*', )'\{[0-9,]*\}'",
                      r"\1'{<config table oids>}'", line)
        cur.append(line)
    result = []
    for block in blocks:
        header, body = block[0], block[1:]
        if "; Type: ACL;" in header or "; Type: DEFAULT ACL;" in header:
            # the order of aclitems is the order of the grants: sort the
            # GRANT/REVOKE lines within each init-privs segment
            segs, seg = [], []
            for l in body:
                if "binary_upgrade_set_record_init_privs" in l:
                    segs.append(sorted(seg)); segs.append([l]); seg = []
                else:
                    seg.append(l)
            segs.append(sorted(seg))
            body = [l for s in segs for l in s]
        result.append((header, body))
    result.sort()
    return "\n".join(h + "\n" + "\n".join(b) + "\n" for h, b in result)

sys.stdout.write(normalize(sys.stdin.read()))
PY

# --- the catalog and data listings --------------------------------------------
cat >"$WORK/extension.sql" <<'SQL'
\pset tuples_only on
\pset format unaligned
SELECT format('extension %s version %s schema %s relocatable %s owner %s',
              e.extname, e.extversion, e.extnamespace::regnamespace, e.extrelocatable,
              e.extowner::regrole)
  FROM pg_extension e WHERE e.extname = 'sandbox';
SELECT format('config table %s condition %L', x.tab::regclass, x.cond)
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(tab, cond)
 WHERE e.extname = 'sandbox' ORDER BY 1;
SELECT format('requires extension %s', r.extname)
  FROM pg_extension e JOIN pg_depend d ON d.classid = 'pg_extension'::regclass AND d.objid = e.oid
  JOIN pg_extension r ON d.refclassid = 'pg_extension'::regclass AND r.oid = d.refobjid
 WHERE e.extname = 'sandbox' ORDER BY 1;
SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'sandbox' AND d.deptype = 'e' ORDER BY 1;
-- objects in the extension's schemas that are not members of it (those that
-- belong to another object, like row types, array types or identity
-- sequences, are not members themselves)
WITH ext AS (SELECT oid, extnamespace FROM pg_extension WHERE extname = 'sandbox'),
members AS (SELECT d.classid, d.objid FROM pg_depend d, ext
             WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
schemas AS (SELECT extnamespace AS nsp FROM ext
            UNION SELECT objid FROM members WHERE classid = 'pg_namespace'::regclass),
objs AS (
    SELECT 'pg_class'::regclass AS classid, c.oid AS objid FROM pg_class c
     WHERE c.relnamespace IN (SELECT nsp FROM schemas) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p WHERE p.pronamespace IN (SELECT nsp FROM schemas)
    UNION ALL SELECT 'pg_type'::regclass, t.oid FROM pg_type t WHERE t.typnamespace IN (SELECT nsp FROM schemas)
    UNION ALL SELECT 'pg_operator'::regclass, o.oid FROM pg_operator o WHERE o.oprnamespace IN (SELECT nsp FROM schemas))
SELECT 'NOT A MEMBER of the extension: ' || pg_describe_object(o.classid, o.objid, 0)
  FROM objs o
 WHERE NOT EXISTS (SELECT FROM members m WHERE m.classid = o.classid AND m.objid = o.objid)
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = o.classid AND d.objid = o.objid AND d.deptype = 'i')
 ORDER BY 1;
SQL

cat >"$WORK/data.sql" <<'SQL'
\pset tuples_only on
\pset format unaligned
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 3;
-- every member table: a line per row and column, in primary key order
-- (values over 200 characters as their length and md5)
WITH t AS (
    SELECT c.oid, c.relname,
           (SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY k.n)
              FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a
             WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid AND a.attnum = k.attnum) AS pk
      FROM pg_class c
      JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
      JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND e.extname = 'sandbox'
     WHERE c.relkind IN ('r', 'p'))
SELECT format($f$SELECT %L || ' rows: ' || count(*) FROM %s$f$, relname, oid::regclass)
    || E';\n' ||
       format($f$SELECT %L || ' ' || %s || ' ' || j.key || ' = ' ||
                CASE WHEN length(j.value::text) > 200
                     THEN format('<%%s characters, md5 %%s>', length(j.value::text), md5(j.value::text))
                     ELSE j.value::text END
                FROM %s t CROSS JOIN LATERAL pg_catalog.jsonb_each(pg_catalog.to_jsonb(t)) AS j
               ORDER BY %s, j.key$f$,
              relname,
              CASE WHEN pk IS NULL THEN $$'(no primary key)'$$
                   ELSE format('pg_catalog.jsonb_build_array(%s)::text', pk) END,
              oid::regclass,
              coalesce(pk, 'pg_catalog.to_jsonb(t)::text'))
  FROM t ORDER BY relname
\gexec
SELECT format($f$SELECT %L || ' last_value ' || last_value || ' is_called ' || is_called FROM %s$f$,
              c.relname, c.oid::regclass)
  FROM pg_class c
  JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND e.extname = 'sandbox'
 WHERE c.relkind = 'S' ORDER BY c.relname
\gexec
SQL

# --- the data of a 1.0 install ------------------------------------------------
# (the 1.0 schema: explicit column lists, fixed ids and times; owners are the
# two roles; rows as the worker writes them)
cat >"$WORK/fixture.sql" <<'SQL'
\set ON_ERROR_STOP 1
SET TimeZone = 'UTC';
-- rows as the worker writes them: its triggers are not the point here
SET session_replication_role = replica;

-- runs in every status, as the worker leaves them
INSERT INTO agent_runs (id, prompt, status, plan, plan_version, result, error, sandbox_id, model,
                        template, max_turns, timeout_s, priority, run_after, metadata, attempts,
                        lease_until, deadline_at, worker_pid, last_seq, owner, created_at, started_at,
                        updated_at, completed_at, llm_calls, input_tokens, output_tokens)
VALUES
 ('00000000-0000-4000-8000-000000000002', 'List the files', 'planning', NULL, 0, NULL, NULL, :'live_sb',
  NULL, NULL, NULL, NULL, 0, '2026-01-01 10:00:00+00', '{}', 1,
  '2026-01-01 10:01:00+00', '2026-01-01 10:30:00+00', 4242, 2, 'regress_upgrade_alice',
  '2026-01-01 10:00:00+00', '2026-01-01 10:00:01+00', '2026-01-01 10:00:02+00', NULL, 0, 0, 0),
 ('00000000-0000-4000-8000-000000000003', 'Run the tests', 'executing',
  '{"steps": ["clone", "test"], "summary": "clone and test"}', 1, NULL, NULL, 'iexec000000000000000a',
  'claude-sonnet-4-20250514', 'base', 20, 600, 1, '2026-01-01 11:00:00+00', '{"team": "ci"}', 2,
  '2026-01-01 11:05:00+00', '2026-01-01 11:10:00+00', 4243, 5, 'regress_upgrade_bob',
  '2026-01-01 11:00:00+00', '2026-01-01 11:00:01+00', '2026-01-01 11:03:00+00', NULL, 2, 1500, 300),
 ('00000000-0000-4000-8000-000000000004', 'Compute 6*7', 'completed',
  '{"steps": ["python"], "summary": "compute"}', 1,
  jsonb_build_object('answer', 42, 'text', 'The answer is 42 ✓', 'log', repeat('x', 300000)),
  NULL, 'iexpired00000000000a', NULL, NULL, NULL, NULL, 0, '2026-01-02 09:00:00+00', '{}', 1,
  NULL, '2026-01-02 09:30:00+00', NULL, 9, 'regress_upgrade_alice',
  '2026-01-02 09:00:00+00', '2026-01-02 09:00:01+00', '2026-01-02 09:02:00+00',
  '2026-01-02 09:02:00+00', 3, 4000, 800),
 ('00000000-0000-4000-8000-000000000005', 'Do something impossible', 'failed', NULL, 0, NULL,
  'the model API failed: HTTP 400 invalid request', NULL, NULL, NULL, NULL, NULL, 0,
  '2026-01-03 08:00:00+00', '{}', 3, NULL, NULL, NULL, 4, 'regress_upgrade_bob',
  '2026-01-03 08:00:00+00', '2026-01-03 08:00:01+00', '2026-01-03 08:05:00+00',
  '2026-01-03 08:05:00+00', 1, 10, 0),
 ('00000000-0000-4000-8000-000000000006', 'Long job', 'cancelled', NULL, 0, NULL,
  'cancelled by regress_upgrade_alice', 'ilost000000000000000a', NULL, NULL, NULL, NULL, 0,
  '2026-01-04 07:00:00+00', '{}', 1, NULL, NULL, NULL, 3, 'regress_upgrade_alice',
  '2026-01-04 07:00:00+00', '2026-01-04 07:00:01+00', '2026-01-04 07:01:00+00',
  '2026-01-04 07:01:00+00', 0, 0, 0),
 ('00000000-0000-4000-8000-000000000007', 'Retry later', 'pending', NULL, 0, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, -1, '2030-01-01 00:00:00+00', '{"retry": true}', 1, NULL, NULL, NULL, 2,
  'regress_upgrade_bob', '2026-01-05 06:00:00+00', NULL, '2026-01-05 06:00:30+00', NULL, 0, 0, 0);

INSERT INTO agent_run_events (run_id, seq, at, attempt, kind, data) VALUES
 ('00000000-0000-4000-8000-000000000002', 1, '2026-01-01 10:00:01+00', 1, 'status',
  '{"from": "pending", "to": "planning", "attempt": 1, "worker_pid": 4242}'),
 ('00000000-0000-4000-8000-000000000002', 2, '2026-01-01 10:00:02+00', 1, 'sandbox_created',
  jsonb_build_object('sandbox_id', :'live_sb', 'template', 'base', 'timeout_s', 300)),
 ('00000000-0000-4000-8000-000000000004', 1, '2026-01-02 09:00:01+00', 1, 'status',
  '{"from": "pending", "to": "planning", "attempt": 1, "worker_pid": 4000}'),
 ('00000000-0000-4000-8000-000000000004', 2, '2026-01-02 09:00:02+00', 1, 'sandbox_created',
  '{"sandbox_id": "iexpired00000000000a", "template": "base", "timeout_s": 300}'),
 ('00000000-0000-4000-8000-000000000004', 3, '2026-01-02 09:00:10+00', 1, 'llm_response',
  '{"purpose": "plan", "turn": 0, "model": "m", "stop_reason": "end_turn", "usage": {"input_tokens": 1000, "output_tokens": 200}}'),
 ('00000000-0000-4000-8000-000000000004', 4, '2026-01-02 09:00:11+00', 1, 'status',
  '{"from": "planning", "to": "executing"}'),
 ('00000000-0000-4000-8000-000000000004', 5, '2026-01-02 09:00:20+00', 1, 'tool_call',
  '{"turn": 1, "id": "toolu_1", "name": "run_command", "input": {"command": "python3 -c \"print(6*7)\""}}'),
 ('00000000-0000-4000-8000-000000000004', 6, '2026-01-02 09:00:21+00', 1, 'tool_result',
  '{"id": "toolu_1", "name": "run_command", "exit_code": 0, "stdout": "42\n", "stderr": "", "truncated": false, "duration_ms": 12.5}'),
 ('00000000-0000-4000-8000-000000000004', 7, '2026-01-02 09:01:00+00', 1, 'llm_response',
  '{"purpose": "execute", "turn": 2, "model": "m", "stop_reason": "end_turn", "text": "done"}'),
 ('00000000-0000-4000-8000-000000000004', 8, '2026-01-02 09:02:00+00', 1, 'status',
  '{"from": "executing", "to": "completed"}'),
 ('00000000-0000-4000-8000-000000000004', 9, '2026-01-02 09:02:01+00', 1, 'sandbox_killed',
  '{"sandbox_id": "iexpired00000000000a", "existed": false}'),
 ('00000000-0000-4000-8000-000000000005', 1, '2026-01-03 08:00:01+00', 1, 'status',
  '{"from": "pending", "to": "planning", "attempt": 1}'),
 ('00000000-0000-4000-8000-000000000005', 2, '2026-01-03 08:00:05+00', 1, 'retry',
  '{"op": "llm", "try": 1, "delay_ms": 500, "error": "HTTP 529", "status": 529}'),
 ('00000000-0000-4000-8000-000000000005', 3, '2026-01-03 08:05:00+00', 3, 'error',
  '{"error": "the model API failed: HTTP 400 invalid request"}'),
 ('00000000-0000-4000-8000-000000000005', 4, '2026-01-03 08:05:00+00', 3, 'status',
  '{"from": "planning", "to": "failed"}'),
 ('00000000-0000-4000-8000-000000000006', 1, '2026-01-04 07:00:01+00', 1, 'status',
  '{"from": "pending", "to": "planning", "attempt": 1}'),
 ('00000000-0000-4000-8000-000000000006', 2, '2026-01-04 07:01:00+00', 1, 'status',
  '{"from": "planning", "to": "cancelled", "by": "regress_upgrade_alice"}'),
 ('00000000-0000-4000-8000-000000000006', 3, '2026-01-04 07:01:01+00', 1, 'cancelled',
  '{"reason": "cancelled by regress_upgrade_alice", "sandbox": "ilost000000000000000a"}'),
 ('00000000-0000-4000-8000-000000000007', 1, '2026-01-05 06:00:10+00', 1, 'rescued',
  '{"from": "planning", "to": "pending", "reason": "lease expired", "worker_pid": 4100, "next_try_at": "2030-01-01T00:00:00+00:00"}'),
 ('00000000-0000-4000-8000-000000000007', 2, '2026-01-05 06:00:30+00', 1, 'released',
  '{"to": "pending", "reason": "worker shut down"}');

-- sandboxes in the other states, as the worker records them
INSERT INTO sandboxes (sandbox_id, owner, run_id, template, metadata, state, domain, created_at,
                       last_used_at, expires_at, killed_at)
VALUES
 ('iexec000000000000000a', 'regress_upgrade_bob', '00000000-0000-4000-8000-000000000003', 'base',
  '{"pgsandbox_run": "00000000-0000-4000-8000-000000000003"}', 'running', 'e2b.app',
  '2026-01-01 11:00:02+00', '2026-01-01 11:03:00+00', '2026-01-01 11:10:00+00', NULL),
 ('iexpired00000000000a', 'regress_upgrade_alice', '00000000-0000-4000-8000-000000000004', 'base',
  '{}', 'expired', NULL, '2026-01-02 09:00:02+00', '2026-01-02 09:01:00+00',
  '2026-01-02 09:05:02+00', NULL),
 ('ilost000000000000000a', 'regress_upgrade_alice', '00000000-0000-4000-8000-000000000006',
  'code-interpreter-v1', '{"note": "ünïcödé"}', 'lost', NULL, '2026-01-04 07:00:02+00', NULL, NULL,
  '2026-01-04 07:01:01+00');
INSERT INTO sandbox_access (sandbox_id, access_token, envd_version) VALUES
 ('iexec000000000000000a', 'token-exec', '0.2.0'),
 ('iexpired00000000000a', NULL, NULL);
SQL

# --- the cluster and its sandboxd --------------------------------------------
source "$ROOT/test/lib/sandboxd.sh"
PG_BINDIR="$PRIV_BINDIR"
source "$ROOT/test/lib/pg.sh"
PG_DUMP="$SYS_BINDIR/pg_dump"
cleanup() {
    pg_cleanup
    sandboxd_stop_all
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
sandboxd_start --max-sandboxes 50
pg_start "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'"
psql -X -q -v ON_ERROR_STOP=1 -d postgres \
     -c "CREATE ROLE regress_upgrade_alice" -c "CREATE ROLE regress_upgrade_bob"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# compare LABEL: builds LABEL_a (1.0, data, UPDATE) and LABEL_b (fresh, same
# data), writes the listings and diffs to $WORK/LABEL/, prints the diffs;
# returns 1 on any difference.
compare() {
    local label=$1 out="$WORK/$1" a="${1}_a" b="${1}_b" rc=0
    mkdir -p "$out"
    psql -d postgres -c "CREATE DATABASE $a" -c "CREATE DATABASE $b"

    # A: 1.0, what users do with it, its data, then the update.  What users
    # do goes through the library being tested (the checkout's, built for
    # the new version) while the schema is still 1.0, as between `make
    # install` and ALTER EXTENSION UPDATE; each step that fails is noted in
    # $out/old-schema.failures and replaced by the row it would have written.
    psql -d "$a" -c "CREATE EXTENSION sandbox VERSION '$FROM_VERSION'"
    : >"$out/old-schema.failures"
    step() {   # step WHAT SQL...: runs SQL as regress_upgrade_alice, prints its last line
        local what=$1 res; shift
        if res=$(psql -At -d "$a" -c "SET ROLE regress_upgrade_alice" "$@" 2>&1); then
            printf '%s\n' "$res" | tail -n1
        else
            printf '%s: %s\n' "$what" "$(printf '%s' "$res" | grep -m1 ERROR)" >>"$out/old-schema.failures"
            return 1
        fi
    }
    psql -At -d "$a" -c "SELECT sandbox_grant_usage('regress_upgrade_alice')" \
                     -c "SELECT sandbox_grant_usage('regress_upgrade_bob')" >/dev/null
    local live_sb killed_sb
    if ! live_sb=$(step "sandbox_create" -c "SELECT sandbox_create(metadata => '{\"purpose\": \"upgrade test\"}')") ||
       ! step "sandbox_exec" -c "SELECT exit_code FROM sandbox_exec('$live_sb', 'echo kept > /home/user/kept.txt')" >/dev/null; then
        live_sb=ilivefallback0000000a
        psql -d "$a" -c "INSERT INTO sandboxes (sandbox_id, owner, template, metadata)
                         VALUES ('$live_sb', 'regress_upgrade_alice', 'base', '{\"purpose\": \"upgrade test\"}')"
    fi
    if ! killed_sb=$(step "sandbox_create" -c "SELECT sandbox_create('code-interpreter-v1', timeout_s => 120)") ||
       ! step "sandbox_kill" -c "SELECT sandbox_kill('$killed_sb')" >/dev/null; then
        killed_sb=ikilledfallback0000a
        psql -d "$a" -c "INSERT INTO sandboxes (sandbox_id, owner, template, state, killed_at)
                         VALUES ('$killed_sb', 'regress_upgrade_alice', 'code-interpreter-v1', 'killed', now())"
    fi
    if ! step "INSERT INTO agent_runs (the enqueue, through its triggers)" \
              -c "INSERT INTO agent_runs (id, prompt, priority, metadata)
                  VALUES ('00000000-0000-4000-8000-000000000001',
                          'Write fib(n) with memoization and test it for 0..10', 5, '{\"ticket\": 1}')" >/dev/null; then
        psql -d "$a" -c "SET session_replication_role = replica" \
             -c "INSERT INTO agent_runs (id, prompt, priority, metadata, owner)
                 VALUES ('00000000-0000-4000-8000-000000000001',
                         'Write fib(n) with memoization and test it for 0..10', 5, '{\"ticket\": 1}',
                         'regress_upgrade_alice')"
    fi
    psql -d "$a" -v live_sb="$live_sb" -f "$WORK/fixture.sql" >"$out/fixture.log" 2>&1 \
        || { cat "$out/fixture.log"; echo "not ok - $label: loading the $FROM_VERSION data failed"; return 1; }
    "$PG_DUMP" --data-only --disable-triggers -d "$a" >"$out/data-$FROM_VERSION.sql"
    if ! psql -d "$a" -c "ALTER EXTENSION sandbox UPDATE" >"$out/update.log" 2>&1; then
        cat "$out/update.log"
        echo "not ok - $label: ALTER EXTENSION sandbox UPDATE failed"
        return 1
    fi
    # the documented step after an update: grant again what the new version
    # adds (sandbox_worker_status in 1.1) to the roles granted before it
    psql -At -d "$a" -c "SELECT sandbox_grant_usage('regress_upgrade_alice')" \
                     -c "SELECT sandbox_grant_usage('regress_upgrade_bob')" >/dev/null

    # B: a fresh install, the same grants, the same data
    if ! { psql -d "$b" -c "CREATE EXTENSION sandbox" &&
           psql -d "$b" -c "SELECT sandbox_grant_usage('regress_upgrade_alice')" \
                        -c "SELECT sandbox_grant_usage('regress_upgrade_bob')" &&
           psql -d "$b" -f "$out/data-$FROM_VERSION.sql"; } >"$out/fresh.log" 2>&1; then
        cat "$out/fresh.log"
        echo "not ok - $label: a fresh install with the same data failed"
        return 1
    fi

    local db
    for db in a b; do
        "$PG_DUMP" --schema-only --binary-upgrade -d "${label}_$db" >"$out/$db.dump"
        python3 "$WORK/normalize.py" <"$out/$db.dump" >"$out/$db.schema"
        psql -d "${label}_$db" -f "$WORK/extension.sql" >"$out/$db.extension"
        psql -d "${label}_$db" -f "$WORK/data.sql" >"$out/$db.data"
    done

    local version
    version=$(psql -At -d "$a" -c "SELECT extversion FROM pg_extension WHERE extname = 'sandbox'")
    if [ "$version" != "$DEFAULT_VERSION" ]; then
        echo "not ok - $label: A is at version $version after the update, not $DEFAULT_VERSION"
        rc=1
    fi
    for db in a b; do
        if grep -q "NOT A MEMBER" "$out/$db.extension"; then
            echo "not ok - $label: in ${label}_$db, objects outside the extension:"
            grep "NOT A MEMBER" "$out/$db.extension" | sed 's/^/    /'
            rc=1
        fi
    done
    local what
    for what in schema extension data; do
        if diff -u --label "$FROM_VERSION updated to $DEFAULT_VERSION: $what" "$out/a.$what" \
                   --label "fresh $DEFAULT_VERSION: $what" "$out/b.$what" >"$out/$what.diff"; then
            echo "ok - $label: $what identical ($(grep -c . "$out/a.$what") lines)"
        else
            echo "not ok - $label: $what differs:"
            sed 's/^/    /' "$out/$what.diff"
            rc=1
        fi
    done
    # the updated install still works: kill the sandbox that was live under 1.0
    if [ "$live_sb" != ilivefallback0000000a ] &&
       ! psql -At -d "$a" -c "SELECT sandbox_kill('$live_sb')" >"$out/kill.log" 2>&1; then
        cat "$out/kill.log"
        echo "not ok - $label: sandbox_kill after the update"
        rc=1
    fi
    return $rc
}

status=0
echo "# $FROM_VERSION -> $DEFAULT_VERSION: ALTER EXTENSION UPDATE vs a fresh install (scripts from $ROOT)"
install_scripts
compare upgrade || status=1
# The library refuses an older schema until ALTER EXTENSION UPDATE: each
# refusal must say so (and happen before anything is created in E2B).
if [ -s "$WORK/upgrade/old-schema.failures" ] &&
   ! grep -qv "run ALTER EXTENSION sandbox UPDATE" "$WORK/upgrade/old-schema.failures"; then
    echo "ok - the $DEFAULT_VERSION library refuses a $FROM_VERSION schema until the update, saying" \
         "\"run ALTER EXTENSION sandbox UPDATE\" ($(wc -l <"$WORK/upgrade/old-schema.failures") steps)"
elif [ -s "$WORK/upgrade/old-schema.failures" ]; then
    echo "not ok - the $DEFAULT_VERSION library on a $FROM_VERSION schema (after make install, before" \
         "ALTER EXTENSION UPDATE) fails what users do without saying why:"
    sed 's/^/    /' "$WORK/upgrade/old-schema.failures"
    status=1
else
    echo "ok - the $DEFAULT_VERSION library serves a $FROM_VERSION schema until the update" \
         "(sandbox_create, sandbox_exec, sandbox_kill, enqueue)"
fi

if [ "${UPGRADE_PROVE:-1}" != "0" ]; then
    echo "# proof: each deliberate difference in private copies of the scripts must fail the comparison"
    # label | appended to the upgrade | appended to the full script |
    # line regex in the full script | inserted after it | expected in the diff
    prove() {
        local label=$1 up=$2 full=$3 after=$4 ins=$5 pattern=$6 rc=0
        install_scripts "$up" "$full" "$after" "$ins" ||
            { echo "not ok - proof $label: could not make the scripts"; status=1; return; }
        compare "$label" >"$WORK/$label.out" 2>&1 || rc=$?
        if [ $rc -ne 0 ] && grep -qE -- "$pattern" "$WORK/$label.out"; then
            echo "ok - proof $label: the comparison fails, and says: $(grep -E -- "$pattern" "$WORK/$label.out" | head -n1 | sed 's/^ *//')"
        else
            echo "not ok - proof $label: the comparison did not catch it (exit $rc)"
            sed 's/^/    /' "$WORK/$label.out"
            status=1
        fi
    }
    prove column_only_in_upgrade \
        "ALTER TABLE @extschema@.agent_runs ADD COLUMN regress_probe int;" "" "" "" \
        '^\s+[-+]\s+regress_probe integer'
    prove column_order \
        "ALTER TABLE @extschema@.agent_runs ADD COLUMN regress_probe int;" "" \
        '(CREATE TABLE @extschema@\.agent_runs \(\n[^\n]*,\n)' '\1    regress_probe int,\n' \
        '^\s+[-+]\s+regress_probe integer,$'
    prove default \
        "ALTER TABLE @extschema@.agent_runs ALTER COLUMN priority SET DEFAULT 1;" "" "" "" \
        '^\s+[-+]\s+priority integer DEFAULT 1 NOT NULL'
    prove data_changed_by_upgrade \
        "UPDATE @extschema@.agent_runs SET priority = priority + 1;" "" "" "" \
        '^\s+[-+]agent_runs .* priority = '
    prove enum_order \
        "ALTER TYPE @extschema@.sandbox_state ADD VALUE 'regress_probe' BEFORE 'killed';" \
        "ALTER TYPE @extschema@.sandbox_state ADD VALUE 'regress_probe';" "" "" \
        "^\s+[-+]ALTER TYPE public.sandbox_state ADD VALUE 'regress_probe'"
    prove grant \
        "GRANT SELECT ON @extschema@.sandbox_access TO PUBLIC;" "" "" "" \
        '^\s+[-+]GRANT SELECT ON TABLE public.sandbox_access TO PUBLIC'
    prove not_a_member \
        "ALTER EXTENSION sandbox DROP FUNCTION @extschema@.sandbox_kill(text);" "" "" "" \
        'NOT A MEMBER of the extension: function (public\.)?sandbox_kill'
    prove index_predicate \
        "CREATE INDEX regress_probe ON @extschema@.agent_runs (priority) WHERE priority > 0;" \
        "CREATE INDEX regress_probe ON @extschema@.agent_runs (priority) WHERE priority >= 0;" "" "" \
        '^\s+[-+]CREATE INDEX regress_probe .*WHERE \(priority >'
    prove policy \
        "CREATE POLICY regress_probe ON @extschema@.agent_runs FOR SELECT USING (true);" \
        "CREATE POLICY regress_probe ON @extschema@.agent_runs FOR SELECT USING (false);" "" "" \
        '^\s+[-+]CREATE POLICY regress_probe .*USING \((true|false)\)'
    prove function_body \
        "CREATE FUNCTION @extschema@.regress_probe() RETURNS int LANGUAGE sql AS 'SELECT 1';" \
        "CREATE FUNCTION @extschema@.regress_probe() RETURNS int LANGUAGE sql AS 'SELECT 2';" "" "" \
        "^\s+[-+]\s+AS \\\$\\\$SELECT [12]\\\$\\\$|^\s+[-+].*SELECT [12]"
    prove constraint \
        "ALTER TABLE @extschema@.agent_runs ADD CONSTRAINT regress_probe CHECK (priority > -1000);" "" "" "" \
        '^\s+[-+]\s+CONSTRAINT regress_probe CHECK'

    # and artefacts must not: each of these adds no difference to the plain
    # run's (a column added then dropped, a fast default vs the same column
    # in CREATE TABLE, grants given in another order, objects created in
    # another order)
    control() {
        local label=$1 rc=0 what same=1
        install_scripts "$2" "$3" "${4:-}" "${5:-}" ||
            { echo "not ok - control $label: could not make the scripts"; status=1; return; }
        compare "$label" >"$WORK/$label.out" 2>&1 || rc=$?
        for what in schema extension data; do
            cmp -s <(grep -v '^@@' "$WORK/upgrade/$what.diff" | tail -n +3) \
                   <(grep -v '^@@' "$WORK/$label/$what.diff" | tail -n +3) || same=0
        done
        if [ $same = 1 ] && ! grep -q "failed$" "$WORK/$label.out"; then
            echo "ok - control $label: no difference beyond the plain run's"
        else
            echo "not ok - control $label: a difference that is an artefact (exit $rc)"
            sed 's/^/    /' "$WORK/$label.out"
            status=1
        fi
    }
    control dropped_column \
        "ALTER TABLE @extschema@.agent_runs ADD COLUMN regress_gone text;
         ALTER TABLE @extschema@.agent_runs DROP COLUMN regress_gone;" ""
    control fast_default \
        "ALTER TABLE @extschema@.sandbox_access ADD COLUMN regress_fast int NOT NULL DEFAULT 7;" "" \
        '(CREATE TABLE @extschema@\.sandbox_access \(.*?)\n\);' '\1,\n    regress_fast int NOT NULL DEFAULT 7\n);'
    control grant_and_object_order \
        "CREATE FUNCTION @extschema@.regress_f2() RETURNS int LANGUAGE sql AS 'SELECT 2';
         CREATE FUNCTION @extschema@.regress_f1() RETURNS int LANGUAGE sql AS 'SELECT 1';
         GRANT EXECUTE ON FUNCTION @extschema@.regress_f1() TO regress_upgrade_bob;
         GRANT EXECUTE ON FUNCTION @extschema@.regress_f1() TO regress_upgrade_alice;" \
        "CREATE FUNCTION @extschema@.regress_f1() RETURNS int LANGUAGE sql AS 'SELECT 1';
         CREATE FUNCTION @extschema@.regress_f2() RETURNS int LANGUAGE sql AS 'SELECT 2';
         GRANT EXECUTE ON FUNCTION @extschema@.regress_f1() TO regress_upgrade_alice;
         GRANT EXECUTE ON FUNCTION @extschema@.regress_f1() TO regress_upgrade_bob;"
    install_scripts
fi

live=$(sandboxd_admin GET /admin/stats | sed -n 's/.*"sandboxes_live":\([0-9]*\).*/\1/p')
if [ "$live" = "0" ]; then
    echo "ok - no sandbox left live"
else
    echo "not ok - $live sandboxes left live"; status=1
fi
pg_check_no_crash || status=1
if [ $status -eq 0 ]; then echo "upgrade: all checks passed"; else echo "upgrade: FAILED"; fi
exit $status
