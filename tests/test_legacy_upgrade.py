"""The upgrade of the store's real legacy warehouse, not only of the
baseline's layout: warehouses built as the course project's schema built
them (its wide date dimension holding only the years the old loader needed,
its constraint names, names narrower than the source's, a second foreign key
of f_sales on item_id, staging tables with a key or none and the old loader's
exact duplicates), upgraded with the documented commands (docs/dba.md), then loaded with a
day of a year their calendar lacks, and compared with the model."""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from yoyo import get_backend, read_migrations

from model import Model
from sql_loading import load_increment, rows
from test_migrations import MIGRATIONS, catalog, catalog_diff, yoyo_cli

# The old loader's years: the legacy calendar holds these and no other.
LEGACY_YEARS = (2021, 2022)
NEW_DAY = date(2025, 1, 6)  # a Monday of a year the legacy calendar lacks
LEGACY_LAYOUTS = "0018.legacy-layouts"

# The course's warehouse, in the layout its pg_dumps show: the wide date
# dimension with its own key name and no unique date_actual, dimensions with
# names narrower than the source sends, f_sales with foreign keys (one twice)
# and extra indexes, an order log keyed under its own name.
WIDE_COURSE_SCHEMA = """
CREATE SCHEMA staging;
CREATE SCHEMA mart;

CREATE TABLE staging.user_order_log (
    uniq_id varchar(32) NOT NULL, date_time timestamp NOT NULL, city_id integer NOT NULL, city_name varchar(100),
    customer_id integer NOT NULL, first_name varchar(100), last_name varchar(100), item_id integer NOT NULL,
    item_name varchar(100), quantity bigint, payment_amount numeric(10, 2),
    CONSTRAINT user_order_log_pk PRIMARY KEY (uniq_id));
CREATE INDEX uo1 ON staging.user_order_log (customer_id);
CREATE INDEX uo2 ON staging.user_order_log (item_id);
CREATE TABLE staging.user_activity_log (
    uniq_id varchar(32) NOT NULL, date_time timestamp, action_id integer, customer_id integer, quantity bigint);
CREATE TABLE staging.customer_research (
    date_id timestamp, category_id integer, geo_id integer, sales_qty integer, sales_amt numeric(10, 2));
CREATE TABLE staging.price_log (item_name varchar(100), price numeric(10, 2));

CREATE TABLE mart.d_calendar (
    date_id integer NOT NULL, date_actual date NOT NULL, epoch bigint NOT NULL, day_suffix varchar(4) NOT NULL,
    day_name varchar(9) NOT NULL, day_of_week integer NOT NULL, day_of_month integer NOT NULL,
    day_of_quarter integer NOT NULL, day_of_year integer NOT NULL, week_of_month integer NOT NULL,
    week_of_year integer NOT NULL, week_of_year_iso char(10) NOT NULL, month_actual integer NOT NULL,
    month_name varchar(9) NOT NULL, month_name_abbreviated char(3) NOT NULL, quarter_actual integer NOT NULL,
    quarter_name varchar(9) NOT NULL, year_actual integer NOT NULL, first_day_of_week date NOT NULL,
    last_day_of_week date NOT NULL, first_day_of_month date NOT NULL, last_day_of_month date NOT NULL,
    first_day_of_quarter date NOT NULL, last_day_of_quarter date NOT NULL, first_day_of_year date NOT NULL,
    last_day_of_year date NOT NULL, mmyyyy char(6) NOT NULL, mmddyyyy char(10) NOT NULL, weekend_indr boolean NOT NULL,
    CONSTRAINT d_date_date_dim_id_pk PRIMARY KEY (date_id));
CREATE INDEX d_date_date_actual_idx ON mart.d_calendar (date_actual);

CREATE TABLE mart.d_city (id serial PRIMARY KEY, city_id integer UNIQUE, city_name varchar(50));
CREATE INDEX d_city1 ON mart.d_city (city_id);
CREATE TABLE mart.d_customer (
    id serial PRIMARY KEY, customer_id integer NOT NULL UNIQUE, first_name varchar(15), last_name varchar(15),
    city_id integer);
CREATE INDEX d_cust1 ON mart.d_customer (customer_id);
CREATE TABLE mart.d_item (id serial PRIMARY KEY, item_id integer NOT NULL UNIQUE, item_name varchar(50));
CREATE UNIQUE INDEX d_item1 ON mart.d_item (item_id);
CREATE TABLE mart.f_sales (
    id serial PRIMARY KEY, date_id integer NOT NULL, item_id integer NOT NULL, customer_id integer NOT NULL,
    city_id integer NOT NULL, quantity bigint, payment_amount numeric(10, 2),
    FOREIGN KEY (date_id) REFERENCES mart.d_calendar (date_id),
    FOREIGN KEY (item_id) REFERENCES mart.d_item (item_id),
    FOREIGN KEY (customer_id) REFERENCES mart.d_customer (customer_id),
    FOREIGN KEY (item_id) REFERENCES mart.d_item (item_id));
CREATE INDEX f_ds1 ON mart.f_sales (date_id);
CREATE INDEX f_ds2 ON mart.f_sales (item_id);
CREATE INDEX f_ds3 ON mart.f_sales (customer_id);
CREATE INDEX f_ds4 ON mart.f_sales (city_id);
"""

