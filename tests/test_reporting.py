"""The analyst views against the pure-Python model
(week totals as distinct customers counted here from the model's orders),
ISO weeks in d_calendar, a comment on every column and routine, the backfill
range overloads, the retention mart of an upgraded legacy warehouse, and the
marts and staging versions kept through rollbacks of their migrations."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import psycopg2
import pytest
from yoyo import get_backend, read_migrations

from conftest import SAMPLE
from model import PERIODS, Model, iso_period, month_period
from salesmart.dev.generate import generate
from sql_loading import (
    DELIVERED_TABLES,
    HISTORY_TABLES,
    build_marts,
    call,
    increment_file,
    load_dataset,
    load_file,
    load_report,
    rows,
    snapshot,
    table,
)
from test_migrations import LEGACY, MIGRATIONS

ZERO = Decimal("0.00")


@pytest.fixture(scope="module")
def year_end_data(tmp_path_factory):
    """Report Mon 2024-12-23 .. Sun 12-29, increments 12-30 .. Fri 2025-01-03:
    ISO week 2025-01 starts in 2024 and is loaded for 5 of its days."""
    folder = tmp_path_factory.mktemp("year_end")
    generate(folder, days=5, orders_per_day=60, seed=7, start=date(2024, 12, 23), report_days=7)
    return folder


def week_days(model: Model) -> dict[date, set[date]]:
    """Monday -> the days of that week the model has orders for."""
    days = defaultdict(set)
    for order in model.orders.values():
        day = order["date_time"].date()
        days[iso_period(day)[1]].add(day)
    return days


def test_sales_view_is_f_sales_with_names_and_iso_weeks(db, year_end_data):
    model = Model()
    load_dataset(db, year_end_data, model)
    items, cities, customers = model.d_item(), model.d_city(), model.d_customer()
    expected = []
    for uid, (date_id, item, customer, city, quantity, amount, status) in model.f_sales().items():
        day = date(date_id // 10000, date_id // 100 % 100, date_id % 100)
        period_id, monday = iso_period(day)
        expected.append((uid, day, date_id, period_id // 100, period_id % 100, period_id, monday,
                         monday + timedelta(days=6), item, items[item], customer, *customers[customer][:2],
                         city, cities[city], status, quantity, amount))
    actual = table(db, "reporting.sales", order_by="uniq_id", exclude=("sale_id",))
    assert actual == sorted(expected)
    assert {r[4] for r in actual if r[1] == date(2024, 12, 30)} == {1}          # ISO 2025-W01
    assert {r[3] for r in actual if r[1] == date(2024, 12, 30)} == {2025}
    assert any(r[15] == "refunded" for r in actual)


def test_weekly_retention_view_is_the_mart_with_names_refunds_and_days(db, year_end_data):
    model = Model()
    load_dataset(db, year_end_data, model)
    items, days = model.d_item(), week_days(model)
    refunded = defaultdict(lambda: ZERO)
    for order in model.orders.values():
        if order["status"] == "refunded":
            refunded[(iso_period(order["date_time"].date())[0], order["item_id"])] += order["payment_amount"]
    expected = sorted(
        ("weekly", period_id, period_id // 100, period_id % 100, r["period_start"],
         r["period_start"] + timedelta(days=6), item, items[item],
         r["new_customers_count"], r["returning_customers_count"], r["refunded_customer_count"],
         r["new_customers_revenue"], r["returning_customers_revenue"], r["customers_refunded"],
         refunded[(period_id, item)], len(days[r["period_start"]]))
        for (period_id, item), r in model.retention().items())
    actual = table(db, "reporting.weekly_retention", order_by="period_id, item_id")
    assert actual == expected
    assert {(r[1], r[15]) for r in actual} == {(202452, 7), (202501, 5)}      # the last week is partial
    assert sum(r[14] for r in actual) > 0


def distinct_totals(model: Model, period_name: str) -> dict[date, tuple]:
    """First day of each period -> its counts and amounts over customers (not items), from the model's
    orders: new, returning and refunding customers, their revenue, refunded orders and amount."""
    period = PERIODS[period_name]
    orders = defaultdict(lambda: defaultdict(list))          # first day -> customer -> orders
    for order in model.orders.values():
        orders[period(order["date_time"].date())[1]][order["customer_id"]].append(order)
    totals = {}
    for first_day, by_customer in sorted(orders.items()):
        new, returning, refunding = set(), set(), set()
        new_revenue = returning_revenue = refunded_amount = ZERO
        refunded_orders = 0
        for customer, placed in by_customer.items():
            shipped = [o for o in placed if o["status"] == "shipped"]
            refunds = [o for o in placed if o["status"] == "refunded"]
            if len(shipped) == 1:
                new.add(customer)
                new_revenue += shipped[0]["payment_amount"]
            elif len(shipped) >= 2:
                returning.add(customer)
                returning_revenue += sum(o["payment_amount"] for o in shipped)
            if refunds:
                refunding.add(customer)
            refunded_orders += len(refunds)
            refunded_amount += sum((o["payment_amount"] for o in refunds), ZERO)
        totals[first_day] = (len(new), len(returning), len(refunding), new_revenue, returning_revenue,
                             refunded_orders, refunded_amount)
    return totals


def distinct_week_totals(model: Model) -> list[tuple]:
    """Per ISO week, counted over customers (not items) from the model's orders."""
    days = week_days(model)
    return [("weekly", iso_period(monday)[0], *divmod(iso_period(monday)[0], 100), monday,
             monday + timedelta(days=6), *counts, len(days[monday]))
            for monday, counts in distinct_totals(model, "weekly").items()]


