#!/usr/bin/env bash
# test/run-supabase.sh: the extension in a cluster built like self-hosted
# Supabase, following docs/supabase.md.
#
# The cluster's bootstrap superuser is supabase_admin (initdb -U); postgres is
# a NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS role, as Supabase's
# "demote postgres" migration leaves it; anon, authenticated, service_role
# (BYPASSRLS) and authenticator (NOINHERIT, the role PostgREST logs in as);
# auth.uid() reads request.jwt.claims; an `extensions` schema;
# sandbox.identity_function = 'auth.uid'.  The SQL blocks of
# docs/supabase.md that start with `-- as supabase_admin` or `-- as postgres`
# are run verbatim, in order, as that role.
#
# Then, acting as PostgREST does (SET ROLE authenticated; SET
# request.jwt.claims), it proves that two signed-in users are isolated in
# runs, events and sandboxes; that anon is refused; that service_role can
# enqueue a run for a user; that a SQL tool over a table with auth.uid()
# policies, approved by the user, returns that user's rows only; that pg_dump (as supabase_admin, and as postgres
# with the options the guide gives) and a restore keep the isolation; and
# what ALTER SYSTEM and ALTER ROLE/DATABASE SET expose of a key.
#
# Prints ok / not ok per check; exits 1 on any failure.  Assumes `make
# install` (and `make tools`) have been run; runs as root or as the postgres
# OS user.  KEEP_TMP=1 keeps the cluster's directory (and its log).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

status=0
ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; status=1; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else notok "$1: got '$2', want '$3'"; fi; }
die() { echo "Bail out! $*"; exit 1; }

cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; rm -rf "${WORK:-}"; }
trap cleanup EXIT

T0=$(date +%s)
WORK=$(mktemp -d /tmp/sandbox-supabase.XXXXXX)
chmod 755 "$WORK"
sandboxd_start --max-sandboxes 50 || die "sandboxd did not start"
modeld_start || die "modeld did not start"

# --- the cluster: bootstrap superuser supabase_admin -------------------------
# (test/lib/pg.sh's pg_start always bootstraps `postgres`; this is the same
# start with another bootstrap user, and pg_cleanup / pg_check_no_crash work
# on it unchanged)
PGDATA_DIR=$(mktemp -d /tmp/sandbox-pg.XXXXXX)
chmod 755 "$PGDATA_DIR"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA_DIR"
pg__as_postgres "$PG_BINDIR/initdb" -D "$PGDATA_DIR/data" -A trust -U supabase_admin \
    -E UTF8 --locale=C.UTF-8 --no-sync >"$PGDATA_DIR/initdb.log" 2>&1 \
    || { cat "$PGDATA_DIR/initdb.log"; die "initdb failed"; }
# API keys from a file only the server's OS user can read (sandbox.key_file):
# they never reach the server log
KEYFILE=$PGDATA_DIR/sandbox-keys
printf 'E2B_API_KEY=%s\nANTHROPIC_API_KEY=%s\n' "$SANDBOXD_API_KEY" "test-llm-key" \
    | pg__as_postgres tee "$KEYFILE" >/dev/null
pg__as_postgres chmod 600 "$KEYFILE"
PGPORT=$(pg__free_port)
cat <<EOF | pg__as_postgres tee -a "$PGDATA_DIR/data/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGDATA_DIR'
fsync = off
full_page_writes = off
wal_level = logical
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = info
max_connections = 100
shared_preload_libraries = 'sandbox'
sandbox.database = 'postgres'
sandbox.workers = 1
sandbox.key_file = '$KEYFILE'
sandbox.e2b_api_url = '$E2B_API_URL'
sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'
sandbox.llm_provider = 'anthropic'
sandbox.llm_api_url = '$MODELD_URL'
sandbox.run_timeout = 60
sandbox.identity_function = 'auth.uid'
EOF
pg__as_postgres "$PG_BINDIR/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/server.log" \
    -w -t 60 start >/dev/null || { cat "$PGDATA_DIR/server.log"; die "the server did not start"; }
export PGHOST=127.0.0.1 PGPORT PGDATA_DIR PG_SERVER_LOG="$PGDATA_DIR/server.log"
unset PGUSER PGDATABASE

