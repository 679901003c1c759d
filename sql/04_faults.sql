-- errors from E2B and from the network are clear, and lose nothing
\set admin 'curl -s -o /dev/null -X POST -H "X-API-Key: $SANDBOXD_API_KEY" http://127.0.0.1:$SANDBOXD_API_PORT'
SELECT sandbox_create() AS id \gset
-- a wrong key
SET sandbox.e2b_api_key = 'e2b_0000000000000000000000000000000000000000';
SELECT sandbox_create();
SELECT sandbox_kill(:'id');
RESET sandbox.e2b_api_key;
-- E2B unreachable
SET sandbox.e2b_api_url = 'http://127.0.0.1:1';
SELECT sandbox_create();
RESET sandbox.e2b_api_url;
-- an injected 503 and an injected 429 with Retry-After
\! $admin/admin/faults -d '{"rules":[{"route":"POST /sandboxes","error_rate":1.0,"error_status":503}]}'
SELECT sandbox_create();
\! $admin/admin/faults -d '{"rules":[{"route":"POST /sandboxes","rate_limit_rate":1.0,"retry_after":2}]}'
SELECT sandbox_create();
\! $admin/admin/faults/reset
-- the existing sandbox still works, and no sandbox was recorded by the failures
SELECT stdout FROM sandbox_exec(:'id', 'echo still-fine');
SELECT count(*) AS recorded FROM sandboxes WHERE state = 'running';
-- a stream cut before its end is an error, not a success
\! $admin/admin/faults -d '{"rules":[{"route":"/process.Process/Start","cut_stream_rate":1.0}]}'
SELECT * FROM sandbox_exec(:'id', 'echo partial');
\! $admin/admin/faults/reset
SELECT stdout FROM sandbox_exec(:'id', 'echo whole');
SELECT sandbox_kill(:'id');
