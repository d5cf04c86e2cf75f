"""Issue 7: the calendar grows to any valid date (item 4), concurrent loads
serialize without deadlocks (item 8), the load's statements keep their plans
under bad statistics (item 7), rollbacks that would lose or falsify data
refuse (item 10)."""
from __future__ import annotations

import calendar
from datetime import date

import pytest

from model import Model
from sql_loading import build_marts, load_file, rows

ORDER_HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
                "item_id,item_name,quantity,payment_amount,status")


def order_line(n: int, uid: str, day: date, *, customer: int = 1, item: int = 1, qty: int = 2,
               amount: str = "200", status: str = "shipped") -> str:
    return (f"{n},{uid},{day.isoformat()}T00:00:00,1,Northport,{customer},Ann,Able,{item},Bread,"
            f"{qty},{amount},{status}")


def order_file(path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join([ORDER_HEADER, *lines]) + "\r\n").encode())


# ------------------------------------------------------------------ item 4 ----

@pytest.mark.parametrize("day", [date(1, 1, 1), date(1999, 12, 31), date(2100, 1, 1), date(9999, 12, 31)])
def test_the_calendar_grows_to_any_valid_date(db, tmp_path, day):
    path = tmp_path / "user_order_log_inc.csv"
    order_file(path, [order_line(1, "a" * 32, day), order_line(2, "b" * 32, day, customer=2, status="refunded")])
    load_file(db, path, day, day)
    build_marts(db, [day])
    date_id = day.year * 10000 + day.month * 100 + day.day
    model = Model()
    model.load_file(path, day, day)
    assert {r[0]: r[1:] for r in rows(db, "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity,"
                                          " payment_amount, status FROM mart.f_sales")} == model.f_sales()
    iso_year, iso_week, iso_day = day.isocalendar()
    assert rows(db, "SELECT date_actual, week_of_year, day_of_week, year_actual FROM mart.d_calendar"
                    " WHERE date_id = %s", (date_id,)) == [(day, iso_week, iso_day, day.year)]
    assert rows(db, "SELECT count(*), min(date_actual), max(date_actual) FROM mart.d_calendar"
                    " WHERE year_actual = %s", (day.year,)) == [
        (366 if calendar.isleap(day.year) else 365,
         date(day.year, 1, 1), date(day.year, 12, 31))]
    assert rows(db, "SELECT period_id, item_id, new_customers_count, customers_refunded"
                    " FROM mart.f_customer_retention") == [(iso_year * 100 + iso_week, 1, 1, 1)]
