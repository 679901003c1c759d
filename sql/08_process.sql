-- background processes: spawn, list, signal, stdin, wait
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
SET ROLE regress_sandbox_owner;
SELECT sandbox_create() AS sb \gset

-- spawn returns the pid as soon as the process started; it runs on after
-- the call, and is listed with its command and tag
SELECT sandbox_spawn(:'sb', 'sleep 60', tag => 'sleeper') AS sleeper \gset
SELECT :sleeper > 0 AS has_pid;
SELECT pid = :sleeper AS same_pid, command, args, cwd, tag
  FROM sandbox_processes(:'sb') WHERE tag = 'sleeper';
-- a wait that times out says it still runs, and leaves it running
SELECT stdout, stderr, exit_code, running, truncated FROM sandbox_wait(:'sb', :sleeper, 300);
SELECT count(*) AS still_running FROM sandbox_processes(:'sb') WHERE pid = :sleeper;
-- so does a cancelled wait
SET statement_timeout = '300ms';
SELECT * FROM test_error(format('SELECT * FROM sandbox_wait(%L, %s, 0)', :'sb', :sleeper));
RESET statement_timeout;
SELECT count(*) AS still_running FROM sandbox_processes(:'sb') WHERE pid = :sleeper;
-- it has no stdin: writing to it is refused
SELECT sqlstate, regexp_replace(message, 'process [0-9]+ ', 'process <pid> ') AS message, detail, hint
  FROM test_error(format('SELECT sandbox_send_stdin(%L, %s, ''x'')', :'sb', :sleeper));
-- SIGKILL (the default): true, then the process is gone
SELECT sandbox_signal(:'sb', :sleeper) AS signalled;
SELECT pg_sleep(0.5);
SELECT count(*) AS still_running FROM sandbox_processes(:'sb') WHERE pid = :sleeper;
SELECT sandbox_signal(:'sb', :sleeper) AS signalled_again;

-- SIGTERM while a wait is attached: the wait returns the exit code
SELECT sandbox_spawn(:'sb', 'trap ''sleep 2; echo terminated; exit 7'' TERM; touch trap.set; sleep 60 & wait') AS trapper \gset
SELECT stdout FROM sandbox_exec(:'sb', 'for i in $(seq 200); do [ -e trap.set ] && echo trap set && exit; sleep 0.05; done');
SELECT sandbox_signal(:'sb', :trapper, 'SIGTERM') AS signalled;
SELECT stdout, stderr, exit_code, running FROM sandbox_wait(:'sb', :trapper, 10000);

-- stdin: what is sent reaches the process; the wait returns what it
-- prints while attached (envd does not replay earlier output)
SELECT sandbox_spawn(:'sb', 'read line; sleep 2; echo "got $line"; read rest; echo "then $rest" >&2',
                     stdin => true, tag => 'reader') AS reader \gset
SELECT sandbox_send_stdin(:'sb', :reader, E'hello\n');
SELECT sandbox_send_stdin(:'sb', :reader, '\x776f726c640a'::bytea);
SELECT stdout, stderr, exit_code, running, truncated FROM sandbox_wait(:'sb', :reader, 10000);
-- closing stdin gives end of file
SELECT sandbox_spawn(:'sb', 'sleep 2; cat; echo eof', stdin => true) AS cat \gset
SELECT sandbox_send_stdin(:'sb', :cat, E'abc\n');
SELECT sandbox_close_stdin(:'sb', :cat);
SELECT stdout, exit_code, running FROM sandbox_wait(:'sb', :cat, 10000);

-- cwd, envs; a timeout_ms makes envd end the process then
SELECT sandbox_spawn(:'sb', 'sleep 2; echo "$GREETING from $(pwd)"', cwd => '/tmp',
                     envs => '{"GREETING": "hi"}') AS env \gset
SELECT stdout, exit_code FROM sandbox_wait(:'sb', :env, 10000);
SELECT sandbox_spawn(:'sb', 'sleep 60', timeout_ms => 500, tag => 'limited') AS limited \gset
SELECT pg_sleep(1.5);
SELECT count(*) AS still_running FROM sandbox_processes(:'sb') WHERE tag = 'limited';
-- output is bounded by sandbox.max_output_bytes
SET sandbox.max_output_bytes = 1024;
SELECT sandbox_spawn(:'sb', 'sleep 2; seq 1 1000') AS seq \gset
SELECT length(stdout) AS stdout_bytes, exit_code, truncated FROM sandbox_wait(:'sb', :seq, 10000);
RESET sandbox.max_output_bytes;

-- bad input: unknown pid, bad pid, bad signal, bad timeouts, bad command
SELECT * FROM test_error(format('SELECT * FROM sandbox_wait(%L, 999999, 1000)', :'sb'));
SELECT sandbox_signal(:'sb', 999999) AS signalled;
SELECT * FROM test_error(format('SELECT sandbox_send_stdin(%L, 999999, ''x'')', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_close_stdin(%L, 999999)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_signal(%L, 0)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_signal(%L, NULL)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_signal(%L, 1, ''SIGHUP'')', :'sb'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_wait(%L, 1, -1)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_spawn(%L, ''true'', timeout_ms => -1)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_spawn(%L, '''')', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_spawn(%L, ''true'', cwd => ''/no/such/dir'')', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_send_stdin(%L, 1, NULL::text)', :'sb'));

-- another role's sandbox: every process function refuses it
SELECT sandbox_spawn(:'sb', 'sleep 60', tag => 'owned') AS owned \gset
SET ROLE regress_sandbox_other;
SELECT * FROM test_error(format('SELECT sandbox_spawn(%L, ''true'')', :'sb'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_processes(%L)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_signal(%L, %s)', :'sb', :owned));
SELECT * FROM test_error(format('SELECT sandbox_send_stdin(%L, %s, ''x'')', :'sb', :owned));
SELECT * FROM test_error(format('SELECT sandbox_close_stdin(%L, %s)', :'sb', :owned));
SELECT * FROM test_error(format('SELECT * FROM sandbox_wait(%L, %s, 100)', :'sb', :owned));
SET ROLE regress_sandbox_owner;
SELECT count(*) AS still_running FROM sandbox_processes(:'sb') WHERE pid = :owned;

RESET ROLE;
SELECT sandbox_kill(:'sb');
DROP OWNED BY regress_sandbox_owner, regress_sandbox_other;
DROP ROLE regress_sandbox_owner, regress_sandbox_other;
