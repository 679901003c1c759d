#!/usr/bin/env bash
# test/run-fairness.sh: fair claims and provider limits (issue 13), on a
# cluster of its own with sandboxd and modeld.  One worker.
#
#   (c) priority bounds: a non-superuser's priority must lie within
#       ±sandbox.max_user_priority (101 -> 22023, 100 ok), a run_after in the
#       past ('-infinity', '2000-01-01') becomes now(), a superuser may set
#       priority 1000;
#   (e) abuse: a non-superuser cannot call sandbox_limits() without a grant,
#       cannot pick another owner_id (the trigger stamps its own identity),
#       nor change owner_id / owner, nor the limits' settings;
#   (a) fair order: role alice inserts 20,000 due runs, then bob and carol
#       one run each: each is claimed (its planning status event) within 1 s of its insert;
#   (b) sandbox.max_runs_per_owner = 3: 20 sleeping runs of alice never have
#       more than 3 in flight (sampled every 100 ms) while bob's runs go; an
#       UPDATE of a waiting run's metadata keeps its run_after, one of its
#       run_after to '-infinity' makes it now;
#   (f) owners whose pending runs are all scheduled later do not hold up a
#       due run of another owner (with 2 claim slots and 2 such owners);
#   (d) limits hold runs without failing them: modeld's own --rpm (PUT
#       /admin/ratelimit rpm 30: 429s with retry-after) and the extension's
#       sandbox.llm_requests_per_minute = 120, 20 runs of 2 model calls each:
#       0 failed, all on attempt 1, sandbox_limits() saw provider_waits > 0
#       (modeld) / held > 0 (extension).
#
# Prints "ok - " / "not ok - " lines; exits non-zero on a failure.  Assumes
# `make install`.  About 2 minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$ROOT/test/lib/sandboxd.sh"
source "$ROOT/test/lib/modeld.sh"
source "$ROOT/test/lib/pg.sh"

sandboxd_start --max-sandboxes 500
modeld_start
export TEST_DB=sandbox_fair
pg_start "shared_preload_libraries = 'sandbox'" \
         "sandbox.database = '$TEST_DB'" \
         "sandbox.workers = 1" \
         "sandbox.max_concurrent_runs = 20" \
         "sandbox.e2b_api_key = '$SANDBOXD_API_KEY'" \
         "sandbox.e2b_api_url = '$E2B_API_URL'" \
         "sandbox.e2b_sandbox_url = '$E2B_SANDBOX_URL'" \
         "sandbox.llm_api_url = '$MODELD_URL'" \
         "sandbox.run_timeout = 300"
cleanup() { pg_cleanup; modeld_stop; sandboxd_stop_all; }
trap cleanup EXIT
psql -X -q -d postgres -c "CREATE DATABASE $TEST_DB"
export PGDATABASE=$TEST_DB
psql -X -q -c "CREATE EXTENSION sandbox"
source "$ROOT/test/lib/checks.sh"
T_START=$(date +%s)
phase() { echo "# --- $1 (at $(( $(date +%s) - T_START )) s)"; }

# roles in this order (the claim walks owners by role oid): alice, two
# owners with only scheduled runs, bob, carol
for r in alice fut1 fut2 bob carol; do
    q "CREATE ROLE $r LOGIN" >/dev/null
    q "SELECT sandbox_grant_usage('$r')" >/dev/null
