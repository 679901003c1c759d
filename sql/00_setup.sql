-- The extension installs and exposes its settings.
CREATE EXTENSION sandbox;
-- (the version this server's control file makes the default)
SELECT e.extname, e.extversion = a.default_version AS default_version
  FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname
 WHERE e.extname = 'sandbox';
-- the API surface
SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.proname LIKE 'sandbox%'
 ORDER BY 1, 2;
-- nothing is executable by PUBLIC
SELECT count(*) AS public_executable
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.proname LIKE 'sandbox%'
   AND has_function_privilege('public', p.oid, 'EXECUTE');
-- settings are registered with their defaults (boot_val: whatever the
-- server's configuration says, the suite checks the built-in defaults)
SELECT name, boot_val, unit, context FROM pg_settings
 WHERE name IN ('sandbox.template', 'sandbox.sandbox_timeout', 'sandbox.http_timeout',
                'sandbox.command_timeout', 'sandbox.max_output_bytes', 'sandbox.e2b_domain',
                'sandbox.llm_model', 'sandbox.llm_provider')
 ORDER BY name;
-- the reserved prefix refuses unknown settings
SET sandbox.no_such_setting = 1;

-- test_error runs a statement and shows the error it raises (SQLSTATE,
-- message, detail, hint), with random sandbox ids and times masked.
CREATE FUNCTION test_error(stmt text)
RETURNS TABLE (sqlstate text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    EXECUTE stmt;
    RETURN QUERY SELECT 'no error'::text, NULL::text, NULL::text, NULL::text;
EXCEPTION WHEN query_canceled OR OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN QUERY SELECT st,
        regexp_replace(msg, 'i[a-z0-9]{20}', '<sandbox>', 'g'),
        regexp_replace(regexp_replace(regexp_replace(nullif(det, ''), 'i[a-z0-9]{20}', '<sandbox>', 'g'),
                       ' at [A-Z][a-z]{2} .*$', ' at <time>.'), 'after [0-9]+ ms', 'after N ms', 'g'),
        nullif(hnt, '');
END $$;
GRANT EXECUTE ON FUNCTION test_error(text) TO PUBLIC;