def test_week_totals_count_each_customer_once(db, year_end_data):
    model = Model()
    load_dataset(db, year_end_data, model)
    actual = table(db, "reporting.weekly_retention_totals", order_by="period_id")
    assert actual == distinct_week_totals(model)
    # per-item counts summed over items count some customers more than once
    summed = dict(rows(db, "SELECT period_id, sum(returning_customers_count) FROM mart.f_customer_retention"
                           " WHERE period_name = 'weekly' GROUP BY period_id"))
    assert all(summed[r[1]] > r[7] for r in actual)


def month_days(model: Model) -> dict[date, int]:
    """1st of each month -> how many of its days are loaded (delivered, or holding orders)."""
    days = defaultdict(int)
    for day in model.day_quality():
        days[month_period(day)[1]] += 1
    return days


def month_columns(first: date, days_loaded: dict[date, int]) -> tuple:
    """period_name, period_id, year, month, month_start, month_end, days_in_month of a month; its days loaded."""
    last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    return ("monthly", month_period(first)[0], first.year, first.month, first, last, last.day), days_loaded[first]


def test_monthly_views_are_the_mart_and_count_each_customer_once(db, year_end_data):
    model = Model()
    load_dataset(db, year_end_data, model)
    items, days = model.d_item(), month_days(model)
    refunded = defaultdict(lambda: ZERO)
    for order in model.orders.values():
        if order["status"] == "refunded":
            refunded[(month_period(order["date_time"].date())[0], order["item_id"])] += order["payment_amount"]
    expected = []
    for (period_id, item), r in sorted(model.retention("monthly").items()):
        month, loaded = month_columns(r["period_start"], days)
        expected.append((*month, item, items[item], r["new_customers_count"], r["returning_customers_count"],
                         r["refunded_customer_count"], r["new_customers_revenue"], r["returning_customers_revenue"],
                         r["customers_refunded"], refunded[(period_id, item)], loaded))
    actual = table(db, "reporting.monthly_retention", order_by="period_id, item_id")
    assert actual == expected
    # December is loaded from the 23rd, January to the 3rd
    assert {(r[1], r[6], r[-1]) for r in actual} == {(202412, 31, 9), (202501, 31, 3)}
    assert sum(r[-2] for r in actual) > 0

    totals = table(db, "reporting.monthly_retention_totals", order_by="period_id")
    assert totals == [(*month_columns(first, days)[0], *counts, month_columns(first, days)[1])
                      for first, counts in distinct_totals(model, "monthly").items()]
    summed = dict(rows(db, "SELECT period_id, sum(returning_customers_count) FROM mart.f_customer_retention"
                           " WHERE period_name = 'monthly' GROUP BY period_id"))
    assert all(summed[r[1]] > r[8] for r in totals)
    assert rows(db, "SELECT month_start, days_loaded FROM reporting.month_days_loaded ORDER BY 1") == sorted(
        days.items())


