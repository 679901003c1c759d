#!/usr/bin/env bash
# LISTEN agent_runs receives every status change of a run, in order.
# Runs inside test/run-worker.sh (PG*, servers and the worker are up).
set -euo pipefail
out=$(mktemp)
# one psql session: LISTEN, enqueue, then poll until the run ends; psql
# prints each notification as it arrives between statements
{
    echo "LISTEN agent_runs;"
    echo "INSERT INTO agent_runs (prompt) VALUES (\$\$Listen test.
\`\`\`bash
echo listened
\`\`\`
\$\$) RETURNING id AS run \\gset"
    for i in $(seq 1 600); do
        echo "SELECT status IN ('completed', 'failed', 'cancelled') AS done FROM agent_runs WHERE id = :'run' \\gset"
        echo "\\if :done"
        echo "SELECT pg_sleep(0.2);"
        echo "\\echo run :run"
        echo "\\q"
        echo "\\endif"
        echo "SELECT pg_sleep(0.05);"
    done
} | psql -X -q -At >"$out" 2>&1 || true
run=$(sed -n 's/^run //p' "$out")
statuses=$(grep -o "\"id\":\"$run\",\"status\":\"[a-z]*\"" "$out" | sed 's/.*"status":"\([a-z]*\)".*/\1/' | tr '\n' ' ')
expected="pending planning executing completed "
if [ "$statuses" != "$expected" ]; then
    echo "not ok - LISTEN saw: '$statuses', expected '$expected'"
    grep -v "^$" "$out" | grep -v "no rows returned" | tail -20
    rm -f "$out"
    exit 1
fi
rm -f "$out"
echo "ok - LISTEN received every status change in order: $statuses"