done
# an identity per role (as sandbox.identity_function would give per user)
q "CREATE FUNCTION public.test_identity() RETURNS text LANGUAGE sql STABLE AS \$\$ SELECT current_user || '-id' \$\$" >/dev/null
q "ALTER DATABASE $TEST_DB SET sandbox.identity_function = 'public.test_identity'" >/dev/null
# as ROLE: psql as that role (trust authentication)
as() { local r=$1; shift; psql -X -At -q -U "$r" -c "$1" 2>&1 || true; }
# sqlstate ROLE SQL: the SQLSTATE of the statement's error, or "ok"
sqlstate() {
    local out
    out=$(psql -X -At -q -U "$1" -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$2" 2>&1) && { echo ok; return; }
    echo "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' | head -1
}
# runs_left SQL_WHERE: runs matching that are not finished
runs_left() { q "SELECT count(*) FROM agent_runs WHERE ($1) AND status IN ('pending', 'planning', 'executing')"; }
# wait_done SQL_WHERE SECONDS
wait_done() {
    local end=$(( $(date +%s) + $2 ))
    while [ "$(runs_left "$1")" != 0 ]; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}
diag_runs() {
    echo "# runs by owner and status:"
    q "SELECT owner, owner_id, status, attempts, count(*) FROM agent_runs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4" | sed 's/^/#   /'
    echo "# sandbox_limits():"
    q "SELECT * FROM sandbox_limits()" | sed 's/^/#   /'
    echo "# worker:"
    q "SELECT pid, state, runs_in_flight, runs_claimed, runs_completed, runs_failed, last_error FROM sandbox_worker_status()" | sed 's/^/#   /'
}
for _ in $(seq 1 100); do
    [ "$(q "SELECT count(*) FROM sandbox_worker_status() WHERE state = 'running'")" = 1 ] && break
    sleep 0.1
done
check "the worker runs" "$(q "SELECT count(*) FROM sandbox_worker_status() WHERE state = 'running'")" "1"
# everything below needs a non-superuser's INSERT to work
got=$(as alice "INSERT INTO agent_runs (prompt, run_after) VALUES ('Answer pre.', now() + interval '1 hour') RETURNING 'inserted'")
check "a non-superuser can enqueue a run" "$got" "inserted"
if [ "$got" != inserted ]; then
    echo "# cannot go on without it; the extension installed: $(ls -l --time-style=full-iso "$(pg_config --pkglibdir)/sandbox.so")"
    exit 1
fi
q "DELETE FROM agent_runs" >/dev/null

# --- (c) priority bounds and run_after ---------------------------------------
phase "(c) priority bounds"
check "(c) a non-superuser's priority 101 is refused with 22023" \
      "$(sqlstate alice "INSERT INTO agent_runs (prompt, priority) VALUES ('Answer c1.', 101)")" "22023"
check "(c) priority -101 is refused with 22023" \
      "$(sqlstate alice "INSERT INTO agent_runs (prompt, priority) VALUES ('Answer c2.', -101)")" "22023"
check "(c) priority 100 and -100 are accepted" \
      "$(sqlstate alice "INSERT INTO agent_runs (prompt, priority, metadata) VALUES ('Answer c3.', 100, '{\"t\":\"c\"}'), ('Answer c4.', -100, '{\"t\":\"c\"}')")" "ok"
check "(c) an UPDATE of a pending run to priority 101 is refused with 22023" \
      "$(sqlstate alice "BEGIN; INSERT INTO agent_runs (prompt, run_after, metadata) VALUES ('Answer c5.', now() + interval '1 hour', '{\"t\":\"c5\"}');
                           UPDATE agent_runs SET priority = 101 WHERE metadata->>'t' = 'c5'; COMMIT")" "22023"
got=$(as alice "INSERT INTO agent_runs (prompt, run_after, metadata) VALUES ('Answer c6.', '-infinity', '{\"t\":\"c\"}'),
                      ('Answer c7.', '2000-01-01', '{\"t\":\"c\"}')
                RETURNING abs(extract(epoch FROM run_after - now())) < 1")
check "(c) run_after '-infinity' and '2000-01-01' become now()" "$(echo $got)" "t t"
check "(c) a superuser may set priority 1000 (and keeps its run_after)" \
      "$(q "INSERT INTO agent_runs (prompt, priority, run_after, metadata) VALUES ('Answer c8.', 1000, '2000-01-01', '{\"t\":\"c\"}')
            RETURNING priority || ' ' || (run_after = '2000-01-01')")" "1000 true"
check "(c) a superuser's priority 101 run for another owner is accepted as written" \
      "$(sqlstate postgres "INSERT INTO agent_runs (prompt, priority, owner, metadata) VALUES ('Answer c9.', 101, 'alice', '{\"t\":\"c\"}')")" "ok"

# --- (e) abuse ----------------------------------------------------------------
phase "(e) abuse"
check "(e) alice cannot call sandbox_limits() without a grant (42501)" \
      "$(sqlstate alice "SELECT * FROM sandbox_limits()")" "42501"
check "(e) alice's INSERT with owner_id 'bob-id' is stamped with her own identity" \
      "$(as alice "INSERT INTO agent_runs (prompt, owner_id, run_after, metadata) VALUES ('Answer e1.', 'bob-id', now() + interval '1 hour', '{\"t\":\"e\"}') RETURNING owner || ' ' || owner_id")" \
      "alice alice-id"
check "(e) alice cannot change owner_id of her pending run (42501)" \
      "$(sqlstate alice "UPDATE agent_runs SET owner_id = 'zz-id' WHERE metadata->>'t' = 'e'")" "42501"
check "(e) alice cannot enqueue as owner bob (42501)" \
      "$(sqlstate alice "INSERT INTO agent_runs (prompt, owner) VALUES ('Answer e2.', 'bob')")" "42501"
check "(e) alice cannot move her run to owner bob (42501)" \
      "$(sqlstate alice "UPDATE agent_runs SET owner = 'bob' WHERE metadata->>'t' = 'e'")" "42501"
check "(e) alice cannot SET sandbox.identity_function (42501)" \
      "$(sqlstate alice "SET sandbox.identity_function = 'public.test_identity'")" "42501"
check "(e) alice cannot SET sandbox.max_user_priority (55P02)" \
      "$(sqlstate alice "SET sandbox.max_user_priority = 100000")" "55P02"
check "(e) alice cannot SET sandbox.max_runs_per_owner (55P02)" \
      "$(sqlstate alice "SET sandbox.max_runs_per_owner = 0")" "55P02"
check "(e) alice sees none of bob's runs" \
      "$(q "INSERT INTO agent_runs (prompt, owner, owner_id, run_after, metadata) VALUES ('Answer e3.', 'bob', 'bob-id', now() + interval '1 hour', '{\"t\":\"e3\"}')" >/dev/null
         as alice "SELECT count(*) FROM agent_runs WHERE metadata->>'t' = 'e3'")" "0"
q "DELETE FROM agent_runs WHERE metadata->>'t' IN ('e', 'e3', 'c5')" >/dev/null
if ! wait_done "metadata->>'t' = 'c'" 30; then diag_runs; fi
check "(c) the accepted runs complete" \
      "$(q "SELECT count(*) FILTER (WHERE status = 'completed') || '/' || count(*) FROM agent_runs WHERE metadata->>'t' = 'c'")" "6/6"

# --- (a) fair order behind 20,000 pending runs of one owner ------------------
phase "(a) fair order"
t0=$(date +%s%N)
as alice "INSERT INTO agent_runs (prompt, metadata)
          SELECT 'Answer ' || i || ' in one word.', jsonb_build_object('t', 'flood', 'i', i)
            FROM generate_series(1, 20000) i" >/dev/null
echo "# alice inserted 20,000 runs in $(ms_since "$t0") ms"
# the worker is busy with alice's runs (all 20 slots) before bob comes
for _ in $(seq 1 50); do
    [ "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'t' = 'flood' AND status = 'completed'")" -ge 40 ] && break
    sleep 0.1
done
waits=()
worst=0
for s in 1 2 3; do
    id=$(as bob "INSERT INTO agent_runs (prompt, metadata) VALUES ('Answer bob $s.', '{\"t\":\"fair\"}') RETURNING id")
    for _ in $(seq 1 100); do
        [ -n "$(q "SELECT started_at FROM agent_runs WHERE id = '$id' AND started_at IS NOT NULL")" ] && break
        sleep 0.05
    done
    w=$(q "SELECT coalesce(round(extract(epoch FROM e.at - r.created_at) * 1000)::int, 99999) FROM agent_runs r JOIN agent_run_events e ON e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'planning' WHERE r.id = '$id' UNION ALL SELECT 99999 LIMIT 1")
    waits+=("$w")
    [ "$w" -gt "$worst" ] && worst=$w
    sleep 0.3
done
pend=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'t' = 'flood' AND status = 'pending'")
done_a=$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'t' = 'flood' AND status = 'completed'")
echo "# bob's runs waited ${waits[*]} ms from insert to claim (alice: $pend pending, $done_a completed)"
check "(a) bob's run is claimed within 1 s of its insert behind ~20,000 pending runs of alice (worst ${worst} ms)" \
      "$([ "$worst" -le 1000 ] && echo yes)" "yes"
check "(a) alice still had more than 19,000 runs pending" "$([ "$pend" -gt 19000 ] && echo yes)" "yes"
# carol and bob together: both claimed before any more of alice's
id_c=$(as carol "INSERT INTO agent_runs (prompt, metadata) VALUES ('Answer carol.', '{\"t\":\"fair\"}') RETURNING id")
wait_run "$id_c" >/dev/null
w=$(q "SELECT coalesce(round(extract(epoch FROM e.at - r.created_at) * 1000)::int, 99999) FROM agent_runs r JOIN agent_run_events e ON e.run_id = r.id AND e.kind = 'status' AND e.data->>'to' = 'planning' WHERE r.id = '$id_c' UNION ALL SELECT 99999 LIMIT 1")
echo "# carol's run waited $w ms"
check "(a) carol's run too (${w} ms)" "$([ "$w" -le 1000 ] && echo yes)" "yes"
if [ "$worst" -gt 1000 ] || [ "$w" -gt 1000 ]; then diag_runs; fi
# the rest of the flood goes (no worker writes to them while pending)
q "DELETE FROM agent_runs WHERE metadata->>'t' = 'flood' AND status = 'pending'" >/dev/null
wait_done "metadata->>'t' IN ('flood', 'fair')" 30 || true
check "(a) every claimed run of the flood and bob's runs completed" \
      "$(q "SELECT count(*) FILTER (WHERE status <> 'completed') FROM agent_runs WHERE metadata->>'t' IN ('flood', 'fair')")" "0"
q "DELETE FROM agent_runs WHERE metadata->>'t' = 'flood'" >/dev/null
q "VACUUM ANALYZE agent_runs" >/dev/null

# --- (b) max_runs_per_owner = 3 -----------------------------------------------
phase "(b) max_runs_per_owner"
q "ALTER SYSTEM SET sandbox.max_runs_per_owner = 3" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
as alice "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Capped %s.
\`\`\`bash
sleep 1; echo capped-%s
\`\`\`
\$p\$, i, i), jsonb_build_object('t', 'cap', 'i', i) FROM generate_series(1, 20) i" >/dev/null
as bob "INSERT INTO agent_runs (prompt, metadata) SELECT format(\$p\$Bob %s.
\`\`\`bash
sleep 1; echo bob-%s
\`\`\`
\$p\$, i, i), jsonb_build_object('t', 'capb', 'i', i) FROM generate_series(1, 6) i" >/dev/null
sleep 0.3
# (c, continued) a waiting run of alice: its metadata changes, its run_after stays
wid=$(q "SELECT id FROM agent_runs WHERE metadata->>'t' = 'cap' AND status = 'pending' ORDER BY (metadata->>'i')::int DESC LIMIT 1")
ra0=$(q "SELECT run_after FROM agent_runs WHERE id = '$wid'")
as alice "UPDATE agent_runs SET metadata = metadata || '{\"note\":\"x\"}' WHERE id = '$wid' AND status = 'pending'" >/dev/null
check "(c) an UPDATE of a pending run's metadata keeps its run_after" \
      "$(q "SELECT (run_after = '$ra0') || ' ' || (metadata->>'note') FROM agent_runs WHERE id = '$wid'")" "true x"
got=$(as alice "UPDATE agent_runs SET run_after = '-infinity' WHERE id = '$wid' AND status = 'pending'
                RETURNING abs(extract(epoch FROM run_after - now())) < 1")
check "(c) an UPDATE of a pending run's run_after to '-infinity' makes it now()" "$got" "t"
peak_a=0; peak_b=0; b_done_at=""; n=0
while [ "$n" -lt 400 ]; do
    read -r ia ib la lb <<<"$(q "SELECT count(*) FILTER (WHERE metadata->>'t' = 'cap' AND status IN ('planning', 'executing')),
                                       count(*) FILTER (WHERE metadata->>'t' = 'capb' AND status IN ('planning', 'executing')),
                                       count(*) FILTER (WHERE metadata->>'t' = 'cap' AND status IN ('pending', 'planning', 'executing')),
                                       count(*) FILTER (WHERE metadata->>'t' = 'capb' AND status IN ('pending', 'planning', 'executing'))
                                  FROM agent_runs WHERE metadata->>'t' IN ('cap', 'capb')" | tr '|' ' ')"
    [ "$ia" -gt "$peak_a" ] && peak_a=$ia
    [ "$ib" -gt "$peak_b" ] && peak_b=$ib
    [ "$lb" = 0 ] && [ -z "$b_done_at" ] && b_done_at=$la
    [ "$la" = 0 ] && [ "$lb" = 0 ] && break
    sleep 0.1
    n=$((n + 1))
done
echo "# alice in flight at most $peak_a, bob at most $peak_b; alice had ${b_done_at:-?} runs left when bob's 6 were done"
check "(b) never more than 3 of alice's runs in flight (peak $peak_a)" "$([ "$peak_a" -le 3 ] && [ "$peak_a" -ge 1 ] && echo yes)" "yes"
check "(b) bob's runs went meanwhile, 3 at a time at most (peak $peak_b)" "$([ "$peak_b" -le 3 ] && [ "$peak_b" -ge 2 ] && echo yes)" "yes"
check "(b) bob's 6 runs were done while alice still had runs waiting" "$([ -n "$b_done_at" ] && [ "$b_done_at" -ge 3 ] && echo yes)" "yes"
check "(b) all 26 completed on attempt 1" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'t' IN ('cap', 'capb') AND status = 'completed' AND attempts = 1")" "26"
[ "$peak_a" -le 3 ] || diag_runs
q "ALTER SYSTEM SET sandbox.max_runs_per_owner = 0" >/dev/null

# --- (f) owners with only scheduled runs do not hold up a due run ------------
phase "(f) scheduled owners"
# Two claim slots; the claim's walk starts after alice (served last); fut1
# and fut2 (next in the walk) have only runs due in an hour; bob's is due now.
q "ALTER SYSTEM SET sandbox.max_concurrent_runs = 2" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
id_a=$(as alice "INSERT INTO agent_runs (prompt, metadata) VALUES ('Answer alice f.', '{\"t\":\"f\"}') RETURNING id")
wait_run "$id_a" >/dev/null
as fut1 "INSERT INTO agent_runs (prompt, run_after, metadata) VALUES ('Later 1.', now() + interval '1 hour', '{\"t\":\"later\"}')" >/dev/null
as fut2 "INSERT INTO agent_runs (prompt, run_after, metadata) VALUES ('Later 2.', now() + interval '1 hour', '{\"t\":\"later\"}')" >/dev/null
id_b=$(as bob "INSERT INTO agent_runs (prompt, metadata) VALUES ('Answer bob f.', '{\"t\":\"f\"}') RETURNING id")
st=""
for _ in $(seq 1 100); do
    st=$(q "SELECT status FROM agent_runs WHERE id = '$id_b'")
    [ "$st" = completed ] && break
    sleep 0.1
done
w=$(q "SELECT coalesce(round(extract(epoch FROM started_at - created_at) * 1000)::int, -1) FROM agent_runs WHERE id = '$id_b'")
check "(f) bob's due run is claimed (and done within 10 s) although fut1 and fut2, next in turn, have only runs due in an hour (status $st, waited $w ms)" \
      "$st" "completed"
[ "$st" = completed ] || diag_runs
q "DELETE FROM agent_runs WHERE metadata->>'t' = 'later'" >/dev/null
q "ALTER SYSTEM SET sandbox.max_concurrent_runs = 20" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
wait_done "metadata->>'t' = 'f'" 10 || true

# --- (d) limits hold runs, never fail them ------------------------------------
phase "(d) limits"
# (d1) the provider's own limit: modeld at 30 requests per minute; 20 runs of
# 2 calls: 30 pass, the rest are 429s with retry-after, and wait
modeld_admin PUT /admin/ratelimit '{"rpm":30}' >/dev/null
t0=$(date +%s%N)
as alice "INSERT INTO agent_runs (prompt, metadata) SELECT 'Answer ' || i || ' briefly.', jsonb_build_object('t', 'd1', 'i', i)
            FROM generate_series(1, 20) i" >/dev/null
max_block=0
while [ "$(runs_left "metadata->>'t' = 'd1'")" != 0 ] && [ "$(ms_since "$t0")" -lt 90000 ]; do
    b=$(q "SELECT coalesce(round(extract(epoch FROM blocked_until - clock_timestamp()) * 1000)::int, 0) FROM sandbox_limits() WHERE name = 'llm_requests'")
    [ "$b" -gt "$max_block" ] && max_block=$b
    sleep 0.2
done
el=$(ms_since "$t0")
echo "# (d1) the longest wait the workers were told to keep (blocked_until - now, sampled): $max_block ms"
echo "# (d1) 20 runs under modeld --rpm 30 took $el ms"
stats=$(modeld_admin GET /admin/stats)
limited=$(echo "$stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"].get("model_ratelimit_limited", 0))')
echo "# modeld answered 429 to $limited calls"
check "(d1) modeld limited some calls (429s: $limited)" "$([ "$limited" -gt 0 ] && echo yes)" "yes"
check "(d1) 0 failed, all 20 completed on attempt 1" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'t' = 'd1' AND status = 'completed' AND attempts = 1")" "20"
check "(d1) sandbox_limits() shows the provider's waits (llm_requests provider_waits > 0)" \
      "$(q "SELECT provider_waits > 0 FROM sandbox_limits() WHERE name = 'llm_requests'")" "t"
# 30 calls pass at once, the other 10 need 2 s each (20 s); waiting for the
# bucket's "-reset" (when it is full again) whenever remaining is 0 takes
# up to a minute instead
check "(d1) the runs waited about what the limit needs, not a minute per empty bucket (${el} ms < 40000)" \
      "$([ "$el" -lt 40000 ] && echo yes)" "yes"
modeld_admin PUT /admin/ratelimit '{"rpm":0}' >/dev/null
# (d2) the extension's own limit: 120 per minute
q "ALTER SYSTEM SET sandbox.llm_requests_per_minute = 120" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
taken0=$(q "SELECT taken FROM sandbox_limits() WHERE name = 'llm_requests'")
t0=$(date +%s%N)
as alice "INSERT INTO agent_runs (prompt, metadata) SELECT 'Answer ' || i || ' again.', jsonb_build_object('t', 'd2', 'i', i)
            FROM generate_series(1, 20) i" >/dev/null
peak_held=0
while [ "$(runs_left "metadata->>'t' = 'd2'")" != 0 ]; do
    h=$(q "SELECT held FROM sandbox_limits() WHERE name = 'llm_requests'")
    [ "$h" -gt "$peak_held" ] && peak_held=$h
    [ "$(ms_since "$t0")" -gt 60000 ] && break
    sleep 0.2
done
el=$(ms_since "$t0")
rows=$(q "SELECT taken - $taken0 || ' ' || held FROM sandbox_limits() WHERE name = 'llm_requests'")
echo "# (d2) 20 runs (40 model calls) at sandbox.llm_requests_per_minute = 120 took $el ms; taken, held: $rows"
check "(d2) 0 failed, all 20 completed on attempt 1" \
      "$(q "SELECT count(*) FROM agent_runs WHERE metadata->>'t' = 'd2' AND status = 'completed' AND attempts = 1")" "20"
check "(d2) sandbox_limits() counted held calls (held > 0)" "$(q "SELECT held > 0 FROM sandbox_limits() WHERE name = 'llm_requests'")" "t"
check "(d2) 40 calls at 2 per second took at least 15 s (${el} ms)" "$([ "$el" -ge 15000 ] && echo yes)" "yes"
check "(d2) no model call was a retry" \
      "$(q "SELECT count(*) FROM agent_run_events e JOIN agent_runs r ON r.id = e.run_id WHERE r.metadata->>'t' = 'd2' AND e.kind = 'retry'")" "0"
q "ALTER SYSTEM RESET sandbox.llm_requests_per_minute" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
[ "$status" = 0 ] || diag_runs

pg_check_no_crash || notok "no backend crashed"
echo "# wall time $(( $(date +%s) - T_START )) s"
exit "$status"