# run_sql USER DB SQL: runs SQL (several statements allowed) as the login
# role USER; prints the tuples (unaligned), or ERROR:<sqlstate> on an error.
run_sql() {
    local out rc
    out=$(printf '%s\n' "$3" | psql -X -At -q -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate \
              -U "$1" -d "$2" -f - 2>"$WORK/stderr")
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "ERROR:$(sed -n 's/.*ERROR:  *\([0-9A-Z]\{5\}\).*/\1/p' "$WORK/stderr" | head -1)"
    else
        printf '%s\n' "$out"
    fi
}
admin() { run_sql supabase_admin "${DB:-postgres}" "$1"; }
as_postgres() { run_sql postgres "${DB:-postgres}" "$1"; }

# PostgREST logs in as authenticator and, per request, switches role and
# sets the JWT's claims; its search_path is the exposed schema plus the
# extra search path (public, extensions).
as_user() {   # as_user SUB SQL: as the signed-in user SUB
    run_sql authenticator "${DB:-postgres}" "SET ROLE authenticated;
SET request.jwt.claims = '{\"sub\":\"$1\",\"role\":\"authenticated\"}';
SET search_path = public, extensions;
$2"
}
as_anon() {
    run_sql authenticator "${DB:-postgres}" "SET ROLE anon;
SET request.jwt.claims = '{\"role\":\"anon\"}';
SET search_path = public, extensions;
$1"
}
as_service() {
    run_sql authenticator "${DB:-postgres}" "SET ROLE service_role;
SET request.jwt.claims = '{\"role\":\"service_role\"}';
SET search_path = public, extensions;
$1"
}
A=aaaaaaaa-0000-4000-8000-00000000000a
B=bbbbbbbb-0000-4000-8000-00000000000b

# wait_run_as SUB ID: waits (30 s at most) for a run to end, reading it as
# the user SUB through the public view; prints its status
wait_run_as() {
    local s=""
    for _ in $(seq 1 300); do
        s=$(as_user "$1" "SELECT status FROM public.agent_runs WHERE id = '$2'")
        case "$s" in completed|failed|cancelled) echo "$s"; return;; esac
        sleep 0.1
    done
    echo "timeout:$s"
}

