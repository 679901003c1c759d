#!/usr/bin/env bash
# DROP DATABASE (another one) and DROP EXTENSION never wait on a busy worker;
# the worker idles without the extension and resumes when it is back.
# Runs last inside test/run-worker.sh (it drops the extension).
set -euo pipefail
source "$(dirname "$0")/../lib/checks.sh"

run=$(q "INSERT INTO agent_runs (prompt) VALUES (\$\$Busy.
\`\`\`bash
sleep 5
\`\`\`
\$\$) RETURNING id")
wait_status "$run" executing || true

t0=$(date +%s%N)
psql -X -q -d postgres -c "CREATE DATABASE drop_me" -c "DROP DATABASE drop_me"
ms=$(ms_since "$t0")
[ "$ms" -lt 3000 ] && ok "CREATE + DROP DATABASE of another database with the worker busy: $ms ms" ||
    notok "DROP DATABASE took $ms ms"

t0=$(date +%s%N)
psql -X -q -c "SET lock_timeout = '10s'" -c "DROP EXTENSION sandbox CASCADE"
ms=$(ms_since "$t0")
[ "$ms" -lt 2000 ] && ok "DROP EXTENSION with a run in flight: $ms ms" || notok "DROP EXTENSION took $ms ms"

for _ in $(seq 1 50); do
    pgs=$(q "SELECT query FROM pg_stat_activity WHERE backend_type = 'sandbox worker'")
    [ -n "$pgs" ] && break; sleep 0.1
done
# the worker lives on, idle; the dropped run's sandbox is killed
live=x
for _ in $(seq 1 50); do
    live=$(curl -sS -H "X-API-Key: $SANDBOXD_API_KEY" "$E2B_API_URL/admin/stats" |
           python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sandboxes_live"])')
    [ "$live" = 0 ] && break; sleep 0.1
done
[ "$live" = 0 ] && ok "the dropped run's sandbox was killed" || notok "$live sandboxes live after DROP EXTENSION"
[ -n "$(worker_pids)" ] && ok "the worker is still running" || notok "the worker died"
# ... idle, not spinning on a missing extension
cpu=$(worker_cpu_over 2)
check "and idles without the extension (CPU over 2 s < 0.2 s; used $cpu s)" "$(python3 -c "print($cpu < 0.2)")" "True"

psql -X -q -c "CREATE EXTENSION sandbox"
run=$(q "INSERT INTO agent_runs (prompt) VALUES (\$\$Back.
\`\`\`bash
echo back
\`\`\`
\$\$) RETURNING id")
s=""
for _ in $(seq 1 200); do
    s=$(q "SELECT status FROM agent_runs WHERE id = '$run'")
    [ "$s" = completed ] && break; sleep 0.05
done
[ "$s" = completed ] && ok "after CREATE EXTENSION the worker serves runs again" || notok "new run: $s"
exit $status
