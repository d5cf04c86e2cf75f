"""The DBA path into the warehouse, for the tests: COPY a CSV into its landing
table and CALL the staging procedure in one transaction, then CALL the mart
procedures. Deliberately independent of the Python loader."""
from __future__ import annotations

import csv
import hashlib
import io
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

KINDS = ("user_order_log", "user_activity_log", "customer_research", "price_log")
DATE_COLUMN = {"user_order_log": "date_time", "user_activity_log": "date_time",
               "customer_research": "date_id"}


def kind_of(name: str) -> str:
    stem = Path(name).name.removesuffix(".csv").removesuffix("_inc")
    if stem not in KINDS:
        raise ValueError(f"unknown file kind: {name}")
    return stem


@contextmanager
def transaction(conn):
    """One transaction on a psycopg2 connection, autocommit or not."""
    if conn.autocommit:
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
    else:
        with conn:  # commits, or rolls back on an exception
            yield conn


def copy_and_merge(cur, name: str, data: bytes, date_from=None, date_to=None, load_kind=None):
    """COPY one file's bytes into landing and CALL its staging merge (caller owns the transaction).
    The bytes are at hand, so a file without rows is an empty delivery on purpose: p_allow_empty."""
    kind = kind_of(name)
    load_kind = load_kind or ("increment" if name.endswith("_inc.csv") else "report")
    checksum = hashlib.sha256(data).hexdigest()
    if kind == "price_log":
        cur.copy_expert("COPY landing.price_log (item_name, price) FROM STDIN WITH (FORMAT csv)",
                        io.BytesIO(data))
        cur.execute("CALL staging.load_price_log(p_load_kind => %s, p_source => %s, p_file_name => %s,"
                    " p_checksum => %s, p_allow_empty => true)", (load_kind, name, name, checksum))
        return
    header = data.decode("utf-8-sig").splitlines()[0].strip().split(",")
    columns = ", ".join("line_no" if c == "id" else c for c in header)
    cur.copy_expert(f"COPY landing.{kind} ({columns}) FROM STDIN"
                    f" WITH (FORMAT csv, HEADER true{names_may_be_empty(header)})", io.BytesIO(data))
    cur.execute(f"CALL staging.load_{kind}(%s, %s, p_load_kind => %s, p_source => %s,"
                " p_file_name => %s, p_checksum => %s, p_allow_empty => true)",
                (date_from, date_to, load_kind, name, name, checksum))


def names_may_be_empty(header: list[str]) -> str:
    """The COPY option of the hand-load \\copy line (docs/dba.md): an empty first or last name is an
    empty name, not NULL."""
    names = [column for column in ("first_name", "last_name") if column in header]
    return f", FORCE_NOT_NULL ({', '.join(names)})" if names else ""


def load_file(conn, path, date_from=None, date_to=None, *, data: bytes | None = None, load_kind=None):
    """Load one file (or `data` under the file name `path`) in one transaction."""
    path = Path(path)
    data = path.read_bytes() if data is None else data
    with transaction(conn), conn.cursor() as cur:
        copy_and_merge(cur, path.name, data, date_from, date_to, load_kind)


def call(conn, procedure: str, *args):
    with transaction(conn), conn.cursor() as cur:
        cur.execute(f"CALL {procedure}({', '.join(['%s'] * len(args))})", args)


def build_marts(conn, days) -> None:
    """load_f_sales for every day, then the retention once per ISO week and once per month touched."""
    days = sorted(set(days))
    for day in days:
        call(conn, "mart.load_f_sales", day)
    for monday in sorted({d - timedelta(days=d.weekday()) for d in days}):
        call(conn, "mart.load_f_customer_retention", monday)
    for first in sorted({d.replace(day=1) for d in days}):
        call(conn, "mart.load_f_customer_retention_monthly", first)


def file_days(path) -> list[date]:
    """The distinct dates in a dated file (the range a NULL,NULL load replaces is min..max)."""
    kind = kind_of(str(path))
    with open(path, encoding="utf-8-sig", newline="") as f:
        return sorted({datetime.fromisoformat(r[DATE_COLUMN[kind]]).date() for r in csv.DictReader(f)})


def load_report(conn, folder, model=None) -> list[dict]:
    """The four report files with a NULL range, then the marts of their days.
    With a model, applies the same files to it; returns its load statistics."""
    folder = Path(folder)
    stats = []
    for kind in KINDS:
        load_file(conn, folder / f"{kind}.csv")
        if model is not None:
            stats.append(model.load_file(folder / f"{kind}.csv"))
    build_marts(conn, file_days(folder / "user_order_log.csv"))
    return stats


def load_increment(conn, folder, day: date, model=None) -> list[dict]:
    """The four increment files of day D for D..D, then f_sales(D) and the retention of D's week."""
    folder = Path(folder)
    stats = []
    for kind in KINDS:
        load_file(conn, folder / f"{kind}_inc.csv", day, day)
        if model is not None:
            stats.append(model.load_file(folder / f"{kind}_inc.csv", day, day))
    build_marts(conn, [day])
    return stats


def increment_file(root, day: date, kind: str = "user_order_log") -> Path:
    """A generated dataset's increment file of `kind` for `day`."""
    return Path(root) / "increments" / day.isoformat() / f"{kind}_inc.csv"


def facts(conn) -> dict:
    """mart.f_sales as the model's f_sales(): uniq_id -> (date_id, item_id, customer_id, city_id, quantity,
    payment_amount, status)."""
    return {r[0]: r[1:] for r in rows(conn, "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity,"
                                            " payment_amount, status FROM mart.f_sales")}