# --- what a self-hosted Supabase database has before our extension ---------
setup=$(admin "
CREATE ROLE postgres LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
ALTER ROLE authenticated INHERIT; ALTER ROLE anon INHERIT; ALTER ROLE service_role INHERIT;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
GRANT anon, authenticated, service_role TO postgres;
CREATE ROLE supabase_auth_admin LOGIN NOINHERIT CREATEROLE;
GRANT ALL ON DATABASE postgres TO postgres;
GRANT ALL ON SCHEMA public TO postgres;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
CREATE SCHEMA extensions;
GRANT ALL ON SCHEMA extensions TO postgres;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
CREATE SCHEMA auth AUTHORIZATION supabase_admin;
GRANT USAGE ON SCHEMA auth TO postgres, anon, authenticated, service_role;
GRANT ALL ON SCHEMA auth TO supabase_auth_admin;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS \$\$
  select
  coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
\$\$;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
ALTER ROLE postgres SET search_path TO \"\$user\", public, extensions;
ALTER ROLE supabase_admin SET search_path TO \"\$user\", public, auth, extensions;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public
    GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
SET ROLE postgres;
CREATE PUBLICATION supabase_realtime;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'")
check "a Supabase-like cluster: supabase_admin bootstraps it, postgres is not a superuser" "$setup" "f"

# --- what postgres cannot do (the guide gives these to supabase_admin) -------
check "postgres cannot CREATE EXTENSION sandbox (a C extension: superuser only)" \
      "$(as_postgres "CREATE EXTENSION sandbox WITH SCHEMA extensions")" "ERROR:42501"

# --- the guide's SQL, each block as the role it names ------------------------
python3 - "$ROOT/docs/supabase.md" "$WORK" <<'PY' || die "could not read the guide's SQL blocks"
import re, sys
text = open(sys.argv[1]).read()
n = 0
for block in re.findall(r"^```sql\n(.*?)^```", text, re.S | re.M):
    m = re.match(r"-- as (supabase_admin|postgres)\s*\n", block)
    if m:
        n += 1
        with open(f"{sys.argv[2]}/guide_{n:02d}_{m.group(1)}.sql", "w") as f:
            f.write(block)
if n == 0:
    sys.exit("no block starts with '-- as supabase_admin' or '-- as postgres'")
PY
for f in "$WORK"/guide_*.sql; do
    role=${f##*_[0-9][0-9]_}; role=${role%.sql}
    first=$(sed -n 2p "$f")
    if psql -X -q -v ON_ERROR_STOP=1 -U "$role" -d postgres -f "$f" >/dev/null 2>"$WORK/guide.err"; then
        ok "the guide's SQL runs as $role: $first"
    else
        notok "the guide's SQL fails as $role: $first: $(cat "$WORK/guide.err")"
    fi
done
check "postgres cannot call sandbox_grant_usage (the guide has supabase_admin do it)" \
      "$(as_postgres "SELECT extensions.sandbox_grant_usage('anon')")" "ERROR:42501"
check "postgres cannot add the extension's tables to supabase_realtime (it does not own them)" \
      "$(as_postgres "ALTER PUBLICATION supabase_realtime ADD TABLE extensions.sandboxes")" "ERROR:42501"
check "the worker serves the database" \
      "$(admin "SELECT count(*) FROM extensions.sandbox_worker_status() WHERE pid IS NOT NULL")" "1"

# --- identity ----------------------------------------------------------------
check "sandbox_identity() is the JWT's sub for a signed-in user" "$(as_user $A "SELECT sandbox_identity()")" "$A"
check "and NULL for service_role (no sub)" "$(as_service "SELECT sandbox_identity() IS NULL")" "t"
check "a non-superuser cannot change sandbox.identity_function" \
      "$(as_user $B "SET sandbox.identity_function = ''")" "ERROR:42501"

# --- sandboxes -----------------------------------------------------------------
sa=$(as_user $A "SELECT sandbox_create(timeout_s => 600)")
sb=$(as_user $B "SELECT sandbox_create(timeout_s => 600)")
case "$sa$sb" in *ERROR*|"") die "sandbox_create as a user failed: '$sa' '$sb'";; esac
check "A writes and reads a file in A's sandbox" \
      "$(as_user $A "SELECT sandbox_write_file('$sa', '/home/user/secret.txt', 'A-secret');
                     SELECT sandbox_read_file_text('$sa', '/home/user/secret.txt')")" $'8\nA-secret'
check "A's sandbox row records A's identity" \
      "$(admin "SELECT owner::text || '|' || owner_id FROM extensions.sandboxes WHERE sandbox_id = '$sa'")" "authenticated|$A"
for call in "sandbox_exec('$sa', 'cat /home/user/secret.txt')" \
            "sandbox_read_file_text('$sa', '/home/user/secret.txt')" \
            "sandbox_read_file('$sa', '/home/user/secret.txt')" \
            "sandbox_write_file('$sa', '/home/user/secret.txt', 'B was here')" \
            "sandbox_list_files('$sa', '/home/user')" \
            "sandbox_remove_file('$sa', '/home/user/secret.txt')" \
            "sandbox_make_dir('$sa', '/home/user/b')" \
            "sandbox_run_code('$sa', 'print(1)')" \
            "sandbox_info('$sa')" \
            "sandbox_set_timeout('$sa', 5)" \
            "sandbox_kill('$sa')"; do
    check "B cannot call ${call%%(*} on A's sandbox" "$(as_user $B "SELECT * FROM $call")" "ERROR:42501"
done
check "A cannot exec in B's sandbox" "$(as_user $A "SELECT stdout FROM sandbox_exec('$sb', 'true')")" "ERROR:42501"
check "after all that, A's file and sandbox are intact" \
      "$(as_user $A "SELECT stdout FROM sandbox_exec('$sa', 'cat /home/user/secret.txt')")" "A-secret"
check "in one session, switching the JWT from A to B loses A's sandbox (no cached pass)" \
      "$(as_user $A "SELECT stdout FROM sandbox_exec('$sa', 'true');
                     SET request.jwt.claims = '{\"sub\":\"$B\",\"role\":\"authenticated\"}';
                     SELECT stdout FROM sandbox_exec('$sa', 'true')")" "ERROR:42501"
check "sandbox_list shows A only A's sandbox" \
      "$(as_user $A "SELECT string_agg(sandbox_id, ',') FROM sandbox_list()")" "$sa"
check "sandbox_list shows B only B's sandbox" \
      "$(as_user $B "SELECT string_agg(sandbox_id, ',') FROM sandbox_list()")" "$sb"
check "the sandboxes table shows B none of A's rows" \
      "$(as_user $B "SELECT count(*) FROM extensions.sandboxes WHERE owner_id IS DISTINCT FROM '$B'")" "0"
check "postgres (BYPASSRLS, member of authenticated) without A's JWT cannot use A's sandbox" \
      "$(as_postgres "SELECT stdout FROM extensions.sandbox_exec('$sa', 'true')")" "ERROR:42501"

# --- runs ------------------------------------------------------------------------
run_a=$(as_user $A "INSERT INTO public.agent_runs (prompt) VALUES (\$\$Say hello.
\`\`\`bash
echo hello-from-A
\`\`\`
\$\$) RETURNING id")
case "$run_a" in *-*-*) ;; *) die "A could not enqueue a run through the view: $run_a";; esac
check "A's run (enqueued through public.agent_runs) completes through the worker" "$(wait_run_as $A "$run_a")" "completed"
check "A reads its result" \
      "$(as_user $A "SELECT result::text LIKE '%hello-from-A%' FROM public.agent_runs WHERE id = '$run_a'")" "t"
check "A reads its events" \
      "$(as_user $A "SELECT count(*) > 3 AND bool_or(kind = 'tool_result') FROM public.agent_run_events WHERE run_id = '$run_a'")" "t"
check "the run and its sandbox carry A's identity" \
      "$(admin "SELECT r.owner_id || '|' || s.owner_id FROM extensions.agent_runs r JOIN extensions.sandboxes s ON s.run_id = r.id WHERE r.id = '$run_a'")" "$A|$A"
check "B sees neither A's run nor its events (view, table)" \
      "$(as_user $B "SELECT (SELECT count(*) FROM public.agent_runs WHERE id = '$run_a') + (SELECT count(*) FROM extensions.agent_runs WHERE id = '$run_a')
                        + (SELECT count(*) FROM public.agent_run_events WHERE run_id = '$run_a') + (SELECT count(*) FROM extensions.agent_run_events WHERE run_id = '$run_a')
                        + (SELECT count(*) FROM extensions.sandboxes WHERE run_id = '$run_a')")" "0"
run_a_sandbox=$(admin "SELECT sandbox_id FROM extensions.sandboxes WHERE run_id = '$run_a'")
check "B cannot use the sandbox of A's run either (its id learnt elsewhere)" \
      "$(as_user $B "SELECT sandbox_info('$run_a_sandbox')")" "ERROR:42501"

forged=$(as_user $A "INSERT INTO extensions.agent_runs (prompt, owner_id, run_after) VALUES ('forged', '$B', now() + interval '1 hour') RETURNING owner_id")
check "a user who gives another owner_id gets its own" "$forged" "$A"
check "a user cannot give another owner role" \
      "$(as_user $A "INSERT INTO extensions.agent_runs (prompt, owner) VALUES ('x', 'service_role') RETURNING id")" "ERROR:42501"
check "a user cannot give owner_id through the view" \
      "$(as_user $A "INSERT INTO public.agent_runs (prompt, owner_id) VALUES ('x', '$B') RETURNING id")" "ERROR:42501"

waiting=$(as_user $A "INSERT INTO public.agent_runs (prompt, run_after) VALUES ('later', now() + interval '1 hour') RETURNING id")
check "B's UPDATE cannot cancel A's run (table)" \
      "$(as_user $B "WITH u AS (UPDATE extensions.agent_runs SET status = 'cancelled' WHERE id = '$waiting' RETURNING 1) SELECT count(*) FROM u")" "0"
check "B's UPDATE cannot cancel A's run (view)" \
      "$(as_user $B "WITH u AS (UPDATE public.agent_runs SET status = 'cancelled' WHERE id = '$waiting' RETURNING 1) SELECT count(*) FROM u")" "0"
check "B's UPDATE cannot change A's run's metadata" \
      "$(as_user $B "WITH u AS (UPDATE extensions.agent_runs SET metadata = '{\"b\":1}' WHERE id = '$waiting' RETURNING 1) SELECT count(*) FROM u")" "0"
check "B's upsert on A's run id is refused, not applied" \
      "$(as_user $B "INSERT INTO extensions.agent_runs (id, prompt) VALUES ('$waiting', 'x')
                     ON CONFLICT (id) DO UPDATE SET status = 'cancelled' RETURNING status")" "ERROR:42501"
check "A cannot hand its run to B (owner_id is the worker's)" \
      "$(as_user $A "UPDATE extensions.agent_runs SET owner_id = '$B' WHERE id = '$waiting'")" "ERROR:42501"
check "B's sandbox_cancel_run on A's run does nothing" \
      "$(as_user $B "SELECT sandbox_cancel_run('$waiting')")" "f"
check "A's run is still pending" "$(as_user $A "SELECT status FROM public.agent_runs WHERE id = '$waiting'")" "pending"
check "A cancels it (UPDATE through the view)" \
      "$(as_user $A "WITH u AS (UPDATE public.agent_runs SET status = 'cancelled' WHERE id = '$waiting' RETURNING status) SELECT status FROM u")" "cancelled"
check "A cancels the forged run (sandbox_cancel_run)" \
      "$(as_user $A "SELECT sandbox_cancel_run(id) FROM extensions.agent_runs WHERE prompt = 'forged'")" "t"

# service_role (an Edge Function, a server) enqueues for a user
run_s=$(as_service "INSERT INTO public.agent_runs (prompt, owner, owner_id) VALUES (\$\$For A, from the server.
\`\`\`bash
echo from-service
\`\`\`
\$\$, 'authenticated', '$A') RETURNING id")
case "$run_s" in *-*-*) ;; *) notok "service_role could not enqueue a run for A: $run_s";; esac
check "service_role enqueues a run for A (owner authenticated, owner_id A); it completes" "$(wait_run_as $A "$run_s")" "completed"
check "B does not see it" "$(as_user $B "SELECT count(*) FROM public.agent_runs WHERE id = '$run_s'")" "0"
check "service_role sees every run" \
      "$(as_service "SELECT count(*) >= 4 FROM public.agent_runs")" "t"

# a SQL tool under auth.uid(): the agent's call sees the signed-in user's rows only,
# after that user approved it (issue 12)
setup_notes=$(admin "
CREATE TABLE public.notes (id serial PRIMARY KEY, user_id uuid NOT NULL DEFAULT auth.uid(), body text);
ALTER TABLE public.notes OWNER TO postgres;
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON public.notes TO authenticated USING (user_id = auth.uid());
GRANT SELECT ON public.notes TO authenticated;
INSERT INTO public.notes (user_id, body) VALUES ('$A', 'note-of-A'), ('$B', 'note-of-B');
CREATE FUNCTION public.my_notes() RETURNS TABLE (body text) LANGUAGE sql STABLE
  AS \$f\$ SELECT body FROM public.notes ORDER BY id \$f\$;
ALTER FUNCTION public.my_notes() OWNER TO postgres;
REVOKE EXECUTE ON FUNCTION public.my_notes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.my_notes() TO authenticated;
SELECT extensions.sandbox_register_tool('public.my_notes()', 'The signed-in user''s notes') IS NOT NULL;")
check "a SQL tool over a table with auth.uid() policies is registered" "$(echo "$setup_notes" | tail -1)" "t"
run_t=$(as_user $A "INSERT INTO extensions.agent_runs (prompt, tools, approval) VALUES (\$\$Read my notes.
\`\`\`tool my_notes
{}
\`\`\`
\$\$, '{my_notes}', '{all}') RETURNING id")
case "$run_t" in *-*-*) ;; *) notok "A could not enqueue a run with a SQL tool: $run_t";; esac
call_t=""
for _ in $(seq 1 300); do
    call_t=$(as_user $A "SELECT approval_call FROM extensions.agent_runs WHERE id = '$run_t' AND status = 'waiting'")
    [ -n "$call_t" ] && break
    sleep 0.1
done
check "A's run waits for A's approval of the SQL tool call" "${call_t:+waiting}" "waiting"
check "B cannot approve A's call" "$(as_user $B "SELECT sandbox_approve('$run_t', '$call_t', true)")" "ERROR:42501"
check "A approves it" "$(as_user $A "SELECT sandbox_approve('$run_t', '$call_t', true)")" "t"
check "A's run with the SQL tool completes" "$(wait_run_as $A "$run_t")" "completed"
check "the SQL tool ran as A: A's note, not B's" \
      "$(as_user $A "SELECT (data->>'content' LIKE '%note-of-A%')::text || ' ' || (data->>'content' LIKE '%note-of-B%')::text FROM public.agent_run_events WHERE run_id = '$run_t' AND kind = 'tool_result'")" "true false"
# (gone again: the dumps below are of the extension's objects and the guide's)
admin "SELECT extensions.sandbox_unregister_tool('public.my_notes()'); DROP FUNCTION public.my_notes(); DROP TABLE public.notes" >/dev/null

run_b=$(as_user $B "INSERT INTO public.agent_runs (prompt) VALUES ('B asks something with no code.') RETURNING id")
check "B's run completes" "$(wait_run_as $B "$run_b")" "completed"
check "A does not see it, nor its events" \
      "$(as_user $A "SELECT (SELECT count(*) FROM public.agent_runs WHERE id = '$run_b') + (SELECT count(*) FROM public.agent_run_events WHERE run_id = '$run_b')")" "0"

# a failed run of A: sandbox_worker_status() tells why, but only to A
run_f=$(as_user $A "INSERT INTO public.agent_runs (prompt) VALUES ('Fail. [[modeld: status=400]]') RETURNING id")
check "A's failing run fails" "$(wait_run_as $A "$run_f")" "failed"
check "A sees why in sandbox_worker_status()" \
      "$(as_user $A "SELECT bool_or(last_error LIKE '%$run_f%') FROM sandbox_worker_status()")" "t"
check "B does not see A's failure in sandbox_worker_status()" \
      "$(as_user $B "SELECT coalesce(bool_or(last_error LIKE '%$run_f%'), false) FROM sandbox_worker_status()")" "f"

# --- anon -----------------------------------------------------------------------
for sql in "SELECT count(*) FROM extensions.agent_runs" \
           "SELECT count(*) FROM extensions.agent_run_events" \
           "SELECT count(*) FROM extensions.sandboxes" \
           "SELECT count(*) FROM public.agent_runs" \
           "SELECT count(*) FROM public.agent_run_events" \
           "INSERT INTO extensions.agent_runs (prompt) VALUES ('anon')" \
           "INSERT INTO public.agent_runs (prompt) VALUES ('anon')" \
           "SELECT sandbox_create()" \
           "SELECT * FROM sandbox_exec('true')" \
           "SELECT * FROM sandbox_list()" \
           "SELECT sandbox_cancel_run('$run_a')"; do
    check "anon is refused: $sql" "$(as_anon "$sql")" "ERROR:42501"
done
# sandbox_identity() is executable by every role (the policies call it as the
# reader); it tells anon only that anon has no identity
check "anon's sandbox_identity() is NULL" "$(as_anon "SELECT sandbox_identity() IS NULL")" "t"

# --- Realtime: the tables are published; RLS is what Realtime applies ------------
check "the guide put agent_runs and agent_run_events in supabase_realtime" \
      "$(admin "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'supabase_realtime'")" \
      "agent_run_events,agent_runs"

# --- reads that must hold in the original and in every restore -------------------
NA=$(as_user $A "SELECT count(*) FROM extensions.agent_runs")
NB=$(as_user $B "SELECT count(*) FROM extensions.agent_runs")
EA=$(as_user $A "SELECT count(*) FROM extensions.agent_run_events")
isolation_reads() {   # isolation_reads LABEL (in database $DB)
    local l=$1
    check "$l: A sees its $NA runs and $EA events" \
          "$(as_user $A "SELECT (SELECT count(*) FROM extensions.agent_runs) || '/' || (SELECT count(*) FROM public.agent_run_events)")" "$NA/$EA"
    check "$l: B sees only its own $NB runs, none of A's runs, events or sandboxes" \
          "$(as_user $B "SELECT (SELECT count(*) FROM public.agent_runs) || '/' ||
                               (SELECT count(*) FROM extensions.agent_runs WHERE owner_id IS DISTINCT FROM '$B') || '/' ||
                               (SELECT count(*) FROM extensions.agent_run_events WHERE run_id = '$run_a') || '/' ||
                               (SELECT count(*) FROM extensions.sandboxes WHERE owner_id IS DISTINCT FROM '$B')")" "$NB/0/0/0"
    check "$l: what A sees is exactly the runs and sandboxes whose owner_id is A" \
          "$(as_user $A "SELECT (SELECT count(*) FROM extensions.agent_runs) || '/' || (SELECT count(*) FROM extensions.sandboxes)")" \
          "$(admin "SELECT (SELECT count(*) FROM extensions.agent_runs WHERE owner_id = '$A') || '/' || (SELECT count(*) FROM extensions.sandboxes WHERE owner_id = '$A')")"
    check "$l: A reads its run's result" \
          "$(as_user $A "SELECT result::text LIKE '%hello-from-A%' FROM public.agent_runs WHERE id = '$run_a'")" "t"
    check "$l: B cannot exec in or describe A's sandbox" \
          "$(as_user $B "SELECT stdout FROM sandbox_exec('$sa', 'true')")|$(as_user $B "SELECT sandbox_info('$sa')")" "ERROR:42501|ERROR:42501"
    check "$l: anon is refused" "$(as_anon "SELECT count(*) FROM extensions.agent_runs")" "ERROR:42501"
}
isolation_reads "original"

# --- pg_dump as supabase_admin, restore as supabase_admin ------------------------
admin "CREATE POLICY user_added_probe ON extensions.agent_runs AS RESTRICTIVE FOR SELECT TO authenticated USING (true)" >/dev/null
if pg_dump -U supabase_admin -d postgres -f "$WORK/full.sql" 2>"$WORK/dump.err"; then
    ok "pg_dump as supabase_admin"
else
    notok "pg_dump as supabase_admin: $(cat "$WORK/dump.err")"
fi
admin "DROP POLICY user_added_probe ON extensions.agent_runs" >/dev/null
admin "CREATE DATABASE restored_admin" >/dev/null
if PGOPTIONS="-c client_min_messages=error" psql -X -q -v ON_ERROR_STOP=1 -U supabase_admin -d restored_admin \
        -f "$WORK/full.sql" >/dev/null 2>"$WORK/restore.err"; then
    ok "restore as supabase_admin into a new database, without an error"
else
    notok "restore as supabase_admin: $(cat "$WORK/restore.err")"
fi
DB=restored_admin
isolation_reads "restored (supabase_admin's dump)"
check "restored: the extension's own policies are back" \
      "$(admin "SELECT string_agg(polname, ',' ORDER BY polname) FROM pg_policy WHERE polrelid IN ('extensions.agent_runs'::regclass, 'extensions.agent_run_events'::regclass, 'extensions.sandboxes'::regclass)")" \
      "agent_run_events_owner,agent_runs_owner,sandboxes_owner_read"
check "restored: a policy a user added to an extension table is gone (as the guide warns)" \
      "$(admin "SELECT count(*) FROM pg_policy WHERE polname = 'user_added_probe'")" "0"
check "restored: the extension's tables are no longer in supabase_realtime (as the guide warns)" \
      "$(admin "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'supabase_realtime'")" "0"
check "restored: the views and their grants are back" \
      "$(admin "SELECT has_column_privilege('authenticated', 'public.agent_runs', 'prompt', 'INSERT')
                      AND NOT has_column_privilege('authenticated', 'public.agent_runs', 'owner_id', 'INSERT')
                      AND NOT has_any_column_privilege('anon', 'public.agent_runs', 'SELECT')")" "t"
DB=postgres

# --- pg_dump as postgres -----------------------------------------------------------
if pg_dump -U postgres -d postgres -f "$WORK/pg.sql" 2>"$WORK/dump.err"; then
    notok "a plain pg_dump as postgres was expected to fail on sandbox_access (the guide says so)"
else
    check "a plain pg_dump as postgres fails on sandbox_access (as the guide says)" \
          "$(grep -c 'permission denied for table sandbox_access' "$WORK/dump.err")" "1"
fi
if pg_dump -U postgres -d postgres --exclude-table-data=extensions.sandbox_access \
        --exclude-table-data='extensions.sandbox_secret*' \
        -f "$WORK/pg.sql" 2>"$WORK/dump.err"; then
    ok "pg_dump as postgres with --exclude-table-data for sandbox_access and the secrets"
else
    notok "pg_dump as postgres with --exclude-table-data: $(cat "$WORK/dump.err")"
fi
check "that dump holds every run and no access token or secret" \
      "$(grep -c '^COPY extensions.agent_runs \|^COPY extensions.agent_run_events \|^COPY extensions.sandboxes ' "$WORK/pg.sql")|$(grep -c '^COPY extensions.sandbox_access\|^COPY extensions.sandbox_secret' "$WORK/pg.sql")" "3|0"
admin "CREATE ROLE regress_dumper LOGIN; SELECT extensions.sandbox_grant_usage('regress_dumper')" >/dev/null
if pg_dump -U regress_dumper -d postgres --exclude-table-data=extensions.sandbox_access \
        --exclude-table-data='extensions.sandbox_secret*' -f /dev/null 2>"$WORK/dump.err"; then
    notok "pg_dump by a granted role without BYPASSRLS was expected to fail"
else
    check "the same pg_dump by a granted role without BYPASSRLS fails on row-level security" \
          "$(grep -c 'query would be affected by row-level security policy' "$WORK/dump.err")" "1"
fi
admin "REVOKE ALL ON ALL TABLES IN SCHEMA extensions FROM regress_dumper;
       REVOKE ALL ON ALL FUNCTIONS IN SCHEMA extensions FROM regress_dumper;
       REVOKE ALL ON SCHEMA extensions FROM regress_dumper; DROP ROLE regress_dumper" >/dev/null
admin "CREATE DATABASE restored_pg" >/dev/null
if PGOPTIONS="-c client_min_messages=error" psql -X -q -v ON_ERROR_STOP=1 -U supabase_admin -d restored_pg \
        -f "$WORK/pg.sql" >/dev/null 2>"$WORK/restore.err"; then
    ok "postgres's dump restores as supabase_admin into a new database"
else
    notok "restore of postgres's dump: $(cat "$WORK/restore.err")"
fi
DB=restored_pg
isolation_reads "restored (postgres's dump)"
check "restored (postgres's dump): sandboxes keep their rows but no access token" \
      "$(admin "SELECT (SELECT count(*) FROM extensions.sandboxes WHERE sandbox_id = '$sa') || '/' || (SELECT count(*) FROM extensions.sandbox_access)")" "1/0"
got=$(as_user $A "SELECT stdout FROM sandbox_exec('$sa', 'true')")
case "$got" in
    ERROR:*) ok "restored (postgres's dump): A cannot reach its running sandbox from there (no access token: $got)";;
    *) notok "restored (postgres's dump): A reached its sandbox without its access token: '$got'";;
esac
DB=postgres
# restoring as postgres is not possible: the dump creates the extension
admin "CREATE DATABASE restored_by_postgres OWNER postgres" >/dev/null
psql -X -q -U postgres -d restored_by_postgres -f "$WORK/pg.sql" >/dev/null 2>"$WORK/restore.err"
check "a restore as postgres fails at CREATE EXTENSION sandbox (superuser only, as the guide says)" \
      "$(grep -c 'permission denied to create extension "sandbox"' "$WORK/restore.err")" "1"

# --- what settings expose of a key -----------------------------------------------
check "no API key from sandbox.key_file is in the server log" \
      "$(grep -cF -e "$SANDBOXD_API_KEY" -e test-llm-key "$PG_SERVER_LOG")" "0"
probe="e2b_altersystem_probe_$(_sandboxd_hex40)"
admin "ALTER SYSTEM SET sandbox.e2b_api_key = '$probe'" >/dev/null
admin "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do grep -qF "$probe" "$PG_SERVER_LOG" && break; sleep 0.1; done
check "ALTER SYSTEM SET sandbox.e2b_api_key + reload: PostgreSQL logs the value (as the guide warns)" \
      "$(grep -F "$probe" "$PG_SERVER_LOG" | grep -c 'parameter "sandbox.e2b_api_key" changed to')" "1"
check "postgresql.auto.conf holds it, readable by the server's OS user only" \
      "$(stat -c %a "$PGDATA_DIR/data/postgresql.auto.conf")|$(grep -cF "$probe" "$PGDATA_DIR/data/postgresql.auto.conf")" "600|1"
check "postgres cannot read it through pg_file_settings" \
      "$(as_postgres "SELECT count(*) FROM pg_file_settings WHERE name = 'sandbox.e2b_api_key'")" "ERROR:42501"
check "nor SHOW it" "$(as_postgres "SHOW sandbox.e2b_api_key")" "ERROR:42501"
admin "ALTER SYSTEM RESET sandbox.e2b_api_key" >/dev/null
admin "SELECT pg_reload_conf()" >/dev/null
probe2="e2b_rolesetting_probe_$(_sandboxd_hex40)"
admin "CREATE ROLE regress_key_probe NOLOGIN" >/dev/null
admin "SET log_statement = 'ddl'; ALTER ROLE regress_key_probe SET sandbox.e2b_api_key = '$probe2'" >/dev/null
check "ALTER ROLE ... SET sandbox.e2b_api_key is refused (pg_db_role_setting is readable by every role)" \
      "$(as_anon "SELECT count(*) FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%$probe2%'")" "0"
check "the failed statement, key included, is in the server log (PostgreSQL logs failed statements)" \
      "$([ "$(grep -cF "$probe2" "$PG_SERVER_LOG")" -ge 1 ] && echo yes)" "yes"
check "ALTER DATABASE ... SET of a key is refused for llm_api_key (reload-only setting)" \
      "$(admin "ALTER DATABASE postgres SET sandbox.llm_api_key = 'x'")" "ERROR:55P02"
admin "DROP ROLE regress_key_probe" >/dev/null

# --- the end ------------------------------------------------------------------------
check "A kills its sandbox" "$(as_user $A "SELECT sandbox_kill('$sa')")" "t"
check "B kills its sandbox" "$(as_user $B "SELECT sandbox_kill('$sb')")" "t"
pg_check_no_crash || notok "the server log shows a crash"
if [ $status != 0 ]; then
    echo "--- server log (errors and worker lines)"
    grep -E "ERROR|WARNING|FATAL|sandbox worker" "$PG_SERVER_LOG" \
        | grep -v -e "$probe" -e restored_by_postgres | tail -30
fi
echo "# $(( $(date +%s) - T0 )) s"
exit $status
