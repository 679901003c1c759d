-- statement_timeout and pg_cancel_backend stop a long command promptly,
-- and the command is killed in the sandbox
SELECT sandbox_create() AS id \gset
SET statement_timeout = '1s';
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM sandbox_exec(:'id', 'sleep 30');
RESET statement_timeout;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' AS prompt;
SELECT stdout FROM sandbox_exec(:'id', 'sleep 0.5; pgrep -x sleep >/dev/null && echo still-running || echo gone');
-- cancel from another session (this backend only, found by its pid)
SELECT pg_backend_pid() AS test_pid \gset
\setenv TEST_BACKEND_PID :test_pid
\setenv PGDATABASE :DBNAME
\! (sleep 1; psql -X -q -c "SELECT pg_cancel_backend($TEST_BACKEND_PID)" >/dev/null) &
SELECT clock_timestamp() AS t0 \gset
SELECT * FROM sandbox_exec(:'id', 'sleep 31');
SELECT clock_timestamp() - :'t0'::timestamptz < interval '4 seconds' AS prompt;
SELECT stdout FROM sandbox_exec(:'id', 'sleep 0.5; pgrep -x sleep >/dev/null && echo still-running || echo gone');
-- a cancelled one-shot still kills its sandbox
SET statement_timeout = '1s';
SELECT * FROM sandbox_exec('sleep 30');
RESET statement_timeout;
SELECT count(*) AS running_one_shots FROM sandboxes WHERE state = 'running' AND sandbox_id <> :'id';
SELECT sandbox_kill(:'id');
