-- Empties landing of what aborted loads left there: the rows of a load
-- killed during its COPY, stopped by a server crash or by a full disk. No
-- transaction committed them, so no one sees them, but they keep their
-- space: landing has no autovacuum, and only TRUNCATE gives it back. The
-- Python loader calls this in a transaction of its own before each load (and
-- after a failed one, so that a full disk gets its space back before the
-- failure is logged); a DBA may CALL it any time.
--
-- It never waits and never takes what is someone's: a landing table that
-- another session is using (its \copy or its load still open) is left as it
-- is, and so is one holding committed rows (a \copy committed without its
-- CALL: the loader refuses to load beside them and names the table).
-- p_kept_tables names the tables left for either reason.
CREATE OR REPLACE PROCEDURE staging.empty_landing(INOUT p_kept_tables text[] DEFAULT NULL)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table     text;
    v_committed boolean;
BEGIN
    p_kept_tables := '{}';
    FOR v_table IN
        SELECT format('landing.%I', c.relname)
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'landing'::regnamespace AND c.relkind = 'r'
        ORDER BY c.relname
    LOOP
        -- The lock first: even reading a table's size waits for a session
        -- that holds it (a DBA's TRUNCATE in an open transaction).
        BEGIN
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', v_table);
        EXCEPTION WHEN lock_not_available THEN
            p_kept_tables := p_kept_tables || v_table;
            CONTINUE;
        END;
        CONTINUE WHEN pg_catalog.pg_relation_size(v_table::regclass) = 0;
        -- Read under the lock: no other session can commit rows into it now.
        EXECUTE format('SELECT EXISTS (SELECT FROM %s)', v_table) INTO STRICT v_committed;
        IF v_committed THEN
            p_kept_tables := p_kept_tables || v_table;
        ELSE
            EXECUTE format('TRUNCATE %s', v_table);
        END IF;
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE staging.empty_landing(text[]) IS
    'Gives back the space that aborted loads left in landing (rows no transaction committed) by TRUNCATE; '
    'leaves a landing table another session is using, or one holding committed rows (a \copy committed '
    'without its CALL), and returns those. The loader calls it, committed on its own, before every load. '
    'Never waits.';