@pytest.mark.real_sample
def test_week_totals_of_the_real_sample(db):
    model = Model()
    load_report(db, SAMPLE / "report", model)
    actual = table(db, "reporting.weekly_retention_totals", order_by="period_id")
    assert actual == distinct_week_totals(model)
    # The real sample: 188 customers returned in week 2022-47, where the per-item sum says 392
    assert rows(db, "SELECT returning_customers_count FROM reporting.weekly_retention_totals"
                    " WHERE period_id = 202247") == [(188,)]
    assert rows(db, "SELECT sum(returning_customers_count) FROM reporting.weekly_retention"
                    " WHERE period_id = 202247") == [(392,)]


def test_d_calendar_has_the_iso_year_and_week_of_every_day(db):
    calendar = rows(db, "SELECT date_actual, iso_year, iso_week, week_of_year FROM mart.d_calendar")
    assert len(calendar) == (date(2099, 12, 31) - date(2000, 1, 1)).days + 1
    wrong = [r for r in calendar if r[1:3] != r[0].isocalendar()[:2] or r[3] != r[2]]
    assert wrong == []
    assert rows(db, "SELECT iso_year, iso_week, year_actual FROM mart.d_calendar WHERE date_actual IN"
                    " ('2024-12-30', '2021-01-03') ORDER BY date_actual") == [(2020, 53, 2021), (2025, 1, 2024)]


# ------------------------------------------------------ self-describing ----

DESCRIBED_SCHEMAS = ("staging", "mart", "reporting", "landing")
INTERNAL_ROUTINES = {"staging.merge_landing", "mart.load_d_city", "mart.load_d_item", "mart.load_d_customer",
                     "mart.load_dimension", "staging.merge_delivery", "staging.lock_warehouse", "mart.extend_calendar",
                     "mart.load_latest_order_by_day", "staging.lock_landing", "mart.rebuild_retention_period",
                     "mart.load_f_daily_sales", "staging.log_load"}


def test_every_schema_relation_column_and_routine_has_a_comment(db):
    schemas = ", ".join(f"'{s}'" for s in DESCRIBED_SCHEMAS)
    assert rows(db, f"SELECT n.nspname FROM pg_namespace AS n WHERE n.nspname IN ({schemas})"
                    " AND obj_description(n.oid, 'pg_namespace') IS NULL") == []
    assert rows(db, f"""
        SELECT c.oid::regclass::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ({schemas}) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND obj_description(c.oid, 'pg_class') IS NULL""") == []
    assert rows(db, f"""
        SELECT c.oid::regclass::text, a.attname
        FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ({schemas}) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL
        ORDER BY 1, 2""") == []
    routines = rows(db, f"""
        SELECT n.nspname || '.' || p.proname, p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc')
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ({schemas})""")
    assert len(routines) >= 13
    assert [signature for _, signature, comment in routines if comment is None] == []
    internal = {name for name, _, comment in routines if comment.startswith("Internal")}
    assert internal == INTERNAL_ROUTINES & {name for name, _, _ in routines}


# ------------------------------------------------------------- backfills ----

MARTS = ("mart.f_sales", "mart.f_customer_retention", "mart.d_customer", "mart.d_item", "mart.d_city")


def marts(conn) -> dict[str, list[tuple]]:
    return {name: table(conn, name, order_by=", ".join(
        c for c in ("date_id", "period_name", "period_id", "uniq_id", "customer_id", "item_id", "city_id")
        if c in {col for (col,) in rows(conn, "SELECT column_name FROM information_schema.columns"
                                              " WHERE table_schema || '.' || table_name = %s", (name,))}),
                          exclude=("id",)) for name in MARTS}


def test_range_overloads_equal_the_per_day_calls(db, year_end_data):
    for folder in ("report", *(f"increments/{d}" for d in ("2024-12-30", "2024-12-31", "2025-01-01",
                                                            "2025-01-02", "2025-01-03"))):
        for path in sorted((year_end_data / folder).glob("*.csv")):
            load_file(db, path)
    first, last = date(2024, 12, 23), date(2025, 1, 3)
    day = first
    while day <= last:
        call(db, "mart.load_f_sales", day)
        day += timedelta(days=1)
    for monday in (date(2024, 12, 23), date(2024, 12, 30)):
        call(db, "mart.load_f_customer_retention", monday)
    for month in (date(2024, 12, 1), date(2025, 1, 1)):
        call(db, "mart.load_f_customer_retention_monthly", month)
    per_day = marts(db)
    assert len(per_day["mart.f_sales"]) == 12 * 60 and len(per_day["mart.f_customer_retention"]) > 12

    db.cursor().execute("DELETE FROM mart.f_customer_retention; DELETE FROM mart.f_sales;"
                        " DELETE FROM mart.d_customer; DELETE FROM mart.d_item; DELETE FROM mart.d_city")
    # a Wednesday..Friday range still covers the whole of both weeks; two days, of both months
    call(db, "mart.load_f_sales", first, last)
    call(db, "mart.load_f_customer_retention", date(2024, 12, 25), date(2025, 1, 3))
    call(db, "mart.load_f_customer_retention_monthly", date(2024, 12, 31), date(2025, 1, 1))
    assert marts(db) == per_day


