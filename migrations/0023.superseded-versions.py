"""Staging writes a new day's rows once, not twice: the current version of a
key carries its delivery day in the staging table itself, and the delivery
history keeps only the versions that are not current.

staging.user_order_log, staging.user_activity_log and
staging.customer_research gain delivery_day: the business day whose
delivery brought the row (NULL for a row no delivery wrote, such as an
INSERT by hand). Their *_delivery history tables become
staging.*_superseded, holding the versions of other deliveries, older than
the current one: the one that comes back when a later delivery is corrected
without the key. staging.*_delivery stay, as views of every delivery's rows
(the current ones and the superseded), with the same columns as before.

Existing data moves: a key's latest delivered version, when staging holds
it, becomes staging's row's delivery_day and leaves the history. The
rollback moves it back, so the history holds every delivery again."""
from psycopg2 import sql
from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0022.copies-left-out"}

# table: (its key columns, its date column)
DATED_TABLES = {
    "user_order_log": (["uniq_id"], "date_time"),
    "user_activity_log": (["uniq_id"], "date_time"),
    "customer_research": (["date_id", "category_id", "geo_id"], "date_id"),
}
WHAT = {"user_order_log": "orders", "user_activity_log": "activities", "customer_research": "research rows"}
GRAIN = {"user_order_log": "order (uniq_id)", "user_activity_log": "activity (uniq_id)",
         "customer_research": "(date_id, category_id, geo_id)"}

DELIVERY_DAY = ("the business day whose delivery brought the row: an increment's day, or the row's own date "
                "within a report's range; NULL for a row no delivery wrote (an INSERT by hand)")


def _columns(cursor, table: str) -> list[str]:
    """The file's columns of a staging table (not delivery_day), in its order."""
    cursor.execute("SELECT a.attname FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = %s::regclass"
                   " AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'delivery_day' ORDER BY a.attnum",
                   (f"staging.{table}",))
    return [name for (name,) in cursor.fetchall()]


def _identifiers(names: list[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, name) if alias else sql.Identifier(name) for name in names)


def superseded_only(conn) -> None:
    cursor = conn.cursor()
    for table, (keys, date_column) in DATED_TABLES.items():
        staging, history = sql.Identifier("staging", table), sql.Identifier("staging", f"{table}_superseded")
        columns = _columns(cursor, table)
        content = [name for name in columns if name not in keys]
        superseded_comment = (
            f"the {WHAT[table]} of every delivery that are not the current version of their {GRAIN[table]}: one "
            f"row per {GRAIN[table]} and delivery older than the current one, which staging.{table} holds with its "
            f"delivery_day; the latest of them becomes current again when a later delivery is corrected without "
            f"the key")
        day_index_comment = (
            f"the rows staging.{table} holds from the delivery of a day other than their own date (re-dated or out "
            f"of date): with the index of that date, finds the rows a delivery brought")
        view_comment = (
            f"every delivery's {WHAT[table]}, one row per {GRAIN[table]} and delivery: the current versions "
            f"(staging.{table}) and the superseded ones (staging.{table}_superseded)")
        cursor.execute(sql.SQL("""
            ALTER TABLE {staging} ADD COLUMN delivery_day date;
            COMMENT ON COLUMN {staging}.delivery_day IS %s;
            ALTER TABLE {delivery} RENAME TO {superseded};
            ALTER TABLE {history} RENAME CONSTRAINT {old_key} TO {new_key};
            ALTER INDEX {old_index} RENAME TO {new_index};
            COMMENT ON TABLE {history} IS %s;
            -- A key's latest delivered version is current where staging holds it as delivered.
            UPDATE {staging} AS c SET delivery_day = h.delivery_day
            FROM (SELECT DISTINCT ON ({keys}) * FROM {history} ORDER BY {keys}, delivery_day DESC) AS h
            WHERE ({c_keys}) = ({h_keys}) AND ({c_content}) IS NOT DISTINCT FROM ({h_content});
            DELETE FROM {history} AS h USING {staging} AS c
            WHERE ({c_keys}) = ({h_keys}) AND c.delivery_day = h.delivery_day;
            CREATE INDEX {day_index} ON {staging} (delivery_day) WHERE delivery_day <> {date_column}::date;
            COMMENT ON INDEX {qualified_day_index} IS %s;
            CREATE VIEW {delivery} AS
                SELECT delivery_day, {columns} FROM {staging} WHERE delivery_day IS NOT NULL
                UNION ALL
                SELECT delivery_day, {columns} FROM {history};
            ALTER VIEW {delivery} OWNER TO salesmart_owner;
            COMMENT ON VIEW {delivery} IS %s;
            """).format(
            staging=staging, history=history, delivery=sql.Identifier("staging", f"{table}_delivery"),
            superseded=sql.Identifier(f"{table}_superseded"),
            old_key=sql.Identifier(f"{table}_delivery_pkey"), new_key=sql.Identifier(f"{table}_superseded_pkey"),
            old_index=sql.Identifier("staging", f"{table}_delivery_delivery_day_idx"),
            new_index=sql.Identifier(f"{table}_superseded_delivery_day_idx"),
            keys=_identifiers(keys), c_keys=_identifiers(keys, "c"), h_keys=_identifiers(keys, "h"),
            c_content=_identifiers(content, "c"), h_content=_identifiers(content, "h"),
            day_index=sql.Identifier(f"{table}_delivery_day_idx"),
            qualified_day_index=sql.Identifier("staging", f"{table}_delivery_day_idx"),
            date_column=sql.Identifier(date_column), columns=_identifiers(columns)),
            (DELIVERY_DAY, superseded_comment, day_index_comment, view_comment))
        # The view's columns say what the history's did.
        cursor.execute("SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_catalog.pg_attribute AS a"
                       " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                       (f"staging.{table}_superseded",))
        for column, comment in cursor.fetchall():
            cursor.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS %s").format(
                sql.Identifier("staging", f"{table}_delivery"), sql.Identifier(column)), (comment,))


