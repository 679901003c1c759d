-- test/security/ops.sql: plant malicious operators and type names in schema
-- :target.  Run as regress_attacker after log.sql, with psql variables
--   target  the schema the operators go to (attacker, or public)
--   mode    post: the extension is installed, its enum types get exact
--                 operators (an exact-type operator beats the catalog's
--                 polymorphic anyenum one wherever the schema is on the path)
--           pre:  before CREATE EXTENSION: only polymorphic enum operators,
--                 (anyenum, text) wins over anyenum = anyenum for enum = 'literal'
--           exact: only the exact enum operators (after a pre planting in
--                 the same schema, once the extension's types exist)
--   ext     the extension's schema (post only)
-- Each operator's function is PL/pgSQL, IMMUTABLE (so that it can be bound
-- into an index predicate), calls attacker.note(tag) and returns what the
-- catalog operator returns, so nothing else breaks.  Each domain named like
-- a built-in type (text, uuid...) calls attacker.note in its CHECK.
SELECT pg_catalog.set_config('sectest.target', :'target', false),
       pg_catalog.set_config('sectest.mode', :'mode', false),
       pg_catalog.set_config('sectest.ext', :'ext', false) \gset

DO $do$
DECLARE
    tgt pg_catalog.text := pg_catalog.current_setting('sectest.target');
    mode pg_catalog.text := pg_catalog.current_setting('sectest.mode');
    ext pg_catalog.text := pg_catalog.quote_ident(pg_catalog.current_setting('sectest.ext'));
    r record;
    l pg_catalog.text;
    rt pg_catalog.text;
    n pg_catalog.int4 := 0;
    fname pg_catalog.text;
    tag pg_catalog.text;
    enumt pg_catalog.text;
