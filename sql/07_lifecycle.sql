-- pause and resume, auto-resume, on_timeout 'pause', network rules on
-- create, hosts and metrics
SELECT current_setting('sandbox.e2b_api_url') AS e2b_url,
       current_setting('sandbox.e2b_api_key') AS e2b_key \gset
\setenv TEST_E2B_API_URL :e2b_url
\setenv TEST_E2B_API_KEY :e2b_key
\setenv PGDATABASE :DBNAME
-- this file's roles (as in 06_privileges: stop if one exists already)
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
SELECT sandbox_write_file(:'sb', 'kept.txt', 'kept across a pause');
SELECT on_timeout, auto_resume, paused_at FROM sandboxes WHERE sandbox_id = :'sb';
-- pause: true now, false when it is paused already; the row says paused
SELECT sandbox_pause(:'sb') AS paused_now;
SELECT sandbox_pause(:'sb') AS paused_now;
SELECT state, paused_at IS NOT NULL AS has_paused_at FROM sandboxes WHERE sandbox_id = :'sb';
SELECT sandbox_info(:'sb')->>'state' AS e2b_state;
SELECT state FROM sandbox_list() WHERE sandbox_id = :'sb';
-- what needs it running says it is paused
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_read_file_text(%L, ''kept.txt'')', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_run_code(%L, ''1'')', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_set_timeout(%L, 60)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_spawn(%L, ''sleep 1'')', :'sb'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_processes(%L)', :'sb'));
-- another role may not pause, resume, or look at it
SET ROLE regress_sandbox_other;
SELECT * FROM test_error(format('SELECT sandbox_resume(%L)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_pause(%L)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_host(%L, 8000)', :'sb'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_metrics(%L)', :'sb'));
SET ROLE regress_sandbox_owner;
-- resume: true when it was paused, false when it runs; the files are kept
SELECT * FROM test_error(format('SELECT sandbox_resume(%L, 0)', :'sb'));
SELECT sandbox_resume(:'sb') AS resumed;
SELECT sandbox_resume(:'sb', 120) AS resumed;
SELECT state, paused_at FROM sandboxes WHERE sandbox_id = :'sb';
SELECT sandbox_read_file_text(:'sb', 'kept.txt');
-- paused by another session while this one has it cached as running: the
-- call finds it gone, and says it is paused
SELECT stdout FROM sandbox_exec(:'sb', 'echo cached');
\setenv TEST_SB :sb
\! psql -X -q -At -c "SELECT sandbox_pause('$TEST_SB')"
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'sb'));
SELECT sandbox_resume(:'sb') AS resumed;
-- killed while paused
SELECT sandbox_create() AS pk \gset
SELECT sandbox_pause(:'pk');
SELECT sandbox_kill(:'pk') AS killed;
SELECT state FROM sandboxes WHERE sandbox_id = :'pk';
SELECT * FROM test_error(format('SELECT sandbox_resume(%L)', :'pk'));

-- auto_resume: a call resumes it first
SELECT sandbox_create(auto_resume => true) AS ar \gset
SELECT on_timeout, auto_resume FROM sandboxes WHERE sandbox_id = :'ar';
SELECT sandbox_info(:'ar')->'lifecycle' AS lifecycle;
SELECT sandbox_pause(:'ar');
SELECT stdout FROM sandbox_exec(:'ar', 'echo resumed by the call');
SELECT state FROM sandboxes WHERE sandbox_id = :'ar';

-- on_timeout 'pause': E2B pauses it at its timeout; a call says so
SELECT sandbox_create(timeout_s => 2, on_timeout => 'pause') AS tp \gset
SELECT on_timeout, auto_resume FROM sandboxes WHERE sandbox_id = :'tp';
SELECT sandbox_info(:'tp')->'lifecycle' AS lifecycle;
SELECT pg_sleep(3.5);
SELECT sandbox_info(:'tp')->>'state' AS e2b_state;
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'tp'));
SELECT sandbox_resume(:'tp', 60) AS resumed;
SELECT stdout FROM sandbox_exec(:'tp', 'echo back');
SELECT * FROM test_error('SELECT sandbox_create(on_timeout => ''hibernate'')');

