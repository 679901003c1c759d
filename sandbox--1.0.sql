/* sandbox--1.0.sql: E2B sandboxes and agent runs from PostgreSQL */

\echo Use "CREATE EXTENSION sandbox" to load this file. \quit

-- Every reference below is schema-qualified with @extschema@ or pg_catalog,
-- so a caller's search_path can never redirect the extension's own SQL.

------------------------------------------------------------------------------
-- Sandboxes created through this database
------------------------------------------------------------------------------

CREATE TYPE @extschema@.sandbox_state AS ENUM ('running', 'killed', 'expired', 'lost');

CREATE TABLE @extschema@.sandboxes (
    sandbox_id   text PRIMARY KEY,
    owner        pg_catalog.regrole NOT NULL,
    run_id       uuid,
    template     text NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}',
    state        @extschema@.sandbox_state NOT NULL DEFAULT 'running',
    domain       text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    killed_at    timestamptz
);
COMMENT ON TABLE @extschema@.sandboxes IS
  'Every sandbox the extension created, with its owner role; written before any command runs in it.';
CREATE INDEX sandboxes_owner_running ON @extschema@.sandboxes (owner) WHERE state = 'running';
CREATE INDEX sandboxes_run ON @extschema@.sandboxes (run_id) WHERE run_id IS NOT NULL;

-- Access tokens of sandboxes: readable by no one but the extension's owner.
CREATE TABLE @extschema@.sandbox_access (
    sandbox_id   text PRIMARY KEY REFERENCES @extschema@.sandboxes ON DELETE CASCADE,
    access_token text,
    envd_version text
);
REVOKE ALL ON @extschema@.sandbox_access FROM PUBLIC;

ALTER TABLE @extschema@.sandboxes ENABLE ROW LEVEL SECURITY;
CREATE POLICY sandboxes_owner_read ON @extschema@.sandboxes FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE'));
REVOKE ALL ON @extschema@.sandboxes FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandboxes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.sandbox_access', '');

