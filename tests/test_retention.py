"""Weekly retention on a tiny hand-made week (and a week across the year end),
every expected number written by hand; and the monthly rows of the same
orders, under the same rules over calendar months."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from sql_loading import build_marts, call, load_file, rows

HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
          "item_id,item_name,quantity,payment_amount")
CUSTOMERS = {1: "Ann,Able", 2: "Bob,Best", 3: "Cid,Cole", 4: "Dee,Dunn", 7: "Gus,Gray", 8: "Hal,Hart"}
CITIES = {1: "Northport", 2: "Southby"}
ITEMS = {1: "Bread", 2: "Milk"}


def order(uid, day, city, customer, item, qty, amount, status=None):
    line = (f"{uid},{day}T00:00:00,{city},{CITIES[city]},{customer},{CUSTOMERS[customer]},"
            f"{item},{ITEMS[item]},{qty},{amount}")
    return line + (f",{status}" if status else "")


def csv_bytes(lines, with_status):
    header = HEADER + (",status" if with_status else "")
    # the file's id is the line number; copies of an order differ only in it
    return "\r\n".join([header] + [f"{n},{line}" for n, line in enumerate(lines, start=1)]).encode() + b"\r\n"


# The week 2022-12-05 (Mon) .. 2022-12-11 (Sun) is ISO week 2022-49, with a day either side.
#   A (1): one shipped order of item 1 in the week (plus one the Sunday before, one the Monday after)
#   B (2): two shipped orders on different days, items 1 and 2       -> returning
#   C (3): one shipped order of item 2 and a refund of item 2         -> new, and refunded
#   D (4): only refunds, two of item 1                               -> neither new nor returning
REPORT = [  # 2022-12-04 .. 2022-12-06, the older file format without status
    order("a0", "2022-12-04", 1, 1, 1, 1, 100),
    order("a1", "2022-12-05", 1, 1, 1, 1, 100),
    order("b1", "2022-12-05", 2, 2, 1, 2, 200),
    order("a1", "2022-12-05", 1, 1, 1, 1, 100),     # a redelivered copy
    order("c1", "2022-12-06", 1, 3, 2, 3, 150),
    order("b1", "2022-12-05", 2, 2, 1, 2, 200),     # another copy
]
INCREMENTS = {  # one increment a day, newer format with status
    date(2022, 12, 7): [order("b2", "2022-12-07", 2, 2, 2, 1, 50, "shipped")],
    date(2022, 12, 8): [order("c2", "2022-12-08", 2, 3, 2, 1, 50, "refunded")],
    date(2022, 12, 9): [order("d1", "2022-12-09", 2, 4, 1, 1, 100, "refunded")],
    date(2022, 12, 10): [order("d2", "2022-12-10", 2, 4, 1, 2, 200, "refunded"),
                         order("d2", "2022-12-10", 2, 4, 1, 2, 200, "refunded")],
    date(2022, 12, 11): [],                                           # header only: no orders
    date(2022, 12, 12): [order("a2", "2022-12-12", 1, 1, 2, 1, 50, "shipped")],
}

COLUMNS = ("SELECT period_name, period_id, item_id, period_start, new_customers_count,"
           " returning_customers_count, refunded_customer_count, new_customers_revenue,"
           " returning_customers_revenue, customers_refunded FROM mart.f_customer_retention")
RETENTION = COLUMNS + " WHERE period_name = 'weekly' ORDER BY period_id, item_id"
MONTHLY = COLUMNS + " WHERE period_name = 'monthly' ORDER BY period_id, item_id"


def test_retention_of_a_hand_made_week(db):
    load_file(db, "user_order_log.csv", data=csv_bytes(REPORT, with_status=False))
    build_marts(db, [date(2022, 12, 4), date(2022, 12, 5), date(2022, 12, 6)])

    # Monday..Tuesday only: B has one order so far, so B is new; the week is partial.
    assert rows(db, RETENTION) == [
        ("weekly", 202248, 1, date(2022, 11, 28), 1, 0, 0, D("100.00"), D("0.00"), 0),
        ("weekly", 202249, 1, date(2022, 12, 5), 2, 0, 0, D("300.00"), D("0.00"), 0),
        ("weekly", 202249, 2, date(2022, 12, 5), 1, 0, 0, D("150.00"), D("0.00"), 0),
    ]
    # December so far: A has two orders (Sun and Mon), so A is returning; B and C are new.
    assert rows(db, MONTHLY) == [
        ("monthly", 202212, 1, date(2022, 12, 1), 1, 1, 0, D("200.00"), D("200.00"), 0),
        ("monthly", 202212, 2, date(2022, 12, 1), 1, 0, 0, D("150.00"), D("0.00"), 0),
    ]

    for day, lines in INCREMENTS.items():
        load_file(db, "user_order_log_inc.csv", day, day, data=csv_bytes(lines, with_status=True))
        build_marts(db, [day])

    assert rows(db, "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity, payment_amount,"
                    " status FROM mart.f_sales ORDER BY uniq_id") == [
        ("a0", 20221204, 1, 1, 1, 1, D("100.00"), "shipped"),
        ("a1", 20221205, 1, 1, 1, 1, D("100.00"), "shipped"),
        ("a2", 20221212, 2, 1, 1, 1, D("50.00"), "shipped"),
        ("b1", 20221205, 1, 2, 2, 2, D("200.00"), "shipped"),
        ("b2", 20221207, 2, 2, 2, 1, D("50.00"), "shipped"),
        ("c1", 20221206, 2, 3, 1, 3, D("150.00"), "shipped"),
        ("c2", 20221208, 2, 3, 2, -1, D("-50.00"), "refunded"),
        ("d1", 20221209, 1, 4, 2, -1, D("-100.00"), "refunded"),
        ("d2", 20221210, 1, 4, 2, -2, D("-200.00"), "refunded"),
    ]
    # net revenue of the week: 100 + 200 + 150 + 50 - 50 - 100 - 200
    assert rows(db, "SELECT sum(payment_amount), sum(quantity) FROM mart.f_sales"
                    " WHERE date_id BETWEEN 20221205 AND 20221211") == [(D("150.00"), 3)]

    assert rows(db, RETENTION) == [
        # the Sunday before: A's only order of that week
        ("weekly", 202248, 1, date(2022, 11, 28), 1, 0, 0, D("100.00"), D("0.00"), 0),
        # item 1: A new (100), B returning (200), D refunded twice
        ("weekly", 202249, 1, date(2022, 12, 5), 1, 1, 1, D("100.00"), D("200.00"), 2),
        # item 2: C new (150; the refund is no shipped order), B returning (50), C refunded once
        ("weekly", 202249, 2, date(2022, 12, 5), 1, 1, 1, D("150.00"), D("50.00"), 1),
        # the Monday after: A again, new in that week
        ("weekly", 202250, 2, date(2022, 12, 12), 1, 0, 0, D("50.00"), D("0.00"), 0),
    ]
    # The whole of December is one period: A (a0, a1, a2) and B (b1, b2) are returning, C new.
    assert rows(db, MONTHLY) == [
        # item 1: A (100 + 100) and B (200) returning, D refunded twice
        ("monthly", 202212, 1, date(2022, 12, 1), 0, 2, 1, D("0.00"), D("400.00"), 2),
        # item 2: C new (150), A (50) and B (50) returning, C refunded once
        ("monthly", 202212, 2, date(2022, 12, 1), 1, 2, 1, D("150.00"), D("100.00"), 1),
    ]

    # SCD1: latest order wins; C's latest order (the refund) was placed from city 2.
    assert rows(db, "SELECT customer_id, first_name, last_name, city_id FROM mart.d_customer"
                    " ORDER BY customer_id") == [
        (1, "Ann", "Able", 1), (2, "Bob", "Best", 2), (3, "Cid", "Cole", 2), (4, "Dee", "Dunn", 2)]
    assert rows(db, "SELECT item_id, item_name FROM mart.d_item ORDER BY 1") == [(1, "Bread"), (2, "Milk")]
    assert rows(db, "SELECT city_id, city_name FROM mart.d_city ORDER BY 1") == [(1, "Northport"), (2, "Southby")]


def test_week_across_the_year_end_is_one_period(db):
    lines = [
        order("y0", "2024-12-29", 1, 8, 2, 1, 50),    # Sunday: ISO week 2024-52
        order("y1", "2024-12-30", 1, 7, 1, 1, 100),   # Monday: ISO week 2025-01
        order("y2", "2025-01-05", 2, 7, 1, 2, 200),   # Sunday of that same week
        order("y3", "2025-01-05", 2, 8, 2, 1, 50),
    ]
    load_file(db, "user_order_log.csv", data=csv_bytes(lines, with_status=False))
    for day in (date(2024, 12, 29), date(2024, 12, 30), date(2025, 1, 5)):
        call(db, "mart.load_f_sales", day)
    call(db, "mart.load_f_customer_retention", date(2024, 12, 29))
    expected = [
        ("weekly", 202452, 2, date(2024, 12, 23), 1, 0, 0, D("50.00"), D("0.00"), 0),
        ("weekly", 202501, 1, date(2024, 12, 30), 0, 1, 0, D("0.00"), D("300.00"), 0),
        ("weekly", 202501, 2, date(2024, 12, 30), 1, 0, 0, D("50.00"), D("0.00"), 0),
    ]
    # any day of the week names the same week, in either calendar year
    for day in (date(2025, 1, 5), date(2024, 12, 30), date(2025, 1, 1), date(2024, 12, 31)):
        call(db, "mart.load_f_customer_retention", day)
        assert rows(db, RETENTION) == expected, day

    # The months split that week: customer 7 has one order in each month, so is new twice.
    call(db, "mart.load_f_customer_retention_monthly", date(2024, 12, 29), date(2025, 1, 5))
    assert rows(db, MONTHLY) == [
        ("monthly", 202412, 1, date(2024, 12, 1), 1, 0, 0, D("100.00"), D("0.00"), 0),
        ("monthly", 202412, 2, date(2024, 12, 1), 1, 0, 0, D("50.00"), D("0.00"), 0),
        ("monthly", 202501, 1, date(2025, 1, 1), 1, 0, 0, D("200.00"), D("0.00"), 0),
        ("monthly", 202501, 2, date(2025, 1, 1), 1, 0, 0, D("50.00"), D("0.00"), 0),
    ]
    assert rows(db, RETENTION) == expected


def test_an_order_re_dated_into_another_week_leaves_its_old_week(db):
    # x is delivered on Monday 2022-12-05 (week 2022-49), then re-dated by the
    # increment of Monday 2022-12-12 (week 2022-50); only that day is reloaded.
    load_file(db, "user_order_log.csv", data=csv_bytes([
        order("x", "2022-12-05", 1, 1, 1, 1, 100),
        order("y", "2022-12-05", 1, 2, 1, 2, 200),
    ], with_status=False))
    build_marts(db, [date(2022, 12, 5)])
    day = date(2022, 12, 12)
    load_file(db, "user_order_log_inc.csv", day, day,
              data=csv_bytes([order("x", "2022-12-12", 1, 1, 1, 1, 100, "shipped")], with_status=True))
    build_marts(db, [day])

    assert rows(db, "SELECT uniq_id, date_id FROM mart.f_sales ORDER BY 1") == [("x", 20221212), ("y", 20221205)]
    assert rows(db, RETENTION) == [
        # week 49 kept only y (customer 2); x now counts in week 50
        ("weekly", 202249, 1, date(2022, 12, 5), 1, 0, 0, D("200.00"), D("0.00"), 0),
        ("weekly", 202250, 1, date(2022, 12, 12), 1, 0, 0, D("100.00"), D("0.00"), 0),
    ]


def test_an_order_re_dated_into_another_month_leaves_its_old_month_and_day(db):
    # x is delivered on Wednesday 2022-11-30, then re-dated by the increment of Thursday 2022-12-01,
    # the same ISO week; as a DBA would, only the new day's f_sales, week and month are rebuilt.
    load_file(db, "user_order_log.csv", data=csv_bytes([
        order("x", "2022-11-30", 1, 1, 1, 1, 100),
        order("y", "2022-11-30", 1, 2, 1, 2, 200),
    ], with_status=False))
    build_marts(db, [date(2022, 11, 30)])
    day = date(2022, 12, 1)
    load_file(db, "user_order_log_inc.csv", day, day,
              data=csv_bytes([order("x", "2022-12-01", 1, 1, 1, 1, 100, "shipped")], with_status=True))
    build_marts(db, [day])

    assert rows(db, MONTHLY) == [
        ("monthly", 202211, 1, date(2022, 11, 1), 1, 0, 0, D("200.00"), D("0.00"), 0),
        ("monthly", 202212, 1, date(2022, 12, 1), 1, 0, 0, D("100.00"), D("0.00"), 0),
    ]
    assert rows(db, "SELECT date_id, orders, refunded_orders, customers, net_revenue, item_ids, city_ids"
                    " FROM mart.f_daily_sales ORDER BY 1") == [
        (20221130, 1, 0, 1, D("200.00"), [1], [1]),
        (20221201, 1, 0, 1, D("100.00"), [1], [1]),
    ]


def test_the_day_and_period_sums_retention_reads_follow_f_sales_when_an_order_leaves_its_day(db):
    """mart.f_daily_customer_item holds a day's shipped and refunded orders per customer and item as
    f_sales has them, also for the day an order was re-dated away from, and mart.f_period_customer_item,
    what retention reads, their sums per week and month: a customer and item left without orders in a
    period has no row there."""
    load_file(db, "user_order_log.csv", data=csv_bytes(REPORT, with_status=False))
    build_marts(db, [date(2022, 12, 4), date(2022, 12, 5), date(2022, 12, 6)])
    day = date(2022, 12, 7)
    # b1 moves from Monday 12-05 to Wednesday 12-07, refunded, beside b2
    load_file(db, "user_order_log_inc.csv", day, day, data=csv_bytes(
        INCREMENTS[day] + [order("b1", "2022-12-07", 2, 2, 1, 2, 200, "refunded")], with_status=True))
    build_marts(db, [day])

    assert rows(db, "SELECT date_id, customer_id, item_id, shipped_orders, shipped_revenue, refunded_orders"
                    " FROM mart.f_daily_customer_item ORDER BY 1, 2, 3") == [
        (20221204, 1, 1, 1, D("100.00"), 0),
        (20221205, 1, 1, 1, D("100.00"), 0),
        (20221206, 3, 2, 1, D("150.00"), 0),
        (20221207, 2, 1, 0, D("0.00"), 1),
        (20221207, 2, 2, 1, D("50.00"), 0),
    ]
    assert rows(db, "SELECT period_name, period_id, customer_id, item_id, shipped_orders, shipped_revenue,"
                    " refunded_orders FROM mart.f_period_customer_item ORDER BY 1, 2, 3, 4") == [
        ("monthly", 202212, 1, 1, 2, D("200.00"), 0),
        ("monthly", 202212, 2, 1, 0, D("0.00"), 1),
        ("monthly", 202212, 2, 2, 1, D("50.00"), 0),
        ("monthly", 202212, 3, 2, 1, D("150.00"), 0),
        ("weekly", 202248, 1, 1, 1, D("100.00"), 0),
        ("weekly", 202249, 1, 1, 1, D("100.00"), 0),
        ("weekly", 202249, 2, 1, 0, D("0.00"), 1),
        ("weekly", 202249, 2, 2, 1, D("50.00"), 0),
        ("weekly", 202249, 3, 2, 1, D("150.00"), 0),
    ]
    # c1 taken out of Tuesday's delivery: its customer and item leave the week and the month
    tuesday = date(2022, 12, 6)
    load_file(db, "user_order_log.csv", tuesday, tuesday, data=csv_bytes([], with_status=False))
    build_marts(db, [tuesday])
    assert rows(db, "SELECT count(*) FROM mart.f_period_customer_item WHERE customer_id = 3") == [(0,)]
