"""Repeats, order, re-deliveries, rollback and
concurrency leave the warehouse as one clean load would."""
from __future__ import annotations

import random
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import psycopg2
import pytest

from model import Model
from salesmart.dev.generate import generate
from sql_loading import (
    CONTENT_TABLES,
    KINDS,
    build_marts,
    call,
    content,
    copy_and_merge,
    day_quality,
    facts,
    increment_days,
    increment_file,
    load_file,
    load_increment,
    load_report,
    reset,
    retention,
    rows,
    snapshot,
    table,
)

START = date(2023, 3, 1)          # a Wednesday; increments 03-06 .. 03-13 include two Mondays
REPORT_DAYS = 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("idempotency")
    generate(root, days=8, orders_per_day=60, seed=3, start=START, report_days=REPORT_DAYS)
    return root


# ---------------------------------------------------------- twice == once ----

def test_every_procedure_called_twice_equals_once(db, dataset):
    # an empty warehouse, so that the first call of each step has something to do
    day = increment_days(dataset)[0]
    not_logged = [t for t in snapshot(db) if t != "staging.load_log"]

    def twice(name, action):
        before = snapshot(db)
        action()
        once = snapshot(db)
        assert once != before, f"{name}: the first call changed nothing, the test proves nothing"
        action()
        again = snapshot(db)
        for t in not_logged:
            assert again[t] == once[t], f"{name} called twice differs from once in {t}"
        return once, again

    for kind in KINDS:
        once, again = twice(f"staging load of {kind}",
                            lambda: load_file(db, increment_file(dataset, day, kind), day, day))  # noqa: B023 - run at once
        first, second = (rows(db, "SELECT file_name, file_kind, load_kind, date_from, date_to, rows_read,"
                                  " rows_loaded, duplicates_dropped, out_of_date_rows, checksum, status"
                                  " FROM staging.load_log ORDER BY load_id DESC LIMIT 2"))
        assert first == second and first[-1] == "success"  # a log row per load, same figures
        assert len(again["staging.load_log"]) == len(once["staging.load_log"]) + 1

    for procedure in ("mart.load_d_city", "mart.load_d_item", "mart.load_d_customer", "mart.load_f_sales",
                      "mart.load_f_customer_retention", "mart.load_f_customer_retention_monthly"):
        once, again = twice(procedure, lambda: call(db, procedure, day))  # noqa: B023 - run at once
        assert again["staging.load_log"] == once["staging.load_log"]

    # the report and the day's whole pipeline again on top: the day's rows do not move, ids included
    load_report(db, dataset / "report")
    state = snapshot(db)
    load_increment(db, increment_file(dataset, day).parent, day)
    after = snapshot(db)
    for t in not_logged:
        assert after[t] == state[t], t


# --------------------------------------------------------------- any order ----

