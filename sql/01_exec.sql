-- sandbox_exec: one-shot and in a sandbox
SELECT stdout, stderr, exit_code, truncated, duration_ms > 0 AS timed
  FROM sandbox_exec('python3 -c "print(6*7)"');
-- the one-shot sandbox was recorded and killed
SELECT state, killed_at IS NOT NULL AS killed, owner FROM sandboxes;
SELECT count(*) AS live FROM sandbox_list();

SELECT sandbox_create() AS id \gset
SELECT state, template, owner, metadata - 'pgsandbox_db' AS metadata,
       metadata->>'pgsandbox_db' ~ '^[0-9]+-[0-9]+$' AS tagged
  FROM sandboxes WHERE sandbox_id = :'id';
SELECT stdout, exit_code FROM sandbox_exec(:'id', 'echo hello; echo oops >&2; exit 3');
SELECT stderr FROM sandbox_exec(:'id', 'echo to-stderr >&2');
-- cwd and environment variables
SELECT stdout FROM sandbox_exec(:'id', 'pwd', cwd => '/tmp');
SELECT stdout FROM sandbox_exec(:'id', 'echo "$GREETING, $WHO"', envs => '{"GREETING": "hi", "WHO": 42}');
SELECT stdout FROM sandbox_exec(:'id', 'pwd');
-- state persists in the sandbox between calls
SELECT exit_code FROM sandbox_exec(:'id', 'echo kept > /home/user/state.txt');
SELECT stdout FROM sandbox_exec(:'id', 'cat /home/user/state.txt');
-- non-UTF-8 bytes and NUL bytes never fail the call
SELECT stdout, length(stdout) FROM sandbox_exec(:'id', 'printf "a\377b\000c\n"');
SELECT encode(convert_to(stdout, 'UTF8'), 'hex') FROM sandbox_exec(:'id', 'printf "\303\251\n"');
-- output over sandbox.max_output_bytes is cut and flagged
SET sandbox.max_output_bytes = '1kB';
SELECT length(stdout), truncated, exit_code FROM sandbox_exec(:'id', 'head -c 5000 /dev/zero | tr "\0" x');
RESET sandbox.max_output_bytes;
-- a 20 MB output is capped at the default 1 MB and the call still succeeds
SELECT length(stdout), truncated FROM sandbox_exec(:'id', 'head -c 20000000 /dev/zero | tr "\0" y');
-- a command that outlives timeout_ms is stopped
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''sleep 10'', timeout_ms => 500)', :'id'));
SELECT stdout FROM sandbox_exec(:'id', 'pgrep -x sleep >/dev/null && echo still-running || echo gone');
-- killed by a signal
SELECT exit_code FROM sandbox_exec(:'id', 'kill -9 $$');
-- bad arguments
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, '''')', :'id'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'', timeout_ms => -1)', :'id'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'', envs => ''[1,2]'')', :'id'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'', envs => ''{"A": null}'')', :'id'));
SELECT * FROM test_error(format('SELECT sandbox_create(timeout_s => 0)'));
SELECT * FROM test_error(format('SELECT sandbox_create(metadata => ''{"pgsandbox_db": "x"}'')'));
-- kill, and the row says so
SELECT sandbox_kill(:'id');
SELECT state, killed_at IS NOT NULL AS has_killed_at FROM sandboxes WHERE sandbox_id = :'id';
-- a killed sandbox is refused with a clear error
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'id'));
-- unknown and malformed ids
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(''inotasandbox000000000'', ''true'')'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(''BAD/ID'', ''true'')'));
