#!/usr/bin/env bash
# pg_dump and restore keep the runs, their events and the sandboxes table:
# the extension marks its tables for pg_dump (pg_extension_config_dump),
# and a superuser's restore passes the agent_runs guard unchanged.
# Runs inside test/run-worker.sh (PG*, servers and the worker are up).
set -euo pipefail
source "$(dirname "$0")/../lib/checks.sh"

# at least one finished run of our own, with a plan, a result and events
run=$(q "INSERT INTO agent_runs (prompt) VALUES (\$\$Dump me.
\`\`\`bash
echo dumped
\`\`\`
\$\$) RETURNING id")
check "a run to dump completes" "$(wait_run "$run")" "completed"

counts="SELECT (SELECT count(*) FROM agent_runs) || '/' || (SELECT count(*) FROM agent_run_events)
               || '/' || (SELECT count(*) FROM sandboxes) || '/' ||
               (SELECT count(*) FROM agent_runs WHERE status = 'completed')"
before=$(q "$counts")
digest="SELECT count(*) || ':' || md5(string_agg(id::text || status::text || coalesce(result::text, '') || coalesce(plan::text, ''), ',' ORDER BY id)) FROM agent_runs"
dump=$(mktemp)
pg_dump -d "$PGDATABASE" >"$dump"
PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS sandbox_restored" -c "CREATE DATABASE sandbox_restored"
psql -X -q -v ON_ERROR_STOP=1 -d sandbox_restored -f "$dump" >/dev/null
after=$(PGDATABASE=sandbox_restored q "$counts")
check "pg_dump + restore keeps every run, event and sandbox row ($before)" "$after" "$before"
want=$(q "$digest")
[ -n "$want" ] || notok "the digest query failed"
check "with the same statuses, plans and results" "$(PGDATABASE=sandbox_restored q "$digest")" "$want"
psql -X -q -d postgres -c "DROP DATABASE sandbox_restored"
rm -f "$dump"
exit $status