# Other copies of it keyed their staging tables and named their foreign keys their own way.
OTHER_KEYS = """
ALTER TABLE staging.user_activity_log ADD CONSTRAINT user_activity_log_pk PRIMARY KEY (uniq_id);
ALTER TABLE staging.customer_research ADD CONSTRAINT customer_research_pk PRIMARY KEY (date_id, category_id, geo_id);
ALTER TABLE mart.f_sales RENAME CONSTRAINT f_sales_date_id_fkey TO f_sales_date_id_fk;
ALTER TABLE mart.f_sales RENAME CONSTRAINT f_sales_customer_id_fkey TO f_sales_customer_id_fk;
ALTER TABLE mart.f_sales ADD CONSTRAINT f_sales_d_city_id_fk FOREIGN KEY (city_id) REFERENCES mart.d_city (city_id);
"""

# Days of the year %(year)s as the course's date dimension spelled them: quarters First .. Fourth,
# day names without padding, an ISO week date.
WIDE_COURSE_YEAR = """
SELECT to_char(d, 'YYYYMMDD')::integer, d, extract(epoch FROM d)::bigint, to_char(d, 'fmDDth'), to_char(d, 'TMDay'),
       extract(isodow FROM d), extract(day FROM d), d - date_trunc('quarter', d)::date + 1, extract(doy FROM d),
       to_char(d, 'W')::integer, extract(week FROM d), extract(isoyear FROM d) || to_char(d, '"-W"IW-ID'),
       extract(month FROM d), to_char(d, 'TMMonth'), to_char(d, 'Mon'), extract(quarter FROM d),
       (ARRAY['First', 'Second', 'Third', 'Fourth'])[extract(quarter FROM d)], extract(year FROM d),
       d + (1 - extract(isodow FROM d)::integer), d + (7 - extract(isodow FROM d)::integer),
       d + (1 - extract(day FROM d)::integer), (date_trunc('month', d) + interval '1 month - 1 day')::date,
       date_trunc('quarter', d)::date, (date_trunc('quarter', d) + interval '3 months - 1 day')::date,
       make_date(extract(year FROM d)::integer, 1, 1), make_date(extract(year FROM d)::integer, 12, 31),
       to_char(d, 'mmyyyy'), to_char(d, 'mmddyyyy'), extract(isodow FROM d) IN (6, 7)
FROM generate_series(make_date(%(year)s, 1, 1), make_date(%(year)s, 12, 31), interval '1 day') AS g(day),
     LATERAL (SELECT g.day::date) AS c(d)
"""

