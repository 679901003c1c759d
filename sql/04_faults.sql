-- errors from E2B and from the network are clear, and lose nothing
-- Faults are injected through the admin API of the sandboxd that this
-- session's settings point at (make installcheck starts it and sets them).
SELECT current_setting('sandbox.e2b_api_url') AS e2b_url,
       current_setting('sandbox.e2b_api_key') AS e2b_key \gset
\setenv TEST_E2B_API_URL :e2b_url
\setenv TEST_E2B_API_KEY :e2b_key
SELECT sandbox_create() AS id \gset
-- a wrong key
SET sandbox.e2b_api_key = 'e2b_0000000000000000000000000000000000000000';
SELECT sandbox_create();
SELECT * FROM test_error(format('SELECT sandbox_kill(%L)', :'id'));
RESET sandbox.e2b_api_key;
-- E2B unreachable
SET sandbox.e2b_api_url = 'http://127.0.0.1:1';
SELECT * FROM test_error('SELECT sandbox_create()');
RESET sandbox.e2b_api_url;
-- an injected 503 and an injected 429 with Retry-After
\! curl -s -o /dev/null -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/admin/faults" -X PUT -d '{"rules":[{"server":"api","method":"POST","path":"/sandboxes","error_rate":1.0,"error_status":503}]}'
SELECT sandbox_create();
\! curl -s -o /dev/null -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/admin/faults" -X PUT -d '{"rules":[{"server":"api","method":"POST","path":"/sandboxes","rate_limit_rate":1.0,"retry_after":2}]}'
SELECT sandbox_create();
\! curl -s -o /dev/null -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/admin/faults" -X DELETE
-- the existing sandbox still works, and no sandbox was recorded by the failures
SELECT stdout FROM sandbox_exec(:'id', 'echo still-fine');
SELECT count(*) AS recorded FROM sandboxes WHERE state = 'running';
-- a stream cut before its end is an error, not a success
\! curl -s -o /dev/null -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/admin/faults" -X PUT -d '{"rules":[{"server":"sandbox","path":"/process.Process/Start","cut_rate":1.0}]}'
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''echo partial'')', :'id'));
\! curl -s -o /dev/null -H "X-API-Key: $TEST_E2B_API_KEY" "$TEST_E2B_API_URL/admin/faults" -X DELETE
SELECT stdout FROM sandbox_exec(:'id', 'echo whole');
SELECT sandbox_kill(:'id');
