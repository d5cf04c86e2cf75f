"""The DBA guards. A hand-load CALL on an empty landing
table (a \\copy that failed outside a transaction, or never ran) is refused
unless p_allow_empty => true; mart.load_f_sales refuses to delete a day's
legacy history (f_sales rows without uniq_id) unless the transaction sets
salesmart.allow_data_loss = on, and so does a delivery through the loader."""
from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import psycopg2
import psycopg2.errors
import pytest

from salesmart.dev.generate import generate
from salesmart.warehouse import LoadError, SourceFile, load_delivery
from sql_loading import DATA_TABLES, build_marts, load_file, rows, snapshot
from test_retention import HEADER, csv_bytes, order

DAY_1, DAY_2 = date(2022, 12, 5), date(2022, 12, 6)
ORDERS = [order("a1", "2022-12-05", 1, 1, 1, 1, 100), order("b1", "2022-12-06", 2, 2, 2, 2, 200),
          order("b2", "2022-12-06", 1, 3, 1, 1, 100)]
# Each procedure with the hand-load arguments of one increment day.
HAND_LOADS = {
    "user_order_log": "CALL staging.load_user_order_log('2022-12-06', '2022-12-06', p_load_kind => 'increment'{})",
    "user_activity_log": "CALL staging.load_user_activity_log('2022-12-06', '2022-12-06'{})",
    "customer_research": "CALL staging.load_customer_research('2022-12-06', '2022-12-06'{})",
    "price_log": "CALL staging.load_price_log(p_load_kind => 'increment'{})",
}


@pytest.fixture
def two_days(db):
    """Orders of 2022-12-05 and 2022-12-06 in staging and the marts, as a report delivered them."""
    load_file(db, "user_order_log.csv", data=csv_bytes(ORDERS, with_status=False))
    build_marts(db, [DAY_1, DAY_2])
    return db


def test_a_call_after_a_failed_copy_is_refused_and_changes_nothing(two_days):
    db = two_days
    before = snapshot(db)
    cur = db.cursor()
    # psql's \copy outside a transaction: the COPY fails (a quantity of 'two') and rolls back alone
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        cur.copy_expert("COPY landing.user_order_log (line_no, uniq_id, date_time, city_id, city_name, customer_id,"
                        " first_name, last_name, item_id, item_name, quantity, payment_amount)"
                        " FROM STDIN WITH (FORMAT csv, HEADER true)",
                        io.BytesIO(f"{HEADER}\r\n1,{order('b1', '2022-12-06', 2, 2, 2, 'two', 200)}\r\n".encode()))
    with pytest.raises(psycopg2.errors.RaiseException) as refused:
        cur.execute(HAND_LOADS["user_order_log"].format(""))
    assert refused.value.diag.message_primary == (
        "user_order_log.csv: landing.user_order_log is empty: did the \\copy fail? Nothing was loaded")
    assert refused.value.diag.message_hint == (
        "to deliver a file without rows on purpose, CALL with p_allow_empty => true")
    # the day's orders, its facts and the load log are as they were
    assert snapshot(db) == before


@pytest.mark.parametrize("kind", HAND_LOADS)
def test_every_hand_load_refuses_an_empty_landing_table(db, kind):
    before = snapshot(db)
    with pytest.raises(psycopg2.errors.RaiseException, match=rf"landing\.{kind} is empty: did the \\copy fail\?"):
        db.cursor().execute(HAND_LOADS[kind].format(""))
    assert snapshot(db) == before


def test_an_empty_delivery_on_purpose_empties_the_day(two_days):
    db = two_days
    since = rows(db, "SELECT max(load_id) FROM staging.load_log")[0][0]
    cur = db.cursor()
    cur.execute("BEGIN")
    cur.execute(HAND_LOADS["user_order_log"].format(", p_allow_empty => true"))
    assert cur.fetchone() == ([DAY_2],)
    cur.execute("CALL mart.load_f_sales('2022-12-06')")
    cur.execute("COMMIT")
    assert rows(db, "SELECT uniq_id FROM staging.user_order_log") == [("a1",)]
    assert rows(db, "SELECT uniq_id, date_id FROM mart.f_sales") == [("a1", 20221205)]
    assert rows(db, "SELECT file_kind, date_from, date_to, status, rows_read, rows_loaded FROM staging.load_log"
                    " WHERE load_id > %s", (since,)) == [("user_order_log", DAY_2, DAY_2, "success", 0, 0)]


