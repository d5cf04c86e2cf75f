"""Least-privilege roles. Roles belong to the cluster, not to a
database, and several warehouses may share a cluster: the three roles have
fixed names, are created only when missing and are shared; what this
migration gives per database is ownership and grants.
  salesmart_owner  owns the schemas, tables, views and routines; NOLOGIN.
                   The loader-callable procedures are SECURITY DEFINER, so
                   they run with its rights.
  salesmart_loader COPYs into landing and EXECUTEs the load procedures:
                   no DDL, no direct write to staging or mart.
  salesmart_reader SELECTs mart and the reporting views, nothing else.
A login gets one of them: GRANT salesmart_loader TO airflow_login.
"""
from yoyo import step

__depends__ = {"0012.reporting-views"}

# Creates the roles that are missing and makes the migrating role a member
# of salesmart_owner that uses its rights (USAGE: PostgreSQL 16+ gives a role
# that creates another only the right to administer it), or says in one line
# what a superuser must do first: a database owner without CREATEROLE gets
# the statements to run. The migrating role comments the roles it creates
# (commenting a role takes CREATEROLE).
# salesmart's yoyo backend also runs it before applying anything, in a
# transaction that it rolls back (CHECK_BEFORE_APPLY below).
CREATE_ROLES = """
DO $$
DECLARE
    v_roles CONSTANT text[] := ARRAY['salesmart_owner', 'salesmart_loader', 'salesmart_reader'];
    v_comments CONSTANT text[] := ARRAY[
        'salesmart: owns the warehouse schemas of every salesmart database of the cluster; no login',
        'salesmart: COPY into landing and EXECUTE the load procedures; grant it to the loading login (Airflow)',
        'salesmart: SELECT on mart and the reporting views; grant it to analysts'' logins'];
    v_missing text[];
    v_statements text;
BEGIN
    BEGIN
        FOR v_index IN 1 .. cardinality(v_roles) LOOP
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = v_roles[v_index]) THEN
                BEGIN
                    EXECUTE format('CREATE ROLE %I NOLOGIN', v_roles[v_index]);
                    EXECUTE format('COMMENT ON ROLE %I IS %L', v_roles[v_index], v_comments[v_index]);
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- another warehouse of the cluster created it meanwhile
                END;
            END IF;
        END LOOP;
        -- Handing objects to salesmart_owner, creating them in its schemas,
        -- and handing them back on rollback take its rights (a superuser
        -- has them already).
        IF NOT pg_catalog.pg_has_role(current_user, 'salesmart_owner', 'USAGE') THEN
            EXECUTE format('GRANT salesmart_owner TO %I', current_user);
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        SELECT array_agg(v.role ORDER BY v.position) INTO v_missing
        FROM unnest(v_roles) WITH ORDINALITY AS v(role, position)
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = v.role);
        SELECT string_agg(format('CREATE ROLE %I NOLOGIN;', m.role), ' ') INTO v_statements
        FROM unnest(v_missing) AS m(role);
        v_statements := concat_ws(' ', v_statements, format('GRANT salesmart_owner TO %I;', current_user));
        -- CREATEROLE does it only where this role would create salesmart_owner
        -- itself: on PostgreSQL 16+ granting a role takes the right to administer it.
        RAISE EXCEPTION '%', CASE
            WHEN 'salesmart_owner' = ANY (v_missing) THEN format(
                'role %I may not create the roles salesmart needs (%s): a superuser either gives it CREATEROLE'
                ' (ALTER ROLE %I CREATEROLE;) or runs first: %s',
                current_user, array_to_string(v_missing, ', '), current_user, v_statements)
            ELSE format(
                'role %I may not use salesmart_owner, the role that owns the warehouse: a superuser runs first: %s',
                current_user, v_statements)
            END
            USING ERRCODE = 'insufficient_privilege';
    END;
END;
$$;
"""
CHECK_BEFORE_APPLY = CREATE_ROLES

