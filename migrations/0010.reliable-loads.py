"""Loads that hold under faults and concurrency: one warehouse-wide writer
lock in every mart routine, dimension upserts that leave unchanged rows
unlocked, a calendar that grows to any valid date, retention counted by a
window (no estimate-dependent join), and landing tables that autovacuum
leaves alone: their statistics come from the ANALYZE each load runs.

f_sales loses its foreign keys: they cost three trigger calls per row (half
of a big day's INSERT), and mart.load_f_sales keeps the integrity itself:
the dimension rows of a day's facts are written before them, and a member
is only removed when no fact has it."""

from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0009.delivery-history"}

LANDING = ("landing.user_order_log", "landing.user_activity_log", "landing.customer_research", "landing.price_log")

# An autoanalyze that runs while a file is being COPYed sees none of its
# uncommitted rows and records reltuples 0 over many pages.
step("".join(f"ALTER TABLE {table} SET (autovacuum_enabled = off);\n" for table in LANDING),
     "".join(f"ALTER TABLE {table} RESET (autovacuum_enabled);\n" for table in LANDING))

FOREIGN_KEYS = {
    "f_sales_date_id_fkey": "FOREIGN KEY (date_id) REFERENCES mart.d_calendar (date_id)",
    "f_sales_item_id_fkey": "FOREIGN KEY (item_id) REFERENCES mart.d_item (item_id)",
    "f_sales_customer_id_fkey": "FOREIGN KEY (customer_id) REFERENCES mart.d_customer (customer_id)",
}
# A legacy f_sales whose foreign keys have other names keeps them here:
# 0018.legacy-layouts drops every one left, whatever its name, and its
# rollback restores them; this rollback adds the baseline's three.
step("".join(f"ALTER TABLE mart.f_sales DROP CONSTRAINT IF EXISTS {name};\n" for name in FOREIGN_KEYS),
     "".join(f"ALTER TABLE mart.f_sales ADD CONSTRAINT {name} {definition};\n"
             for name, definition in FOREIGN_KEYS.items()))

routines.deploy_routines(__file__, [
    "mart.extend_calendar",
    "mart.load_d_city",
    "mart.load_d_item",
    "mart.load_d_customer",
    "mart.load_f_sales",
    "mart.load_f_customer_retention",
])
