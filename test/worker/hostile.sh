#!/usr/bin/env bash
# test/worker/hostile.sh: hostile answers never stop the worker (issue 9).
# The scripted model answers with JSON that a lexer accepts but jsonb
# cannot hold (numbers outside numeric's range, 100,000 nested arrays), in
# the plan, the final answer, tool inputs and usage, and with an answer
# over sandbox.max_llm_response_bytes.  Each such run fails with a clear
# error; ordinary runs queued beside them complete on their first attempt;
# the worker keeps its pid.  Code in a sandbox that writes a hostile line
# into the code interpreter's own stream gets a clear error from
# sandbox_run_code.  Run by test/run-worker.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/checks.sh"

pid0=$(wait_for_value "SELECT pid FROM pg_stat_activity WHERE backend_type = 'sandbox worker'")
declare -A hostile=(
    [plan_bignum]='[[modeld: hostile_text=bignum on=plan]] Count to three'
    [plan_deep]='[[modeld: hostile_text=deep on=plan]] Count to three'
    [answer_negbignum]='[[modeld: hostile_text=negbignum on=exec]] Say hello'
    [answer_longint]='[[modeld: hostile_text=longint on=exec]] Say hello'
    [input_bignum]=$'[[modeld: hostile_input=bignum on=exec]] Run this:\n```bash\necho hi\n```'
    [input_deep]=$'[[modeld: hostile_input=deep on=exec]] Run this:\n```bash\necho hi\n```'
    [usage_bignum]='[[modeld: hostile_usage=bignum]] Say hello'
    [usage_longint]='[[modeld: hostile_usage=longint]] Say hello'
    [huge_answer]='[[modeld: huge=9M on=exec]] Say hello'
)
declare -A ids
for k in "${!hostile[@]}"; do
    p=${hostile[$k]//\'/\'\'}
    ids[$k]=$(q "INSERT INTO agent_runs (prompt) VALUES ('$p') RETURNING id")
done
normal=()
for i in 1 2 3 4 5; do
    normal+=("$(q "INSERT INTO agent_runs (prompt) VALUES ('Run this:
\`\`\`bash
echo ordinary $i
\`\`\`') RETURNING id")")
done

for k in "${!ids[@]}"; do
    id=${ids[$k]}
    st=$(wait_run "$id")
    err=$(q "SELECT coalesce(error, '') FROM agent_runs WHERE id = '$id'")
    case "$k:$st" in
        usage_*:completed)
            # unreadable usage numbers: the answer is refused as a whole, or
            # (OpenAI arguments) the numbers are ignored; both are fine as
            # long as the worker lives
            ok "$k: the run ends ($st)";;
        input_*:completed)
            # the tool input could not be used: a tool error went back to the model
            ok "$k: the run ends ($st: the bad tool input went back to the model)";;
        *:failed)
            case "$err" in
                *"could not be read"*|*"exceeded"*|*"not a JSON object"*|*"numeric"*|*"nested deeper"*)
                    ok "$k: the run fails with a clear error ($(echo "$err" | cut -c1-110))";;
                *) notok "$k: the run fails with a clear error: got '$err'";;
            esac;;
        *) notok "$k: the run ends: got '$st' ($err)";;
    esac
done
for id in "${normal[@]}"; do
    check "an ordinary run beside them completes on attempt 1" \
          "$(wait_run "$id")|$(q "SELECT attempts FROM agent_runs WHERE id = '$id'")" "completed|1"
done
check "the worker kept its pid" "$(worker_pids | head -1)" "$pid0"
ids_array="{$(echo "${normal[*]}" | tr ' ' ',')}"
check "no rescue happened" "$(q "SELECT count(*) FROM agent_run_events WHERE kind = 'rescued' AND run_id = ANY ('$ids_array'::uuid[])")" "0"

# a hostile line in the code interpreter's own stream (code finds the
# driver's event descriptor and writes to it)
sb=$(q "SELECT sandbox_create('code-interpreter-v1')")
for shape in "'1e999999'" "'[' * 100000 + ']' * 100000"; do
    code=$(cat <<PYCODE
import sys, os
m = sys.modules['__main__']
shape = $shape
for i in range(1, 50):
    os.write(m._EV, (str(i) + ' {"type": "result", "is_main_result": true, "text": "x", "data": ' + shape + '}\n').encode())
print('after')
PYCODE
)
    code=${code//\'/\'\'}
    err=$(psql -X -At -q -c "SELECT sandbox_run_code('$sb', '$code')" 2>&1 || true)
    case "$err" in
        *"could not be read"*) ok "sandbox_run_code: a hostile interpreter line gives a clear error ($(echo "$err" | head -1 | cut -c1-100))";;
        *"\"stdout\""*) ok "sandbox_run_code: the hostile line was not taken for the interpreter's (the driver kept its stream)";;
        *) notok "sandbox_run_code: a hostile interpreter line gives a clear error: got '$(echo "$err" | head -3 | cut -c1-300)'";;
    esac
done
q "SELECT sandbox_kill('$sb')" >/dev/null
check "the backend lived through it" "$(q "SELECT 1")" "1"
exit $status
