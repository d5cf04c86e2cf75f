"""Bad input at the SQL level (COPY into landing + CALL)
raises an error naming the problem and changes nothing."""
from __future__ import annotations

from datetime import date

import psycopg2
import psycopg2.errors
import pytest

from sql_loading import build_marts, load_file, rows, snapshot

DAY = date(2022, 12, 5)
ORDER_HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
                "item_id,item_name,quantity,payment_amount,status")


def order(n, uid, qty=2, amount="200", status="shipped", customer=1):
    return f"{n},{uid},2022-12-05T00:00:00,1,Northport,{customer},Ann,Able,1,Bread,{qty},{amount},{status}"


def csv(*lines, header=ORDER_HEADER):
    return ("\r\n".join([header, *lines]) + "\r\n").encode()


RESEARCH_HEADER = "date_id,category_id,geo_id,sales_qty,sales_amt"
RESEARCH = csv("2022-12-05T00:00:00,1001,1,7,5467", "2022-12-05T00:00:00,1001,2,0,0", header=RESEARCH_HEADER)
GOOD = csv(order(1, "a" * 32), order(2, "b" * 32, customer=2), order(3, "a" * 32))

CASES = {
    "conflicting copies of a uniq_id": (
        "user_order_log_inc.csv",
        csv(order(1, "c" * 32), order(2, "d" * 32), order(3, "d" * 32), order(4, "c" * 32),
            order(5, "d" * 32, qty=3, amount="300"), order(6, "d" * 32, status="refunded")),
        psycopg2.errors.UniqueViolation,
        # ids 2 and 5: the first copy, and the first copy that differs from it, on lines 3 and 6
        ["user_order_log_inc.csv", "d" * 32, "lines 3 and 6"]),
    "copies differing only in status": (
        "user_order_log_inc.csv",
        csv(order(1, "e" * 32), order(2, "e" * 32, status="refunded")),
        psycopg2.errors.UniqueViolation, ["e" * 32, "lines 2 and 3"]),
    "an unknown status": (
        "user_order_log_inc.csv", csv(order(1, "f" * 32), order(2, "0" * 32, status="lost")),
        psycopg2.errors.CheckViolation, ["user_order_log_status_check"]),
    "a negative quantity": (
        "user_order_log_inc.csv", csv(order(1, "1" * 32, qty=-2, amount="200")),
        psycopg2.errors.CheckViolation, ["user_order_log_quantity_check"]),
    "a negative amount": (
        "user_order_log_inc.csv", csv(order(1, "2" * 32, qty=2, amount="-200")),
        psycopg2.errors.CheckViolation, ["user_order_log_payment_amount_check"]),
    "a negative activity quantity": (
        "user_activity_log_inc.csv",
        csv("1,aa,2022-12-05T00:00:00,1,5,-1", header="id,uniq_id,date_time,action_id,customer_id,quantity"),
        psycopg2.errors.CheckViolation, ["user_activity_log_quantity_check"]),
    "conflicting research copies": (
        "customer_research_inc.csv",
        csv("2022-12-05T00:00:00,1001,1,7,5467", "2022-12-05T00:00:00,1001,1,8,5467",
            header=RESEARCH_HEADER),
        psycopg2.errors.UniqueViolation, ["customer_research_inc.csv", "category_id 1001", "geo_id 1"]),
    # varchar(32) would drop the space past the 32nd character: the key must be stored as written
    "a uniq_id with a space past its 32 characters": (
        "user_order_log_inc.csv", csv(order(1, "a" * 32 + " ")),
        psycopg2.errors.CheckViolation, ["user_order_log_uniq_id_length"]),
    "two prices for an item": (
        "price_log_inc.csv", b"Bread,60\r\nMilk,90\r\nBread,61\r\n",
        psycopg2.errors.UniqueViolation, ["price_log_inc.csv", "Bread"]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_a_named_error_and_changes_nothing(db, case):
    load_file(db, "user_order_log_inc.csv", DAY, DAY, data=GOOD)
    load_file(db, "price_log_inc.csv", data=b"Bread,60\r\n")
    load_file(db, "customer_research_inc.csv", DAY, DAY, data=RESEARCH)
    build_marts(db, [DAY])
    before = snapshot(db)
    assert len(before["mart.f_sales"]) == 2 and len(before["staging.load_log"]) == 3

    name, data, error, words = CASES[case]
    with pytest.raises(error) as raised:
        load_file(db, name, DAY, DAY if "price" not in name else None, data=data)
    message = str(raised.value)
    for word in words:
        assert word in message, message

    assert snapshot(db) == before       # staging, marts, load_log and landing
    # and the connection is usable: the good file still loads
    load_file(db, "user_order_log_inc.csv", DAY, DAY, data=GOOD)
    assert rows(db, "SELECT count(*) FROM staging.user_order_log") == [(2,)]


@pytest.mark.parametrize("name, good, bad, where", [
    ("customer_research_inc.csv", RESEARCH,
     csv("2022-12-05T00:00:00,1001,1,7,5467", "2022-12-05T00:00:00,1001,1,8,5467", header=RESEARCH_HEADER),
     "lines 2 and 3"),   # lines of the file, the header being line 1
    ("price_log_inc.csv", b"Bread,60\r\n", b"Bread,60\r\nMilk,90\r\nBread,61\r\n", "lines 1 and 3"),
], ids=["customer_research", "price_log"])
def test_conflict_line_numbers_count_from_the_file_not_from_earlier_loads(db, name, good, bad, where):
    """Files without an `id` column get line_no from landing's identity; the error must still
    name the lines of this file, however many files were loaded before it."""
    dates = (DAY, DAY) if "research" in name else (None, None)
    load_file(db, name, *dates, data=good)
    with pytest.raises(psycopg2.errors.UniqueViolation) as raised:
        load_file(db, name, *dates, data=bad)
    assert where in str(raised.value)


def test_bad_status_cannot_reach_staging_or_f_sales_directly(db):
    """A DBA writing rows by hand meets the same CHECKs in staging and mart."""
    cur = db.cursor()
    with pytest.raises(psycopg2.errors.CheckViolation, match="user_order_log_status_check"):
        cur.execute("INSERT INTO staging.user_order_log (uniq_id, date_time, city_id, customer_id, item_id,"
                    " status) VALUES ('x', '2022-12-05', 1, 1, 1, 'lost')")
    cur.execute("INSERT INTO mart.d_item (item_id, item_name) VALUES (1, 'Bread')")
    cur.execute("INSERT INTO mart.d_customer (customer_id) VALUES (1)")
    with pytest.raises(psycopg2.errors.CheckViolation, match="f_sales_status_check"):
        cur.execute("INSERT INTO mart.f_sales (date_id, item_id, customer_id, city_id, status)"
                    " VALUES (20221205, 1, 1, 1, 'lost')")
    assert rows(db, "SELECT count(*) FROM staging.user_order_log") == [(0,)]
    assert rows(db, "SELECT count(*) FROM mart.f_sales") == [(0,)]


def test_procedures_refuse_a_null_day(db):
    for procedure in ("mart.load_f_sales", "mart.load_f_customer_retention"):
        with pytest.raises(psycopg2.errors.RaiseException, match="must not be NULL"):
            db.cursor().execute(f"CALL {procedure}(NULL)")

