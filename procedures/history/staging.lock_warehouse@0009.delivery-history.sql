-- Serializes the writers of the warehouse: every procedure that writes
-- staging or mart calls this first. One lock for all of them, held to the
-- end of the transaction, so two loads can never wait on each other in a
-- cycle (no deadlocks), whatever mix of days, files and hand CALLs they are.
-- Readers take no advisory lock and are never blocked by it.
CREATE OR REPLACE PROCEDURE staging.lock_warehouse()
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('salesmart.warehouse'));
END;
$$;

COMMENT ON PROCEDURE staging.lock_warehouse() IS
    'Internal: the writer lock every procedure that writes staging or mart takes first, so loads '
    'never wait on each other in a cycle.';
