"""Tests of the reference model (tests/model.py) against numbers worked out by hand."""
import csv
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from model import ConflictingCopies, Model

ORDER_HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
                "item_id,item_name,quantity,payment_amount,status")
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sample-2022"


def write(path, lines, eol="\r\n"):
    path.write_bytes(eol.join(lines).encode("utf-8"))   # no newline after the last line, like the real files
    return path


def order(id_, uid, day, customer, item, qty, amount, status="shipped", city=1, first="F", last="L"):
    city_name = {1: "Ростов", 2: "Ярославль"}[city]
    item_name = {10: "Молоко 3%", 20: "Хлеб ржаной"}[item]
    return (f"{id_},{uid},2022-12-{day:02d}T00:00:00,{city},{city_name},{customer},{first},{last},"
            f"{item},{item_name},{qty},{amount},{status}")


# Week 2022-12-05 (Mon) .. 2022-12-11 (Sun) = ISO 2022-W49 -> period_id 202249.
# Prices: item 10 = 100, item 20 = 50.
WEEK = [
    ORDER_HEADER,
    order(1, "o1", 5, 1, 10, 2, 200),                        # c1: one shipped order
    order(2, "o1", 5, 1, 10, 2, 200),                        #     redelivered copy (only id differs)
    order(3, "o2", 6, 2, 10, 1, 100, first="Ann"),           # c2: shipped on Tuesday ...
    order(4, "o3", 8, 2, 20, 3, 150, city=2, first="Anna"),  #     ... and on Thursday, other item, moved city
    order(5, "o4", 7, 3, 20, 1, 50),                         # c3: buys item 20 ...
    order(6, "o5", 9, 3, 10, 1, 100, "refunded"),            #     ... and refunds an item 10
    order(7, "o6", 10, 4, 20, 2, 100, "refunded"),           # c4: only refunds, twice, item 20
    order(8, "o7", 11, 4, 20, 1, 50, "refunded"),
    order(9, "o8", 12, 1, 10, 1, 100),                       # c1 again, next week (2022-W50)
]


def test_week_staging_and_f_sales(tmp_path):
    m = Model()
    stats = m.load_file(write(tmp_path / "user_order_log.csv", WEEK))
    # 9 data lines, 8 distinct uniq_id (o1 twice); range = file's 12-05..12-12, so nothing is out of date.
    assert stats == {"rows_read": 9, "rows_loaded": 8, "duplicates_dropped": 1, "out_of_date_rows": 0}
    assert m.orders["o1"]["payment_amount"] == Decimal("200.00")
    assert m.orders["o1"]["date_time"] == datetime(2022, 12, 5)  # noqa: DTZ001 - date_time is a timestamp without time zone

    f = m.f_sales()
    assert len(f) == 8                                        # one row per order
    assert f["o1"] == (20221205, 10, 1, 1, 2, Decimal("200"), "shipped")
    assert f["o5"] == (20221209, 10, 3, 1, -1, Decimal("-100"), "refunded")   # refund negated
    # Net revenue = shipped 200+100+150+50+100 = 600, minus refunds 100+100+50 = 250 -> 350.
    assert sum(r[5] for r in f.values()) == Decimal("350")
    # Net units = shipped 2+1+3+1+1 = 8, minus refunded 1+2+1 = 4 -> 4.
    assert sum(r[4] for r in f.values()) == 4