------------------------------------------------------------------------------
-- Synchronous sandbox functions
------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.sandbox_create(
    template  text  DEFAULT NULL,
    timeout_s int   DEFAULT NULL,
    metadata  jsonb DEFAULT '{}',
    envs      jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_create' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_create(text, int, jsonb, jsonb) IS
  'Create an E2B sandbox owned by the current role and return its id';

CREATE FUNCTION @extschema@.sandbox_exec(
    sandbox_id text,
    command    text,
    cwd        text  DEFAULT NULL,
    envs       jsonb DEFAULT NULL,
    timeout_ms int   DEFAULT NULL,
    OUT stdout text, OUT stderr text, OUT exit_code int, OUT truncated boolean,
    OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'sandbox_exec_in' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_exec(text, text, text, jsonb, int) IS
  'Run a shell command (bash -l -c) in a sandbox and wait for it';

CREATE FUNCTION @extschema@.sandbox_exec(
    command    text,
    envs       jsonb DEFAULT NULL,
    timeout_ms int   DEFAULT NULL,
    cwd        text  DEFAULT NULL,
    template   text  DEFAULT NULL,
    OUT stdout text, OUT stderr text, OUT exit_code int, OUT truncated boolean,
    OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'sandbox_exec_once' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_exec(text, jsonb, int, text, text) IS
  'Create a sandbox, run one shell command in it, and kill it (always)';

CREATE FUNCTION @extschema@.sandbox_run_code(
    sandbox_id text,
    code       text,
    language   text DEFAULT 'python',
    context_id text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_run_code' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_run_code(text, text, text, text) IS
  'Run code in the sandbox''s code interpreter: {results, stdout, stderr, error, text}';

CREATE FUNCTION @extschema@.sandbox_write_file(sandbox_id text, path text, content bytea)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sandbox_write_file' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.sandbox_write_file(sandbox_id text, path text, content text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'sandbox_write_file' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.sandbox_write_file(text, text, bytea) IS
  'Write a file in a sandbox (parents created, existing file replaced); returns bytes written';

CREATE FUNCTION @extschema@.sandbox_read_file(sandbox_id text, path text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sandbox_read_file' LANGUAGE C VOLATILE;
CREATE FUNCTION @extschema@.sandbox_read_file_text(sandbox_id text, path text)
RETURNS text
AS 'MODULE_PATHNAME', 'sandbox_read_file_text' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_list_files(
    sandbox_id text, path text DEFAULT '/home/user', depth int DEFAULT 1,
    OUT name text, OUT path text, OUT type text, OUT size bigint, OUT mode int,
    OUT modified timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_list_files' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_remove_file(sandbox_id text, path text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_remove_file' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_make_dir(sandbox_id text, path text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_make_dir' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_kill(sandbox_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'sandbox_kill' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_set_timeout(sandbox_id text, timeout_s int)
RETURNS void
AS 'MODULE_PATHNAME', 'sandbox_set_timeout' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_info(sandbox_id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'sandbox_info' LANGUAGE C VOLATILE;

CREATE FUNCTION @extschema@.sandbox_list(
    metadata jsonb DEFAULT NULL, all_databases boolean DEFAULT false,
    OUT sandbox_id text, OUT template_id text, OUT alias text, OUT state text,
    OUT started_at timestamptz, OUT end_at timestamptz, OUT metadata jsonb,
    OUT owner pg_catalog.regrole)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'sandbox_list' LANGUAGE C VOLATILE;

-- Nothing is callable by PUBLIC: an administrator grants it (see
-- sandbox_grant_usage below and docs/sql-reference.md).
REVOKE EXECUTE ON FUNCTION
    @extschema@.sandbox_create(text, int, jsonb, jsonb),
    @extschema@.sandbox_exec(text, text, text, jsonb, int),
    @extschema@.sandbox_exec(text, jsonb, int, text, text),
    @extschema@.sandbox_run_code(text, text, text, text),
    @extschema@.sandbox_write_file(text, text, bytea),
    @extschema@.sandbox_write_file(text, text, text),
    @extschema@.sandbox_read_file(text, text),
    @extschema@.sandbox_read_file_text(text, text),
    @extschema@.sandbox_list_files(text, text, int),
    @extschema@.sandbox_remove_file(text, text),
    @extschema@.sandbox_make_dir(text, text),
    @extschema@.sandbox_kill(text),
    @extschema@.sandbox_set_timeout(text, int),
    @extschema@.sandbox_info(text),
    @extschema@.sandbox_list(jsonb, boolean)
FROM PUBLIC;

------------------------------------------------------------------------------
-- Granting use to a role
------------------------------------------------------------------------------

-- sandbox_grant_usage gives a role what it needs to use the extension:
-- the functions, and reading its own rows.  Row-level security keeps each
-- role to its own sandboxes.
CREATE FUNCTION @extschema@.sandbox_grant_usage(role pg_catalog.regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
DECLARE
    s text := pg_catalog.quote_ident(
        (SELECT n.nspname FROM pg_catalog.pg_extension e
           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
          WHERE e.extname = 'sandbox'));
    r text := role::text;
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %s TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT SELECT ON %s.sandboxes TO %s', s, r);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION
        %1$s.sandbox_create(text, int, jsonb, jsonb),
        %1$s.sandbox_exec(text, text, text, jsonb, int),
        %1$s.sandbox_exec(text, jsonb, int, text, text),
        %1$s.sandbox_run_code(text, text, text, text),
        %1$s.sandbox_write_file(text, text, bytea),
        %1$s.sandbox_write_file(text, text, text),
        %1$s.sandbox_read_file(text, text),
        %1$s.sandbox_read_file_text(text, text),
        %1$s.sandbox_list_files(text, text, int),
        %1$s.sandbox_remove_file(text, text),
        %1$s.sandbox_make_dir(text, text),
        %1$s.sandbox_kill(text),
        %1$s.sandbox_set_timeout(text, int),
        %1$s.sandbox_info(text),
        %1$s.sandbox_list(jsonb, boolean) TO %2$s', s, r);
END;
$$;
REVOKE EXECUTE ON FUNCTION @extschema@.sandbox_grant_usage(pg_catalog.regrole) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.sandbox_grant_usage(pg_catalog.regrole) IS
  'Grant a role the use of the sandbox functions and its own rows';
