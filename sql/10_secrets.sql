-- The secret store: names and values checked, ownership by role and
-- identity, grants, names only in listings, values only in a sandbox's
-- environment (shown here as a sha256, never as the value); the issue-11
-- columns of agent_runs that the schema checks; model prices; artifacts.
\set ON_ERROR_STOP 1
BEGIN;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname IN
               ('regress_sandbox_carol', 'regress_sandbox_dave', 'regress_sandbox_eve',
                'regress_sandbox_team')) THEN
        RAISE EXCEPTION 'a role regress_sandbox_* exists already: drop it if a failed run left it';
    END IF;
END $$;
CREATE ROLE regress_sandbox_carol;
CREATE ROLE regress_sandbox_dave;
CREATE ROLE regress_sandbox_eve;
CREATE ROLE regress_sandbox_team;
GRANT regress_sandbox_team TO regress_sandbox_eve;
COMMIT;
\unset ON_ERROR_STOP
SELECT sandbox_grant_usage('regress_sandbox_carol');
SELECT sandbox_grant_usage('regress_sandbox_dave');
SELECT sandbox_grant_usage('regress_sandbox_eve');
-- no one but the extension's owner has a privilege on the store
SELECT c.relname, r.rolname, has_table_privilege(r.rolname, c.oid, 'SELECT') AS can_select,
       has_table_privilege(r.rolname, c.oid, 'INSERT, UPDATE, DELETE') AS can_write
  FROM pg_class c CROSS JOIN pg_roles r
 WHERE c.relname IN ('sandbox_secrets', 'sandbox_secret_grants')
   AND r.rolname IN ('regress_sandbox_carol', 'regress_sandbox_dave')
 ORDER BY 1, 2;

SET ROLE regress_sandbox_carol;
-- names are environment variable names, not reserved ones
SELECT * FROM test_error($$SELECT sandbox_set_secret('', 'value-0123456789')$$);
SELECT * FROM test_error($$SELECT sandbox_set_secret('1TOKEN', 'value-0123456789')$$);
SELECT * FROM test_error($$SELECT sandbox_set_secret('MY-TOKEN', 'value-0123456789')$$);
SELECT * FROM test_error($$SELECT sandbox_set_secret('e2b_api_key', 'value-0123456789')$$);
SELECT * FROM test_error($$SELECT sandbox_set_secret('PGSANDBOX_X', 'value-0123456789')$$);
SELECT * FROM test_error(format('SELECT sandbox_set_secret(%L, ''value-0123456789'')', repeat('A', 129)));
SELECT * FROM test_error($$SELECT sandbox_set_secret(NULL, 'value-0123456789')$$);
-- values: 8 bytes to 64 kB, never quoted back
SELECT * FROM test_error($$SELECT sandbox_set_secret('CAROL_TOKEN', 'short')$$);
SELECT * FROM test_error($$SELECT sandbox_set_secret('CAROL_TOKEN', NULL)$$);
SELECT * FROM test_error($$SELECT sandbox_set_secret('CAROL_TOKEN', repeat('x', 65537))$$);
SELECT sandbox_set_secret('CAROL_TOKEN', 'carol-first-value');
SELECT sandbox_set_secret('CAROL_TOKEN', 'carol-token-0123456789');
SELECT sandbox_set_secret('_carol_2', 'second-secret-value');
SELECT name, owner, granted_to FROM sandbox_list_secrets();
-- the tables are not readable, even by the owner of a secret
SELECT * FROM sandbox_secrets;
SELECT * FROM sandbox_secret_grants;
RESET ROLE;

SET ROLE regress_sandbox_dave;
-- dave sees nothing of carol's, and can do nothing with it
SELECT count(*) AS listed FROM sandbox_list_secrets();
SELECT * FROM test_error($$SELECT sandbox_set_secret('CAROL_TOKEN', 'dave-overwrites-it')$$);
SELECT * FROM test_error($$SELECT sandbox_grant_secret('CAROL_TOKEN', 'regress_sandbox_dave')$$);
SELECT * FROM test_error($$SELECT sandbox_revoke_secret('CAROL_TOKEN', 'regress_sandbox_dave')$$);
SELECT * FROM test_error($$SELECT sandbox_drop_secret('CAROL_TOKEN')$$);
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN'])$$);
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['NO_SUCH_SECRET'])$$);
SELECT * FROM test_error($$SELECT sandbox_grant_secret('NO_SUCH_SECRET', 'regress_sandbox_dave')$$);
SELECT sandbox_drop_secret('NO_SUCH_SECRET') AS dropped;
SELECT * FROM sandbox_secrets;
DELETE FROM sandbox_secrets;
INSERT INTO sandbox_secret_grants VALUES ('CAROL_TOKEN', 'regress_sandbox_dave');
RESET ROLE;