ORDER_COLUMNS = ("uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name", "last_name",
                 "item_id", "item_name", "quantity", "payment_amount")
LEGACY_ORDERS = [
    ("a1", "2022-11-07", 1, "Ростов", 10, "Анна", "Ли", 3, "Хлеб", 2, "120.00"),
    ("a2", "2022-11-07", 2, "Москва", 11, "Иван", "Ким", 4, "Молоко", 1, "100.50"),
    ("a3", "2022-11-08", 1, "Ростов", 10, "Анна", "Ли", 4, "Молоко", 3, "301.50"),
    ("a4", "2022-11-08", 2, "Москва", 12, "Олег", "Ан", 3, "Хлеб", 1, "60.00"),
    ("b1", "2022-11-14", 2, "Москва", 11, "Иван", "Ким", 3, "Хлеб", 1, "60.00"),
]
LEGACY_ACTIVITY = [("x1", "2022-11-07", 1, 10, 5), ("x2", "2022-11-08", 2, 11, 7)]
LEGACY_RESEARCH = [("2022-11-07", 1001, 1, 7, "5467.00"), ("2022-11-07", 1001, 2, 0, "0.00")]
LEGACY_PRICES = [("Хлеб", "60.00"), ("Молоко", "100.50")]

# Longer than the legacy d_customer's varchar(15) and d_item's and d_city's varchar(50).
LONG_FIRST_NAME = "Анна-Мария-Валентина"
LONG_LAST_NAME = "Александрова-Петрова"
LONG_ITEM_NAME = "Устройство для нагревания табака Трубка Мира, подарочный набор"
LONG_CITY_NAME = "Ростов-на-Дону, Западный жилой массив, Советский район города"
NEW_DAY_ORDERS = [  # ORDER_COLUMNS less date_time, and the status; n2 comes twice (a redelivered copy)
    ("n1", 1, "Ростов", 10, "Анна", LONG_LAST_NAME, 3, "Хлеб", 1, "60.00", "shipped"),
    ("n2", 4, LONG_CITY_NAME, 20, LONG_FIRST_NAME, "Ли", 5, LONG_ITEM_NAME, 2, "500.00", "shipped"),
    ("n3", 2, "Москва", 11, "Иван", "Ким", 4, "Молоко", 1, "100.50", "refunded"),
    ("n2", 4, LONG_CITY_NAME, 20, LONG_FIRST_NAME, "Ли", 5, LONG_ITEM_NAME, 2, "500.00", "shipped"),
]


