-- SQL functions as tools (sandbox_register_tool): the JSON Schema derived
-- from the arguments, the description, who may register, what cannot be a
-- tool, updates, removal and the log.  (Calls are made by the worker: its
-- suites test them.)
\set ON_ERROR_STOP 1
BEGIN;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname IN
               ('regress_sandbox_frank', 'regress_sandbox_grace')) THEN
        RAISE EXCEPTION 'a role regress_sandbox_* exists already: drop it if a failed run left it';
    END IF;
END $$;
CREATE ROLE regress_sandbox_frank;
CREATE ROLE regress_sandbox_grace;
COMMIT;
\unset ON_ERROR_STOP
SELECT sandbox_grant_usage('regress_sandbox_frank');
SELECT sandbox_grant_usage('regress_sandbox_grace');
CREATE SCHEMA regress_tools AUTHORIZATION regress_sandbox_frank;
CREATE SCHEMA regress_tools_b AUTHORIZATION regress_sandbox_frank;
CREATE SCHEMA regress_tools_g AUTHORIZATION regress_sandbox_grace;
GRANT USAGE ON SCHEMA regress_tools, regress_tools_b TO regress_sandbox_grace;
GRANT USAGE ON SCHEMA regress_tools_g TO regress_sandbox_frank;

SET ROLE regress_sandbox_frank;
-- every supported argument type, none with a default: all required
CREATE FUNCTION regress_tools.every_type(
    t text, v varchar, c char(3), i2 smallint, i4 int, i8 bigint, n numeric,
    f4 real, f8 double precision, b boolean, j json, jb jsonb,
    ta text[], ia int[], na numeric[], ba boolean[], ja jsonb[])
RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
COMMENT ON FUNCTION regress_tools.every_type IS 'Takes one of each type';
SELECT jsonb_pretty(sandbox_register_tool('regress_tools.every_type'::regproc::regprocedure));
-- defaults make arguments optional; the COMMENT is the description
CREATE FUNCTION regress_tools.find_orders(customer text, lim int DEFAULT 10,
                                          open_only boolean DEFAULT true)
RETURNS TABLE (id int, total numeric) LANGUAGE sql STABLE
AS $$ SELECT 1, 2.5 LIMIT lim $$;
COMMENT ON FUNCTION regress_tools.find_orders IS 'Orders of a customer, newest first';
SELECT sandbox_register_tool('regress_tools.find_orders(text, int, boolean)');
-- an explicit description wins over the COMMENT; no argument at all
CREATE FUNCTION regress_tools.now_utc() RETURNS timestamptz LANGUAGE sql STABLE
AS $$ SELECT now() $$;
COMMENT ON FUNCTION regress_tools.now_utc IS 'the comment';
SELECT sandbox_register_tool('regress_tools.now_utc()', 'The current time in UTC', false);
-- a name with a dash and digits is fine; INOUT arguments are inputs, OUT ones are not
CREATE FUNCTION regress_tools."add-2"(INOUT a int, b int DEFAULT 2, OUT doubled int)
LANGUAGE sql AS $$ SELECT a + b, 2 * (a + b) $$;
SELECT sandbox_register_tool('regress_tools."add-2"(int, int)', 'Adds');
SELECT name, fn, description, read_only, registered_by
  FROM sandbox_sql_tools ORDER BY name;

