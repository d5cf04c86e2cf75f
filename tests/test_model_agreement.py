"""The procedures agree exactly with the pure-Python model
(tests/model.py) on generated data and on the real sample files."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from conftest import SAMPLE
from model import Model
from salesmart.dev.generate import generate
from sql_loading import day_quality, load_dataset, load_increment, load_report, retention, rows

SAMPLE_INCREMENT_DAY = date(2022, 12, 5)


def warehouse(conn) -> dict:
    """The warehouse in the model's shapes."""
    return {
        "f_sales": {r[0]: r[1:] for r in rows(conn, (
            "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity, payment_amount, status"
            " FROM mart.f_sales"))},
        "retention": retention(conn),
        "monthly retention": retention(conn, "monthly"),
        "day quality": day_quality(conn),
        "d_customer": {r[0]: r[1:] for r in rows(conn, (
            "SELECT customer_id, first_name, last_name, city_id FROM mart.d_customer"))},
        "d_item": dict(rows(conn, "SELECT item_id, item_name FROM mart.d_item")),
        "d_city": dict(rows(conn, "SELECT city_id, city_name FROM mart.d_city")),
        "orders": {r[0]: dict(zip(ORDER_COLUMNS, r, strict=True)) for r in rows(conn, (
            f"SELECT {', '.join(ORDER_COLUMNS)} FROM staging.user_order_log"))},
        "activity": {r[0]: dict(zip(ACTIVITY_COLUMNS, r, strict=True)) for r in rows(conn, (
            f"SELECT {', '.join(ACTIVITY_COLUMNS)} FROM staging.user_activity_log"))},
        "research": {r[:3]: dict(zip(RESEARCH_COLUMNS, r, strict=True)) for r in rows(conn, (
            f"SELECT {', '.join(RESEARCH_COLUMNS)} FROM staging.customer_research"))},
        "prices": dict(rows(conn, "SELECT item_name, price FROM staging.price_log")),
        "load_log": [dict(zip(STATS, r, strict=True)) for r in rows(conn, (
            f"SELECT {', '.join(STATS)} FROM staging.load_log ORDER BY load_id"))],
    }


ORDER_COLUMNS = ("uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name", "last_name",
                 "item_id", "item_name", "quantity", "payment_amount", "status")
ACTIVITY_COLUMNS = ("uniq_id", "date_time", "action_id", "customer_id", "quantity")
RESEARCH_COLUMNS = ("date_id", "category_id", "geo_id", "sales_qty", "sales_amt")
STATS = ("rows_read", "rows_loaded", "duplicates_dropped", "out_of_date_rows")


def model_state(model: Model, stats: list[dict]) -> dict:
    return {"f_sales": model.f_sales(), "retention": model.retention(),
            "monthly retention": model.retention("monthly"), "day quality": model.day_quality(),
            "d_customer": model.d_customer(),
            "d_item": model.d_item(), "d_city": model.d_city(), "orders": model.orders,
            "activity": model.activity, "research": model.research, "prices": model.prices,
            "load_log": stats}


def assert_agree(conn, model: Model, stats: list[dict]) -> dict:
    actual, expected = warehouse(conn), model_state(model, stats)
    for part in expected:
        if actual[part] != expected[part]:
            a, e = actual[part], expected[part]
            if isinstance(e, dict):
                detail = [f"{k}: sql={a.get(k)!r} model={e.get(k)!r}"
                          for k in sorted(set(a) | set(e), key=repr) if a.get(k) != e.get(k)]
            else:
                detail = [f"#{i}: sql={x!r} model={y!r}" for i, (x, y) in enumerate(zip(a, e, strict=False)) if x != y]
                detail.append(f"lengths: sql={len(a)} model={len(e)}")
            pytest.fail(f"{part}: {len(detail)} differences, first ones:\n  " + "\n  ".join(detail[:15]))
    # Reconciliation: new + returning revenue = the shipped f_sales of the period and item, straight from
    # the tables, per week and per month
    assert rows(conn, """
        SELECT r.period_name, r.period_id, r.item_id FROM mart.f_customer_retention AS r
        LEFT JOIN (SELECT p.period_name, p.period_id, f.item_id,
                          sum(f.payment_amount) FILTER (WHERE f.status = 'shipped') AS shipped
                   FROM mart.f_sales AS f JOIN mart.d_calendar AS c USING (date_id)
                   CROSS JOIN LATERAL (VALUES ('weekly', to_char(c.date_actual, 'IYYYIW')::int),
                                              ('monthly', to_char(c.date_actual, 'YYYYMM')::int))
                       AS p(period_name, period_id)
                   GROUP BY 1, 2, 3) AS s USING (period_name, period_id, item_id)
        WHERE r.new_customers_revenue + r.returning_customers_revenue <> coalesce(s.shipped, 0)""") == []
    return actual