def csv_lines(header: str, records, numbered: bool = True) -> str:
    """A CSV file's text: the header (none if empty), then the records, numbered in an id column if `numbered`."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    if header:
        writer.writerow(header.split(","))
    writer.writerows(([n] if numbered else []) + list(record) for n, record in enumerate(records, start=1))
    return text.getvalue()


def write_legacy_files(folder: Path) -> None:
    """The legacy staging content as the files the old loader read (its exact duplicates included), for the
    model: a report whose rows are each the delivery of their own date, as the upgrade makes them."""
    folder.mkdir()
    (folder / "user_order_log.csv").write_text(csv_lines("id," + ",".join(ORDER_COLUMNS), LEGACY_ORDERS))
    (folder / "user_activity_log.csv").write_text(csv_lines(
        "id,uniq_id,date_time,action_id,customer_id,quantity", LEGACY_ACTIVITY))
    (folder / "customer_research.csv").write_text(csv_lines(
        "date_id,category_id,geo_id,sales_qty,sales_amt", LEGACY_RESEARCH, numbered=False))
    (folder / "price_log.csv").write_text(csv_lines("", LEGACY_PRICES, numbered=False))


def write_new_day(folder: Path) -> None:
    folder.mkdir()
    day = f"{NEW_DAY.isoformat()}T00:00:00"
    (folder / "user_order_log_inc.csv").write_text(csv_lines(
        "id," + ",".join(ORDER_COLUMNS) + ",status",
        [(uid, day, *rest) for uid, *rest in NEW_DAY_ORDERS]))
    (folder / "user_activity_log_inc.csv").write_text(csv_lines(
        "id,uniq_id,date_time,action_id,customer_id,quantity", [("y1", day, 1, 20, 3)]))
    (folder / "customer_research_inc.csv").write_text(csv_lines(
        "date_id,category_id,geo_id,sales_qty,sales_amt", [(day, 1001, 1, 3, "1500.00")], numbered=False))
    (folder / "price_log_inc.csv").write_text(csv_lines(
        "", [*LEGACY_PRICES, (LONG_ITEM_NAME, "250.00")], numbered=False))


def insert(cur, target: str, records) -> None:
    for record in records:
        cur.execute(f"INSERT INTO {target} VALUES ({', '.join(['%s'] * len(record))})", record)


def fill_legacy_data(cur, model: Model) -> None:
    """What the old loader left: staging as read (activity, research and prices appended twice: exact
    duplicates, where the table has no key), the dimensions of the latest orders and a fact per order."""
    insert(cur, f"staging.user_order_log ({', '.join(ORDER_COLUMNS)})", LEGACY_ORDERS)
    for target, records in (
            ("staging.user_activity_log (uniq_id, date_time, action_id, customer_id, quantity)", LEGACY_ACTIVITY),
            ("staging.customer_research (date_id, category_id, geo_id, sales_qty, sales_amt)", LEGACY_RESEARCH),
            ("staging.price_log (item_name, price)", LEGACY_PRICES)):
        cur.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
                    (target.split(" ")[0],))
        keyed = cur.fetchone()[0] > 0
        insert(cur, target, records * (1 if keyed else 2))
    insert(cur, "mart.d_city (city_id, city_name)", sorted(model.d_city().items()))
    insert(cur, "mart.d_item (item_id, item_name)", sorted(model.d_item().items()))
    insert(cur, "mart.d_customer (customer_id, first_name, last_name, city_id)",
           [(customer, *values) for customer, values in sorted(model.d_customer().items())])
    insert(cur, "mart.f_sales (date_id, item_id, customer_id, city_id, quantity, payment_amount)",
           [fact[:6] for fact in model.f_sales().values()])


def build_legacy(url: str, layout: str, model: Model, legacy_files: Path) -> list[tuple]:
    """A legacy warehouse of `layout` (LAYOUTS) at url, its calendar holding only
    LEGACY_YEARS, with the legacy data; returns the calendar rows of NEW_DAY's year as its layout spells them."""
    write_legacy_files(legacy_files)
    for kind in ("user_order_log", "user_activity_log", "customer_research", "price_log"):
        model.load_file(legacy_files / f"{kind}.csv")
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        if layout.startswith("wide course"):
            cur.execute(WIDE_COURSE_SCHEMA)
            if layout == "wide course, other keys":
                cur.execute(OTHER_KEYS)
            for year in (*LEGACY_YEARS, NEW_DAY.year):
                cur.execute(f"INSERT INTO mart.d_calendar {WIDE_COURSE_YEAR}", {"year": year})
        else:
            cur.execute((MIGRATIONS / "0001.legacy-baseline.sql").read_text(encoding="utf-8"))
        new_year = rows(conn, "SELECT * FROM mart.d_calendar WHERE extract(year FROM date_actual) = %s"
                              " ORDER BY date_id", (NEW_DAY.year,))
        cur.execute("DELETE FROM mart.d_calendar WHERE NOT extract(year FROM date_actual) = ANY (%s)",
                    (list(LEGACY_YEARS),))
        fill_legacy_data(cur, model)
    finally:
        conn.close()
    return new_year


def upgrade_with_the_readme_commands(url: str) -> None:
    for command in (("mark", "--revision", "0001.legacy-baseline"), ("apply",)):
        result = yoyo_cli(url, *command)
        assert result.returncode == 0, f"yoyo {' '.join(command)}:\n{result.stderr}"


