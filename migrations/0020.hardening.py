"""Holes a red-team run found, closed.

- The writer lock is a table lock that only the owner's procedures and the
  loader can take (staging.lock_warehouse on staging.writer_lock): an
  advisory lock was open to every login, so a reader holding it stopped
  every load.
- staging.empty_landing gives back the space that aborted loads (a kill
  during COPY, a server stop, a full disk) leave in landing, where no
  autovacuum runs; the loader calls it before every load.
- Success rows of staging.load_log come from the staging merges only: the
  loader records failures through staging.log_failed_load and may no longer
  call staging.log_load.
- Every session of the warehouse database notices a dead client while its
  statement runs (client_connection_check_interval as a database default):
  a DBA's psql killed in the middle of a long CALL no longer runs on, holding
  the writer lock.
- Landing refuses a key or name longer than its staging column, so nothing is
  stored other than written: varchar(n) silently drops the spaces past n.
  Empty first and last names are no longer refused: a customer may lack one.
- staging.merge_delivery replaces and deletes the staging rows of re-delivered
  keys by their row address instead of a join with the whole staging table.
"""
from pathlib import Path

from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0019.months-and-day-quality"}

MIGRATION_ID = Path(__file__).stem

step("""
-- Loads running under the advisory writer lock finish before the lock changes.
SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('salesmart.warehouse'));
CREATE TABLE staging.writer_lock ();
ALTER TABLE staging.writer_lock OWNER TO salesmart_owner;
COMMENT ON TABLE staging.writer_lock IS
    'no rows: the warehouse writer lock. staging.lock_warehouse() locks it IN EXCLUSIVE MODE, which only its '
    'owner may do; held to the end of the writing transaction';
""", "DROP TABLE staging.writer_lock")

routines.deploy_routines(__file__, [
    "staging.lock_warehouse",
    "staging.log_load",
    "staging.merge_delivery",
    "staging.empty_landing",
    "staging.log_failed_load",
])

# The new routines: owned as 0013.roles left the others, for the loader to call.
step("""
ALTER PROCEDURE staging.empty_landing(text[]) OWNER TO salesmart_owner;
ALTER PROCEDURE staging.log_failed_load(text, text, text, text, date, date, text, timestamptz) OWNER TO salesmart_owner;
REVOKE EXECUTE ON PROCEDURE staging.empty_landing(text[]) FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE staging.log_failed_load(text, text, text, text, date, date, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE staging.empty_landing(text[]) TO salesmart_loader;
GRANT EXECUTE ON PROCEDURE staging.log_failed_load(text, text, text, text, date, date, text, timestamptz)
    TO salesmart_loader;
""")

LOG_LOAD = ("staging.log_load(text, text, text, text, date, date, text, bigint, bigint, bigint, bigint, text, text,"
            " timestamptz)")
step(f"REVOKE EXECUTE ON PROCEDURE {LOG_LOAD} FROM salesmart_loader",
     f"GRANT EXECUTE ON PROCEDURE {LOG_LOAD} TO salesmart_loader")

# Landing's text columns as text, each with the length of its staging column
# as a CHECK: COPY into varchar(n) would silently cut the spaces past n.
LENGTHS = {
    "user_order_log": {"uniq_id": 32, "city_name": 100, "first_name": 100, "last_name": 100, "item_name": 100},
    "user_activity_log": {"uniq_id": 32},
    "price_log": {"item_name": 100},
}
step("".join(
    f"ALTER TABLE landing.{table} ALTER COLUMN {column} TYPE text,"
    f" ADD CONSTRAINT {table}_{column}_length CHECK (char_length({column}) <= {length});\n"
    f"COMMENT ON CONSTRAINT {table}_{column}_length ON landing.{table} IS"
    f" 'stored as written or not at all: the staging column holds {length} characters';\n"
    for table, columns in LENGTHS.items() for column, length in columns.items()),
    "".join(
    f"ALTER TABLE landing.{table} DROP CONSTRAINT {table}_{column}_length,"
    f" ALTER COLUMN {column} TYPE varchar({length});\n"
    for table, columns in LENGTHS.items() for column, length in columns.items()))

# A customer may lack a first or a last name. (Item and city names stay
# required: the source names every item and city, price_log finds an item's
# price by its name, and an empty one would replace the dimension's name.)
NAMES = {"first_name": "a customer needs a first name", "last_name": "a customer needs a last name"}
step("".join(f"ALTER TABLE landing.user_order_log DROP CONSTRAINT user_order_log_{column}_not_empty;\n"
             for column in NAMES),
     "".join(f"ALTER TABLE landing.user_order_log ADD CONSTRAINT user_order_log_{column}_not_empty"
             f" CHECK ({column} <> '');\n"
             f"COMMENT ON CONSTRAINT user_order_log_{column}_not_empty ON landing.user_order_log IS '{comment}';\n"
             for column, comment in NAMES.items()))

# client_connection_check_interval as a default of this database: every new
# session of it, whichever login (a role's own setting reaches only sessions
# that log in as that very role, never its members). A default the database
# has already is the DBA's and stays; only the database owner may set one.
# What this migration set is recorded, so that its rollback resets exactly that.
step(f"""
CREATE TABLE staging.database_defaults_set (
    setting_name text NOT NULL,
    migration_id text NOT NULL,
    CONSTRAINT database_defaults_set_pkey PRIMARY KEY (setting_name)
);
ALTER TABLE staging.database_defaults_set OWNER TO salesmart_owner;
COMMENT ON TABLE staging.database_defaults_set IS
    'one row per default of this database (ALTER DATABASE ... SET) that a migration set where the database had '
    'none: rolling that migration back resets it';
COMMENT ON COLUMN staging.database_defaults_set.setting_name IS 'the setting';
COMMENT ON COLUMN staging.database_defaults_set.migration_id IS 'the migration that set it';
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_db_role_setting AS s
               JOIN pg_catalog.pg_database AS d ON d.oid = s.setdatabase
               WHERE d.datname = current_database() AND s.setrole = 0
                 AND EXISTS (SELECT FROM unnest(s.setconfig) AS c(setting)
                             WHERE c.setting LIKE 'client\\_connection\\_check\\_interval=%')) THEN
        RAISE NOTICE 'client_connection_check_interval: this database has a default of its own, kept';
    ELSIF NOT EXISTS (SELECT FROM pg_catalog.pg_database AS d
                      WHERE d.datname = current_database()
                        AND pg_catalog.pg_has_role(current_user, d.datdba, 'MEMBER')) THEN
        RAISE WARNING 'client_connection_check_interval: only the database owner may set it; as the owner, run: '
                      'ALTER DATABASE % SET client_connection_check_interval = ''2s''',
                      pg_catalog.quote_ident(current_database());
    ELSE
        EXECUTE format('ALTER DATABASE %I SET client_connection_check_interval = %L', current_database(), '2s');
        INSERT INTO staging.database_defaults_set (setting_name, migration_id)
        VALUES ('client_connection_check_interval', '{MIGRATION_ID}');
    END IF;
END;
$$;
""", f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM staging.database_defaults_set AS s WHERE s.migration_id = '{MIGRATION_ID}') THEN
        EXECUTE format('ALTER DATABASE %I RESET client_connection_check_interval', current_database());
    END IF;
END;
$$;
DROP TABLE staging.database_defaults_set;
""")