def test_days_in_shuffled_order_with_repeats_equal_days_once_in_order(db, dataset):
    days = increment_days(dataset)
    load_report(db, dataset / "report")
    for day in days:
        load_increment(db, increment_file(dataset, day).parent, day)
    in_order = content(db)
    assert len(in_order["mart.f_sales"]) == 60 * (REPORT_DAYS + len(days))

    reset(db)
    assert content(db)["mart.f_sales"] == []
    schedule = days + days[1::3] + days[-1:]
    random.Random(42).shuffle(schedule)
    schedule.insert(len(schedule) // 2, "report")
    schedule.append("report")
    assert schedule != sorted(days)
    for step in schedule:
        if step == "report":
            load_report(db, dataset / "report")
        else:
            load_increment(db, increment_file(dataset, step).parent, step)
    shuffled = content(db)
    for t in CONTENT_TABLES:
        assert shuffled[t] == in_order[t], t


# --------------------------------------------------------- re-delivery ----

def _file_with(path, keep=lambda line: True, extra=()):
    lines = path.read_bytes().decode().split("\r\n")
    header, body = lines[0], [line for line in lines[1:] if line]
    return "\r\n".join([header] + [line for line in body if keep(line)] + list(extra)).encode() + b"\r\n"


def test_a_day_redelivered_with_fewer_then_more_orders_is_replaced(db, dataset, tmp_path):
    days = increment_days(dataset)
    day, other = days[2], days[3]
    model = Model()
    for d in (day, other):
        for kind in ("user_order_log", "user_activity_log"):
            load_file(db, increment_file(dataset, d, kind), d, d)
            model.load_file(increment_file(dataset, d, kind), d, d)
        build_marts(db, [d])
    source = increment_file(dataset, day)
    uids = sorted({line.split(",")[1] for line in source.read_text().splitlines()[1:]})
    kept = set(uids[: len(uids) // 3])
    first_line = source.read_text().splitlines()[1].split(",")
    extra_uid = "f" * 32
    extra = [",".join(["900001", extra_uid] + first_line[2:10] + ["5", "550", "refunded"]),
             ",".join(["900002", extra_uid] + first_line[2:10] + ["5", "550", "refunded"])]
    versions = {
        "fewer": _file_with(source, keep=lambda line: line.split(",")[1] in kept),
        "more": _file_with(source, extra=extra),
        "empty": _file_with(source, keep=lambda line: False),     # header only: the day had no orders
    }
    other_before = rows(db, "SELECT * FROM staging.user_order_log WHERE date_time::date = %s ORDER BY 1", (other,))

    for version, data in versions.items():
        path = tmp_path / version / "user_order_log_inc.csv"
        path.parent.mkdir()
        path.write_bytes(data)
        load_file(db, path, day, day)
        model.load_file(path, day, day)
        build_marts(db, [day])

        expected_uids = {"fewer": kept, "more": set(uids) | {extra_uid}, "empty": set()}[version]
        assert {u for (u,) in rows(db, "SELECT uniq_id FROM staging.user_order_log"
                                       " WHERE date_time::date = %s", (day,))} == expected_uids, version
        assert {u for (u,) in rows(db, "SELECT uniq_id FROM mart.f_sales WHERE date_id = %s",
                                   (int(day.strftime("%Y%m%d")),))} == expected_uids, version
        f_sales = facts(db)
        assert f_sales == model.f_sales(), version
        for period_name in ("weekly", "monthly"):
            assert retention(db, period_name) == model.retention(period_name), (version, period_name)
        assert day_quality(db) == model.day_quality(), version
        assert rows(db, "SELECT * FROM staging.user_order_log WHERE date_time::date = %s ORDER BY 1",
                    (other,)) == other_before, "another day changed"
        if version == "more":
            assert f_sales[extra_uid][4:] == (-5, Decimal("-550.00"), "refunded")
    assert rows(db, "SELECT count(*) FROM mart.f_customer_retention"
                    " WHERE period_name = 'weekly' AND period_start = %s",
                (day - timedelta(days=day.weekday()),)) == [(len({k for k in model.retention()
                                                                   if k[0] == int(day.strftime("%G%V"))}),)]


def test_a_corrected_redelivery_leaves_dimensions_as_a_clean_load(db, dataset, tmp_path):
    """Corrected re-deliveries end in the same warehouse as loading the final version
    once, so a customer, item or city that only the wrong version had must not stay behind."""
    day = increment_days(dataset)[0]
    source = increment_file(dataset, day)
    ghost = "9" * 32 + f",{day}T00:00:00,7,Ghost Town,999999,Gus,Ghost,77,Ghost item,1,10,shipped"
    wrong = tmp_path / "wrong" / "user_order_log_inc.csv"
    wrong.parent.mkdir()
    wrong.write_bytes(_file_with(source, extra=["900001," + ghost]))
    for path in (wrong, source):              # the wrong version, then its correction
        load_file(db, path, day, day)
        build_marts(db, [day])
    assert rows(db, "SELECT count(*) FROM mart.f_sales WHERE customer_id = 999999") == [(0,)]
    corrected = content(db)

    reset(db)
    load_file(db, source, day, day)
    build_marts(db, [day])
    clean = content(db)
    for t in ("staging.user_order_log", "mart.f_sales", "mart.f_customer_retention"):
        assert corrected[t] == clean[t], t
    left_behind = {t: sorted(set(corrected[t]) - set(clean[t])) for t in ("mart.d_customer", "mart.d_item",
                                                                           "mart.d_city")}
    assert left_behind == {"mart.d_customer": [], "mart.d_item": [], "mart.d_city": []}, \
        "dimension rows of the wrong version survive its correction"


# ------------------------------------------------------------ atomicity ----

def test_a_call_inside_a_rolled_back_transaction_leaves_no_trace(dsn, db, dataset):
    load_report(db, dataset / "report")
    day = increment_days(dataset)[0]
    before = snapshot(db)
    conn = psycopg2.connect(dsn)
    try:
        cur = conn.cursor()
        for kind in KINDS:   # COPY + CALL of every file
            copy_and_merge(cur, f"{kind}_inc.csv", increment_file(dataset, day, kind).read_bytes(), day, day)
        for procedure in ("mart.load_d_city", "mart.load_d_item", "mart.load_d_customer",
                          "mart.load_f_sales", "mart.load_f_customer_retention"):
            cur.execute(f"CALL {procedure}(%s)", (day,))
        inside = snapshot(conn)
        for t in ("staging.user_order_log", "staging.load_log", "mart.f_sales", "mart.f_customer_retention",
                  "mart.d_customer"):
            assert inside[t] != before[t], f"{t} did not change inside the transaction"
        conn.rollback()
    finally:
        conn.close()
    assert snapshot(db) == before


# ----------------------------------------------------------- concurrency ----

def _waiting(db, pid: int, timeout: float = 10.0) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waits = rows(db, "SELECT locktype, mode, relation::regclass::text FROM pg_locks WHERE pid = %s AND NOT granted",
                     (pid,))
        if waits:
            return waits
        time.sleep(0.02)
    return []


def _serialized(dsn, db, work, wait=("relation", "ExclusiveLock", "staging.writer_lock")) -> dict:
    """Run work(cursor) on two connections, the second starting while the first holds its
    transaction open; show the second waits (on the writer lock, or the lock given)
    and finishes after the first commits."""
    first, second = psycopg2.connect(dsn), psycopg2.connect(dsn)
    events, errors = [], []

    def run_second():
        try:
            work(second.cursor())
            events.append("second called")
            second.commit()
            events.append("second committed")
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
            second.rollback()

    try:
        work(first.cursor())
        thread = threading.Thread(target=run_second)
        thread.start()
        waits = _waiting(db, second.get_backend_pid())
        assert waits == [wait], waits
        assert events == []
        events.append("first committed")
        first.commit()
        thread.join(30)
        assert not thread.is_alive()
        assert errors == []
        assert events == ["first committed", "second called", "second committed"]
    finally:
        first.close()
        second.close()
    return {"events": events}


def test_concurrent_load_f_sales_of_one_day_serialize(dsn, db, dataset):
    day = increment_days(dataset)[0]
    load_file(db, increment_file(dataset, day), day, day)
    _serialized(dsn, db, lambda cur: cur.execute("CALL mart.load_f_sales(%s)", (day,)))
    expected = Model()
    expected.load_file(increment_file(dataset, day), day, day)
    assert facts(db) == expected.f_sales()
    assert rows(db, "SELECT count(*), count(DISTINCT uniq_id), max(id) FROM mart.f_sales") == [(60, 60, 60)]


def test_concurrent_retention_of_one_week_serialize(dsn, db, dataset):
    day = increment_days(dataset)[0]
    load_file(db, increment_file(dataset, day), day, day)
    call(db, "mart.load_f_sales", day)
    call(db, "mart.load_f_customer_retention", day)
    once = table(db, "mart.f_customer_retention", order_by="period_id, item_id")
    db.cursor().execute("TRUNCATE mart.f_customer_retention")
    _serialized(dsn, db, lambda cur: cur.execute("CALL mart.load_f_customer_retention(%s)", (day,)))
    assert table(db, "mart.f_customer_retention", order_by="period_id, item_id") == once


@pytest.mark.parametrize("kind", ["user_order_log", "customer_research"])
def test_concurrent_staging_loads_of_one_file_serialize(dsn, db, dataset, kind):
    day = increment_days(dataset)[0]          # a Monday: its research file holds Wednesday
    path = increment_file(dataset, day, kind)
    # The first merge emptied landing by TRUNCATE, which holds it to the end of the
    # transaction: the second waits at its COPY, before it has taken anything.
    _serialized(dsn, db, lambda cur: copy_and_merge(cur, path.name, path.read_bytes(), day, day),
                wait=("relation", "RowExclusiveLock", f"landing.{kind}"))
    model = Model()
    stats = model.load_file(path, day, day)
    if kind == "user_order_log":
        assert table(db, "staging.user_order_log") == [tuple(o.values()) for _, o in sorted(model.orders.items())]
    else:
        assert rows(db, "SELECT count(*), min(date_id)::date, max(date_id)::date FROM staging.customer_research") \
            == [(30, date(2023, 3, 8), date(2023, 3, 8))]
    assert rows(db, f"SELECT count(*) FROM landing.{kind}") == [(0,)]
    assert rows(db, "SELECT status, rows_read, rows_loaded, duplicates_dropped, out_of_date_rows"
                    " FROM staging.load_log ORDER BY load_id") == [
        ("success", stats["rows_read"], stats["rows_loaded"], stats["duplicates_dropped"],
         stats["out_of_date_rows"])] * 2


def test_concurrent_days_sharing_customers_do_not_deadlock(dsn, db, dataset):
    """Every day of the dataset's increments loaded at once, one transaction per day."""
    days = increment_days(dataset)
    for day in days:
        load_file(db, increment_file(dataset, day), day, day)
    barrier = threading.Barrier(len(days))
    errors = []

    def load(day):
        conn = psycopg2.connect(dsn)
        try:
            barrier.wait()
            conn.cursor().execute("CALL mart.load_f_sales(%s)", (day,))
            conn.cursor().execute("CALL mart.load_f_customer_retention(%s)", (day,))
            conn.commit()
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=load, args=(d,)) for d in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    concurrent = content(db)
    reset(db)
    for day in days:
        load_file(db, increment_file(dataset, day), day, day)
    build_marts(db, days)
    sequential = content(db)
    for t in ("mart.f_sales", "mart.d_customer", "mart.d_item", "mart.d_city"):
        assert concurrent[t] == sequential[t], t