def test_an_empty_price_log_on_purpose_empties_the_snapshot(db):
    load_file(db, "price_log.csv", data=b"Bread,60\r\nMilk,100.50\r\n")
    db.cursor().execute(HAND_LOADS["price_log"].format(", p_allow_empty => true"))
    assert rows(db, "SELECT count(*) FROM staging.price_log") == [(0,)]


# ---------------------------------------------------------- legacy history ----

LEGACY_DAY = date(2024, 12, 17)


def add_legacy_rows(db, day: date, count: int) -> None:
    """f_sales rows as the loader before this release wrote them: no uniq_id, no staging order behind them."""
    for n in range(count):
        db.cursor().execute("INSERT INTO mart.f_sales (date_id, item_id, customer_id, city_id, quantity,"
                            " payment_amount) VALUES (%s, 1, %s, 1, 1, 10)", (int(day.strftime("%Y%m%d")), 900 + n))


def test_load_f_sales_keeps_legacy_history_unless_data_loss_is_allowed(db):
    add_legacy_rows(db, DAY_2, 2)
    load_file(db, "user_order_log.csv", data=csv_bytes(ORDERS, with_status=False))
    before = snapshot(db)
    message = (r"mart\.load_f_sales: 2022-12-06 holds 2 rows of legacy history in mart\.f_sales .*"
               r"SET LOCAL salesmart\.allow_data_loss = on")
    for statement in ("CALL mart.load_f_sales('2022-12-06')", "CALL mart.load_f_sales('2022-12-05', '2022-12-07')"):
        with pytest.raises(psycopg2.errors.RaiseException, match=message):
            db.cursor().execute(statement)
        assert snapshot(db) == before, statement

    cur = db.cursor()
    cur.execute("BEGIN; SET LOCAL salesmart.allow_data_loss = on; CALL mart.load_f_sales('2022-12-05', '2022-12-07');"
                " COMMIT")
    assert rows(db, "SELECT uniq_id, date_id, customer_id, quantity, payment_amount FROM mart.f_sales ORDER BY 1") == [
        ("a1", 20221205, 1, 1, Decimal("100.00")), ("b1", 20221206, 2, 2, Decimal("200.00")),
        ("b2", 20221206, 3, 1, Decimal("100.00"))]
    # the switch lasted for that transaction only
    assert rows(db, "SELECT current_setting('salesmart.allow_data_loss', true)") in ([(None,)], [("",)])


@pytest.fixture
def increment(tmp_path):
    """The four files of the increment of LEGACY_DAY."""
    generate(tmp_path, days=1, orders_per_day=4, seed=3, start=LEGACY_DAY - timedelta(days=1), report_days=1)
    folder = tmp_path / "increments" / LEGACY_DAY.isoformat()
    return [SourceFile(path, str(path)) for path in sorted(folder.iterdir())]


def deliver(dsn, files):
    return load_delivery(dsn, files, load_kind="increment", where="the increment",
                         date_from=LEGACY_DAY, date_to=LEGACY_DAY)


def test_a_delivery_of_a_legacy_day_fails_for_good_and_changes_nothing(db, dsn, increment, monkeypatch):
    add_legacy_rows(db, LEGACY_DAY, 3)
    before = snapshot(db, DATA_TABLES)
    with pytest.raises(LoadError) as failed:
        deliver(dsn, increment)
    assert not failed.value.retryable
    assert "2024-12-17 holds 3 rows of legacy history" in str(failed.value)
    assert "salesmart.allow_data_loss" in str(failed.value)
    assert snapshot(db, DATA_TABLES) == before
    assert rows(db, "SELECT DISTINCT status FROM staging.load_log") == [("failed",)]

    # the operator's answer when the delivery holds the whole day: the same load, allowed
    monkeypatch.setenv("PGOPTIONS", "-c salesmart.allow_data_loss=on")
    assert deliver(dsn, increment) == [LEGACY_DAY]
    assert rows(db, "SELECT count(*) FROM mart.f_sales WHERE uniq_id IS NULL") == [(0,)]
    assert rows(db, "SELECT uniq_id FROM mart.f_sales ORDER BY 1") == rows(
        db, "SELECT uniq_id FROM staging.user_order_log ORDER BY 1")
