-- Python programs, failing commands fed back to the model, limits and errors.
SELECT plan(14);

-- a python block becomes write_file + run_command
INSERT INTO agent_runs (prompt) VALUES ($$Write fib with memoization and test it.
```python
from functools import lru_cache
@lru_cache(None)
def fib(n): return n if n < 2 else fib(n-1) + fib(n-2)
print([fib(i) for i in range(11)])
```
$$) RETURNING id AS py \gset
SELECT is(wait_for_run(:'py'), 'completed', 'the python run completes');
SELECT ok(result->>'text' LIKE '%[0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55]%', 'the program really ran')
  FROM agent_runs WHERE id = :'py';
SELECT is((SELECT array_agg(data->>'name' ORDER BY seq) FROM agent_run_events
            WHERE run_id = :'py' AND kind = 'tool_call'), ARRAY['write_file', 'run_command'],
          'it wrote the file and ran it');

-- a failing command is fed back, and the run still completes
INSERT INTO agent_runs (prompt) VALUES ($$Try this.
```bash
echo about to fail >&2; exit 3
```
$$) RETURNING id AS failing \gset
SELECT is(wait_for_run(:'failing'), 'completed', 'a run whose command fails still completes');
SELECT is((SELECT (data->>'exit_code')::int FROM agent_run_events WHERE run_id = :'failing' AND kind = 'tool_result'),
          3, 'the exit code was recorded');
SELECT ok(result->>'text' LIKE '%exit_code: 3%about to fail%', 'the failure was fed back to the model')
  FROM agent_runs WHERE id = :'failing';

-- max_turns reached -> failed with a clear error
INSERT INTO agent_runs (prompt, max_turns) VALUES ('Loop forever [[modeld: loop]]', 3) RETURNING id AS loop \gset
SELECT is(wait_for_run(:'loop'), 'failed', 'a run over max_turns fails');
SELECT ok(error LIKE 'max_turns (3) reached%', 'with a clear error: ' || error) FROM agent_runs WHERE id = :'loop';
SELECT is((SELECT count(*)::int FROM agent_run_events WHERE run_id = :'loop' AND kind = 'tool_result'), 2,
          'two turns ran tools before the limit');

-- an LLM 4xx -> failed with the provider's message, no retry
INSERT INTO agent_runs (prompt) VALUES ('Bad request [[modeld: status=400]]') RETURNING id AS bad \gset
SELECT is(wait_for_run(:'bad'), 'failed', 'an LLM 400 fails the run');
SELECT ok(error LIKE '%HTTP 400%invalid_request_error%', 'with the provider''s answer: ' || error)
  FROM agent_runs WHERE id = :'bad';
SELECT is((SELECT count(*)::int FROM agent_run_events WHERE run_id = :'bad' AND kind = 'retry'), 0,
          'a 400 is not retried');

-- 429 then success: retried with backoff, each retry an event
INSERT INTO agent_runs (prompt) VALUES ($$Flaky [[modeld: status=429 fail_first=2 retry_after=0]]
```bash
echo recovered
```
$$) RETURNING id AS flaky \gset
SELECT is(wait_for_run(:'flaky'), 'completed', 'a run through two 429s completes');
SELECT ok((SELECT count(*) FROM agent_run_events WHERE run_id = :'flaky' AND kind = 'retry') >= 2,
          'the retries are events');

SELECT * FROM finish();