RETENTION_COLUMNS = ("new_customers_count", "returning_customers_count", "refunded_customer_count",
                     "new_customers_revenue", "returning_customers_revenue", "customers_refunded", "period_start")


def retention(conn, period_name: str = "weekly") -> dict:
    """The rows of mart.f_customer_retention with that period_name as the model's retention(period_name):
    (period_id, item_id) -> {column: value}."""
    return {(r[0], r[1]): dict(zip(RETENTION_COLUMNS, r[2:], strict=True)) for r in rows(
        conn, f"SELECT period_id, item_id, {', '.join(RETENTION_COLUMNS)} FROM mart.f_customer_retention"
              " WHERE period_name = %s", (period_name,))}


DAY_QUALITY_COLUMNS = ("delivered", "orders", "customers", "refunds", "refund_share", "net_revenue", "new_item_ids",
                       "new_city_ids", "weekday_median", "trailing_refund_share", "flags")


def day_quality(conn) -> dict:
    """reporting.day_quality as the model's day_quality(): business day -> {column: value}."""
    return {r[0]: dict(zip(DAY_QUALITY_COLUMNS, r[1:], strict=True)) for r in rows(
        conn, f"SELECT business_day, {', '.join(DAY_QUALITY_COLUMNS)} FROM reporting.day_quality")}


def hand_copy(cursor, path: Path) -> None:
    """A DBA's \\copy of an order file into landing, its id column as line_no (COPY only, no CALL)."""
    header = path.read_text().splitlines()[0].replace("id,", "line_no,", 1)
    with open(path, "rb") as file:
        cursor.copy_expert(f"COPY landing.user_order_log ({header}) FROM STDIN WITH (FORMAT csv, HEADER true"
                           f"{names_may_be_empty(header.split(','))})", file)


def increment_days(root) -> list[date]:
    return sorted(date.fromisoformat(p.name) for p in (Path(root) / "increments").iterdir())


def load_dataset(conn, root, model=None) -> list[dict]:
    """A generated dataset: report, then every increment in date order."""
    root = Path(root)
    stats = load_report(conn, root / "report", model)
    for day in increment_days(root):
        stats += load_increment(conn, root / "increments" / day.isoformat(), day, model)
    return stats


def rows(conn, query: str, args=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


# The staging tables whose rows carry their delivery day: the *_delivery views show it, beside every
# other delivery's versions, so the tables themselves are shown with the file's columns, as the model has them.
DELIVERED_TABLES = ("staging.user_order_log", "staging.user_activity_log", "staging.customer_research")


def table(conn, name: str, order_by: str = "1", exclude: tuple = ()) -> list[tuple]:
    """Every row of a table, all columns but `exclude` (and a delivery day: see DELIVERED_TABLES), sorted."""
    schema, bare = name.split(".")
    exclude += ("delivery_day",) if name in DELIVERED_TABLES else ()
    columns = [c for (c,) in rows(conn, "SELECT column_name FROM information_schema.columns"
                                  " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                                  (schema, bare)) if c not in exclude]
    return rows(conn, f"SELECT {', '.join(columns)} FROM {name} ORDER BY {order_by}")


# Every delivery's rows (views of the current and the superseded versions), and the superseded versions.
HISTORY_TABLES = ("staging.user_order_log_delivery", "staging.user_activity_log_delivery",
                  "staging.customer_research_delivery")
SUPERSEDED_TABLES = ("staging.user_order_log_superseded", "staging.user_activity_log_superseded",
                     "staging.customer_research_superseded")
WAREHOUSE_TABLES = HISTORY_TABLES + SUPERSEDED_TABLES + (
                    "staging.user_order_log", "staging.user_activity_log", "staging.customer_research",
                    "staging.price_log", "mart.d_city", "mart.d_item", "mart.d_customer", "mart.f_sales",
                    "mart.f_customer_retention", "mart.latest_order_by_day", "mart.f_daily_sales",
                    "mart.f_daily_customer_item", "mart.f_period_customer_item", "staging.load_log",
                    "landing.user_order_log",
                    "landing.user_activity_log", "landing.customer_research", "landing.price_log")


# What a load may change but for its load-log rows: a failed load leaves it as it was.
DATA_TABLES = tuple(table for table in WAREHOUSE_TABLES if table != "staging.load_log")


def snapshot(conn, tables=WAREHOUSE_TABLES) -> dict[str, list[tuple]]:
    """Whole tables, every column (ids included), sorted by all columns."""
    return {t: sorted(table(conn, t), key=repr) for t in tables}


CONTENT_TABLES = ("staging.user_order_log", "staging.user_activity_log", "staging.customer_research",
                  "staging.price_log", "mart.d_city", "mart.d_item", "mart.d_customer", "mart.f_sales",
                  "mart.f_customer_retention", "mart.latest_order_by_day", "mart.f_daily_sales",
                  "mart.f_daily_customer_item", "mart.f_period_customer_item", *HISTORY_TABLES,
                  *SUPERSEDED_TABLES)


def content(conn) -> dict:
    """Everything but surrogate ids and the load log: what loads in any order must agree on."""
    return {t: sorted(table(conn, t, exclude=("id",)), key=repr) for t in CONTENT_TABLES}


def reset(conn) -> None:
    """An empty warehouse again (the calendar stays)."""
    tables = [table for table in CONTENT_TABLES if table not in HISTORY_TABLES]   # views of the others
    conn.cursor().execute(f"TRUNCATE {', '.join(tables)}, staging.load_log RESTART IDENTITY")
