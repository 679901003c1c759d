-- roles: each role uses only its own sandboxes; keys are superuser-only
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE mallory LOGIN;
SELECT sandbox_grant_usage('alice');
SELECT sandbox_grant_usage('bob');
SELECT sandbox_create() AS admin_sb \gset
SET ROLE alice;
SELECT sandbox_create() AS alice_sb \gset
SELECT stdout FROM sandbox_exec(:'alice_sb', 'echo alice');
SELECT owner FROM sandboxes;
SET ROLE bob;
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
INSERT INTO sandboxes (sandbox_id, owner, template) VALUES ('ifake', 'bob', 'base');
UPDATE sandboxes SET owner = 'bob';
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
SET ROLE mallory;
SELECT sandbox_create();
RESET ROLE;
-- alice lists and kills her own
SET ROLE alice;
SELECT count(*) AS listed FROM sandbox_list();
SELECT sandbox_kill(:'alice_sb');
RESET ROLE;
-- the superuser sees everything and may use any sandbox
SELECT count(*) AS rows_total FROM sandboxes WHERE sandbox_id IN (:'alice_sb', :'admin_sb');
SELECT sandbox_kill(:'admin_sb');
DROP OWNED BY alice, bob, mallory;
DROP ROLE alice, bob, mallory;
