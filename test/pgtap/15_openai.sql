-- The same run through an OpenAI-compatible server (chat completions).
SELECT plan(5);

SELECT current_setting('sandbox.llm_api_url') AS anthropic_url \gset
ALTER SYSTEM SET sandbox.llm_provider = 'openai';
SELECT format('ALTER SYSTEM SET sandbox.llm_api_url = %L', :'anthropic_url' || '/v1') \gexec
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

INSERT INTO agent_runs (prompt) VALUES ($$Through OpenAI.
```bash
echo "via chat completions"
```
```python
print(sum(range(10)))
```
$$) RETURNING id AS run \gset
SELECT is(wait_for_run(:'run'), 'completed', 'the run completes through the OpenAI API');
SELECT is(result->>'provider', 'openai', 'the provider was openai') FROM agent_runs WHERE id = :'run';
SELECT ok(result->>'text' LIKE '%45%', 'the python tool ran (the last output is quoted)') FROM agent_runs WHERE id = :'run';
SELECT is((SELECT data->>'stdout' FROM agent_run_events WHERE run_id = :'run' AND kind = 'tool_result'
            AND data->>'name' = 'run_command' ORDER BY seq LIMIT 1),
          E'via chat completions\n', 'the bash tool ran');
SELECT is((SELECT count(*)::int FROM agent_run_events WHERE run_id = :'run' AND kind = 'tool_call'), 3,
          'three tool calls: run_command, write_file, run_command');

ALTER SYSTEM RESET sandbox.llm_provider;
ALTER SYSTEM RESET sandbox.llm_api_url;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT * FROM finish();