BEGIN
    SET LOCAL client_min_messages = warning;
    DROP TABLE IF EXISTS pg_temp.plant;
    CREATE TEMP TABLE plant (op pg_catalog.text, l pg_catalog.text, r pg_catalog.text,
                             res pg_catalog.text, impl pg_catalog.text) ON COMMIT DROP;
    -- comparisons on base types: the catalog's own implementation
    INSERT INTO plant
    SELECT o, t, t, 'pg_catalog.bool', 'a OPERATOR(pg_catalog.' || o || ') b'
      FROM pg_catalog.unnest(ARRAY['=', '<>', '<', '<=', '>', '>=']) o,
           pg_catalog.unnest(ARRAY['pg_catalog.text', 'pg_catalog.int4', 'pg_catalog.int8',
                                   'pg_catalog.timestamptz', 'pg_catalog.float8',
                                   'pg_catalog.interval', 'pg_catalog.uuid', 'pg_catalog.oid',
                                   'pg_catalog.bool', 'pg_catalog.name']) t;
    INSERT INTO plant VALUES
      ('~~', 'pg_catalog.text', 'pg_catalog.text', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.~~) b'),
      ('=', 'pg_catalog.jsonb', 'pg_catalog.jsonb', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('<>', 'pg_catalog.jsonb', 'pg_catalog.jsonb', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b'),
      ('@>', 'pg_catalog.jsonb', 'pg_catalog.jsonb', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.@>) b'),
      ('?', 'pg_catalog.jsonb', 'pg_catalog.text', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.?) b'),
      ('->', 'pg_catalog.jsonb', 'pg_catalog.text', 'pg_catalog.jsonb', 'a OPERATOR(pg_catalog.->) b'),
      ('->>', 'pg_catalog.jsonb', 'pg_catalog.text', 'pg_catalog.text', 'a OPERATOR(pg_catalog.->>) b'),
      ('->', 'pg_catalog.jsonb', 'pg_catalog.int4', 'pg_catalog.jsonb', 'a OPERATOR(pg_catalog.->) b'),
      ('||', 'pg_catalog.jsonb', 'pg_catalog.jsonb', 'pg_catalog.jsonb', 'a OPERATOR(pg_catalog.||) b'),
      ('||', 'pg_catalog.text', 'pg_catalog.text', 'pg_catalog.text', 'a OPERATOR(pg_catalog.||) b'),
      -- regrole has no operators of its own: an exact one beats oid = oid anywhere on the path
      ('=', 'pg_catalog.regrole', 'pg_catalog.regrole', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('<>', 'pg_catalog.regrole', 'pg_catalog.regrole', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b'),
      ('=', 'pg_catalog.regrole', 'pg_catalog.oid', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('=', 'pg_catalog.oid', 'pg_catalog.regrole', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('=', 'pg_catalog.name', 'pg_catalog.text', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('=', 'pg_catalog.text', 'pg_catalog.name', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('=', 'pg_catalog.int4', 'pg_catalog.int8', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('=', 'pg_catalog.int8', 'pg_catalog.int4', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      -- arrays (= ANY uses the element's =; these are for array comparisons)
      ('=', 'pg_catalog.text[]', 'pg_catalog.text[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('<>', 'pg_catalog.text[]', 'pg_catalog.text[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b'),
      ('@>', 'pg_catalog.text[]', 'pg_catalog.text[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.@>) b'),
      ('&&', 'pg_catalog.text[]', 'pg_catalog.text[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.&&) b'),
      ('=', 'pg_catalog.int4[]', 'pg_catalog.int4[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('<>', 'pg_catalog.int4[]', 'pg_catalog.int4[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b'),
      ('@>', 'pg_catalog.int4[]', 'pg_catalog.int4[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.@>) b'),
      ('&&', 'pg_catalog.int4[]', 'pg_catalog.int4[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.&&) b'),
      ('=', 'pg_catalog.uuid[]', 'pg_catalog.uuid[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('=', 'anyarray', 'anyarray', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('<>', 'anyarray', 'anyarray', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b'),
      ('@>', 'anyarray', 'anyarray', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.@>) b'),
      ('&&', 'anyarray', 'anyarray', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.&&) b'),
      -- arithmetic
      ('+', 'pg_catalog.int4', 'pg_catalog.int4', 'pg_catalog.int4', 'a OPERATOR(pg_catalog.+) b'),
      ('-', 'pg_catalog.int4', 'pg_catalog.int4', 'pg_catalog.int4', 'a OPERATOR(pg_catalog.-) b'),
      ('*', 'pg_catalog.int4', 'pg_catalog.int4', 'pg_catalog.int4', 'a OPERATOR(pg_catalog.*) b'),
      ('/', 'pg_catalog.int4', 'pg_catalog.int4', 'pg_catalog.int4', 'a OPERATOR(pg_catalog./) b'),
      ('+', 'pg_catalog.int8', 'pg_catalog.int8', 'pg_catalog.int8', 'a OPERATOR(pg_catalog.+) b'),
      ('-', 'pg_catalog.int8', 'pg_catalog.int8', 'pg_catalog.int8', 'a OPERATOR(pg_catalog.-) b'),
      ('+', 'pg_catalog.int8', 'pg_catalog.int4', 'pg_catalog.int8', 'a OPERATOR(pg_catalog.+) b'),
      ('+', 'pg_catalog.timestamptz', 'pg_catalog.interval', 'pg_catalog.timestamptz', 'a OPERATOR(pg_catalog.+) b'),
      ('-', 'pg_catalog.timestamptz', 'pg_catalog.interval', 'pg_catalog.timestamptz', 'a OPERATOR(pg_catalog.-) b'),
      ('-', 'pg_catalog.timestamptz', 'pg_catalog.timestamptz', 'pg_catalog.interval', 'a OPERATOR(pg_catalog.-) b'),
      ('+', 'pg_catalog.interval', 'pg_catalog.interval', 'pg_catalog.interval', 'a OPERATOR(pg_catalog.+) b'),
      ('*', 'pg_catalog.interval', 'pg_catalog.float8', 'pg_catalog.interval', 'a OPERATOR(pg_catalog.*) b'),
      ('+', 'pg_catalog.float8', 'pg_catalog.float8', 'pg_catalog.float8', 'a OPERATOR(pg_catalog.+) b'),
      ('*', 'pg_catalog.float8', 'pg_catalog.float8', 'pg_catalog.float8', 'a OPERATOR(pg_catalog.*) b'),
      ('/', 'pg_catalog.float8', 'pg_catalog.float8', 'pg_catalog.float8', 'a OPERATOR(pg_catalog./) b'),
      -- mixed types the catalog has no exact operator for: an exact one wins
      -- wherever its schema is on the path (0.5 + random() / 2, ...)
      ('+', 'pg_catalog.numeric', 'pg_catalog.float8', 'pg_catalog.float8',
            'a::pg_catalog.float8 OPERATOR(pg_catalog.+) b'),
      ('*', 'pg_catalog.numeric', 'pg_catalog.float8', 'pg_catalog.float8',
            'a::pg_catalog.float8 OPERATOR(pg_catalog.*) b'),
      ('/', 'pg_catalog.float8', 'pg_catalog.int4', 'pg_catalog.float8',
            'a OPERATOR(pg_catalog./) b::pg_catalog.float8'),
      ('*', 'pg_catalog.float8', 'pg_catalog.int4', 'pg_catalog.float8',
            'a OPERATOR(pg_catalog.*) b::pg_catalog.float8'),
      ('*', 'pg_catalog.int4', 'pg_catalog.float8', 'pg_catalog.float8',
            'a::pg_catalog.float8 OPERATOR(pg_catalog.*) b'),
      -- enums, polymorphic: usable before the extension's types exist
      ('=', 'anyenum', 'anyenum', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b'),
      ('<>', 'anyenum', 'anyenum', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b'),
      ('=', 'anyenum', 'pg_catalog.text', 'pg_catalog.bool', 'a::pg_catalog.text OPERATOR(pg_catalog.=) b'),
      ('<>', 'anyenum', 'pg_catalog.text', 'pg_catalog.bool', 'a::pg_catalog.text OPERATOR(pg_catalog.<>) b'),
      ('=', 'pg_catalog.text', 'anyenum', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b::pg_catalog.text'),
      ('<>', 'pg_catalog.text', 'anyenum', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b::pg_catalog.text');

    IF mode OPERATOR(pg_catalog.=) 'exact' THEN
        DELETE FROM plant;
    END IF;
    -- enums, exact: once the extension's types exist
    IF mode OPERATOR(pg_catalog.=) ANY (ARRAY['post', 'exact']) THEN
        FOR enumt IN SELECT ext || '.' || t
                       FROM pg_catalog.unnest(ARRAY['agent_run_status', 'sandbox_state']) t LOOP
            INSERT INTO plant
            SELECT o, enumt, enumt, 'pg_catalog.bool', 'a OPERATOR(pg_catalog.' || o || ') b'
              FROM pg_catalog.unnest(ARRAY['=', '<>', '<', '<=', '>', '>=']) o;
            INSERT INTO plant VALUES
              ('=', enumt, 'pg_catalog.text', 'pg_catalog.bool', 'a::pg_catalog.text OPERATOR(pg_catalog.=) b'),
              ('<>', enumt, 'pg_catalog.text', 'pg_catalog.bool', 'a::pg_catalog.text OPERATOR(pg_catalog.<>) b'),
              ('=', 'pg_catalog.text', enumt, 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b::pg_catalog.text'),
              ('<>', 'pg_catalog.text', enumt, 'pg_catalog.bool', 'a OPERATOR(pg_catalog.<>) b::pg_catalog.text'),
              ('=', enumt || '[]', enumt || '[]', 'pg_catalog.bool', 'a OPERATOR(pg_catalog.=) b');
        END LOOP;
    END IF;

    FOR r IN SELECT * FROM plant LOOP
        n := n OPERATOR(pg_catalog.+) 1;
        fname := pg_catalog.format('attacker.%I', 'op_' || tgt || '_' || n::pg_catalog.text);
        tag := pg_catalog.format('%s.%s(%s, %s)', tgt, r.op,
                                 pg_catalog.replace(r.l, 'pg_catalog.', ''),
                                 pg_catalog.replace(r.r, 'pg_catalog.', ''));
        EXECUTE pg_catalog.format(
            'CREATE FUNCTION %s(a %s, b %s) RETURNS %s LANGUAGE plpgsql IMMUTABLE AS '
            '$b$BEGIN PERFORM attacker.note(%L); RETURN %s; END$b$',
            fname, r.l, r.r, r.res, tag, r.impl);
        EXECUTE pg_catalog.format('CREATE OPERATOR %I.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)',
                                  tgt, r.op, r.l, r.r, fname);
    END LOOP;

    -- type names: a domain named like a built-in type, whose CHECK calls note
    FOR l IN SELECT t FROM pg_catalog.unnest(ARRAY['text', 'uuid', 'oid', 'jsonb', 'timestamptz',
                                                  'regrole', 'int4', 'int8', 'bool', 'name',
                                                  'float8', 'regclass', 'regnamespace']) t
              WHERE mode OPERATOR(pg_catalog.<>) 'exact' LOOP
        EXECUTE pg_catalog.format('CREATE DOMAIN %I.%I AS pg_catalog.%I CHECK (attacker.note(%L))',
                                  tgt, l, l, pg_catalog.format('%s.%s (type name)', tgt, l));
    END LOOP;
    IF tgt OPERATOR(pg_catalog.<>) 'public' THEN
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO PUBLIC', tgt);
    END IF;
END
$do$;