LAYOUTS = ["wide course", "wide course, other keys", "baseline"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_legacy_warehouse_upgrades_and_loads_a_day_of_a_year_its_calendar_lacks(empty_database, tmp_path, layout):
    url = empty_database(f"legacy_{LAYOUTS.index(layout)}")
    model = Model()
    new_year_calendar = build_legacy(url, layout, model, tmp_path / "legacy")
    upgrade_with_the_readme_commands(url)

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        # A legacy day is refused, saying what staging holds for it: here every order of the day.
        with pytest.raises(psycopg2.errors.RaiseException,
                           match=r"2022-11-07 holds 2 rows of legacy history .*: 2 orders, which match 2 of the 2 "
                                 r"legacy rows by customer, item, city, quantity and amount\. .*allow_data_loss"):
            conn.cursor().execute("CALL mart.load_f_sales('2022-11-07')")

        write_new_day(tmp_path / "new_day")
        load_increment(conn, tmp_path / "new_day", NEW_DAY, model)

        # The new year is spelled as the legacy calendar spells its own years.
        columns = ", ".join(name for (name,) in rows(
            conn, "SELECT attname FROM pg_attribute WHERE attrelid = 'mart.d_calendar'::regclass AND attnum > 0"
                  " AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"))
        assert rows(conn, f"SELECT {columns} FROM mart.d_calendar WHERE extract(year FROM date_actual) = %s"
                          " ORDER BY date_id", (NEW_DAY.year,)) == new_year_calendar

        # Legacy facts have no uniq_id: they stay, one per legacy order; the new day's are keyed.
        expected = model.f_sales()
        assert sorted(rows(conn, "SELECT date_id, item_id, customer_id, city_id, quantity, payment_amount, status"
                                 " FROM mart.f_sales WHERE uniq_id IS NULL")) == \
            sorted(fact for uid, fact in expected.items() if uid not in {o[0] for o in NEW_DAY_ORDERS})
        assert {r[0]: r[1:] for r in rows(conn, "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity,"
                                                " payment_amount, status FROM mart.f_sales"
                                                " WHERE uniq_id IS NOT NULL")} == \
            {uid: fact for uid, fact in expected.items() if uid in {o[0] for o in NEW_DAY_ORDERS}}
        assert {r[0]: r[1:] for r in rows(conn, "SELECT customer_id, first_name, last_name, city_id"
                                                      " FROM mart.d_customer")} == model.d_customer()
        assert model.d_customer()[20][0] == LONG_FIRST_NAME and len(LONG_FIRST_NAME) == 20
        assert dict(rows(conn, "SELECT item_id, item_name FROM mart.d_item")) == model.d_item()
        assert dict(rows(conn, "SELECT city_id, city_name FROM mart.d_city")) == model.d_city()
        retention = {(r[0], r[1]): dict(zip(("new_customers_count", "returning_customers_count",
                                             "refunded_customer_count", "new_customers_revenue",
                                             "returning_customers_revenue", "customers_refunded",
                                             "period_start"), r[2:], strict=True))
                     for r in rows(conn, "SELECT period_id, item_id, new_customers_count, returning_customers_count,"
                                         " refunded_customer_count, new_customers_revenue,"
                                         " returning_customers_revenue, customers_refunded, period_start"
                                         " FROM mart.f_customer_retention WHERE period_name = 'weekly'")}
        assert retention == model.retention()

        # Staging: the old loader's exact duplicates are gone, each key holds its current version.
        assert {r[0]: r[1:] for r in rows(conn, f"SELECT {', '.join(ORDER_COLUMNS)}, status"
                                                " FROM staging.user_order_log")} == \
            {uid: tuple(o[c] for c in (*ORDER_COLUMNS[1:], "status")) for uid, o in model.orders.items()}
        assert {r[0]: r[1:] for r in rows(conn, "SELECT uniq_id, date_time, action_id, customer_id, quantity"
                                                " FROM staging.user_activity_log")} == \
            {uid: tuple(a.values())[1:] for uid, a in model.activity.items()}
        assert {r[:3]: r[3:] for r in rows(conn, "SELECT date_id, category_id, geo_id, sales_qty, sales_amt"
                                                 " FROM staging.customer_research")} == \
            {key: (r["sales_qty"], r["sales_amt"]) for key, r in model.research.items()}
        assert dict(rows(conn, "SELECT item_name, price FROM staging.price_log")) == model.prices
    finally:
        conn.close()


def test_the_upgrade_of_the_wide_legacy_layout_rolls_back_to_it_exactly(empty_database, tmp_path):
    """0018 widens the legacy columns and drops the foreign key 0010 did not know; its rollback restores
    both, and the views over them, and refuses while a value would not fit the legacy type."""
    url = empty_database("legacy_rollback")
    build_legacy(url, "wide course", Model(), tmp_path / "legacy")
    migrations = read_migrations(str(MIGRATIONS))
    position = [m.id for m in migrations].index(LEGACY_LAYOUTS)
    layouts = migrations[position:position + 1]
    backend = get_backend(url)
    try:
        backend.mark_migrations(migrations[:1])
        backend.apply_migrations(migrations[1:position])
        before = catalog(url)
        backend.apply_migrations(layouts)
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            assert rows(conn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                              " WHERE attrelid = 'mart.d_customer'::regclass AND attname = 'first_name'") == \
                [("character varying(100)",)]
            assert rows(conn, "SELECT conname FROM pg_constraint WHERE conrelid = 'mart.f_sales'::regclass"
                              " AND contype = 'f'") == []
            backend.rollback_migrations(layouts)
            assert catalog(url) == before, catalog_diff(before, catalog(url))

            backend.apply_migrations(layouts)
            conn.cursor().execute("UPDATE mart.d_customer SET first_name = %s WHERE customer_id = 10",
                                  (LONG_FIRST_NAME,))
            applied = catalog(url)
            with pytest.raises(psycopg2.errors.RaiseException,
                               match=r"would narrow mart\.d_customer\.first_name back to its legacy type "
                                     r"character varying\(15\), which 1 of its values do not fit"):
                backend.rollback_migrations(layouts)
            assert catalog(url) == applied
        finally:
            conn.close()
    finally:
        backend.connection.close()


def test_a_calendar_column_extend_calendar_does_not_know_stops_it_in_one_line(db):
    cur = db.cursor()
    cur.execute("ALTER TABLE mart.d_calendar ADD COLUMN fiscal_week integer NOT NULL DEFAULT 1,"
                " ADD COLUMN remark text")
    cur.execute("ALTER TABLE mart.d_calendar ALTER COLUMN fiscal_week DROP DEFAULT")
    with pytest.raises(psycopg2.errors.RaiseException) as refused:
        cur.execute("CALL mart.extend_calendar('2150-06-01')")
    message = refused.value.diag
    assert message.message_primary.startswith("mart.extend_calendar: cannot add year 2150 to mart.d_calendar: "
                                              'its column "fiscal_week" is NOT NULL'), message.message_primary
    assert (message.message_detail, message.message_hint) == (None, None)
    assert rows(db, "SELECT count(*) FROM mart.d_calendar WHERE date_actual >= '2150-01-01'") == [(0,)]
    # A nullable column it does not know is left NULL; a known one is filled whatever its position.
    cur.execute("ALTER TABLE mart.d_calendar ALTER COLUMN fiscal_week SET DEFAULT 0")
    cur.execute("CALL mart.extend_calendar('2150-06-01')")
    assert rows(db, "SELECT count(*), count(remark), min(date_actual), max(date_actual), min(fiscal_week)"
                    " FROM mart.d_calendar WHERE date_actual >= '2150-01-01'") == \
        [(365, 0, date(2150, 1, 1), date(2150, 12, 31), 0)]
