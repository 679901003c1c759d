-- The extension installs and exposes its settings.
CREATE EXTENSION sandbox;
SELECT extname, extversion FROM pg_extension WHERE extname = 'sandbox';
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
-- settings are registered with their defaults or the test configuration
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('sandbox.template', 'sandbox.sandbox_timeout', 'sandbox.http_timeout',
                'sandbox.command_timeout', 'sandbox.max_output_bytes', 'sandbox.e2b_domain',
                'sandbox.llm_model', 'sandbox.llm_provider')
 ORDER BY name;
-- the reserved prefix refuses unknown settings
SET sandbox.no_such_setting = 1;
