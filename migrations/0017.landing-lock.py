"""A Python load keeps landing to itself until it commits.

The loader checks that landing holds no leftover rows, COPYs its file and
CALLs the merge, which merges everything landing holds. A \\copy that
another session committed in between (an autocommit \\copy) was merged into
the loader's delivery, as rows of the loader's file and day.
staging.lock_landing, which the loader calls right after the writer lock,
makes such a \\copy wait until the load commits. It never waits itself: a
landing table that another session holds already (a \\copy in an open
transaction) is left as it is and reported, as before."""

from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0016.f-sales-first-load"}

routines.deploy_routines(__file__, ["staging.lock_landing"])

# A new routine: owned and granted as 0013.roles left the others.
step("ALTER PROCEDURE staging.lock_landing(text[]) OWNER TO salesmart_owner;\n"
     "REVOKE EXECUTE ON PROCEDURE staging.lock_landing(text[]) FROM PUBLIC;\n"
     "GRANT EXECUTE ON PROCEDURE staging.lock_landing(text[]) TO salesmart_loader;")
