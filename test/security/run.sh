#!/usr/bin/env bash
# test/security/run.sh: the extension attacked by unprivileged and granted
# roles (issue 9, points 1 and 2, and cross-role reach).  Starts its own
# cluster (worker preloaded), sandboxd and modeld, then for each attack
# prints `ok - ...` / `not ok - ...` (with what it found), and exits 1 if any
# failed.  Assumes `make install` has been run.
#
#  1. search_path hijack: regress_attacker plants operators (text, both enums,
#     timestamptz, int4/int8, uuid, jsonb, oid/regrole, bool, arrays, mixed
#     arithmetic) and type names (domains named text, uuid...) whose functions
#     log who ran them (test/security/log.sql, ops.sql)
#       (a) in its own schema, first on its search_path   (database sec_main)
#       (b) in public, where it was granted CREATE         (sec_main)
#       (c) in public before CREATE EXTENSION, in a database it owns, whose
#           search_path it sets to public, pg_catalog       (sec_pre)
#           before CREATE EXTENSION VERSION '1.0' (bound into its
#           predicates) and between it and ALTER EXTENSION UPDATE (sec_upd)
#     then every SQL function, runs, cancels, the worker, the reaper and
#     retention are exercised by the attacker, a victim role and a superuser;
#     no planted code may have run as anyone but regress_attacker, and no
#     object of the extension may depend on an operator, function or type
#     outside pg_catalog (test/security/deps.sql).
#  2. trigger functions as tools: EXECUTE by PUBLIC, attached to a role's own
#     tables (forged events in another role's run), tables without the
#     expected columns (clean refusal, no crash).
#  3. cross-role reach: another role's runs, events, sandboxes, forged rows,
#     worker-only columns, access tokens, API keys, DDL on its objects.
# Lines `not ok - ... # TODO` report weaknesses outside issue 9 (overloading
# with CREATE on the extension's schema, LISTEN) without failing the suite.
#
# KEEP_TMP=1 keeps the cluster's directory (server log) after the run.
# PG_BINDIR=<bin dir of another installation> runs it against that one (e.g.
# a relocated copy with an older build of the extension installed in it).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

T0=$(date +%s)
passed=0
failed=0
failed_names=()
ok() { echo "ok - $1"; passed=$((passed + 1)); }
notok() { echo "not ok - $1"; failed=$((failed + 1)); failed_names+=("$1"); }
todo() { echo "not ok - $1 # TODO not in issue 9's scope, reported only"; }
diag() { sed -e 's/^/#   /'; }
# check NAME GOT WANT [DETAIL]
check() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1"; echo "#   got '$2', want '$3'"; [ -z "${4:-}" ] || echo "$4" | diag; fi
}
# check_empty NAME OUTPUT: passes when OUTPUT is empty, else prints it
check_empty() {
    local out
    out=$(printf '%s\n' "$2" | sed '/^[[:space:]]*$/d')
    if [ -z "$out" ]; then ok "$1"; else notok "$1"; echo "$out" | head -40 | diag; fi
}

sandboxd_start --max-sandboxes 300 || exit 1
modeld_start || exit 1
LLM_KEY="sectest-llm-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = 'sec_main'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 50" \
         "sandbox.lease_time = 10" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_provider = 'anthropic'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.llm_api_key = '$LLM_KEY'" \
         "sandbox.run_timeout = 60" || exit 1
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
unset PGUSER PGDATABASE

