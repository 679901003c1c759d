-- test/security/log.sql: the attacker's evidence log.  Run as regress_attacker
-- in a schema `attacker` it owns.  Every planted operator, function and domain
-- calls attacker.note(tag) before returning the right answer: note records
-- who ran it (current_user, session_user, superuser or not, backend type) and
-- the statement that called it (PG_CONTEXT names the SQL statement of an SPI
-- caller, C or PL/pgSQL).  A row whose current_user is not regress_attacker
-- is attacker code run with another role's rights.  The row is written in the
-- caller's transaction, which may roll back (a refused call): so note also
-- writes a LOG line with the marker SECTEST-ESCALATION to the server log.
--
-- Everything here is written against pg_catalog explicitly, so the planted
-- operators never recurse into themselves.
CREATE TABLE attacker.log (
    tag   pg_catalog.text,
    cur   pg_catalog.name,
    sess  pg_catalog.name,
    su    pg_catalog.bool,
    btype pg_catalog.text,
    db    pg_catalog.name,
    ctx   pg_catalog.text,
    q     pg_catalog.text,
    qhash pg_catalog.text,
    at    pg_catalog.timestamptz DEFAULT pg_catalog.clock_timestamp(),
    UNIQUE (tag, cur, sess, btype, qhash)
);
GRANT USAGE ON SCHEMA attacker TO PUBLIC;
GRANT SELECT, INSERT ON attacker.log TO PUBLIC;

CREATE FUNCTION attacker.note(tag pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    ctx pg_catalog.text;
    bt pg_catalog.text;
    issu pg_catalog.bool;
    n pg_catalog.int8;
BEGIN
    -- never recurse (note's own statements are qualified; this is a safety net)
    IF pg_catalog.current_setting('sectest.in_note', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN true;
    END IF;
    PERFORM pg_catalog.set_config('sectest.in_note', 'on', true);
    GET DIAGNOSTICS ctx = PG_CONTEXT;
    ctx := pg_catalog.left(ctx, 4000);
    SELECT r.rolsuper INTO issu FROM pg_catalog.pg_roles r
     WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER;
    IF CURRENT_USER OPERATOR(pg_catalog.<>) 'regress_attacker'::pg_catalog.name THEN
        SELECT a.backend_type INTO bt FROM pg_catalog.pg_stat_activity a
         WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    END IF;
    INSERT INTO attacker.log (tag, cur, sess, su, btype, db, ctx, q, qhash)
    VALUES (tag, CURRENT_USER, SESSION_USER, issu, bt, pg_catalog.current_database(), ctx,
            pg_catalog.left(pg_catalog.current_query(), 300),
            pg_catalog.md5(pg_catalog.regexp_replace(ctx, 'line [0-9]+', '', 'g') OPERATOR(pg_catalog.||) COALESCE(pg_catalog.current_query(), '')))
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.>) 0 AND CURRENT_USER OPERATOR(pg_catalog.<>) 'regress_attacker'::pg_catalog.name THEN
        RAISE LOG 'SECTEST-ESCALATION db=% tag=[%] current_user=% session_user=% superuser=% backend=% context=[%] query=[%]',
            pg_catalog.current_database(), tag, CURRENT_USER, SESSION_USER, issu, bt,
            pg_catalog.replace(ctx, E'\n', ' <- '),
            pg_catalog.replace(pg_catalog.left(pg_catalog.current_query(), 300), E'\n', ' ');
    END IF;
    PERFORM pg_catalog.set_config('sectest.in_note', '', true);
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    IF CURRENT_USER OPERATOR(pg_catalog.<>) 'regress_attacker'::pg_catalog.name THEN
        RAISE LOG 'SECTEST-ESCALATION db=% tag=[%] current_user=% session_user=% (note failed: %)',
            pg_catalog.current_database(), tag, CURRENT_USER, SESSION_USER, SQLERRM;
    END IF;
    RETURN true;
END
$f$;
GRANT EXECUTE ON FUNCTION attacker.note(pg_catalog.text) TO PUBLIC;