def totals(state: dict) -> dict:
    retention = state["retention"].values()
    return {"orders": len(state["f_sales"]),
            "refunds": sum(r["customers_refunded"] for r in retention),
            "returning": sum(r["returning_customers_count"] for r in retention),
            "duplicates": sum(s["duplicates_dropped"] for s in state["load_log"]),
            "out_of_date": sum(s["out_of_date_rows"] for s in state["load_log"])}


@pytest.mark.parametrize("old_format", [False, True], ids=["with-status", "old-format"])
def test_generated_report_then_increments(db, tmp_path, old_format):
    # report Wed 2023-03-01 .. Tue 03-07, increments 03-08 .. Mon 03-13 (research of 03-15)
    generate(tmp_path, days=6, orders_per_day=80, seed=11, start=date(2023, 3, 1), report_days=7,
             old_format=old_format)
    model = Model()
    stats = load_dataset(db, tmp_path, model)
    actual = assert_agree(db, model, stats)

    # the data did exercise what it should
    t = totals(actual)
    assert t["orders"] == 13 * 80
    assert t["returning"] > 0 and t["duplicates"] > 0
    assert t["out_of_date"] == 30                      # Monday's increment carries Wednesday's research
    assert (t["refunds"] > 0) == (not old_format)
    assert rows(db, "SELECT DISTINCT status FROM staging.user_order_log ORDER BY 1") == (
        [("shipped",)] if old_format else [("refunded",), ("shipped",)])
    assert rows(db, "SELECT file_kind, load_kind, date_from, date_to FROM staging.load_log"
                    " WHERE file_kind = 'user_order_log' ORDER BY load_id")[:2] == [
        ("user_order_log", "report", date(2023, 3, 1), date(2023, 3, 7)),
        ("user_order_log", "increment", date(2023, 3, 8), date(2023, 3, 8))]


@pytest.mark.real_sample
def test_real_sample_report_then_increment(db):
    model = Model()
    stats = load_report(db, SAMPLE / "report", model)
    stats += load_increment(db, SAMPLE / "increments" / SAMPLE_INCREMENT_DAY.isoformat(),
                            SAMPLE_INCREMENT_DAY, model)
    actual = assert_agree(db, model, stats)

    # a few facts about the real files, worked out from them by hand
    t = totals(actual)
    assert t["refunds"] > 0 and t["returning"] > 0
    assert rows(db, "SELECT file_name, date_from, date_to, rows_read, out_of_date_rows FROM staging.load_log"
                    " WHERE file_kind IN ('user_order_log', 'customer_research') ORDER BY load_id") == [
        ("user_order_log.csv", date(2022, 11, 9), date(2022, 12, 1), 22391, 0),
        ("customer_research.csv", date(2022, 11, 9), date(2022, 12, 1), 690, 0),
        ("user_order_log_inc.csv", date(2022, 12, 5), date(2022, 12, 5), 1144, 0),
        ("customer_research_inc.csv", date(2022, 12, 5), date(2022, 12, 5), 30, 30),  # holds 2022-12-07
    ]
    assert min(actual["orders"][u]["date_time"] for u in actual["orders"]) == datetime(2022, 11, 9)  # noqa: DTZ001 - date_time is a timestamp without time zone