def every_delivery(conn) -> None:
    cursor = conn.cursor()
    for table in DATED_TABLES:
        staging, history = sql.Identifier("staging", table), sql.Identifier("staging", f"{table}_superseded")
        columns = _columns(cursor, table)
        cursor.execute(sql.SQL("""
            DROP VIEW {delivery};
            INSERT INTO {history} (delivery_day, {columns})
            SELECT delivery_day, {columns} FROM {staging} WHERE delivery_day IS NOT NULL;
            DROP INDEX {day_index};
            ALTER TABLE {staging} DROP COLUMN delivery_day;
            ALTER INDEX {new_index} RENAME TO {old_index};
            ALTER TABLE {history} RENAME CONSTRAINT {new_key} TO {old_key};
            ALTER TABLE {history} RENAME TO {delivery_name};
            COMMENT ON TABLE {delivery} IS %s;
            """).format(
            staging=staging, history=history, delivery=sql.Identifier("staging", f"{table}_delivery"),
            delivery_name=sql.Identifier(f"{table}_delivery"), columns=_identifiers(columns),
            day_index=sql.Identifier("staging", f"{table}_delivery_day_idx"),
            new_index=sql.Identifier("staging", f"{table}_superseded_delivery_day_idx"),
            old_index=sql.Identifier(f"{table}_delivery_delivery_day_idx"),
            old_key=sql.Identifier(f"{table}_delivery_pkey"), new_key=sql.Identifier(f"{table}_superseded_pkey")),
            (HISTORY_COMMENT[table],))


# What 0009.delivery-history said of the history tables.
HISTORY_COMMENT = {
    "user_order_log": "every delivery's orders, one row per order (uniq_id) and delivery; "
                      "staging.user_order_log holds the current version of each",
    "user_activity_log": "every delivery's activities, one row per activity (uniq_id) and delivery; "
                         "staging.user_activity_log holds the current version of each",
    "customer_research": "every delivery's research rows, one per (date_id, category_id, geo_id) and delivery; "
                         "staging.customer_research holds the current version of each",
}

step(superseded_only, every_delivery)

routines.deploy_routines(__file__, [
    "staging.merge_delivery",
    "staging.merge_landing",
])
