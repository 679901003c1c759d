-- test/security/deps.sql: operators, functions and types that the
-- extension's objects (its members, and the indexes, constraints, defaults,
-- policies, triggers and rules of its tables) depend on, outside pg_catalog
-- and outside the extension itself.  Built-in catalog objects are pinned (no
-- pg_depend rows), so every row found here names a user object bound into the
-- extension: one row per offence.  Run as a superuser with
-- search_path = pg_catalog.
WITH ext AS (
    SELECT oid FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'sandbox'
), members AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) ext.oid
       AND d.deptype OPERATOR(pg_catalog.=) 'e'
), rels AS (
    SELECT objid AS relid FROM members
     WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
), objs AS (
    SELECT classid, objid FROM members
    UNION SELECT 'pg_catalog.pg_class'::pg_catalog.regclass, indexrelid FROM pg_catalog.pg_index
           WHERE indrelid IN (SELECT relid FROM rels)
    UNION SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass, oid FROM pg_catalog.pg_constraint
           WHERE conrelid IN (SELECT relid FROM rels)
    UNION SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass, oid FROM pg_catalog.pg_attrdef
           WHERE adrelid IN (SELECT relid FROM rels)
    UNION SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass, oid FROM pg_catalog.pg_policy
           WHERE polrelid IN (SELECT relid FROM rels)
    UNION SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass, oid FROM pg_catalog.pg_trigger
           WHERE tgrelid IN (SELECT relid FROM rels)
    UNION SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass, oid FROM pg_catalog.pg_rewrite
           WHERE ev_class IN (SELECT relid FROM rels)
), refs AS (
    SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid,
           CASE
             WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass
               THEN (SELECT oprnamespace FROM pg_catalog.pg_operator WHERE oid OPERATOR(pg_catalog.=) d.refobjid)
             WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
               THEN (SELECT pronamespace FROM pg_catalog.pg_proc WHERE oid OPERATOR(pg_catalog.=) d.refobjid)
             WHEN d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
               THEN (SELECT typnamespace FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) d.refobjid)
           END AS refnsp
      FROM pg_catalog.pg_depend d
      JOIN objs o ON o.classid OPERATOR(pg_catalog.=) d.classid AND o.objid OPERATOR(pg_catalog.=) d.objid
     WHERE d.refclassid IN ('pg_catalog.pg_operator'::pg_catalog.regclass,
                            'pg_catalog.pg_proc'::pg_catalog.regclass,
                            'pg_catalog.pg_type'::pg_catalog.regclass)
)
SELECT pg_catalog.pg_describe_object(r.classid, r.objid, r.objsubid) || ' -> ' ||
       pg_catalog.pg_describe_object(r.refclassid, r.refobjid, 0) || ' [' ||
       pg_catalog.pg_get_userbyid(COALESCE(
           (SELECT oprowner FROM pg_catalog.pg_operator WHERE oid OPERATOR(pg_catalog.=) r.refobjid
              AND r.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass),
           (SELECT proowner FROM pg_catalog.pg_proc WHERE oid OPERATOR(pg_catalog.=) r.refobjid
              AND r.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass),
           (SELECT typowner FROM pg_catalog.pg_type WHERE oid OPERATOR(pg_catalog.=) r.refobjid
              AND r.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass))) || ']'
  FROM refs r
 WHERE r.refnsp OPERATOR(pg_catalog.<>) 'pg_catalog'::pg_catalog.regnamespace
   AND NOT EXISTS (SELECT 1 FROM members m
                    WHERE m.classid OPERATOR(pg_catalog.=) r.refclassid
                      AND m.objid OPERATOR(pg_catalog.=) r.refobjid)
   -- the array types of the extension's own types are not members themselves
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN members m
                      ON m.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                     AND m.objid OPERATOR(pg_catalog.=) t.typelem
                    WHERE r.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                      AND t.oid OPERATOR(pg_catalog.=) r.refobjid)
 ORDER BY 1;