# What salesmart_owner owns: the schemas, their tables and views (a table's
# own sequences, serial and identity, follow it) and routines.
OWNED = """
SELECT format('SCHEMA %I', n.nspname)
FROM pg_catalog.pg_namespace AS n
WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting')
UNION ALL
SELECT format('%s %s', CASE c.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, c.oid::regclass)
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting') AND c.relkind IN ('r', 'p', 'v')
UNION ALL
SELECT format('%s %s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure)
FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname IN ('staging', 'mart')
"""

GRANTS = """
-- Routines are callable by no one but their owner unless granted below:
-- a SECURITY DEFINER procedure open to PUBLIC would let any login write.
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA staging, mart FROM PUBLIC;

GRANT USAGE ON SCHEMA landing, staging, mart TO salesmart_loader;
-- SELECT: a loader checks that landing holds no leftovers before its COPY.
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA landing TO salesmart_loader;
DO $$
DECLARE
    v_procedure regprocedure;
BEGIN
    -- every signature: the range overloads too
    FOR v_procedure IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE (n.nspname, p.proname) IN (
            ('staging', 'load_user_order_log'), ('staging', 'load_user_activity_log'),
            ('staging', 'load_customer_research'), ('staging', 'load_price_log'), ('staging', 'log_load'),
            ('mart', 'load_f_sales'), ('mart', 'load_f_customer_retention'))
    LOOP
        EXECUTE format('GRANT EXECUTE ON PROCEDURE %s TO salesmart_loader', v_procedure);
    END LOOP;
END;
$$;

GRANT USAGE ON SCHEMA mart, reporting TO salesmart_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA mart, reporting TO salesmart_reader;
"""

# GRANT and REVOKE rewrite tables' pg_class rows without locking the tables;
# an autoanalyze of such a table then waits for this migration to commit
# while holding a lock the next ALTER ... OWNER needs: a deadlock. Taking the
# tables first keeps autovacuum off them until the migration commits.
LOCK_TABLES = """
DO $$
DECLARE
    v_table regclass;
BEGIN
    FOR v_table IN
        SELECT c.oid::regclass
        FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('staging', 'mart', 'landing') AND c.relkind IN ('r', 'p')
        ORDER BY c.oid
    LOOP
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_table);
    END LOOP;
END;
$$;
"""

REVOKES = LOCK_TABLES + """
REVOKE ALL ON ALL TABLES IN SCHEMA mart, reporting FROM salesmart_reader;
REVOKE ALL ON SCHEMA mart, reporting FROM salesmart_reader;
REVOKE ALL ON ALL ROUTINES IN SCHEMA staging, mart FROM salesmart_loader;
REVOKE ALL ON ALL TABLES IN SCHEMA landing FROM salesmart_loader;
REVOKE ALL ON SCHEMA landing, staging, mart FROM salesmart_loader;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA staging, mart TO PUBLIC;
"""

DROP_UNUSED_ROLES = """
-- The roles go only when nothing in the cluster uses them any more: no
-- object or grant in any database (other warehouses of the cluster) and no
-- member but the migrating role; and only when the migrating role may drop
-- them (roles that a superuser created before are kept).
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
            BEGIN
                EXECUTE format('DROP ROLE IF EXISTS %I', v_role);
            EXCEPTION WHEN insufficient_privilege THEN
                -- a role without CREATEROLE migrated into roles a superuser had created
                RAISE NOTICE 'role % is kept: % may not drop it (a superuser may)', v_role, current_user;
            END;
        END IF;
    END LOOP;
END;
$$;
"""


def _hand_over(owner: str):
    """ALTER ... OWNER TO owner for everything OWNED lists."""
    def hand_over(conn) -> None:
        cursor = conn.cursor()
        cursor.execute(LOCK_TABLES)
        cursor.execute(OWNED)
        for (kind_and_name,) in cursor.fetchall():
            cursor.execute(f"ALTER {kind_and_name} OWNER TO {owner}")
    return hand_over


step(CREATE_ROLES, DROP_UNUSED_ROLES)
# back to the migrating role, the owner before this migration
step(_hand_over("salesmart_owner"), _hand_over("CURRENT_USER"))
step(GRANTS, REVOKES)
