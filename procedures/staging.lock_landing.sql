-- Keeps other sessions from adding rows to landing while a Python load runs:
-- the loader calls this right after staging.lock_warehouse, before it checks
-- landing for leftovers and COPYs its files. Without it, a \copy that another
-- session commits between that check and the merge (an autocommit \copy)
-- would be merged into the loader's delivery as if it were the loader's file.
-- SHARE ROW EXCLUSIVE lets readers and this session's own COPY through; a
-- \copy from another session waits until the load commits, and its rows then
-- wait in landing for their own CALL.
--
-- It never waits itself: a landing table that another session holds already
-- (its \copy in an open transaction) is left as it is, and p_busy_tables
-- names it. The merge cannot see such uncommitted rows and works beside them
-- (staging.merge_landing empties landing by DELETE then). The tables are
-- locked in name order, so two callers cannot lock them in a cycle.
CREATE OR REPLACE PROCEDURE staging.lock_landing(INOUT p_busy_tables text[] DEFAULT NULL)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_table text;
BEGIN
    p_busy_tables := '{}';
    FOR v_table IN
        SELECT format('landing.%I', c.relname)
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'landing'::regnamespace AND c.relkind = 'r'
        ORDER BY c.relname
    LOOP
        BEGIN
            EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE NOWAIT', v_table);
        EXCEPTION WHEN lock_not_available THEN
            p_busy_tables := p_busy_tables || v_table;
        END;
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE staging.lock_landing(text[]) IS
    'Internal, for the Python loader: keeps other sessions from adding rows to landing until the load '
    'commits, without waiting; returns the landing tables another session holds already.';