def test_range_overloads_refuse_an_empty_or_open_range(db):
    for procedure in ("mart.load_f_sales", "mart.load_f_customer_retention", "mart.load_f_customer_retention_monthly"):
        with pytest.raises(psycopg2.errors.RaiseException, match="is before p_from"):
            call(db, procedure, date(2024, 1, 2), date(2024, 1, 1))
        with pytest.raises(psycopg2.errors.RaiseException, match="must not be NULL"):
            call(db, procedure, None, date(2024, 1, 1))


def test_legacy_upgrade_builds_the_retention_mart_and_the_daily_rows(empty_database):
    url = empty_database("legacy_retention")
    migrations = read_migrations(str(MIGRATIONS))
    backend = get_backend(url)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute((MIGRATIONS / "0001.legacy-baseline.sql").read_text(encoding="utf-8"))
        backend.mark_migrations(migrations[:1])
        for target, values in LEGACY.items():
            for row in values:
                cur.execute(f"INSERT INTO {target} VALUES ({', '.join(['%s'] * len(row))})", row)
        backend.apply_migrations(backend.to_apply(migrations))
        # week 2022-45: customers 10 and 11 each have two shipped orders (Wed and Thu), so both returning:
        # item 3: 120.00 (10) + 60.00 (11); item 4: 301.50 (10) + 100.50 (11)
        assert rows(conn, "SELECT period_name, period_id, item_id, period_start, new_customers_count,"
                          " returning_customers_count, refunded_customer_count, new_customers_revenue,"
                          " returning_customers_revenue, customers_refunded FROM mart.f_customer_retention"
                          " ORDER BY 1 DESC, 2, 3") == [
            ("weekly", 202245, 3, date(2022, 11, 7), 0, 2, 0, ZERO, Decimal("180.00"), 0),
            ("weekly", 202245, 4, date(2022, 11, 7), 0, 2, 0, ZERO, Decimal("402.00"), 0),
            # November 2022 holds the same two days
            ("monthly", 202211, 3, date(2022, 11, 1), 0, 2, 0, ZERO, Decimal("180.00"), 0),
            ("monthly", 202211, 4, date(2022, 11, 1), 0, 2, 0, ZERO, Decimal("402.00"), 0),
        ]
        # Wednesday: orders 120.00 (10), 100.50 (11), 301.50 (10); Thursday: 60.00 (11). No load log
        # yet, so the days are loaded for holding orders; the first day is not flagged.
        assert rows(conn, "SELECT business_day, delivered, orders, customers, refunds, net_revenue, new_item_ids,"
                          " new_city_ids, flags FROM reporting.day_quality ORDER BY 1") == [
            (date(2022, 11, 9), False, 3, 2, 0, Decimal("522.00"), [], [], []),
            (date(2022, 11, 10), False, 1, 1, 0, Decimal("60.00"), [], [], []),
        ]
    finally:
        conn.close()
        backend.connection.close()


def test_days_loaded_counts_empty_deliveries_and_days_with_orders(db):
    from test_retention import csv_bytes, order
    load_file(db, "user_order_log.csv", data=csv_bytes([
        order("a", "2022-12-05", 1, 1, 1, 1, 100), order("b", "2022-12-06", 1, 2, 1, 1, 100)], with_status=False))
    load_file(db, "user_order_log_inc.csv", date(2022, 12, 7), date(2022, 12, 7), data=csv_bytes([], with_status=True))
    for day in (date(2022, 12, 5), date(2022, 12, 6), date(2022, 12, 7)):
        call(db, "mart.load_f_sales", day)
    call(db, "mart.load_f_customer_retention", date(2022, 12, 5))
    # an order day the load log does not know (as a legacy warehouse's days)
    db.cursor().execute("INSERT INTO mart.f_sales (date_id, item_id, customer_id, city_id, quantity, payment_amount)"
                        " VALUES (20221211, 1, 1, 1, 1, 100)")
    # Mon and Tue hold orders, Wed's delivery was empty, Sun holds a legacy order: 4 of 7
    assert rows(db, "SELECT DISTINCT days_loaded FROM reporting.weekly_retention") == [(4,)]
    assert rows(db, "SELECT days_loaded FROM reporting.weekly_retention_totals") == [(4,)]