# --- psql helpers --------------------------------------------------------
# su DB [psql args]: a superuser whose search_path is pg_catalog alone, for
# the test's own look-ups (no planted object can be picked by them)
suq() { local db=$1; shift; PGOPTIONS="-c search_path=pg_catalog" psql -X -q -At -U postgres -d "$db" "$@"; }
# su_plain DB: a superuser with the database's default search_path, doing
# what a superuser normally does (SQL on stdin); errors are printed as notes
su_plain() { psql -X -q -At -U postgres -d "$1" -v ON_ERROR_STOP=0 2>&1 >/dev/null | sed -e 's/^/#   [postgres] /'; }
# as ROLE DB: SQL on stdin as ROLE (its own search_path); errors as notes
as() { psql -X -q -At -U "$1" -d "$2" -v ON_ERROR_STOP=0 "${@:3}" 2>&1 >/dev/null | sed -e "s/^/#   [$1] /"; }
# try ROLE DB SQL: runs SQL as ROLE; prints its output, ERROR:<sqlstate>, or
# CRASH:<output> when the connection was lost
try() {
    local out rc
    out=$(PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -U "$1" -d "$2" -v VERBOSITY=sqlstate -v ON_ERROR_STOP=1 -c "$3" 2>&1)
    rc=$?
    if grep -qE "server closed the connection|terminated abnormally|connection to server .* failed|no connection to the server" <<<"$out"; then
        echo "CRASH:$(tr '\n' ' ' <<<"$out")"
    elif [ $rc = 0 ]; then
        printf '%s' "$out"
    else
        echo "ERROR:$(grep -oE 'ERROR:  [0-9A-Z]{5}' <<<"$out" | head -1 | sed 's/ERROR:  //')"
    fi
}
ext_schema() { suq "$1" -c "SELECT quote_ident(extnamespace::regnamespace::text) FROM pg_extension WHERE extname = 'sandbox'"; }
# wait_runs DB SECONDS: waits until no due run is live; prints how many are
wait_runs() {
    local n="" e
    e=$(ext_schema "$1")
    for _ in $(seq 1 $(($2 * 5))); do
        n=$(suq "$1" -c "SELECT count(*) FROM $e.agent_runs WHERE status::text IN ('pending', 'planning', 'executing') AND run_after < '2900-01-01'")
        [ "$n" = 0 ] && break
        sleep 0.2
    done
    echo "$n"
}
# wait_status DB RUN STATUS SECONDS
wait_status() {
    local e s=""
    e=$(ext_schema "$1")
    for _ in $(seq 1 $(($4 * 10))); do
        s=$(suq "$1" -c "SELECT status::text FROM $e.agent_runs WHERE id = '$2'")
        [ "$s" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
wait_worker() {
    local e
    e=$(ext_schema "$1")
    for _ in $(seq 1 100); do
        [ "$(suq "$1" -c "SELECT count(*) FROM $e.sandbox_worker_status() WHERE pid IS NOT NULL AND pid <> 0" 2>/dev/null)" = 1 ] && return 0
        sleep 0.2
    done
    return 1
}
# crash_lines: processes that died of a signal other than SIGKILL (9 comes
# from outside: another test on this machine killing 'sandbox worker' by name)
crash_lines() { grep -E "terminated by signal|was terminated by exception|PANIC" "$PG_SERVER_LOG" | grep -v "terminated by signal 9:" || true; }
external_kills() { grep -E "terminated by signal 9:" "$PG_SERVER_LOG" || true; }
# escalations DB: planted code that ran as another role, from attacker.log
# and from the server log (rows of a transaction that rolled back are only
# there); one line per distinct (what, who, statement)
escalations() {
    suq "$1" -F $'\t' -c "SELECT tag, cur, sess, su, coalesce(btype, ''), replace(ctx, E'\n', ' <- '), replace(coalesce(q, ''), E'\n', ' ')
                      FROM attacker.log WHERE cur <> 'regress_attacker' ORDER BY at" |
        python3 "$HERE/escalations.py" "$1" "$PG_SERVER_LOG"
}
# summary of escalations: one line per (operator, role) with a count
escalation_summary() {
    escalations "$1" | awk -F' \\| ' '{print $1 " | " $2}' | sort | uniq -c | sort -rn | head -40
}

public_exec_check() {   # DB: no internal function of the extension is executable by PUBLIC or by a granted role
    local db=$1 documented out
    documented=$(grep -oE '\bsandbox_[a-z_]+\(' "$ROOT/docs/sql-reference.md" | tr -d '(' | sort -u | paste -sd, -)
    local q="SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
                JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'sandbox'"
    out=$(suq "$db" -c "$q WHERE NOT p.proname = ANY (string_to_array('$documented', ','))
                          AND has_function_privilege('regress_nobody', p.oid, 'EXECUTE') ORDER BY 1")
    check_empty "[$db] no internal function of the extension (not in docs/sql-reference.md) is executable by PUBLIC" "$out"
    out=$(suq "$db" -c "$q WHERE NOT p.proname = ANY (string_to_array('$documented', ','))
                          AND has_function_privilege('regress_attacker', p.oid, 'EXECUTE') ORDER BY 1")
    check_empty "[$db] no internal function of the extension is executable by a granted role" "$out"
    out=$(suq "$db" -c "$q WHERE has_function_privilege('regress_nobody', p.oid, 'EXECUTE') ORDER BY 1" | paste -sd' ' -)
    [ -z "$out" ] || echo "# [$db] documented functions executable by every role: $out"
}
deps_check() {   # DB LABEL
    local out
    out=$(suq "$1" -f "$HERE/deps.sql" 2>&1)
    check_empty "[$1] $2: the extension's indexes, constraints, defaults, policies and triggers use only pg_catalog operators, functions and types" "$out"
}
escalation_check() {   # DB LABEL
    local out
    out=$(escalations "$1")
    if [ -z "$out" ]; then
        ok "[$1] $2: no planted operator, function or type ran as any role but regress_attacker"
    else
        notok "[$1] $2: no planted operator, function or type ran as any role but regress_attacker"
        echo "#   $(echo "$out" | wc -l) distinct (operator, role, statement); by operator and role:"
        escalation_summary "$1" | diag
        echo "#   statements:"
        echo "$out" | awk -F' \\| ' '{split($2, u, " "); print u[1] ": " $1 " <= " $3}' | awk '!s[$0]++' | head -60 | diag
    fi
}

psql -X -q -U postgres -d postgres <<'SQL' || exit 1
CREATE ROLE regress_attacker LOGIN;
CREATE ROLE regress_victim LOGIN;
CREATE ROLE regress_nobody LOGIN;
CREATE DATABASE sec_main;
CREATE DATABASE sec_upd;
CREATE DATABASE sec_pre OWNER regress_attacker;
SQL

###########################################################################
echo "# === sec_main: (a) the attacker's own schema first on its path, (b) public with CREATE granted"
###########################################################################
# The extension and the planted operators commit together: the worker
# prepares its statements once, when it first sees the extension, so an
# operator planted later would only be picked after a worker restart.
psql -X -q -U postgres -d sec_main -v ON_ERROR_STOP=1 >/dev/null <<SQL || exit 1
CREATE SCHEMA attacker AUTHORIZATION regress_attacker;
GRANT CREATE ON SCHEMA public TO regress_attacker;
ALTER ROLE regress_attacker IN DATABASE sec_main SET search_path = attacker, public, pg_catalog;
BEGIN;
CREATE EXTENSION sandbox;
SELECT sandbox_grant_usage('regress_attacker');
SELECT sandbox_grant_usage('regress_victim');
SET ROLE regress_attacker;
\i $HERE/log.sql
\set target attacker
\set mode post
\set ext public
\i $HERE/ops.sql
\set target public
\i $HERE/ops.sql
RESET ROLE;
COMMIT;
SQL
MAIN_EXT=$(ext_schema sec_main)
echo "# server $(suq sec_main -c "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")/sandbox.so, extension $(suq sec_main -c "SELECT extversion FROM pg_extension WHERE extname = 'sandbox'")"
wait_worker sec_main || echo "# the worker did not start in sec_main"

# controls: the planted objects are really picked where they should be
check "control: the attacker's own operators are picked in its own session" \
    "$(try regress_attacker sec_main "SELECT 'x'::pg_catalog.text = 'x'; SELECT count(*) > 0 FROM attacker.log WHERE tag = 'attacker.=(text, text)'" | tail -1)" "t"
check "control: an exact enum operator in public beats the catalog's anyenum = anyenum with pg_catalog first" \
    "$(try regress_attacker sec_main "SET search_path = pg_catalog, public; SELECT 'running'::$MAIN_EXT.sandbox_state = 'running'; SELECT count(*) > 0 FROM attacker.log WHERE tag LIKE 'public.=(%sandbox_state, %sandbox_state)'" | tail -1)" "t"

# --- the victim: a sandbox and runs that class 2 and 3 attack ------------
VSB=$(try regress_victim sec_main "SELECT sandbox_create(metadata => '{\"who\": \"victim\"}')")
vrun() { try regress_victim sec_main "INSERT INTO agent_runs (prompt, run_after) VALUES (\$p\$$1\$p\$, '$2') RETURNING id"; }
VRUN_FUT=$(vrun "victim, later" 2999-01-01)
VRUN_G1=$(vrun "victim, later (guard attack by a role with no grants)" 2999-01-01)
VRUN_G2=$(vrun "victim, later (guard attack by a granted role)" 2999-01-01)
VRUN_DONE=$(vrun $'victim, now\n```bash\necho victim-output\n```\n```python\nprint(6*7)\n```' 2000-01-01)
VRUN_LONG=$(vrun $'victim, long\n```bash\nsleep 20\n```' 2000-01-01)
echo "# victim: sandbox $VSB, runs done=$VRUN_DONE future=$VRUN_FUT long=$VRUN_LONG"

# --- class 1 exercise: every function, as the attacker, the victim and a superuser
echo "# exercising every SQL function as regress_attacker (search_path attacker, public, pg_catalog)"
as regress_attacker sec_main <<'SQL'
SELECT sandbox_create(metadata => '{"who": "attacker"}', timeout_s => 600) AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo in-sandbox');
SELECT * FROM sandbox_exec(:'sb', 'pwd', cwd => '/tmp', envs => '{"A": "1"}', timeout_ms => 10000);
SELECT * FROM sandbox_exec('echo one-shot');
SELECT * FROM sandbox_exec('echo one-shot-2', envs => '{"B": "2"}', timeout_ms => 10000);
SELECT sandbox_run_code(:'sb', 'print(1 + 1)');
SELECT sandbox_write_file(:'sb', '/home/user/a.txt', 'hello');
SELECT sandbox_write_file(:'sb', '/home/user/b.bin', '\x00ff'::bytea);
SELECT sandbox_read_file(:'sb', '/home/user/b.bin');
SELECT sandbox_read_file_text(:'sb', '/home/user/a.txt');
SELECT * FROM sandbox_list_files(:'sb', '/home/user');
SELECT * FROM sandbox_list_files(:'sb', '/home/user', depth => 2);
SELECT sandbox_make_dir(:'sb', '/home/user/d');
SELECT sandbox_make_dir(:'sb', '/home/user/d');
SELECT sandbox_remove_file(:'sb', '/home/user/d');
SELECT sandbox_remove_file(:'sb', '/home/user/missing');
SELECT sandbox_set_timeout(:'sb', 300);
SELECT sandbox_info(:'sb');
SELECT * FROM sandbox_list();
SELECT * FROM sandbox_list('{"who": "attacker"}');
SELECT sandbox_create() AS sb2 \gset
SELECT sandbox_kill(:'sb2');
SELECT sandbox_kill(:'sb2');
BEGIN; SELECT sandbox_create() AS sb3 \gset
ROLLBACK;
SELECT * FROM sandbox_worker_status();
SELECT sandbox_set_secret('ATTACKER_TOKEN', 'attacker-token-value');
SELECT sandbox_set_secret('ATTACKER_TOKEN', 'attacker-token-value-2');
SELECT sandbox_grant_secret('ATTACKER_TOKEN', 'regress_victim');
SELECT * FROM sandbox_list_secrets();
SELECT sandbox_create(secrets => ARRAY['ATTACKER_TOKEN'], envs => '{"A": "1"}') AS sb4 \gset
SELECT sandbox_kill(:'sb4');
SELECT sandbox_revoke_secret('ATTACKER_TOKEN', 'regress_victim');
SELECT sandbox_drop_secret('ATTACKER_TOKEN');
SELECT sandbox_set_secret('ATTACKER_KEPT', 'attacker-kept-value');
SQL
ARUN_DONE=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, metadata) VALUES (\$p\$attacker run
\`\`\`bash
echo attacker-output
\`\`\`
\`\`\`python
print(sum(range(10)))
\`\`\`
\$p\$, '{\"k\": \"v\"}') RETURNING id")
ARUN_ENV=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt) VALUES (\$p\$show the environment
\`\`\`bash
env
\`\`\`
\$p\$) RETURNING id")
ARUN_FUT=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, run_after, priority) VALUES ('attacker later', '2999-01-01', 1) RETURNING id")
ARUN_LONG=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt) VALUES (\$p\$attacker long
\`\`\`bash
sleep 20
\`\`\`
\$p\$) RETURNING id")
ARUN_PLAN=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt) VALUES ('attacker, no code [[modeld: latency=300]]') RETURNING id")
as regress_attacker sec_main <<SQL
UPDATE agent_runs SET priority = 5, metadata = '{"x": 1}' WHERE id = '$ARUN_FUT';
UPDATE agent_runs SET run_after = '2998-01-01' WHERE id = '$ARUN_FUT';
SELECT status, plan, result, error FROM agent_runs WHERE id = '$ARUN_DONE';
SELECT * FROM agent_run_events ORDER BY seq LIMIT 5;
SQL
wait_status sec_main "$ARUN_LONG" executing 20 || echo "# the attacker's long run did not reach executing"
as regress_attacker sec_main <<SQL
SELECT sandbox_cancel_run('$ARUN_LONG');
UPDATE agent_runs SET status = 'cancelled' WHERE id = '$ARUN_FUT';
SELECT sandbox_cancel_run('$ARUN_FUT');
SQL

echo "# exercising as regress_victim (default search_path) and as a superuser"
as regress_victim sec_main <<SQL
SELECT sandbox_create(timeout_s => 600) AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo victim');
SELECT sandbox_run_code(:'sb', 'print(2)');
SELECT sandbox_write_file(:'sb', 'v.txt', 'v');
SELECT sandbox_read_file_text(:'sb', 'v.txt');
SELECT * FROM sandbox_list_files(:'sb');
SELECT sandbox_make_dir(:'sb', 'vd');
SELECT sandbox_remove_file(:'sb', 'vd');
SELECT sandbox_set_timeout(:'sb', 200);
SELECT sandbox_info(:'sb');
SELECT * FROM sandbox_list();
SELECT sandbox_kill(:'sb');
SELECT * FROM sandbox_exec('echo victim-once');
SELECT * FROM sandbox_exec('$VSB', 'echo keep');
SELECT sandbox_set_secret('VICTIM_X', 'victim-x-value');
SELECT sandbox_create(secrets => ARRAY['VICTIM_X']) AS sb5 \gset
SELECT sandbox_kill(:'sb5');
SELECT * FROM sandbox_list_secrets();
SELECT sandbox_drop_secret('VICTIM_X');
SQL
su_plain sec_main <<SQL
SELECT sandbox_create(timeout_s => 600) AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo su');
SELECT sandbox_run_code(:'sb', 'print(3)');
SELECT sandbox_write_file(:'sb', 's.txt', 's');
SELECT sandbox_read_file(:'sb', 's.txt');
SELECT * FROM sandbox_list_files(:'sb');
SELECT sandbox_make_dir(:'sb', 'sd');
SELECT sandbox_remove_file(:'sb', 'sd');
SELECT sandbox_set_timeout(:'sb', 200);
SELECT sandbox_info(:'sb');
SELECT * FROM sandbox_list();
SELECT * FROM sandbox_list(all_databases => true);
SELECT * FROM sandbox_worker_status();
SELECT sandbox_kill(:'sb');
SELECT * FROM sandbox_exec('echo su-once');
SELECT * FROM sandbox_exec('$VSB', 'echo su-in-victim');
SELECT sandbox_create(timeout_s => 2) AS short \gset
INSERT INTO agent_runs (prompt) VALUES (\$p\$superuser run
\`\`\`bash
echo su-run
\`\`\`
\$p\$);
SELECT sandbox_grant_usage('regress_victim');
SQL
wait_status sec_main "$VRUN_LONG" executing 20 || echo "# the victim's long run did not reach executing"
as regress_victim sec_main <<SQL
SELECT sandbox_cancel_run('$VRUN_LONG');
SQL
left=$(wait_runs sec_main 40)
[ "$left" = 0 ] || echo "# $left runs still live in sec_main after 40 s"
check "the attacker's ordinary run completes (planted operators return the right answers)" \
    "$(suq sec_main -c "SELECT status::text FROM $MAIN_EXT.agent_runs WHERE id = '$ARUN_DONE'")" "completed"
check "the victim's ordinary run completes" \
    "$(suq sec_main -c "SELECT status::text FROM $MAIN_EXT.agent_runs WHERE id = '$VRUN_DONE'")" "completed"

###########################################################################
echo "# === class 3: cross-role reach (regress_attacker against regress_victim)"
###########################################################################
check "victim rows exist (the checks below are not vacuous)" \
    "$(suq sec_main -c "SELECT (SELECT count(*) FROM $MAIN_EXT.agent_runs WHERE owner = 'regress_victim'::regrole) > 0 AND (SELECT count(*) FROM $MAIN_EXT.agent_run_events WHERE run_id = '$VRUN_DONE') > 0 AND (SELECT count(*) FROM $MAIN_EXT.sandboxes WHERE owner = 'regress_victim'::regrole) > 0")" "t"
check "the attacker sees none of another role's runs" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM agent_runs WHERE NOT pg_has_role(owner, 'USAGE')")" "0"
check "the attacker cannot read the victim's run by id" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM agent_runs WHERE id = '$VRUN_DONE'")" "0"
check "the attacker sees none of the victim's events" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM agent_run_events WHERE run_id IN ('$VRUN_DONE', '$VRUN_LONG')")" "0"
check "the attacker sees no other role's sandbox rows" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM sandboxes WHERE NOT pg_has_role(owner, 'USAGE') OR sandbox_id = '$VSB'")" "0"
got=$(try regress_attacker sec_main "UPDATE agent_runs SET status = 'cancelled' WHERE id = '$VRUN_FUT' RETURNING id")
check "the attacker cannot cancel the victim's run with UPDATE" \
    "$(suq sec_main -c "SELECT status::text FROM $MAIN_EXT.agent_runs WHERE id = '$VRUN_FUT'")" "pending" "UPDATE answered: $got"
got=$(try regress_attacker sec_main "SELECT sandbox_cancel_run('$VRUN_FUT')")
check "the attacker cannot cancel the victim's run with sandbox_cancel_run" \
    "$(suq sec_main -c "SELECT status::text FROM $MAIN_EXT.agent_runs WHERE id = '$VRUN_FUT'")|$got" "pending|f"
got=$(try regress_attacker sec_main "INSERT INTO agent_runs (id, prompt) VALUES ('$VRUN_FUT', 'x') ON CONFLICT (id) DO UPDATE SET status = 'cancelled' RETURNING id")
check "the attacker cannot cancel the victim's run through INSERT ... ON CONFLICT DO UPDATE" \
    "$(suq sec_main -c "SELECT status::text FROM $MAIN_EXT.agent_runs WHERE id = '$VRUN_FUT'")" "pending" "INSERT answered: $got"
got=$(try regress_attacker sec_main "DELETE FROM agent_runs WHERE id = '$VRUN_FUT' RETURNING id")
check "the attacker cannot delete the victim's run" \
    "$(suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.agent_runs WHERE id = '$VRUN_FUT'")" "1" "DELETE answered: $got"
bad=""
for call in "SELECT * FROM sandbox_exec('$VSB', 'id')" \
            "SELECT sandbox_run_code('$VSB', 'print(1)')" \
            "SELECT sandbox_read_file('$VSB', '/etc/hostname')" \
            "SELECT sandbox_read_file_text('$VSB', '/etc/hostname')" \
            "SELECT sandbox_write_file('$VSB', '/home/user/x', 'x')" \
            "SELECT sandbox_write_file('$VSB', '/home/user/x', '\\x00'::bytea)" \
            "SELECT * FROM sandbox_list_files('$VSB', '/home/user')" \
            "SELECT sandbox_remove_file('$VSB', '/home/user/x')" \
            "SELECT sandbox_make_dir('$VSB', '/home/user/y')" \
            "SELECT sandbox_set_timeout('$VSB', 1)" \
            "SELECT sandbox_info('$VSB')" \
            "SELECT sandbox_kill('$VSB')"; do
    got=$(try regress_attacker sec_main "$call")
    [ "$got" = "ERROR:42501" ] || bad+="$call -> $(head -c 200 <<<"$got")"$'\n'
done
check_empty "the attacker gets 42501 from every function on the victim's sandbox" "$bad"
check "the victim's sandbox survived the attempts and still works for the victim" \
    "$(suq sec_main -c "SELECT state::text FROM $MAIN_EXT.sandboxes WHERE sandbox_id = '$VSB'")|$(try regress_victim sec_main "SELECT stdout FROM sandbox_exec('$VSB', 'echo alive')")" "running|alive"
check "sandbox_list() does not show the attacker the victim's sandbox" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM sandbox_list() WHERE sandbox_id = '$VSB' OR NOT pg_has_role(owner, 'USAGE')")" "0"
check "sandbox_list(all_databases => true) is refused to a non-superuser" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM sandbox_list(all_databases => true)")" "ERROR:42501"
got=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, owner) VALUES ('as victim', 'regress_victim') RETURNING owner")
check "the attacker cannot enqueue a run owned by the victim" "${got%%:*}" "ERROR" "answered: $got"
got=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, status) VALUES ('forged', 'completed') RETURNING status")
check "the attacker cannot insert a finished run" "${got%%:*}" "ERROR" "answered: $got"
forged=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, run_after, attempts, worker_pid, last_seq, lease_until, deadline_at,
        result, error, plan, plan_version, sandbox_id, started_at, completed_at, llm_calls, input_tokens, output_tokens)
    VALUES ('forged bookkeeping', '2999-01-01', 7, pg_backend_pid(), 50, '2999-01-01', '2999-01-01',
        '{\"forged\": true}', 'forged', '{\"forged\": true}', 9, '$VSB', '2000-01-01', NULL, 9, 9, 9) RETURNING id")
if [[ "$forged" == ERROR:* ]]; then
    ok "a run with forged worker columns is refused ($forged)"
else
    got=$(suq sec_main -c "SELECT concat_ws(',',
            CASE WHEN attempts <> 0 THEN 'attempts' END, CASE WHEN worker_pid IS NOT NULL THEN 'worker_pid' END,
            CASE WHEN last_seq <> 0 THEN 'last_seq' END, CASE WHEN lease_until IS NOT NULL THEN 'lease_until' END,
            CASE WHEN deadline_at IS NOT NULL THEN 'deadline_at' END, CASE WHEN result IS NOT NULL THEN 'result' END,
            CASE WHEN error IS NOT NULL THEN 'error' END, CASE WHEN plan IS NOT NULL THEN 'plan' END,
            CASE WHEN plan_version <> 0 THEN 'plan_version' END, CASE WHEN sandbox_id IS NOT NULL THEN 'sandbox_id' END,
            CASE WHEN started_at IS NOT NULL THEN 'started_at' END, CASE WHEN completed_at IS NOT NULL THEN 'completed_at' END,
            CASE WHEN llm_calls <> 0 THEN 'llm_calls' END, CASE WHEN input_tokens <> 0 THEN 'input_tokens' END,
            CASE WHEN output_tokens <> 0 THEN 'output_tokens' END, CASE WHEN status::text <> 'pending' THEN 'status' END,
            CASE WHEN owner <> 'regress_attacker'::regrole THEN 'owner' END)
          FROM $MAIN_EXT.agent_runs WHERE id = '$forged'")
    check "a run inserted with forged worker columns keeps none of them (columns kept)" "$got" ""
fi
OWN_RUN=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, run_after) VALUES ('attacker pending', '2999-01-01') RETURNING id")
bad=""
for set in "status = 'completed'" "status = 'executing'" "result = '{}'" "error = 'x'" "attempts = 9" "worker_pid = 1" \
           "last_seq = 99" "lease_until = now()" "deadline_at = now()" "owner = 'regress_victim'" "sandbox_id = '$VSB'" \
           "plan = '{}'" "plan_version = 5" "completed_at = now()" "started_at = now()" "llm_calls = 1" \
           "input_tokens = 1" "output_tokens = 1" "prompt = 'changed'" "id = gen_random_uuid()" "created_at = now()"; do
    got=$(try regress_attacker sec_main "UPDATE agent_runs SET $set WHERE id = '$OWN_RUN' RETURNING id")
    [[ "$got" == ERROR:* ]] || bad+="UPDATE agent_runs SET $set -> $got"$'\n'
done
check_empty "the attacker cannot write worker-only columns of its own run" "$bad"
bad=""
for stmt in "DELETE FROM agent_runs WHERE id = '$OWN_RUN'" "DELETE FROM agent_run_events" "TRUNCATE agent_runs" \
            "INSERT INTO agent_run_events (run_id, seq, kind) VALUES ('$VRUN_FUT', 1000, 'forged')" \
            "INSERT INTO agent_run_events (run_id, seq, kind) VALUES ('$OWN_RUN', 1000, 'forged')" \
            "UPDATE agent_run_events SET kind = 'x'" "INSERT INTO sandboxes (sandbox_id, owner, template) VALUES ('forged', 'regress_attacker', 'base')" \
            "UPDATE sandboxes SET owner = 'regress_attacker'" "DELETE FROM sandboxes" \
            "SELECT * FROM sandbox_access" "SELECT access_token FROM sandbox_access" "SELECT sandbox_grant_usage('regress_nobody')" \
            "CREATE TRIGGER x BEFORE UPDATE ON agent_runs FOR EACH ROW EXECUTE FUNCTION attacker.note('x')" \
            "CREATE RULE x AS ON UPDATE TO agent_runs DO ALSO NOTIFY x" "CREATE POLICY x ON agent_runs USING (true)" \
            "CREATE INDEX ON agent_runs (prompt)" "ALTER TABLE agent_runs DISABLE TRIGGER USER" \
            "ALTER TABLE agent_runs DISABLE ROW LEVEL SECURITY" "ALTER TABLE sandboxes NO FORCE ROW LEVEL SECURITY" \
            "DROP POLICY agent_runs_owner ON agent_runs" "ALTER TYPE agent_run_status ADD VALUE 'x'" \
            "CREATE OR REPLACE FUNCTION $MAIN_EXT.sandbox_cancel_run(run_id pg_catalog.uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true'"; do
    got=$(try regress_attacker sec_main "$stmt")
    [ "$got" = "ERROR:42501" ] || bad+="$stmt -> $(head -c 200 <<<"$got")"$'\n'
done
check_empty "the attacker cannot delete runs, write events or sandboxes, read access tokens, grant usage, or change the extension's tables, types and functions (42501)" "$bad"
# whatever got through above must not spoil the checks that follow
suq sec_main -c "SELECT format('DROP FUNCTION %s', p.oid::regprocedure) FROM pg_proc p
                  WHERE p.proowner = 'regress_attacker'::regrole AND p.proname LIKE 'sandbox%'" | suq sec_main >/dev/null
check "the victim cannot read access tokens either" "$(try regress_victim sec_main "SELECT count(*) FROM sandbox_access")" "ERROR:42501"

# API keys
bad=""
for stmt in "SHOW sandbox.e2b_api_key" "SHOW sandbox.llm_api_key" \
            "SELECT current_setting('sandbox.e2b_api_key')" "SELECT current_setting('sandbox.llm_api_key')"; do
    got=$(try regress_attacker sec_main "$stmt")
    [ "$got" = "ERROR:42501" ] || bad+="$stmt -> $got"$'\n'
done
check_empty "SHOW and current_setting of the API keys are refused to a granted role" "$bad"
leak=""
for stmt in "SELECT current_setting('sandbox.e2b_api_key', true)" "SELECT current_setting('sandbox.llm_api_key', true)" \
            "SELECT name, setting FROM pg_settings WHERE name LIKE 'sandbox.%'" "SELECT * FROM pg_file_settings" \
            "SELECT * FROM pg_show_all_file_settings()" "SELECT * FROM pg_db_role_setting" \
            "SELECT name, setting, reset_val, boot_val FROM pg_settings" "SHOW ALL"; do
    got=$(try regress_attacker sec_main "$stmt")
    if grep -qF -e "$SANDBOXD_API_KEY" -e "$LLM_KEY" <<<"$got"; then leak+="$stmt"$'\n'; fi
done
check_empty "no settings view or function shows the API keys to a granted role" "$leak"
got=$(try regress_attacker sec_main "SELECT stdout FROM sandbox_exec('env')")
check "a sandbox's environment does not hold the API keys" \
    "$(grep -cF -e "$SANDBOXD_API_KEY" -e "$LLM_KEY" <<<"$got")" "0"
check "the events of a run that printed its environment do not hold the API keys" \
    "$(suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.agent_run_events WHERE run_id = '$ARUN_ENV' AND (strpos(data::text, '$SANDBOXD_API_KEY') > 0 OR strpos(data::text, '$LLM_KEY') > 0)")|$(suq sec_main -c "SELECT count(*) > 0 FROM $MAIN_EXT.agent_run_events WHERE run_id = '$ARUN_ENV' AND kind = 'tool_result'")" "0|t"
# with CREATE on the extension's schema, a role can overload its functions for
# other roles' unqualified calls (PostgreSQL's CVE-2018-1058 pattern): here a
# sandbox_cancel_run(text) that answers NULL instead of true or false
try regress_attacker sec_main "CREATE FUNCTION $MAIN_EXT.sandbox_cancel_run(run_id pg_catalog.text) RETURNS boolean LANGUAGE sql AS 'SELECT NULL::boolean'" >/dev/null
got=$(try regress_victim sec_main "SELECT coalesce(sandbox_cancel_run('00000000-0000-0000-0000-000000000000')::text, 'the attacker''s overload ran')")
try regress_attacker sec_main "DROP FUNCTION $MAIN_EXT.sandbox_cancel_run(pg_catalog.text)" >/dev/null
if [ "$got" = false ]; then
    ok "a role with CREATE on the extension's schema cannot shadow its functions for other roles"
else
    todo "a role with CREATE on the extension's schema cannot shadow its functions for other roles (victim's sandbox_cancel_run('<uuid>') answered: $got)"
fi
# NOTIFY agent_runs carries run ids and statuses to every role that listens
( psql -X -q -U regress_attacker -d sec_main -c "LISTEN agent_runs" -c "SELECT pg_sleep(1.5)" -c "SELECT 1" >"$PGDATA_DIR/listen.out" 2>&1 ) &
LISTENER=$!
sleep 0.5
VRUN_N=$(vrun "victim, notified" 2999-01-01)
wait "$LISTENER"
if grep -q "$VRUN_N" "$PGDATA_DIR/listen.out"; then
    todo "a role that LISTENs to agent_runs does not learn other roles' run ids"
else
    ok "a role that LISTENs to agent_runs does not learn other roles' run ids"
fi

# --- secrets (issue 11): another role's secret, with every statement logged
VSECRET="victim-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# the checks below compare hashes: a value in their SQL would be logged
VHASH=$(printf %s "$VSECRET" | sha256sum | cut -d' ' -f1)
VOTHER_HASH=$(printf %s "victim-other-value" | sha256sum | cut -d' ' -f1)
ARTIFACT_RUN=$(suq sec_main -c "SELECT gen_random_uuid()")
# the victim's secret is set by a session that does not log its statements
# (as docs/sql-reference.md tells: a literal is in the statement text)
PGOPTIONS="-c log_statement=none" psql -X -q -U postgres -d sec_main -v ON_ERROR_STOP=1 >/dev/null <<SQL || notok "the victim could not set a secret"
SET ROLE regress_victim;
SELECT sandbox_set_secret('VICTIM_TOKEN', '$VSECRET');
SELECT sandbox_set_secret('VICTIM_OTHER', 'victim-other-value');
SQL
suq sec_main -c "ALTER DATABASE sec_main SET log_statement = 'all'" >/dev/null
sees=$(psql -X -q -At -U regress_victim -d sec_main 2>&1 <<SQL
SELECT sandbox_create(secrets => ARRAY['VICTIM_TOKEN']) AS sb \gset
SELECT btrim(stdout, E'\n') = '$VHASH' FROM sandbox_exec(:'sb', 'printf %s "\$VICTIM_TOKEN" | sha256sum | cut -d" " -f1');
SELECT sandbox_kill(:'sb');
SQL
)
check "the victim lists its secrets (names only) and uses one in a sandbox" \
    "$(try regress_victim sec_main "SELECT string_agg(name, ',' ORDER BY name) FROM sandbox_list_secrets()")|$(head -1 <<<"$sees")" \
    "VICTIM_OTHER,VICTIM_TOKEN|t" "$sees"
bad=""
for stmt in "SELECT * FROM $MAIN_EXT.sandbox_secrets" "SELECT value FROM $MAIN_EXT.sandbox_secrets" \
            "SELECT * FROM $MAIN_EXT.sandbox_secret_grants" \
            "INSERT INTO $MAIN_EXT.sandbox_secret_grants VALUES ('VICTIM_TOKEN', 'regress_attacker')" \
            "UPDATE $MAIN_EXT.sandbox_secrets SET owner = 'regress_attacker'" "DELETE FROM $MAIN_EXT.sandbox_secrets" \
            "SELECT sandbox_set_secret('VICTIM_TOKEN', 'attacker-overwrites')" \
            "SELECT sandbox_grant_secret('VICTIM_TOKEN', 'regress_attacker')" \
            "SELECT sandbox_revoke_secret('VICTIM_TOKEN', 'regress_attacker')" \
            "SELECT sandbox_drop_secret('VICTIM_TOKEN')" \
            "SELECT sandbox_create(secrets => ARRAY['VICTIM_TOKEN'])" \
            "SELECT sandbox_create(secrets => ARRAY['VICTIM_OTHER'], envs => '{\"VICTIM_OTHER\": \"x\"}')" \
            "UPDATE $MAIN_EXT.sandbox_model_prices SET input_per_mtok = 0" \
            "INSERT INTO $MAIN_EXT.agent_run_artifacts (run_id, path, size) VALUES ('$ARTIFACT_RUN', 'x', 0)" \
            "CREATE TABLE attacker.prices (LIKE $MAIN_EXT.sandbox_model_prices); CREATE TRIGGER t BEFORE INSERT ON attacker.prices FOR EACH ROW EXECUTE FUNCTION $MAIN_EXT.sandbox_model_prices_mark()"; do
    got=$(try regress_attacker sec_main "$stmt")
    [ "$got" = "ERROR:42501" ] || bad+="$stmt -> $(head -c 200 <<<"$got")"$'\n'
done
check_empty "the attacker can neither read the store nor use, grant, revoke, drop or overwrite the victim's secrets, nor edit prices or artifacts (42501)" "$bad"
check "the victim's secrets are intact (value, owner, no grant)" \
    "$(suq sec_main -c "SELECT string_agg(format('%s:%s:%s', name, owner, encode(sha256(convert_to(value, 'UTF8')), 'hex')), ',' ORDER BY name) FROM $MAIN_EXT.sandbox_secrets WHERE name LIKE 'VICTIM%'")|$(suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.sandbox_secret_grants WHERE name LIKE 'VICTIM%'")" \
    "VICTIM_OTHER:regress_victim:$VOTHER_HASH,VICTIM_TOKEN:regress_victim:$VHASH|0"
check "sandbox_list_secrets() shows the attacker none of the victim's secrets" \
    "$(try regress_attacker sec_main "SELECT count(*) FROM sandbox_list_secrets() WHERE owner <> 'regress_attacker'::regrole OR name LIKE 'VICTIM%'")" "0"
got=$(try regress_attacker sec_main "INSERT INTO agent_runs (prompt, run_after, secrets) VALUES ('steal', '2999-01-01', ARRAY['VICTIM_TOKEN']) RETURNING id")
if [ "$got" = "ERROR:42501" ]; then
    ok "a run naming another role's secret is refused at INSERT (42501)"
else
    todo "a run naming another role's secret is refused at INSERT (answered: $got; the worker side of issue 11)"
    [[ "$got" == ERROR:* ]] || suq sec_main -c "DELETE FROM $MAIN_EXT.agent_runs WHERE id = '$got'" >/dev/null
fi
# every error the attacker's attempts raise, in full (message, detail, hint, context)
out=$(psql -X -U regress_attacker -d sec_main -v VERBOSITY=verbose 2>&1 <<SQL
SELECT sandbox_set_secret('VICTIM_TOKEN', 'attacker-overwrites');
SELECT sandbox_grant_secret('VICTIM_TOKEN', 'regress_attacker');
SELECT sandbox_drop_secret('VICTIM_TOKEN');
SELECT sandbox_create(secrets => ARRAY['VICTIM_TOKEN']);
SELECT sandbox_create(secrets => ARRAY['VICTIM_TOKEN', 'VICTIM_TOKEN']);
SELECT sandbox_create(secrets => ARRAY['VICTIM_TOKEN'], envs => '{"VICTIM_TOKEN": "x"}');
SELECT * FROM sandbox_list_secrets();
SELECT value FROM $MAIN_EXT.sandbox_secrets;
SQL
)
check "no answer to the attacker's attempts holds the victim's value" "$(grep -cF "$VSECRET" <<<"$out")" "0"
check "the superuser reads the value from the table" \
    "$(suq sec_main -c "SELECT encode(sha256(convert_to(value, 'UTF8')), 'hex') FROM $MAIN_EXT.sandbox_secrets WHERE name = 'VICTIM_TOKEN'")" "$VHASH"
suq sec_main -c "ALTER DATABASE sec_main RESET log_statement" >/dev/null
logged=$(grep -c "statement: SELECT sandbox_set_secret('VICTIM_TOKEN', 'attacker-overwrites')" "$PG_SERVER_LOG")
check "the server log, with every statement logged, holds no secret value" \
    "$(grep -cF -e "$VSECRET" -e "victim-other-value" "$PG_SERVER_LOG")|$([ "${logged:-0}" -gt 0 ] && echo statements-logged)" "0|statements-logged"

###########################################################################
echo "# === class 2: the trigger functions as tools"
###########################################################################
public_exec_check sec_main
GUARD=$(suq sec_main -c "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'sandbox' WHERE p.proname = 'agent_runs_guard'")
NOTIFY_FN=$(suq sec_main -c "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e' JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'sandbox' WHERE p.proname = 'agent_runs_notify'")
echo "# trigger functions: $GUARD, $NOTIFY_FN"
events_of() { suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.agent_run_events WHERE run_id = '$1'"; }
for who in regress_nobody regress_attacker; do
    case $who in regress_nobody) run=$VRUN_G1; tbl="pg_temp.fake_runs";; *) run=$VRUN_G2; tbl="attacker.fake_runs";; esac
    before=$(events_of "$run")
    created=$(try $who sec_main "CREATE TABLE $tbl (id uuid, status text, last_seq int, attempts int, error text,
                   completed_at timestamptz, lease_until timestamptz, updated_at timestamptz);
               CREATE TRIGGER g BEFORE UPDATE ON $tbl FOR EACH ROW EXECUTE FUNCTION $GUARD;
               INSERT INTO $tbl VALUES ('$run', 'pending', 0, 0);
               UPDATE $tbl SET status = 'cancelled';
               SELECT 'fired'")
    check "$who cannot attach agent_runs_guard to its own table" "${created%%:*}" "ERROR" "answered: $created"
    after=$(events_of "$run")
    check "$who forged no event into another role's run through the guard's cancel path" "$after" "$before" \
        "$(suq sec_main -c "SELECT seq, kind, data FROM $MAIN_EXT.agent_run_events WHERE run_id = '$run' ORDER BY seq")"
    got=$(try regress_victim sec_main "SELECT sandbox_cancel_run('$run')")
    check "the victim can still cancel its run after $who's attempt" "$got" "t"
done
# the notify trigger: forged notifications about another role's run
( psql -X -q -U regress_victim -d sec_main -c "LISTEN agent_runs" -c "SELECT pg_sleep(1.5)" -c "SELECT 1" >"$PGDATA_DIR/listen2.out" 2>&1 ) &
LISTENER=$!
sleep 0.5
for who in regress_nobody regress_attacker; do
    created=$(try $who sec_main "CREATE TEMP TABLE fake_notify (id text, status text);
               CREATE TRIGGER n AFTER INSERT ON fake_notify FOR EACH ROW EXECUTE FUNCTION $NOTIFY_FN;
               INSERT INTO fake_notify VALUES ('$VRUN_DONE', 'failed');
               SELECT 'fired'")
    check "$who cannot attach agent_runs_notify to its own table" "${created%%:*}" "ERROR" "answered: $created"
done
wait "$LISTENER"
check "no forged agent_runs notification about the victim's run reached the victim" \
    "$(grep -c "$VRUN_DONE.*failed" "$PGDATA_DIR/listen2.out")" "0" "$(grep -i notification "$PGDATA_DIR/listen2.out" | head -3)"
# even a superuser cannot make them run on another table (a look-alike named agent_runs included)
bad=""
for spec in "attacker.agent_runs|BEFORE INSERT OR UPDATE|$GUARD|INSERT INTO attacker.agent_runs (id, prompt, status) VALUES (gen_random_uuid(), 'x', 'pending')" \
            "attacker.agent_runs|BEFORE INSERT OR UPDATE|$GUARD|UPDATE attacker.agent_runs SET status = 'cancelled'" \
            "attacker.agent_runs|AFTER INSERT OR UPDATE|$NOTIFY_FN|INSERT INTO attacker.agent_runs (id, prompt, status) VALUES (gen_random_uuid(), 'x', 'completed')"; do
    IFS='|' read -r tbl when fn stmt <<<"$spec"
    got=$(try postgres sec_main "SET search_path = pg_catalog;
           DROP TABLE IF EXISTS attacker.agent_runs;
           CREATE TABLE attacker.agent_runs (LIKE $MAIN_EXT.agent_runs INCLUDING DEFAULTS);
           INSERT INTO attacker.agent_runs (id, prompt) VALUES (gen_random_uuid(), 'seed');
           CREATE TRIGGER t $when ON $tbl FOR EACH ROW EXECUTE FUNCTION $fn;
           $stmt; SELECT 'ran'")
    [[ "$got" == ERROR:* ]] || bad+="$when $fn on $tbl: $stmt -> $got"$'\n'
done
check_empty "agent_runs_guard and agent_runs_notify refuse to run on any table but the extension's agent_runs" "$bad"

###########################################################################
echo "# === sec_main: the worker's reaper and retention, then the evidence"
###########################################################################
suq sec_main -c "ALTER SYSTEM SET sandbox.reaper_interval = 1" -c "ALTER SYSTEM SET sandbox.retention = 2" -c "SELECT pg_reload_conf()" >/dev/null
SHORT_N=$(suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.sandboxes WHERE state::text = 'running' AND expires_at < now() + interval '10 s'")
for _ in $(seq 1 50); do
    reaped=$(suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.sandboxes WHERE state::text = 'expired'")
    pruned=$(suq sec_main -c "SELECT count(*) = 0 FROM $MAIN_EXT.agent_runs WHERE id = '$ARUN_DONE'")
    [ "$reaped" -gt 0 ] && [ "$pruned" = t ] && break
    sleep 0.3
done
check "coverage: the reaper ran in sec_main (a sandbox past its E2B timeout is marked expired)" "$([ "${reaped:-0}" -gt 0 ] && echo yes)" "yes" "short-lived sandboxes: $SHORT_N"
check "coverage: retention ran in sec_main (finished runs were pruned)" "$pruned" "t"
deps_check sec_main "after CREATE EXTENSION"
escalation_check sec_main "(a)+(b)"
ATTACKER_ROWS=$(suq sec_main -c "SELECT count(*) FROM attacker.log")
echo "# attacker.log in sec_main: $ATTACKER_ROWS rows in all ($(suq sec_main -c "SELECT count(*) FROM attacker.log WHERE cur = 'regress_attacker'") as the attacker itself)"

###########################################################################
echo "# === sec_upd: operators planted between CREATE EXTENSION VERSION '1.0' and ALTER EXTENSION UPDATE"
###########################################################################
# planted before CREATE EXTENSION VERSION '1.0' (which binds them into its
# index predicates) and after it (exact operators for its enum types): the
# update must leave nothing of the attacker's bound into the extension
psql -X -q -U postgres -d sec_upd -v ON_ERROR_STOP=1 >/dev/null <<SQL || notok "[sec_upd] set-up"
CREATE SCHEMA attacker AUTHORIZATION regress_attacker;
GRANT CREATE ON SCHEMA public TO regress_attacker;
SET ROLE regress_attacker;
\i $HERE/log.sql
\set target public
\set mode pre
\set ext public
\i $HERE/ops.sql
RESET ROLE;
CREATE EXTENSION sandbox VERSION '1.0';
SELECT sandbox_grant_usage('regress_attacker');
SELECT sandbox_grant_usage('regress_victim');
SET ROLE regress_attacker;
\set mode exact
\i $HERE/ops.sql
RESET ROLE;
SQL
echo "# [sec_upd] bound by 1.0 before the update: $(suq sec_upd -f "$HERE/deps.sql" | wc -l) objects"
psql -X -q -U postgres -d sec_upd -v ON_ERROR_STOP=1 -c "ALTER EXTENSION sandbox UPDATE" >/dev/null || notok "[sec_upd] ALTER EXTENSION sandbox UPDATE"
check "[sec_upd] the extension is at its default version after UPDATE" \
    "$(suq sec_upd -c "SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'sandbox') FROM pg_extension WHERE extname = 'sandbox'")" "t"
deps_check sec_upd "after ALTER EXTENSION UPDATE"
public_exec_check sec_upd
UPD_EXT=$(ext_schema sec_upd)
as regress_victim sec_upd <<SQL
SELECT sandbox_create() AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo upd');
SELECT sandbox_write_file(:'sb', 'u.txt', 'u');
SELECT sandbox_read_file_text(:'sb', 'u.txt');
SELECT * FROM sandbox_list_files(:'sb');
SELECT sandbox_set_timeout(:'sb', 100);
SELECT sandbox_info(:'sb');
SELECT * FROM sandbox_list();
SELECT sandbox_kill(:'sb');
INSERT INTO agent_runs (prompt) VALUES ('victim in sec_upd') RETURNING id AS r \gset
SELECT sandbox_cancel_run(:'r');
INSERT INTO agent_runs (prompt) VALUES ('victim in sec_upd, 2') RETURNING id AS r2 \gset
UPDATE agent_runs SET status = 'cancelled' WHERE id OPERATOR(pg_catalog.=) :'r2';
SQL
su_plain sec_upd <<SQL
SELECT sandbox_create() AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo upd-su');
SELECT * FROM sandbox_list();
SELECT sandbox_kill(:'sb');
INSERT INTO agent_runs (prompt) VALUES ('superuser in sec_upd') RETURNING id AS r \gset
SELECT sandbox_cancel_run(:'r');
SQL
escalation_check sec_upd "(c) update"

###########################################################################
echo "# === sec_pre: operators and type names planted in public before CREATE EXTENSION (the attacker owns the database)"
###########################################################################
psql -X -q -U regress_attacker -d sec_pre -v ON_ERROR_STOP=1 >/dev/null <<SQL || notok "[sec_pre] the attacker's set-up"
CREATE SCHEMA attacker;
\i $HERE/log.sql
\set target public
\set mode pre
\set ext public
\i $HERE/ops.sql
ALTER DATABASE sec_pre SET search_path = public, pg_catalog;
SQL
psql -X -q -U postgres -d sec_pre -v ON_ERROR_STOP=1 >/dev/null <<SQL || notok "[sec_pre] CREATE EXTENSION as a superuser"
CREATE EXTENSION sandbox;
SELECT sandbox_grant_usage('regress_victim');
SELECT sandbox_grant_usage('regress_attacker');
SQL
deps_check sec_pre "after CREATE EXTENSION"
suq sec_pre -c "SELECT indexrelid::regclass || ': ' || pg_get_expr(indpred, indrelid) FROM pg_index WHERE indpred IS NOT NULL AND indrelid IN (SELECT objid FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e' AND classid = 'pg_class'::regclass)" | sed 's/^/#   index predicate: /'
public_exec_check sec_pre
PRE_EXT=$(ext_schema sec_pre)
# work waiting for the worker, which serves sec_main until the restart below
as regress_victim sec_pre <<'SQL'
SELECT sandbox_create(timeout_s => 600) AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo pre');
SELECT sandbox_write_file(:'sb', 'p.txt', 'p');
SELECT sandbox_read_file(:'sb', 'p.txt');
SELECT * FROM sandbox_list_files(:'sb');
SELECT sandbox_make_dir(:'sb', 'pd');
SELECT sandbox_remove_file(:'sb', 'pd');
SELECT sandbox_run_code(:'sb', 'print(4)');
SELECT sandbox_set_timeout(:'sb', 300);
SELECT sandbox_info(:'sb');
SELECT * FROM sandbox_list();
SELECT * FROM sandbox_exec('echo pre-once');
SELECT sandbox_create(timeout_s => 2) AS short \gset
SELECT sandbox_create() AS k \gset
SELECT sandbox_kill(:'k');
INSERT INTO agent_runs (prompt) VALUES ($p$victim in sec_pre
```bash
echo pre-run
```
```python
print(7)
```
$p$);
INSERT INTO agent_runs (prompt, run_after) VALUES ('victim later in sec_pre', '2999-01-01') RETURNING id AS later \gset
UPDATE agent_runs SET priority = 3 WHERE id OPERATOR(pg_catalog.=) :'later';
SELECT sandbox_cancel_run(:'later');
INSERT INTO agent_runs (prompt) VALUES ($p$victim long in sec_pre
```bash
sleep 20
```
$p$);
SQL
su_plain sec_pre <<'SQL'
SELECT sandbox_create() AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo pre-su');
SELECT * FROM sandbox_list();
SELECT sandbox_kill(:'sb');
INSERT INTO agent_runs (prompt) VALUES ($p$superuser in sec_pre
```bash
echo pre-su-run
```
$p$);
SQL
suq sec_pre -c "ALTER SYSTEM SET sandbox.database = 'sec_pre'" >/dev/null
pg_restart -m fast || notok "restart with the worker on sec_pre"
wait_worker sec_pre || echo "# the worker did not start in sec_pre"
VPRE_LONG=$(suq sec_pre -c "SELECT id FROM $PRE_EXT.agent_runs WHERE prompt LIKE 'victim long%'")
wait_status sec_pre "$VPRE_LONG" executing 20 || echo "# the long run in sec_pre did not reach executing"
try regress_victim sec_pre "SELECT sandbox_cancel_run('$VPRE_LONG')" >/dev/null
as regress_attacker sec_pre <<'SQL'
INSERT INTO agent_runs (prompt) VALUES ($p$attacker in sec_pre
```bash
echo a-pre
```
$p$);
SELECT sandbox_create() AS sb \gset
SELECT * FROM sandbox_exec(:'sb', 'echo a');
SELECT sandbox_kill(:'sb');
SQL
left=$(wait_runs sec_pre 40)
[ "$left" = 0 ] || echo "# $left runs still live in sec_pre after 40 s"
check "[sec_pre] runs complete with the worker on sec_pre" \
    "$(suq sec_pre -c "SELECT count(*) FILTER (WHERE status::text = 'completed') >= 3 FROM $PRE_EXT.agent_runs")" "t" \
    "$(suq sec_pre -c "SELECT status, error FROM $PRE_EXT.agent_runs")"
for _ in $(seq 1 60); do
    [ "$(suq sec_pre -c "SELECT count(*) FROM $PRE_EXT.sandboxes WHERE state::text = 'expired'")" -gt 0 ] && break
    sleep 0.3
done
check "coverage: the reaper ran in sec_pre" "$(suq sec_pre -c "SELECT count(*) > 0 FROM $PRE_EXT.sandboxes WHERE state::text = 'expired'")" "t"
escalation_check sec_pre "(c) pre-planted, and the database's search_path"

###########################################################################
echo "# === class 2: trigger functions on tables without their columns (last: a crash resets every session)"
###########################################################################
crashes_before=$(crash_lines | wc -l)
shapes=(
    "guard, BEFORE INSERT, table (status text)|CREATE TEMP TABLE s (status text)|BEFORE INSERT|$GUARD|INSERT INTO s VALUES ('pending')"
    "guard, BEFORE INSERT, table (x int)|CREATE TEMP TABLE s (x int)|BEFORE INSERT|$GUARD|INSERT INTO s VALUES (1)"
    "guard, BEFORE UPDATE, table (x int), no change|CREATE TEMP TABLE s (x int); INSERT INTO s VALUES (1)|BEFORE UPDATE|$GUARD|UPDATE s SET x = x"
    "guard, BEFORE UPDATE, table (status text), cancel|CREATE TEMP TABLE s (status text); INSERT INTO s VALUES ('pending')|BEFORE UPDATE|$GUARD|UPDATE s SET status = 'cancelled'"
    "guard, BEFORE UPDATE, table (id, status, last_seq, attempts), cancel|CREATE TEMP TABLE s (id uuid, status text, last_seq int, attempts int); INSERT INTO s VALUES ('$VRUN_FUT', 'pending', 100, 1)|BEFORE UPDATE|$GUARD|UPDATE s SET status = 'cancelled'"
    "guard, BEFORE UPDATE, every column but updated_at, cancel|CREATE TEMP TABLE s (id uuid, status text, last_seq int, attempts int, error text, completed_at timestamptz, lease_until timestamptz); INSERT INTO s VALUES ('$VRUN_FUT', 'pending', 200, 1)|BEFORE UPDATE|$GUARD|UPDATE s SET status = 'cancelled'"
    "guard, BEFORE UPDATE, status of type int|CREATE TEMP TABLE s (id uuid, status int, last_seq text, attempts text, error int, completed_at int, lease_until int, updated_at int); INSERT INTO s VALUES ('$VRUN_FUT', 1, 'x', 'y')|BEFORE UPDATE|$GUARD|UPDATE s SET status = 2"
    "guard, AFTER statement|CREATE TEMP TABLE s (x int)|AFTER INSERT|$GUARD|INSERT INTO s VALUES (1)"
    "notify, AFTER INSERT, table (x int)|CREATE TEMP TABLE s (x int)|AFTER INSERT|$NOTIFY_FN|INSERT INTO s VALUES (1)"
    "notify, AFTER UPDATE, table (status text)|CREATE TEMP TABLE s (status text); INSERT INTO s VALUES ('pending')|AFTER UPDATE|$NOTIFY_FN|UPDATE s SET status = 'cancelled'"
    "notify, BEFORE INSERT|CREATE TEMP TABLE s (x int)|BEFORE INSERT|$NOTIFY_FN|INSERT INTO s VALUES (1)"
)
for who in regress_nobody regress_attacker postgres; do
    bad=""
    for spec in "${shapes[@]}"; do
        IFS='|' read -r name mk when fn stmt <<<"$spec"
        level="FOR EACH ROW"; [[ "$name" == *statement* ]] && level="FOR EACH STATEMENT"
        got=$(try $who sec_main "SET search_path = pg_catalog, pg_temp; $mk; CREATE TRIGGER t $when ON s $level EXECUTE FUNCTION $fn; $stmt; SELECT 'ran'")
        [[ "$got" == ERROR:* ]] || bad+="$name -> $(head -c 300 <<<"$got")"$'\n'
        # the backend lives on
        [ "$(try $who sec_main "SELECT 1")" = 1 ] || bad+="$name -> the server did not answer afterwards"$'\n'
    done
    check_empty "as $who: the trigger functions refuse cleanly on tables without their columns" "$bad"
done
sleep 0.5
new_crashes=$(crash_lines | tail -n +$((crashes_before + 1)))
check_empty "no backend crashed on those tables (server log)" "$new_crashes"
check_empty "no process of the server crashed during the whole run (server log)" "$(crash_lines)"
if [ -n "$(external_kills)" ]; then
    echo "# note: processes were killed with SIGKILL from outside this test (another test on this machine"
    echo "#       killing 'sandbox worker' processes by name?); checks after that moment may have missed events:"
    external_kills | diag
fi
check "no event was forged into the victim's run by the shapes above" \
    "$(suq sec_main -c "SELECT count(*) FROM $MAIN_EXT.agent_run_events WHERE run_id = '$VRUN_FUT' AND seq >= 100")" "0"

echo "# $passed passed, $failed failed, $(( $(date +%s) - T0 )) s"
if [ $failed -gt 0 ]; then
    printf '# failed: %s\n' "${failed_names[@]}"
    exit 1
fi
exit 0
