-- One slow or failing provider call does not stall the other runs.
SELECT plan(3);

INSERT INTO agent_runs (prompt) VALUES ('Slow model [[modeld: latency=4000]]') RETURNING id AS slow \gset
INSERT INTO agent_runs (prompt) VALUES ('Failing model [[modeld: status=503 retry_after=1]]') RETURNING id AS failing \gset
SELECT pg_sleep(0.2);
SELECT clock_timestamp() AS t0 \gset
INSERT INTO agent_runs (prompt) VALUES ($$Quick.
```bash
echo quick
```
$$) RETURNING id AS quick \gset
SELECT is(wait_for_run(:'quick'), 'completed', 'a quick run completes while a slow and a failing one are in flight');
SELECT ok(clock_timestamp() - :'t0'::timestamptz < interval '3 seconds', 'in under 3 seconds');
SELECT ok((SELECT status FROM agent_runs WHERE id = :'slow') IN ('planning', 'executing'),
          'the slow run is still waiting for its model');
SELECT sandbox_cancel_run(:'slow');
SELECT sandbox_cancel_run(:'failing');
SELECT * FROM finish();