-- network rules: passed to E2B, reported back; E2B's refusals in the detail
SELECT sandbox_create(allow_internet => false,
                      network => '{"denyOut": ["0.0.0.0/0"], "allowOut": ["pypi.org", "10.0.0.1"]}') AS net \gset
SELECT i->'allowInternetAccess' AS allow_internet, i->'network' AS network
  FROM sandbox_info(:'net') i;
SELECT * FROM test_error('SELECT sandbox_create(network => ''["0.0.0.0/0"]'')');
SELECT * FROM test_error('SELECT sandbox_create(network => ''{"denyOut": ["not-a-cidr"]}'')');
SELECT * FROM test_error('SELECT sandbox_create(network => ''{"allowOut": ["pypi.org"]}'')');
SELECT * FROM test_error('SELECT sandbox_create(network => ''{"egressProxy": {"url": "http://proxy.example"}}'')');
SELECT count(*) AS unrecorded FROM sandboxes WHERE state = 'running'
   AND sandbox_id NOT IN (:'sb', :'ar', :'tp', :'net');

-- hosts: <port>-<id>.<domain>, a port of 1..65535
SELECT regexp_replace(sandbox_host(:'sb', 8000), '^8000-i[a-z0-9]{20}\.localhost:[0-9]+$', '8000-<id>.localhost:<port>') AS host;
SELECT * FROM test_error(format('SELECT sandbox_host(%L, 0)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_host(%L, 70000)', :'sb'));
SELECT * FROM test_error(format('SELECT sandbox_host(%L, NULL)', :'sb'));
SELECT * FROM test_error('SELECT sandbox_host(''NOT-AN-ID'', 80)');
-- and the host serves what a server in the sandbox serves
\set port `python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'`
SELECT sandbox_write_file(:'sb', 'www/hello.txt', 'served from the sandbox');
SELECT sandbox_spawn(:'sb', format('cd www && exec python3 -m http.server %s --bind 127.0.0.1', :'port'),
                     tag => 'web') > 0 AS started;
SELECT stdout FROM sandbox_exec(:'sb', format(
    'for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/%s) 2>/dev/null && echo listening && exit; sleep 0.1; done', :'port'));
SELECT sandbox_host(:'sb', :'port') AS host \gset
\setenv TEST_HOST :host
\! curl -s "http://$TEST_HOST/hello.txt"; echo

-- metrics: E2B's samples (sandboxd samples every second here)
SELECT pg_sleep(1.5);
SELECT count(*) > 0 AS sampled,
       bool_and(at IS NOT NULL AND cpu_count > 0 AND cpu_used_pct >= 0 AND mem_used >= 0
                AND mem_total > 0 AND disk_used >= 0 AND disk_total > 0) AS complete
  FROM sandbox_metrics(:'sb');
SELECT count(*) > 0 AS recent FROM sandbox_metrics(:'sb', now() - interval '1 minute');
SELECT count(*) AS future FROM sandbox_metrics(:'sb', now() + interval '1 hour');
SELECT sandbox_pause(:'sb');
SELECT count(*) > 0 AS while_paused FROM sandbox_metrics(:'sb');
-- after the resume, its processes go on where they were
SELECT sandbox_resume(:'sb') AS resumed;
SELECT count(*) AS web_still_running FROM sandbox_processes(:'sb') WHERE tag = 'web';
\! curl -s "http://$TEST_HOST/hello.txt"; echo
SELECT * FROM test_error(format('SELECT * FROM sandbox_metrics(%L, ''infinity'')', :'sb'));

RESET ROLE;
SELECT count(*) AS killed FROM (SELECT sandbox_kill(sandbox_id) FROM sandboxes
                                 WHERE state IN ('running', 'paused')) k;
DROP OWNED BY regress_sandbox_owner, regress_sandbox_other;
DROP ROLE regress_sandbox_owner, regress_sandbox_other;
