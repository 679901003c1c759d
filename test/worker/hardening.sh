#!/usr/bin/env bash
# test/worker/hardening.sh: promises of 1.1 (issues 8 and 9) that need a
# worker, sandboxd and modeld: sandbox_kill is idempotent; a granted role
# sees sandbox_worker_status() and why its runs fail, until one completes;
# an INSERT that no worker serves warns; prompt and command sizes are
# bounded with clear errors; a sandbox created in a rolled-back savepoint or
# transaction is killed; a terminated backend's command and one-shot
# sandbox are killed; API keys can come from sandbox.key_file, which the
# server log never shows.  Run by test/run-worker.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/checks.sh"
source "$HERE/../lib/sandboxd.sh" 2>/dev/null || true

as() { local role=$1; shift; psql -X -At -q -c "SET ROLE $role" -c "$1" 2>&1 || true; }
live_sandboxes() {
    curl -s -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/admin/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])'
}
sandbox_http() {   # sandbox_http ID: the HTTP status of GET /sandboxes/ID
    curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/sandboxes/$1"
}

q "DROP ROLE IF EXISTS regress_hard_a" >/dev/null; q "DROP ROLE IF EXISTS regress_hard_b" >/dev/null
q "CREATE ROLE regress_hard_a; CREATE ROLE regress_hard_b"
q "SELECT sandbox_grant_usage('regress_hard_a'); SELECT sandbox_grant_usage('regress_hard_b')" >/dev/null

# --- sandbox_kill is idempotent
id=$(as regress_hard_a "SELECT sandbox_create()")
check "kill a running sandbox" "$(as regress_hard_a "SELECT sandbox_kill('$id')")" "t"
check "kill it again: false, not an error" "$(as regress_hard_a "SELECT sandbox_kill('$id')")" "f"
check "a clean-up query over killed sandboxes does not stop" \
      "$(as regress_hard_a "SELECT count(*) FROM (SELECT sandbox_kill(sandbox_id) FROM sandboxes WHERE sandbox_id = '$id' UNION ALL SELECT sandbox_kill('$id')) k")" "2"
other=$(as regress_hard_b "SELECT sandbox_create()")
case "$(as regress_hard_a "SELECT sandbox_kill('$other')")" in
    *"permission denied for sandbox"*) ok "another role's sandbox is still refused";;
    *) notok "another role's sandbox is still refused";;
esac
q "SELECT sandbox_kill('$other')" >/dev/null

# --- sandbox_worker_status for a granted role, and why its runs fail
check "a granted role sees the worker" "$(as regress_hard_a "SELECT count(*) FROM sandbox_worker_status() WHERE pid IS NOT NULL")" "1"
failed=$(as regress_hard_a "INSERT INTO agent_runs (prompt) VALUES ('[[modeld: status=400]] fail on purpose') RETURNING id")
check "a run made to fail fails" "$(wait_run "$failed")" "failed"
le=$(as regress_hard_a "SELECT last_error FROM sandbox_worker_status()")
case "$le" in "run $failed failed:"*) ok "its owner reads why in last_error";; *) notok "its owner reads why in last_error: got '$le'";; esac
check "another role learns only that a run failed" \
      "$(as regress_hard_b "SELECT last_error FROM sandbox_worker_status()")" "a run of another role failed"
good=$(as regress_hard_a "INSERT INTO agent_runs (prompt) VALUES ('Say hello') RETURNING id")
check "a later run completes" "$(wait_run "$good")" "completed"
check "and last_error clears" "$(as regress_hard_a "SELECT coalesce(last_error, '<null>') FROM sandbox_worker_status()")" "<null>"

# --- an INSERT no worker will serve warns
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS sandbox_unserved" -c "CREATE DATABASE sandbox_unserved" >/dev/null 2>&1
psql -X -q -d sandbox_unserved -c "CREATE EXTENSION sandbox" >/dev/null
warn=$(psql -X -q -d sandbox_unserved -c "INSERT INTO agent_runs (prompt) VALUES ('nobody serves me'), ('nor me')" 2>&1 >/dev/null)
case "$warn" in
    *"WARNING:  no sandbox worker serves this database"*"The workers serve database \"$PGDATABASE\""*"sandbox.database"*) ok "an INSERT in a database no worker serves warns, naming the fix";;
    *) notok "an INSERT in a database no worker serves warns: got '$warn'";;
