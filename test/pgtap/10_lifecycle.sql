-- A run goes pending -> planning -> executing -> completed, really runs its
-- command in a sandbox, and records every step.
SELECT plan(17);

INSERT INTO agent_runs (prompt) VALUES ($$Compute the answer.
```bash
echo "the answer is $((6*7))"; uname -s
```
$$) RETURNING id AS run \gset

SELECT is(wait_for_run(:'run'), 'completed', 'the run completes');
SELECT is(status::text, 'completed', 'status is completed') FROM agent_runs WHERE id = :'run';
SELECT is(run_statuses(:'run'), ARRAY['pending', 'planning', 'executing', 'completed'],
          'statuses went pending, planning, executing, completed');
SELECT ok(plan->>'text' LIKE 'Plan:%1.%', 'the plan is stored') FROM agent_runs WHERE id = :'run';
SELECT is(plan_version, 1, 'plan_version is 1') FROM agent_runs WHERE id = :'run';
SELECT ok(result->>'text' LIKE '%the answer is 42%', 'the result quotes the real command output')
  FROM agent_runs WHERE id = :'run';
SELECT ok(result->>'text' LIKE '%Linux%', 'the command ran on Linux in the sandbox')
  FROM agent_runs WHERE id = :'run';
SELECT ok(completed_at IS NOT NULL AND started_at IS NOT NULL AND completed_at >= started_at,
          'started_at and completed_at are set') FROM agent_runs WHERE id = :'run';
SELECT ok(llm_calls = 3 AND input_tokens > 0 AND output_tokens > 0, 'token usage is counted')
  FROM agent_runs WHERE id = :'run';
-- the sandbox and the plan are made in parallel: either may come first; the
-- command's live output (tool_output, as many as its output took) is checked below
SELECT is((array_remove(run_kinds(:'run'), 'tool_output'))[1:1]
          || (SELECT array_agg(k ORDER BY k) FROM unnest((array_remove(run_kinds(:'run'), 'tool_output'))[2:3]) k)
          || (array_remove(run_kinds(:'run'), 'tool_output'))[4:],
          ARRAY['status', 'llm_response', 'sandbox_created', 'status', 'llm_response', 'tool_call',
                'tool_result', 'llm_response', 'status', 'sandbox_killed'],
          'events are recorded in order');
SELECT ok(seq_gap_free(:'run'), 'event seq is gap-free');
SELECT ok(NOT EXISTS (SELECT 1 FROM agent_run_events o WHERE o.run_id = :'run' AND o.kind = 'tool_output'
                        AND (o.seq < (SELECT seq FROM agent_run_events WHERE run_id = :'run' AND kind = 'tool_call')
                             OR o.seq > (SELECT seq FROM agent_run_events WHERE run_id = :'run' AND kind = 'tool_result'))),
          'live output comes between the call and its result');
SELECT is((SELECT data->>'stdout' FROM agent_run_events WHERE run_id = :'run' AND kind = 'tool_result'),
          E'the answer is 42\nLinux\n', 'the tool result event holds the real stdout');
SELECT is((SELECT (data->>'exit_code')::int FROM agent_run_events WHERE run_id = :'run' AND kind = 'tool_result'),
          0, 'and its exit code');
SELECT is((SELECT state::text FROM sandboxes WHERE run_id = :'run'), 'killed',
          'the run''s sandbox was recorded and killed');
SELECT is((SELECT sandbox_id FROM agent_runs WHERE id = :'run'),
          (SELECT sandbox_id FROM sandboxes WHERE run_id = :'run'), 'the run names its sandbox');
SELECT is((SELECT metadata->>'pgsandbox_run' FROM sandboxes WHERE run_id = :'run'), :'run',
          'the sandbox metadata carries the run id');

SELECT * FROM finish();
