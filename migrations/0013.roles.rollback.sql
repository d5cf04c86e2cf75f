REVOKE ALL ON ALL TABLES IN SCHEMA mart, reporting FROM salesmart_reader;
REVOKE ALL ON SCHEMA mart, reporting FROM salesmart_reader;
REVOKE ALL ON ALL ROUTINES IN SCHEMA staging, mart FROM salesmart_loader;
REVOKE ALL ON ALL TABLES IN SCHEMA landing FROM salesmart_loader;
REVOKE ALL ON SCHEMA landing, staging, mart FROM salesmart_loader;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA staging, mart TO PUBLIC;

DO $$
DECLARE
    v_statement text;
BEGIN
    FOR v_statement IN
        SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, current_user)
        FROM pg_catalog.pg_namespace AS n
        WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting')
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO %I',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, c.oid::regclass, current_user)
        FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting') AND c.relkind IN ('r', 'p', 'v')
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO %I',
                      CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure, current_user)
        FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('staging', 'mart')
    LOOP
        EXECUTE v_statement;
    END LOOP;
END;
$$;

-- The roles go only when nothing in the cluster uses them any more: no
-- object or grant in any database (other warehouses of the cluster) and no
-- member but the migrating role.
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['salesmart_reader', 'salesmart_loader', 'salesmart_owner'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_shdepend AS d
                   WHERE d.refclassid = 'pg_catalog.pg_authid'::regclass
                     AND d.refobjid = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role))
           OR EXISTS (SELECT FROM pg_catalog.pg_auth_members AS m
                      WHERE m.roleid = (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_role)
                        AND m.member <> (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user))
        THEN
            RAISE NOTICE 'role % is kept: another database or login of the cluster still uses it', v_role;
        ELSE
            EXECUTE format('DROP ROLE IF EXISTS %I', v_role);
        END IF;
    END LOOP;
END;
$$;