esac
check "once per transaction" "$(echo "$warn" | grep -c WARNING)" "1"
check "no warning where the worker serves" \
      "$(psql -X -q -c "BEGIN; INSERT INTO agent_runs (prompt, run_after) VALUES ('later', now() + interval '1 day'); ROLLBACK" 2>&1 | grep -c WARNING || true)" "0"
psql -X -q -d postgres -c "DROP DATABASE sandbox_unserved" >/dev/null

# --- bounded sizes
err=$(psql -X -At -q -c "SET sandbox.max_prompt_bytes = '1kB'" -c "SET ROLE regress_hard_a" \
      -c "INSERT INTO agent_runs (prompt) VALUES (repeat('x', 2000))" 2>&1 || true)
case "$err" in *"the prompt of an agent run is too large: 2000 bytes"*) ok "a prompt over sandbox.max_prompt_bytes is refused";;
    *) notok "a prompt over sandbox.max_prompt_bytes is refused: got '$err'";; esac
case "$(as regress_hard_a "SET sandbox.max_prompt_bytes = '100MB'")" in
    *"permission denied"*) ok "a user cannot raise sandbox.max_prompt_bytes";;
    *) notok "a user cannot raise sandbox.max_prompt_bytes";; esac
id=$(as regress_hard_a "SELECT sandbox_create()")
err=$(as regress_hard_a "SELECT * FROM sandbox_exec('$id', repeat('x', 200000))")
case "$err" in *"command is too long: 200000 bytes"*) ok "a command longer than one argument is refused clearly (not 'Argument list too long' as a server error)";;
    *) notok "a command longer than one argument is refused clearly: got '$err'";; esac

err=$(as regress_hard_a "SELECT sandbox_make_dir('$id', '/etc/regress_hard')")
case "$err" in *"the sandbox refused access"*"permission denied"*) ok "a path the sandbox refuses (403) is named as such, not as bad credentials";;
    *) notok "a path the sandbox refuses (403) is named as such: got '$err'";; esac

# --- a sandbox created in a rolled-back savepoint or transaction is killed
before=$(live_sandboxes)
sb=$(psql -X -At -q -c "SET ROLE regress_hard_a" -c "BEGIN" -c "SAVEPOINT s" \
     -c "SELECT sandbox_create()" -c "ROLLBACK TO s" -c "COMMIT" | head -1)
check "a sandbox created in a rolled-back savepoint is killed" "$(sandbox_http "$sb")" "404"
sb=$(psql -X -At -q -c "SET ROLE regress_hard_a" -c "BEGIN" -c "SELECT sandbox_create()" -c "ROLLBACK" | head -1)
check "so is one created in a rolled-back transaction" "$(sandbox_http "$sb")" "404"
sb=$(psql -X -At -q -c "SET ROLE regress_hard_a" -c "BEGIN" -c "SAVEPOINT s" -c "SELECT sandbox_create()" \
     -c "RELEASE s" -c "COMMIT" | head -1)
check "a released savepoint keeps its sandbox" "$(sandbox_http "$sb")" "200"
q "SELECT sandbox_kill('$sb')" >/dev/null
check "no sandbox is left behind by them" "$(live_sandboxes)" "$before"

# --- a terminated backend's command and one-shot sandbox are killed
psql -X -At -q -c "SET application_name = 'regress_hard_exec'" \
     -c "SELECT * FROM sandbox_exec('$id', 'sleep 41.5; echo done')" >/dev/null 2>&1 &
bg=$!
wait_for_value "SELECT pid FROM pg_stat_activity WHERE application_name = 'regress_hard_exec' AND state = 'active' AND query LIKE '%sleep 41.5%'" >/dev/null
sleep 0.5
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'regress_hard_exec'" >/dev/null
wait "$bg" 2>/dev/null || true
sleep 0.5
check "the command of a terminated backend is killed in the sandbox" \
      "$(q "SELECT stdout FROM sandbox_exec('$id', 'ps -eo args | grep -c \"^sleep 41.5\" || true')")" "0"