-- carol grants to dave, and to a group eve is in
SET ROLE regress_sandbox_carol;
SELECT sandbox_grant_secret('CAROL_TOKEN', 'regress_sandbox_dave');
SELECT sandbox_grant_secret('CAROL_TOKEN', 'regress_sandbox_dave');
SELECT sandbox_grant_secret('CAROL_TOKEN', 'regress_sandbox_team');
SELECT * FROM test_error($$SELECT sandbox_grant_secret('CAROL_TOKEN', 0::regrole)$$);
SELECT name, owner, granted_to FROM sandbox_list_secrets();
RESET ROLE;

SET ROLE regress_sandbox_dave;
-- a grantee sees the name (not the grants) and uses the value in a sandbox
SELECT name, owner, granted_to FROM sandbox_list_secrets();
SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN'], envs => '{"OTHER": "x"}') AS dave_sb \gset
SELECT btrim(stdout, E' \n') = encode(sha256(convert_to('carol-token-0123456789', 'UTF8')), 'hex') AS sees_value,
       stdout LIKE '%carol-token%' AS prints_value
  FROM sandbox_exec(:'dave_sb', 'printf %s "$CAROL_TOKEN" | sha256sum | cut -d" " -f1');
SELECT stdout FROM sandbox_exec(:'dave_sb', 'echo "$OTHER"');
SELECT sandbox_kill(:'dave_sb');
-- a secret and an env variable of the same name; a name twice; NULL
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN'], envs => '{"CAROL_TOKEN": "x"}')$$);
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN', 'CAROL_TOKEN'])$$);
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN', NULL])$$);
-- granted one secret, not the other
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN', '_carol_2'])$$);
-- still not the owner
SELECT * FROM test_error($$SELECT sandbox_set_secret('CAROL_TOKEN', 'dave-overwrites-it')$$);
RESET ROLE;

SET ROLE regress_sandbox_eve;
-- eve has the privileges of regress_sandbox_team
SELECT name FROM sandbox_list_secrets();
SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN']) AS eve_sb \gset
SELECT sandbox_kill(:'eve_sb');
RESET ROLE;

-- a revoked grant no longer lets dave use it
SET ROLE regress_sandbox_carol;
SELECT sandbox_revoke_secret('CAROL_TOKEN', 'regress_sandbox_dave') AS revoked;
SELECT sandbox_revoke_secret('CAROL_TOKEN', 'regress_sandbox_dave') AS revoked_again;
RESET ROLE;
SET ROLE regress_sandbox_dave;
SELECT count(*) AS listed FROM sandbox_list_secrets();
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['CAROL_TOKEN'])$$);
RESET ROLE;

-- identity beside the role: another user of the same role owns nothing
CREATE FUNCTION regress_secret_ident() RETURNS text LANGUAGE sql STABLE
    AS $$ SELECT current_setting('regress.ident', true) $$;
GRANT EXECUTE ON FUNCTION regress_secret_ident() TO PUBLIC;
SET sandbox.identity_function = 'public.regress_secret_ident';
SET regress.ident = 'user-1';
SET ROLE regress_sandbox_dave;
SELECT sandbox_set_secret('DAVE_U1', 'dave-user-1-value');
SET regress.ident = 'user-2';
SELECT count(*) AS listed FROM sandbox_list_secrets();
SELECT * FROM test_error($$SELECT sandbox_set_secret('DAVE_U1', 'user-2-overwrites')$$);
SELECT * FROM test_error($$SELECT sandbox_create(secrets => ARRAY['DAVE_U1'])$$);
SET regress.ident = 'user-1';
SELECT name FROM sandbox_list_secrets();
SELECT sandbox_drop_secret('DAVE_U1') AS dropped;
RESET ROLE;
RESET sandbox.identity_function;
RESET regress.ident;
DROP FUNCTION regress_secret_ident();

-- a superuser reads the table, lists every secret, and may replace a value
SELECT name, owner, owner_id, value = 'carol-token-0123456789' AS value_is_carols
  FROM sandbox_secrets ORDER BY name COLLATE "C";
SELECT name, owner, granted_to FROM sandbox_list_secrets();
SELECT sandbox_set_secret('CAROL_TOKEN', 'replaced-by-admin');
SELECT owner FROM sandbox_secrets WHERE name = 'CAROL_TOKEN';

SET ROLE regress_sandbox_carol;
SELECT sandbox_drop_secret('CAROL_TOKEN') AS dropped;
SELECT sandbox_drop_secret('CAROL_TOKEN') AS dropped_again;
SELECT sandbox_drop_secret('_carol_2') AS dropped;
RESET ROLE;
SELECT count(*) AS grants_left FROM sandbox_secret_grants;

