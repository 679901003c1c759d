-- sandbox_connect: adopting a sandbox created elsewhere, and what it refuses
SELECT current_setting('sandbox.e2b_api_url') AS e2b_url,
       current_setting('sandbox.e2b_api_key') AS e2b_key \gset
\setenv TEST_E2B_API_URL :e2b_url
\setenv TEST_E2B_API_KEY :e2b_key
\set ON_ERROR_STOP 1
BEGIN;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname IN ('regress_sandbox_owner', 'regress_sandbox_other')) THEN
        RAISE EXCEPTION 'a role regress_sandbox_* exists already: drop it if a failed run left it';
    END IF;
END $$;
CREATE ROLE regress_sandbox_owner;
CREATE ROLE regress_sandbox_other;
COMMIT;
\unset ON_ERROR_STOP
SELECT sandbox_grant_usage('regress_sandbox_owner');
SELECT sandbox_grant_usage('regress_sandbox_other');
-- create_elsewhere BODY: a sandbox made through E2B's API directly, as an
-- SDK would; prints its id
\set create_elsewhere 'curl -s -X POST -H "X-API-Key: $TEST_E2B_API_KEY" -H "Content-Type: application/json" "$TEST_E2B_API_URL/sandboxes" -d'
\set id_of '| sed -n "s/.*\\"sandboxID\\":\\"\\([a-z0-9]*\\)\\".*/\\1/p"'

-- a sandbox from an SDK, with metadata of its own
\set foreign `:create_elsewhere '{"templateID":"base","timeout":300,"secure":true,"metadata":{"made_by":"sdk"}}' :id_of`
SELECT length(:'foreign') AS id_length;
SET ROLE regress_sandbox_owner;
-- not recorded here: not usable yet
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'foreign'));
-- connect records it as the caller's: true, then false (recorded and running)
SELECT sandbox_connect(:'foreign') AS connected;
SELECT sandbox_connect(:'foreign') AS connected;
SELECT owner, template, metadata, state, on_timeout, auto_resume, run_id
  FROM sandboxes WHERE sandbox_id = :'foreign';
SELECT stdout FROM sandbox_exec(:'foreign', 'echo adopted');
-- another role may neither connect to it nor use it
SET ROLE regress_sandbox_other;
SELECT * FROM test_error(format('SELECT sandbox_connect(%L)', :'foreign'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'foreign'));
SET ROLE regress_sandbox_owner;
-- nor may the owner connect to another role's sandbox_create() sandbox
SET ROLE regress_sandbox_other;
SELECT sandbox_create() AS others \gset
SET ROLE regress_sandbox_owner;
SELECT * FROM test_error(format('SELECT sandbox_connect(%L)', :'others'));
-- its own: false
SET ROLE regress_sandbox_other;
SELECT sandbox_connect(:'others') AS connected;
-- a paused one is resumed; a killed one cannot be connected to
SELECT sandbox_pause(:'others');
SELECT sandbox_connect(:'others') AS connected;
SELECT state FROM sandboxes WHERE sandbox_id = :'others';
SELECT sandbox_kill(:'others');
SELECT * FROM test_error(format('SELECT sandbox_connect(%L)', :'others'));
SET ROLE regress_sandbox_owner;

-- a sandbox paused elsewhere is resumed by connect, with its lifecycle
\set paused `:create_elsewhere '{"templateID":"base","timeout":300,"secure":true,"autoPause":true,"autoResume":{"enabled":true}}' :id_of`
\setenv TEST_PAUSED :paused
\! curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "X-API-Key: $TEST_E2B_API_KEY" -H "Content-Type: application/json" "$TEST_E2B_API_URL/sandboxes/$TEST_PAUSED/pause" -d '{}'
SELECT sandbox_connect(:'paused', 120) AS connected;
SELECT state, on_timeout, auto_resume FROM sandboxes WHERE sandbox_id = :'paused';
SELECT stdout FROM sandbox_exec(:'paused', 'echo running again');

-- the extension's own sandboxes are not for the taking: a run's, another
-- database's, or one of this database's whose row is missing
RESET ROLE;
SELECT metadata->>'pgsandbox_db' AS db_tag FROM sandboxes WHERE sandbox_id = :'others' \gset
SET ROLE regress_sandbox_owner;
\set runs `:create_elsewhere '{"templateID":"base","timeout":300,"secure":true,"metadata":{"pgsandbox_db":"':db_tag'","pgsandbox_owner":"regress_sandbox_owner","pgsandbox_run":"00000000-0000-0000-0000-000000000001"}}' :id_of`
\set otherdb `:create_elsewhere '{"templateID":"base","timeout":300,"secure":true,"metadata":{"pgsandbox_db":"1-1","pgsandbox_owner":"regress_sandbox_owner"}}' :id_of`
\set rolledback `:create_elsewhere '{"templateID":"base","timeout":300,"secure":true,"metadata":{"pgsandbox_db":"':db_tag'","pgsandbox_owner":"regress_sandbox_other"}}' :id_of`
SELECT * FROM test_error(format('SELECT sandbox_connect(%L)', :'runs'));
SELECT * FROM test_error(format('SELECT sandbox_connect(%L)', :'otherdb'));
SELECT * FROM test_error(format('SELECT sandbox_connect(%L)', :'rolledback'));
SELECT count(*) AS recorded FROM sandboxes WHERE sandbox_id IN (:'runs', :'otherdb', :'rolledback');
-- (a superuser may)
RESET ROLE;
SELECT sandbox_connect(:'otherdb') AS connected;
SELECT sandbox_kill(:'otherdb');
SET ROLE regress_sandbox_owner;

-- unknown, malformed, null
SELECT * FROM test_error('SELECT sandbox_connect(''i0000000000000000000z'')');
SELECT * FROM test_error('SELECT sandbox_connect(''NOT AN ID'')');
SELECT * FROM test_error('SELECT sandbox_connect(NULL)');
SELECT * FROM test_error(format('SELECT sandbox_connect(%L, 0)', :'foreign'));

-- a connect that rolls back forgets the row, and leaves the sandbox alone
\set kept `:create_elsewhere '{"templateID":"base","timeout":300,"secure":true}' :id_of`
BEGIN;
SELECT sandbox_connect(:'kept') AS connected;
ROLLBACK;
SELECT count(*) AS recorded FROM sandboxes WHERE sandbox_id = :'kept';
\setenv TEST_KEPT :kept
\! curl -s -o /dev/null -w '%{http_code}\n' -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/sandboxes/$TEST_KEPT"
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'kept'));

RESET ROLE;
SELECT count(*) AS killed FROM (SELECT sandbox_kill(sandbox_id) FROM sandboxes
                                 WHERE state IN ('running', 'paused')) k;
\setenv TEST_RUNS :runs
\setenv TEST_ROLLEDBACK :rolledback
\! for id in $TEST_RUNS $TEST_ROLLEDBACK $TEST_KEPT; do curl -s -o /dev/null -w '%{http_code}\n' -X DELETE -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/sandboxes/$id"; done
DROP OWNED BY regress_sandbox_owner, regress_sandbox_other;
DROP ROLE regress_sandbox_owner, regress_sandbox_other;
