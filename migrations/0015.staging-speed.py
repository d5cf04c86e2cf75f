"""A cheaper staging half of a load, every guarantee kept.

Landing is emptied by TRUNCATE instead of DELETE: with autovacuum off
(0010), every DELETEd row stayed in landing for good, so landing grew by
each file loaded and every later scan of it read them all. The loader takes
the warehouse writer lock (staging.lock_warehouse) before its first COPY, so
loaders never share landing and a merge gets it to itself; merge_landing
falls back to DELETE, without waiting, when another session holds landing
(a hand \\copy in an open transaction).

merge_delivery inserts the delivered keys that nothing else carries (most
of a new day) straight into staging; only re-delivered, re-dated and
out-of-date keys take the recomputation from the history. The merge's
ANALYZEs sample less: they need row counts and key statistics only."""

from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0014.faster-marts"}

# The loader takes the writer lock itself, at the start of its transaction.
step("GRANT EXECUTE ON PROCEDURE staging.lock_warehouse() TO salesmart_loader",
     "REVOKE EXECUTE ON PROCEDURE staging.lock_warehouse() FROM salesmart_loader")

routines.deploy_routines(__file__, [
    "staging.merge_delivery",
    "staging.merge_landing",
])
