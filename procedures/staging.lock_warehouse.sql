-- Serializes the writers of the warehouse: every procedure that writes
-- staging or mart calls this first, and so does the Python loader before
-- its first COPY. One lock for all of them, held to the end of the
-- transaction, so two loads can never wait on each other in a cycle (no
-- deadlocks), whatever mix of days, files and hand CALLs they are.
--
-- The lock is staging.writer_lock, locked IN EXCLUSIVE MODE. Only its owner
-- may lock it in that mode, so only this procedure takes it: SECURITY
-- DEFINER, executable by the owner's procedures (a DBA's CALLs included) and
-- the loader role. An advisory lock would be open to every login: a reader
-- holding it stopped every load. EXCLUSIVE leaves ACCESS SHARE free, the one
-- lock any login can take on any table (pg_relation_size and the like open a
-- table by its oid without asking for rights), so a reader never holds up a
-- writer, and readers of the warehouse take no lock a writer waits for.
CREATE OR REPLACE PROCEDURE staging.lock_warehouse()
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    LOCK TABLE staging.writer_lock IN EXCLUSIVE MODE;
END;
$$;

COMMENT ON PROCEDURE staging.lock_warehouse() IS
    'Internal: the writer lock every procedure that writes staging or mart takes first (the loader too, '
    'before its first COPY), so loads never wait on each other in a cycle; a table lock on '
    'staging.writer_lock that no reader can take.';