def test_week_dimensions(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", WEEK))
    # c2's latest order is o3 (12-08, city 2, first name "Anna"): SCD1, latest wins.
    assert m.d_customer()[2] == ("Anna", "L", 2)
    assert m.d_customer().keys() == {1, 2, 3, 4}               # refund-only c4 is a customer too
    assert m.d_item() == {10: "Молоко 3%", 20: "Хлеб ржаной"}
    assert m.d_city() == {1: "Ростов", 2: "Ярославль"}


def test_week_retention(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", WEEK))
    ret = m.retention()
    # Rows only where the item has an order in the week: W49 both items; W50 item 10 only.
    assert set(ret) == {(202249, 10), (202249, 20), (202250, 10)}
    # n(c, W49): c1 = 1 (o1, copies collapse), c2 = 2 (o2, o3), c3 = 1 (o4; the refund o5 does
    # not count), c4 = 0. So c1, c3 are new; c2 is returning.
    # Item 10 in W49: o1 by c1 (new, 200), o2 by c2 (returning, 100), o5 refund by c3.
    assert ret[(202249, 10)] == {
        "new_customers_count": 1, "returning_customers_count": 1, "refunded_customer_count": 1,
        "new_customers_revenue": Decimal("200"), "returning_customers_revenue": Decimal("100"),
        "customers_refunded": 1, "period_start": date(2022, 12, 5)}
    # Item 20 in W49: o3 by c2 (returning, 150), o4 by c3 (new, 50),
    # refunds o6, o7 both by c4: one refunding customer, two refunded orders.
    assert ret[(202249, 20)] == {
        "new_customers_count": 1, "returning_customers_count": 1, "refunded_customer_count": 1,
        "new_customers_revenue": Decimal("50"), "returning_customers_revenue": Decimal("150"),
        "customers_refunded": 2, "period_start": date(2022, 12, 5)}
    # W50 (Mon 2022-12-12): c1's single order o8 -> new, 100; no refunds.
    assert ret[(202250, 10)] == {
        "new_customers_count": 1, "returning_customers_count": 0, "refunded_customer_count": 0,
        "new_customers_revenue": Decimal("100"), "returning_customers_revenue": Decimal("0.00"),
        "customers_refunded": 0, "period_start": date(2022, 12, 12)}


def test_month_retention(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", WEEK))
    ret = m.retention("monthly")
    # All of WEEK is December 2022: n(c1) = 2 (o1, o8 of the next week), n(c2) = 2, n(c3) = 1, n(c4) = 0.
    assert set(ret) == {(202212, 10), (202212, 20)}
    # Item 10: c1 returning (200 + 100), c2 returning (100); c3 refunded it once.
    assert ret[(202212, 10)] == {
        "new_customers_count": 0, "returning_customers_count": 2, "refunded_customer_count": 1,
        "new_customers_revenue": Decimal("0.00"), "returning_customers_revenue": Decimal("400"),
        "customers_refunded": 1, "period_start": date(2022, 12, 1)}
    # Item 20: c3 new (50), c2 returning (150); c4 refunded it twice.
    assert ret[(202212, 20)] == {
        "new_customers_count": 1, "returning_customers_count": 1, "refunded_customer_count": 1,
        "new_customers_revenue": Decimal("50"), "returning_customers_revenue": Decimal("150"),
        "customers_refunded": 2, "period_start": date(2022, 12, 1)}
    # the weeks are unchanged by the months
    assert set(m.retention()) == {(202249, 10), (202249, 20), (202250, 10)}


def test_day_quality_of_the_week(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", WEEK))    # delivers 12-05 .. 12-12, one order a day
    m.load_file(write(tmp_path / "user_order_log_inc.csv", [ORDER_HEADER]), date(2022, 12, 13))   # empty
    q = m.day_quality()
    assert sorted(q) == [date(2022, 12, d) for d in range(5, 14)]
    assert {day.day: r["flags"] for day, r in q.items()} == {
        5: [],                       # the first loaded day: nothing is new on it
        6: [],
        7: ["new_item"],             # item 20's first order (o4)
        8: ["new_city"],             # city 2's first order (o3)
        9: ["refund_burst"],         # all refunds against none in 12-05 .. 12-08
        10: ["refund_burst"],        # 100% against 1 of 5 = 20%
        11: ["refund_burst"],        # 100% against 2 of 6 = 33.33%
        12: [],
        13: ["no_orders"],
    }
    assert q[date(2022, 12, 7)]["new_item_ids"] == [20] and q[date(2022, 12, 8)]["new_city_ids"] == [2]
    assert q[date(2022, 12, 11)]["trailing_refund_share"] == Decimal("0.3333")
    assert q[date(2022, 12, 10)] | {"flags": None} == {
        "delivered": True, "orders": 1, "customers": 1, "refunds": 1, "refund_share": Decimal("1.0000"),
        "net_revenue": Decimal("-100"), "new_item_ids": [], "new_city_ids": [], "weekday_median": None,
        "trailing_refund_share": Decimal("0.2000"), "flags": None}


def orders_on(folder: Path, day: date, count: int) -> Path:
    """An increment file of `count` shipped orders of one customer each on `day`, in a folder of its own."""
    folder.mkdir()
    return write(folder / "user_order_log_inc.csv", [ORDER_HEADER] + [
        f"{n},{day:%Y%m%d}-{n},{day}T00:00:00,1,Ростов,{n},F,L,10,Молоко 3%,1,100,shipped" for n in range(count)])


def test_day_quality_volume_against_the_same_weekday(tmp_path):
    m = Model()
    day = date(2025, 3, 4)                                   # a Tuesday
    for weeks_before, count in ((4, 4), (3, 6), (2, 0), (1, 10), (0, 2)):
        delivered = day - timedelta(weeks=weeks_before)
        m.load_file(orders_on(tmp_path / f"{weeks_before}", delivered, count), delivered, delivered)
    q = m.day_quality()
    # the empty day is no baseline: median of 4, 6 and 10; 2 < half of 6
    assert q[day]["weekday_median"] == 6 and q[day]["flags"] == ["low_volume"]
    assert q[day - timedelta(weeks=1)]["weekday_median"] == 5
    assert q[day - timedelta(weeks=1)]["flags"] == []                   # 10 is not above 2 x 5
    assert q[day - timedelta(weeks=2)]["flags"] == ["no_orders", "low_volume"]
    assert q[day - timedelta(weeks=3)]["weekday_median"] is None        # one earlier Tuesday only
    m.load_file(orders_on(tmp_path / "again", day, 13), day, day)
    assert m.day_quality()[day]["flags"] == ["high_volume"]             # 13 > 2 x 6


def test_period_id_uses_iso_year(tmp_path):
    m = Model()
    write(tmp_path / "user_order_log.csv", [
        ORDER_HEADER,
        "1,a,2024-12-30T00:00:00,1,X,7,F,L,10,I,1,100,shipped",   # Monday of ISO 2025-W01
        "2,b,2021-01-03T00:00:00,1,X,7,F,L,10,I,1,100,shipped",   # Sunday of ISO 2020-W53
    ])
    m.load_file(tmp_path / "user_order_log.csv")
    assert set(m.retention()) == {(202501, 10), (202053, 10)}
    assert m.retention()[(202501, 10)]["period_start"] == date(2024, 12, 30)
    assert m.retention()[(202053, 10)]["period_start"] == date(2020, 12, 28)


def test_dimension_tie_on_same_day_broken_by_uniq_id(tmp_path):
    m = Model()
    write(tmp_path / "user_order_log.csv", [
        ORDER_HEADER,
        "1,bbb,2022-12-05T00:00:00,2,Y,7,Petr,B,10,Item B,1,100,shipped",
        "2,aaa,2022-12-05T00:00:00,1,X,7,Petr,A,10,Item A,1,100,shipped",
        "3,ccc,2022-12-04T00:00:00,3,Z,7,Petr,C,10,Item C,1,100,shipped",  # greatest uniq_id, older day
    ])
    m.load_file(tmp_path / "user_order_log.csv")
    # Latest = greatest (date_time, uniq_id) = (12-05, "bbb").
    assert m.d_customer() == {7: ("Petr", "B", 2)}
    assert m.d_item() == {10: "Item B"}
    assert m.d_city() == {1: "X", 2: "Y", 3: "Z"}


def test_day_replacement_and_out_of_date_rows(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", [
        ORDER_HEADER,
        order(1, "d1", 1, 1, 10, 1, 100),
        order(2, "d2a", 2, 1, 10, 1, 100),
        order(3, "d2b", 2, 2, 10, 1, 100),
        order(4, "d3", 3, 1, 10, 1, 100),
    ], eol="\n"))
    inc = tmp_path / "inc" / "user_order_log_inc.csv"
    inc.parent.mkdir()
    write(inc, [
        ORDER_HEADER,
        order(1, "d2a", 2, 1, 10, 2, 200),        # corrected day-2 order
        order(2, "d3", 3, 1, 10, 5, 500),         # day 3: out of date, a version of the delivery of 12-02
        order(3, "d4", 4, 1, 10, 1, 100),         # day 4: outside the range -> insert
    ])
    stats = m.load_file(inc, date(2022, 12, 2), date(2022, 12, 2))
    assert stats == {"rows_read": 3, "rows_loaded": 3, "duplicates_dropped": 0, "out_of_date_rows": 2}
    # d2b was dated 12-02 and is not in the re-delivery: gone. d1 untouched. d3 keeps the
    # version of the later delivery (12-03's, by the report); d4 exists only in 12-02's.
    assert set(m.orders) == {"d1", "d2a", "d3", "d4"}
    assert m.orders["d2a"]["quantity"] == 2 and m.orders["d3"]["quantity"] == 1
    # The day-3 delivery corrected without d3: the 12-02 version comes back.
    (tmp_path / "empty").mkdir()
    empty = write(tmp_path / "empty" / "user_order_log_inc.csv", [ORDER_HEADER])
    m.load_file(empty, date(2022, 12, 3))
    assert m.orders["d3"]["quantity"] == 5
    # Re-running the same load changes nothing.
    before = dict(m.orders)
    m.load_file(inc, date(2022, 12, 2), date(2022, 12, 2))
    assert m.orders == before
    # A header-only file for day 1 empties day 1; with no range it replaces nothing.
    assert m.load_file(empty)["rows_read"] == 0 and "d1" in m.orders
    m.load_file(empty, date(2022, 12, 1))
    assert set(m.orders) == {"d2a", "d3", "d4"}


def test_conflicting_copies_change_nothing(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", [ORDER_HEADER, order(1, "x", 5, 1, 10, 1, 100)]))
    bad = write(tmp_path / "user_order_log_inc.csv", [
        ORDER_HEADER,
        order(1, "y", 5, 1, 10, 1, 100),
        order(2, "z", 5, 1, 10, 1, 100),
        order(3, "y", 5, 1, 10, 2, 200),          # same uniq_id as line 2, other content
    ])
    with pytest.raises(ConflictingCopies) as e:
        m.load_file(bad, date(2022, 12, 5))
    msg = str(e.value)
    assert "user_order_log_inc.csv" in msg and "'y'" in msg and "lines 2 and 4" in msg
    assert set(m.orders) == {"x"}


def test_no_status_column_extra_column_research_prices(tmp_path):
    m = Model()
    m.load_file(write(tmp_path / "user_order_log.csv", [
        ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
         "item_id,item_name,quantity,payment_amount,promo"),
        "1,u1,2022-11-09T00:00:00,1,X,5,F,L,10,I,3,300,yes",
    ]))
    assert m.orders["u1"]["status"] == "shipped" and "promo" not in m.orders["u1"]

    stats = m.load_file(write(tmp_path / "customer_research.csv", [
        "date_id,category_id,geo_id,sales_qty,sales_amt",
        "2022-11-09T00:00:00,1001,1,7,5467",
        "2022-11-09T00:00:00,1001,1,7,5467",      # identical copy (research has no id)
        "2022-11-09T00:00:00,1001,2,0,0",
    ]))
    assert stats == {"rows_read": 3, "rows_loaded": 2, "duplicates_dropped": 1, "out_of_date_rows": 0}
    assert m.research[(datetime(2022, 11, 9), 1001, 1)]["sales_amt"] == Decimal("5467")  # noqa: DTZ001 - date_id is a timestamp without time zone

    m.load_file(write(tmp_path / "price_log.csv", ["Молоко 3%,120", "Хлеб,20", "Хлеб,20"]))
    stats = m.load_file(write(tmp_path / "price_log_inc.csv", ["Молоко 3%,130"]))
    assert stats == {"rows_read": 1, "rows_loaded": 1, "duplicates_dropped": 0, "out_of_date_rows": 0}
    assert m.prices == {"Молоко 3%": Decimal("130")}            # snapshot replaced whole


@pytest.mark.real_sample
def test_real_sample_report_then_increment():
    m = Model()
    for name in ("user_order_log", "user_activity_log", "customer_research", "price_log"):
        m.load_file(SAMPLE / "report" / f"{name}.csv")
    day = date(2022, 12, 5)
    inc = SAMPLE / "increments" / "2022-12-05"
    inc_stats = {name: m.load_file(inc / f"{name}_inc.csv", day, day)
                 for name in ("user_order_log", "user_activity_log", "customer_research", "price_log")}

    def rows(path):
        with open(path, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    report_orders = rows(SAMPLE / "report" / "user_order_log.csv")
    inc_orders = rows(inc / "user_order_log_inc.csv")
    uids = {r["uniq_id"] for r in report_orders} | {r["uniq_id"] for r in inc_orders}
    f = m.f_sales()
    assert len(f) == len(uids)
    refunded = {r["uniq_id"] for r in inc_orders if r["status"] == "refunded"}
    assert {u for u, r in f.items() if r[6] == "refunded"} == refunded
    assert all(f[u][4] < 0 and f[u][5] < 0 for u in refunded)
    # Net revenue: each distinct order once, refunds subtracted.
    amounts = {r["uniq_id"]: Decimal(r["payment_amount"]) * (-1 if r.get("status") == "refunded" else 1)
               for r in report_orders + inc_orders}
    assert sum(r[5] for r in f.values()) == sum(amounts.values())
    assert inc_stats["user_order_log"]["rows_read"] == len(inc_orders)
    assert inc_stats["user_order_log"]["duplicates_dropped"] == \
        len(inc_orders) - len({r["uniq_id"] for r in inc_orders})

    # Research: the report rows plus the increment's, which are all dated 2022-12-07,
    # i.e. outside the day 2022-12-05 being loaded: upserted and counted as out of date.
    report_research = rows(SAMPLE / "report" / "customer_research.csv")
    inc_research = rows(inc / "customer_research_inc.csv")
    assert {r["date_id"] for r in inc_research} == {"2022-12-07T00:00:00"}
    assert inc_stats["customer_research"]["out_of_date_rows"] == len(inc_research)
    assert len(m.research) == len(report_research) + len(inc_research)

    # Reconciliation (new + returning revenue = shipped revenue per week and item) on the real data,
    # and the week of the increment is 202249.
    shipped_by_week_item = {}
    for d, item, _c, _city, _q, amount, status in f.values():
        if status == "shipped":
            wk = date(d // 10000, d // 100 % 100, d % 100).isocalendar()
            key = (wk[0] * 100 + wk[1], item)
            shipped_by_week_item[key] = shipped_by_week_item.get(key, 0) + amount
    ret = m.retention()
    for key, r in ret.items():
        assert r["new_customers_revenue"] + r["returning_customers_revenue"] == shipped_by_week_item.get(key, 0)
    assert any(p == 202249 for p, _ in ret)
    assert len(m.prices) == 12