-- refused: no description
CREATE FUNCTION regress_tools.undescribed(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.undescribed(int)')$$);
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.undescribed(int)', '')$$);
-- refused: an argument type the model cannot give
CREATE FUNCTION regress_tools.by_date(d date) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.by_date(date)', 'x')$$);
CREATE FUNCTION regress_tools.by_bytes(b bytea[]) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.by_bytes(bytea[])', 'x')$$);
-- refused: an unnamed argument
CREATE FUNCTION regress_tools.unnamed(int) RETURNS int LANGUAGE sql AS $$ SELECT $1 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.unnamed(int)', 'x')$$);
-- refused: VARIADIC
CREATE FUNCTION regress_tools.many(VARIADIC a int[]) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.many(int[])', 'x')$$);
-- refused: a procedure, an aggregate
CREATE PROCEDURE regress_tools.proc(a int) LANGUAGE sql AS $$ SELECT 1 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.proc(int)', 'x')$$);
CREATE AGGREGATE regress_tools.agg(int) (sfunc = int4pl, stype = int);
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.agg(int)', 'x')$$);
-- refused: a record without column names, a trigger function
CREATE FUNCTION regress_tools.recs() RETURNS SETOF record LANGUAGE sql AS $$ SELECT 1, 2 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.recs()', 'x')$$);
CREATE FUNCTION regress_tools.trig() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.trig()', 'x')$$);
-- refused: a built-in tool's name, the structured answer's, a name the
-- model providers refuse
CREATE FUNCTION regress_tools.read_file(path text) RETURNS text LANGUAGE sql AS $$ SELECT path $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.read_file(text)', 'x')$$);
CREATE FUNCTION regress_tools.final_result(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.final_result(int)', 'x')$$);
CREATE FUNCTION regress_tools."two words"(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools."two words"(int)', 'x')$$);
-- refused: a name registered already for another function
CREATE FUNCTION regress_tools_b.find_orders(customer text) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools_b.find_orders(text)', 'x')$$);
-- refused: NULL
SELECT * FROM test_error($$SELECT sandbox_register_tool(NULL, 'x')$$);
-- the tables are read-only for users
INSERT INTO sandbox_sql_tools (name, fn, description, input_schema, registered_by)
VALUES ('x', 'regress_tools.unnamed(int)', 'x', '{}', 'regress_sandbox_frank');
DELETE FROM sandbox_sql_tools;
DELETE FROM sandbox_sql_tool_log;   -- readable by granted roles (the audit), never writable
RESET ROLE;

-- another role's function: refused, however the tool would be described
SET ROLE regress_sandbox_grace;
CREATE FUNCTION regress_tools_g.my_notes(topic text) RETURNS text LANGUAGE sql AS $$ SELECT topic $$;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.undescribed(int)', 'mine now')$$);
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools.find_orders(text, int, boolean)', 'mine now')$$);
SELECT * FROM test_error($$SELECT sandbox_unregister_tool('regress_tools.find_orders(text, int, boolean)')$$);
-- the registered tools are readable, for runs to list them
SELECT name, read_only FROM sandbox_sql_tools ORDER BY name;
RESET ROLE;
SET ROLE regress_sandbox_frank;
SELECT * FROM test_error($$SELECT sandbox_register_tool('regress_tools_g.my_notes(text)', 'x')$$);
RESET ROLE;
-- a superuser may register any role's function
SELECT sandbox_register_tool('regress_tools_g.my_notes(text)', 'Grace''s notes on a topic');

-- registering again updates the tool
SET ROLE regress_sandbox_frank;
SELECT sandbox_register_tool('regress_tools.find_orders(text, int, boolean)',
                             'Orders of a customer', read_only => false);
CREATE OR REPLACE FUNCTION regress_tools.now_utc() RETURNS timestamptz LANGUAGE sql STABLE
AS $$ SELECT now() $$;
COMMENT ON FUNCTION regress_tools.now_utc IS 'Now, from the comment';
SELECT sandbox_register_tool('regress_tools.now_utc()');
SELECT name, description, read_only FROM sandbox_sql_tools ORDER BY name;

-- unregistering: the owner only; false when it was no tool
SELECT sandbox_unregister_tool('regress_tools.now_utc()') AS removed;
SELECT sandbox_unregister_tool('regress_tools.now_utc()') AS removed_again;
SELECT sandbox_unregister_tool('regress_tools.undescribed(int)') AS never_registered;
SELECT * FROM test_error($$SELECT sandbox_unregister_tool('regress_tools_g.my_notes(text)')$$);
-- the name is free again: another function may take it
SELECT sandbox_unregister_tool('regress_tools.find_orders(text, int, boolean)') AS removed;
SELECT sandbox_register_tool('regress_tools_b.find_orders(text)', 'Orders, the short way') ->> 'name' AS name;
SELECT name, fn FROM sandbox_sql_tools ORDER BY name;
RESET ROLE;
SET ROLE regress_sandbox_grace;
SELECT sandbox_unregister_tool('regress_tools_g.my_notes(text)') AS removed;
RESET ROLE;

-- every registration and removal is in the log
SELECT action, name, fn, read_only, by_role FROM sandbox_sql_tool_log ORDER BY id;

-- a tool whose function was dropped gives its name up to the next function of that name
SET ROLE regress_sandbox_frank;
CREATE FUNCTION regress_tools.short_lived() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT sandbox_register_tool('regress_tools.short_lived()', 'first') ->> 'name' AS name;
DROP FUNCTION regress_tools.short_lived();
CREATE FUNCTION regress_tools.short_lived(n int) RETURNS int LANGUAGE sql AS $$ SELECT n $$;
SELECT sandbox_register_tool('regress_tools.short_lived(int)', 'second') ->> 'description' AS description;
SELECT fn, description FROM sandbox_sql_tools WHERE name = 'short_lived';
RESET ROLE;
SELECT action, name, fn ~ '^[0-9]+$' AS dropped_fn FROM sandbox_sql_tool_log
 WHERE name = 'short_lived' ORDER BY id;

SET ROLE regress_sandbox_frank;
SELECT sandbox_unregister_tool(fn) FROM sandbox_sql_tools ORDER BY name;
RESET ROLE;
SELECT count(*) AS tools_left FROM sandbox_sql_tools;
DELETE FROM sandbox_sql_tool_log;
DROP SCHEMA regress_tools, regress_tools_b, regress_tools_g CASCADE;
DROP OWNED BY regress_sandbox_frank, regress_sandbox_grace;
DROP ROLE regress_sandbox_frank, regress_sandbox_grace;
