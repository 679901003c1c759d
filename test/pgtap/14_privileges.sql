-- Row-level security: each role sees and touches only its own runs; users
-- enqueue and cancel, never forge a status.
SELECT plan(13);

CREATE ROLE run_alice LOGIN;
CREATE ROLE run_bob LOGIN;
SELECT sandbox_grant_usage('run_alice');
SELECT sandbox_grant_usage('run_bob');

SET ROLE run_alice;
INSERT INTO agent_runs (prompt) VALUES ($$Alice's run.
```bash
echo alice
```
$$) RETURNING id AS alice_run \gset
SELECT throws_ok($$INSERT INTO agent_runs (prompt, status) VALUES ('forged', 'completed')$$,
                 '42501', 'a new agent run must be pending, not completed', 'a user cannot insert a finished run');
SELECT throws_ok($$INSERT INTO agent_runs (prompt) VALUES ('   ')$$, '23514', NULL, 'an empty prompt is refused');
SELECT throws_ok($$INSERT INTO agent_runs (prompt, max_turns) VALUES ('x', -1)$$, '23514', NULL,
                 'a negative max_turns is refused');
SELECT throws_ok($$INSERT INTO agent_runs (prompt, owner) VALUES ('x', 'run_bob')$$, '42501', NULL,
                 'a user cannot enqueue as another role');
RESET ROLE;
SELECT is(wait_for_run(:'alice_run'), 'completed', 'alice''s run completes');

SET ROLE run_bob;
SELECT is((SELECT count(*)::int FROM agent_runs), 0, 'bob sees none of alice''s runs');
SELECT is((SELECT count(*)::int FROM agent_run_events), 0, 'nor their events');
UPDATE agent_runs SET status = 'cancelled' WHERE id = :'alice_run';
SELECT ok(NOT sandbox_cancel_run(:'alice_run'), 'bob cannot cancel alice''s run');
INSERT INTO agent_runs (prompt, run_after) VALUES ('bob later', now() + interval '1 hour') RETURNING id AS bob_run \gset
SELECT throws_ok(format($$UPDATE agent_runs SET status = 'completed' WHERE id = %L$$, :'bob_run'),
                 '42501', 'cannot set the status of an agent run to completed', 'bob cannot forge a status');
SELECT throws_ok(format($$UPDATE agent_runs SET result = '{}' WHERE id = %L$$, :'bob_run'),
                 '42501', 'permission denied for table agent_runs', 'bob cannot write a result');
SELECT lives_ok(format($$UPDATE agent_runs SET priority = 5 WHERE id = %L$$, :'bob_run'),
                'bob may reprioritise his pending run');
SELECT ok(sandbox_cancel_run(:'bob_run'), 'bob may cancel his own run');
RESET ROLE;
SELECT is((SELECT status::text FROM agent_runs WHERE id = :'alice_run'), 'completed',
          'alice''s run was untouched by bob');

DROP OWNED BY run_alice, run_bob;
DROP ROLE run_alice, run_bob;
SELECT * FROM finish();
