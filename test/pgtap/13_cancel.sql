-- Cancelling a run stops it within a second and kills its sandbox.
SELECT plan(8);

INSERT INTO agent_runs (prompt) VALUES ($$Slow.
```bash
sleep 30; echo never
```
$$) RETURNING id AS slow \gset
SELECT is(wait_for_run(:'slow', 'executing'), 'executing', 'the run is executing');
SELECT pg_sleep(0.5);
SELECT clock_timestamp() AS t0 \gset
UPDATE agent_runs SET status = 'cancelled' WHERE id = :'slow';
SELECT is(status::text, 'cancelled', 'the cancel is committed') FROM agent_runs WHERE id = :'slow';
-- the worker writes its cancelled event once the sandbox is killed
CREATE FUNCTION pg_temp.wait_killed(run uuid) RETURNS interval LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..500 LOOP
    IF EXISTS (SELECT 1 FROM agent_run_events WHERE run_id = run AND kind = 'sandbox_killed') THEN
      RETURN clock_timestamp() - (SELECT max(at) FROM agent_run_events WHERE run_id = run AND kind = 'status' AND data->>'to' = 'cancelled');
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
  RETURN NULL;
END $$;
SELECT ok(pg_temp.wait_killed(:'slow') < interval '1 second', 'the sandbox was killed within a second');
SELECT ok(run_kinds(:'slow') @> ARRAY['cancelled', 'sandbox_killed'], 'cancel events were written');
SELECT is((SELECT state::text FROM sandboxes WHERE run_id = :'slow'), 'killed', 'the sandbox row says killed');
SELECT ok(completed_at IS NOT NULL AND error LIKE 'cancelled by%', 'completed_at and error are set')
  FROM agent_runs WHERE id = :'slow';

-- sandbox_cancel_run on a pending run, and on a finished one
INSERT INTO agent_runs (prompt, run_after) VALUES ('later', now() + interval '1 hour') RETURNING id AS later \gset
SELECT ok(sandbox_cancel_run(:'later'), 'sandbox_cancel_run cancels a pending run');
SELECT ok(NOT sandbox_cancel_run(:'later'), 'and answers false when the run already ended');

SELECT * FROM finish();