before=$(live_sandboxes)
psql -X -At -q -c "SET application_name = 'regress_hard_once'" \
     -c "SELECT * FROM sandbox_exec('sleep 42.5; echo done')" >/dev/null 2>&1 &
bg=$!
wait_for_value "SELECT pid FROM pg_stat_activity WHERE application_name = 'regress_hard_once' AND state = 'active' AND query LIKE '%sleep 42.5%'" >/dev/null
for _ in $(seq 1 50); do [ "$(live_sandboxes)" -gt "$before" ] && break; sleep 0.1; done
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'regress_hard_once'" >/dev/null
wait "$bg" 2>/dev/null || true
for _ in $(seq 1 50); do [ "$(live_sandboxes)" -le "$before" ] && break; sleep 0.1; done
check "the one-shot sandbox of a terminated backend is killed" "$(live_sandboxes)" "$before"
q "SELECT sandbox_kill('$id')" >/dev/null

# --- keys from sandbox.key_file, never in the server log
keydir=$(mktemp -d /tmp/sandbox-keys.XXXXXX)
chown postgres "$keydir"; chmod 700 "$keydir"
printf '# keys\nE2B_API_KEY=%s\n' "$SANDBOXD_API_KEY" > "$keydir/keys"
chown postgres "$keydir/keys"; chmod 600 "$keydir/keys"
q "ALTER SYSTEM SET sandbox.key_file = '$keydir/keys'"
q "ALTER SYSTEM SET sandbox.e2b_api_key = ''"
q "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
id=$(as regress_hard_a "SELECT sandbox_create()")
case "$id" in i*) ok "with the key setting empty, the key comes from sandbox.key_file";; *) notok "the key comes from sandbox.key_file: got '$id'";; esac
q "SELECT sandbox_kill('$id')" >/dev/null
run=$(as regress_hard_a "INSERT INTO agent_runs (prompt) VALUES ('Run \`echo keyfile\`') RETURNING id")
check "and the worker uses it too" "$(wait_run "$run")" "completed"
chmod 644 "$keydir/keys"
# (the server's environment has E2B_API_KEY too, so the call may go on with it)
err=$(as regress_hard_a "SELECT sandbox_create()")
case "$err" in *"is ignored: others than its owner may read it"*) ok "a key file others may read is refused with a warning";;
    *) notok "a key file others may read is refused with a warning: got '$err'";; esac
made=$(echo "$err" | grep -o '^i[a-z0-9]*$' || true)
[ -z "$made" ] || q "SELECT sandbox_kill('$made')" >/dev/null
chmod 600 "$keydir/keys"
if grep -qF "$SANDBOXD_API_KEY" "$PG_SERVER_LOG"; then notok "the key never appears in the server log"; else ok "the key never appears in the server log"; fi
case "$(as regress_hard_a "SHOW sandbox.key_file")" in *"permission denied"*|*"must be superuser"*) ok "a user cannot read sandbox.key_file";;
    *) notok "a user cannot read sandbox.key_file";; esac

# every sandbox this test made is gone (the runs' ones included)
for _ in $(seq 1 50); do
    left=$(curl -s -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/v2/sandboxes?metadata=pgsandbox_owner%3Dregress_hard_a" | python3 -c "import json,sys; print(\" \".join(s[\"sandboxID\"] for s in json.load(sys.stdin)))")
    [ -z "$left" ] && break; sleep 0.1
done
check "no sandbox of regress_hard_a is left" "$left" ""
[ -z "$left" ] || q "SELECT sandbox_id, state, run_id, created_at FROM sandboxes WHERE sandbox_id = ANY (string_to_array('$left', ' '))"

q "DROP OWNED BY regress_hard_a, regress_hard_b" >/dev/null 2>&1 || true
q "DELETE FROM agent_runs WHERE owner IN ('regress_hard_a'::regrole, 'regress_hard_b'::regrole)" >/dev/null
q "DELETE FROM sandboxes WHERE owner IN ('regress_hard_a'::regrole, 'regress_hard_b'::regrole)" >/dev/null
q "DROP ROLE regress_hard_a; DROP ROLE regress_hard_b" >/dev/null 2>&1 || true
exit $status
