-- roles: each role uses only its own sandboxes; keys are superuser-only
-- The suite's roles are its own (regress_sandbox_*): when one of them exists
-- already, this test stops here and touches nothing; it drops only the roles
-- it created.
\set ON_ERROR_STOP 1
BEGIN;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname IN
               ('regress_sandbox_alice', 'regress_sandbox_bob', 'regress_sandbox_mallory')) THEN
        RAISE EXCEPTION 'a role regress_sandbox_* exists already: drop it if a failed run left it';
    END IF;
END $$;
CREATE ROLE regress_sandbox_alice;
CREATE ROLE regress_sandbox_bob;
CREATE ROLE regress_sandbox_mallory;
COMMIT;
\unset ON_ERROR_STOP
SELECT sandbox_grant_usage('regress_sandbox_alice');
SELECT sandbox_grant_usage('regress_sandbox_bob');
SELECT sandbox_create() AS admin_sb \gset
SET ROLE regress_sandbox_alice;
SELECT sandbox_create() AS alice_sb \gset
SELECT stdout FROM sandbox_exec(:'alice_sb', 'echo alice');
SELECT owner FROM sandboxes;
SET ROLE regress_sandbox_bob;
-- bob sees none of alice's rows and cannot use her sandbox
SELECT count(*) AS visible FROM sandboxes;
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''echo bob'')', :'alice_sb'));
SELECT * FROM test_error(format('SELECT sandbox_kill(%L)', :'alice_sb'));
SELECT * FROM test_error(format('SELECT sandbox_read_file(%L, ''/etc/hostname'')', :'alice_sb'));
SELECT count(*) AS listed FROM sandbox_list();
-- nor the superuser's, nor one unknown to this database
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(%L, ''true'')', :'admin_sb'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_exec(''iunknown0000000000000'', ''true'')'));
-- bob cannot write the table to forge ownership
INSERT INTO sandboxes (sandbox_id, owner, template) VALUES ('ifake', 'regress_sandbox_bob', 'base');
UPDATE sandboxes SET owner = 'regress_sandbox_bob';
SELECT * FROM sandbox_access;
-- bob cannot read or change the keys or the URLs they are sent to
SHOW sandbox.e2b_api_key;
SELECT count(*) FROM pg_settings WHERE name IN ('sandbox.e2b_api_key', 'sandbox.llm_api_key');
SELECT current_setting('sandbox.e2b_api_key');
SET sandbox.e2b_api_key = 'e2b_stolen';
SET sandbox.e2b_api_url = 'http://attacker.example';
SELECT sandbox_list(all_databases => true);
RESET ROLE;
-- mallory was granted nothing
SET ROLE regress_sandbox_mallory;
SELECT sandbox_create();
RESET ROLE;
-- alice lists and kills her own
SET ROLE regress_sandbox_alice;
SELECT count(*) AS listed FROM sandbox_list();
SELECT sandbox_kill(:'alice_sb');
RESET ROLE;
-- the superuser sees everything and may use any sandbox
SELECT count(*) AS rows_total FROM sandboxes WHERE sandbox_id IN (:'alice_sb', :'admin_sb');
SELECT sandbox_kill(:'admin_sb');
DROP OWNED BY regress_sandbox_alice, regress_sandbox_bob, regress_sandbox_mallory;
DROP ROLE regress_sandbox_alice, regress_sandbox_bob, regress_sandbox_mallory;