-- agent_runs: what the schema checks of the issue-11 columns
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_runs (prompt, keep_sandbox) VALUES ('p', '25 hours')$$);
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_runs (prompt, keep_sandbox) VALUES ('p', '-1 second')$$);
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_runs (prompt, max_cost_usd) VALUES ('p', 0)$$);
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_runs (prompt, max_cost_usd) VALUES ('p', 'NaN')$$);
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_runs (prompt, max_cost_usd) VALUES ('p', 'Infinity')$$);
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_runs (prompt, max_tokens) VALUES ('p', 0)$$);
SELECT column_name, data_type, column_default, is_nullable
  FROM information_schema.columns
 WHERE table_name = 'agent_runs'
   AND column_name IN ('secrets', 'files', 'repo', 'artifacts', 'result_schema', 'keep_sandbox',
                       'max_cost_usd', 'max_tokens', 'cost_usd', 'cache_read_tokens',
                       'cache_write_tokens', 'commit_id')
 ORDER BY ordinal_position;

-- model prices: readable by everyone, matched by the longest prefix; an
-- edit is the administrator's row (kept by pg_dump), a shipped row is not
SET ROLE regress_sandbox_dave;
SELECT model, input_per_mtok, output_per_mtok, cache_write_per_mtok, cache_read_per_mtok
  FROM sandbox_model_prices
 WHERE 'claude-sonnet-4-5-20250929' LIKE model || '%'
 ORDER BY length(model) DESC LIMIT 1;
SELECT model FROM sandbox_model_prices WHERE 'gpt-4o-mini-2024-07-18' LIKE model || '%'
 ORDER BY length(model) DESC LIMIT 1;
UPDATE sandbox_model_prices SET input_per_mtok = 0;
RESET ROLE;
SELECT count(*) AS shipped FROM sandbox_model_prices WHERE shipped;
SELECT c.relname, e.cond
  FROM pg_extension x, unnest(x.extconfig, x.extcondition) AS e(oid, cond)
  JOIN pg_class c ON c.oid = e.oid
 WHERE x.extname = 'sandbox' AND c.relname IN ('sandbox_model_prices', 'sandbox_secrets',
                                              'sandbox_secret_grants', 'agent_run_artifacts')
 ORDER BY 1;
BEGIN;
UPDATE sandbox_model_prices SET input_per_mtok = 4 WHERE model = 'claude-opus-4-5';
INSERT INTO sandbox_model_prices (model, input_per_mtok, output_per_mtok)
    VALUES ('claude-sonnet-4', 2, 10), ('my-model', 1, 2);
SELECT model, input_per_mtok, shipped FROM sandbox_model_prices
 WHERE model IN ('claude-opus-4-5', 'claude-sonnet-4', 'my-model') ORDER BY model;
SELECT sqlstate, message FROM test_error($$INSERT INTO sandbox_model_prices (model, input_per_mtok, output_per_mtok) VALUES ('x', -1, 1)$$);
ROLLBACK;

-- artifacts: each role reads only its own runs'
INSERT INTO agent_runs (id, prompt, owner, status, completed_at) VALUES
    ('00000000-0000-0000-0000-00000000c001', 'carol''s', 'regress_sandbox_carol', 'cancelled', now()),
    ('00000000-0000-0000-0000-00000000d001', 'dave''s', 'regress_sandbox_dave', 'cancelled', now());
INSERT INTO agent_run_artifacts (run_id, path, content, size, sha256) VALUES
    ('00000000-0000-0000-0000-00000000c001', '/home/user/out.txt', 'carol', 5, NULL),
    ('00000000-0000-0000-0000-00000000d001', '/home/user/out.txt', 'dave', 4, NULL);
SELECT sqlstate, message FROM test_error($$INSERT INTO agent_run_artifacts (run_id, path, kind, size)
    VALUES ('00000000-0000-0000-0000-00000000c001', 'x', 'tarball', 0)$$);
SET ROLE regress_sandbox_carol;
SELECT run_id, path, kind, convert_from(content, 'UTF8') AS content FROM agent_run_artifacts;
DELETE FROM agent_run_artifacts;
RESET ROLE;
DELETE FROM agent_runs WHERE id IN ('00000000-0000-0000-0000-00000000c001',
                                    '00000000-0000-0000-0000-00000000d001');
SELECT count(*) AS artifacts_left FROM agent_run_artifacts;

DROP OWNED BY regress_sandbox_carol, regress_sandbox_dave, regress_sandbox_eve, regress_sandbox_team;
DROP ROLE regress_sandbox_carol, regress_sandbox_dave, regress_sandbox_eve, regress_sandbox_team;