def test_rolling_the_months_and_day_quality_back_keeps_the_weeks_and_reapplying_rebuilds_them(db, dsn,
                                                                                                year_end_data):
    load_dataset(db, year_end_data)
    built = {name: table(db, name, order_by="1, 2, 3" if "retention" in name else "1")
             for name in ("mart.f_customer_retention", "mart.f_daily_sales", "reporting.day_quality")}
    weekly = [row for row in built["mart.f_customer_retention"] if row[0] == "weekly"]
    assert weekly and len(weekly) < len(built["mart.f_customer_retention"]) and built["mart.f_daily_sales"]

    backend = get_backend(dsn)
    months = read_migrations(str(MIGRATIONS)).filter(lambda m: m.id.endswith(".months-and-day-quality"))
    try:
        with backend.lock():
            backend.rollback_migrations(months)
        assert table(db, "mart.f_customer_retention", order_by="1, 2, 3") == weekly
        assert rows(db, "SELECT to_regclass('mart.f_daily_sales'), to_regclass('reporting.day_quality')") == [
            (None, None)]
        with backend.lock():
            backend.apply_migrations(months)
    finally:
        backend.connection.close()
    assert {name: table(db, name, order_by="1, 2, 3" if "retention" in name else "1") for name in built} == built


def every_version(conn) -> dict[str, list[tuple]]:
    """Every delivery's version of every key with its delivery day, by column name (the history tables
    and the views that replace them order their columns differently)."""
    versions = {}
    for name in HISTORY_TABLES:
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {name}")
            columns = [column.name for column in cursor.description]
            versions[name] = sorted((tuple(sorted(zip(columns, row, strict=True))) for row in cursor), key=repr)
    return versions


def current_delivery_days(conn) -> dict[str, list[tuple]]:
    """The staging tables' rows with their delivery days (which snapshot() leaves out)."""
    return {name: sorted(rows(conn, f"SELECT delivery_day, * FROM {name}"), key=repr) for name in DELIVERED_TABLES}


def test_rolling_the_speed_migrations_back_and_reapplying_keeps_every_version_and_sum(db, dsn, year_end_data):
    """Rolling back the superseded versions, the first load without lookups and the period sums, on a
    warehouse where keys have versions of two deliveries, keeps every delivery's version of every key, and
    re-applying them ends in the warehouse the loads built: the current versions with their delivery days,
    the superseded versions, the day and the period sums."""
    load_dataset(db, year_end_data)
    # Monday's orders delivered again as Tuesday's: each has a version of both days, Tuesday's current.
    monday, tuesday = date(2024, 12, 30), date(2024, 12, 31)
    load_file(db, increment_file(year_end_data, monday), tuesday, tuesday)
    build_marts(db, [monday, tuesday])
    assert rows(db, "SELECT count(*) > 0 FROM staging.user_order_log_superseded") == [(True,)]
    versions = every_version(db)
    built = snapshot(db)
    delivery_days = current_delivery_days(db)

    backend = get_backend(dsn)
    speed = read_migrations(str(MIGRATIONS)).filter(
        lambda m: m.id.split(".")[0] >= "0023" and m.id.split(".")[0] <= "0025")
    assert len(speed) == 3
    try:
        with backend.lock():
            backend.rollback_migrations(backend.to_rollback(speed))
        assert every_version(db) == versions
        assert rows(db, "SELECT to_regclass('mart.f_period_customer_item'), to_regclass('mart.f_daily_customer_item'),"
                        " to_regclass('staging.user_order_log_superseded')") == [(None, None, None)]
        with backend.lock():
            backend.apply_migrations(backend.to_apply(speed))
    finally:
        backend.connection.close()
    assert snapshot(db) == built
    assert current_delivery_days(db) == delivery_days
