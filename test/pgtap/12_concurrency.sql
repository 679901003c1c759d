-- Fifty runs at once all complete, each in its own sandbox.
SELECT plan(5);

CREATE TEMP TABLE batch AS
WITH ins AS (
  INSERT INTO agent_runs (prompt)
  SELECT format($$Run %s.
```bash
echo run-%s; sleep 0.2
```
$$, i, i) FROM generate_series(1, 50) i
  RETURNING id, prompt)
SELECT id, prompt FROM ins;

SELECT is(wait_for_runs(array(SELECT id FROM batch)), 0, 'no run is left in flight');
SELECT is(count(*)::int, 50, 'all 50 completed')
  FROM agent_runs WHERE id IN (SELECT id FROM batch) AND status = 'completed';
SELECT is(count(*)::int, 50, 'each quotes its own output')
  FROM agent_runs r JOIN batch b USING (id)
 WHERE r.result->>'text' LIKE '%' || substring(b.prompt from 'echo (run-[0-9]+)') || E'\n%';
SELECT is(count(DISTINCT sandbox_id)::int, 50, 'in 50 different sandboxes')
  FROM agent_runs WHERE id IN (SELECT id FROM batch);
SELECT ok(bool_and(seq_gap_free(id)), 'every event sequence is gap-free') FROM batch;

SELECT * FROM finish();
