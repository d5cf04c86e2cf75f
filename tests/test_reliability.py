"""The calendar grows to any valid date, concurrent loads serialize without
deadlocks, the load's statements keep their plans under bad statistics,
rollbacks that would lose or falsify data refuse."""
from __future__ import annotations

import calendar
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pytest

from model import Model
from salesmart import warehouse
from salesmart.dev.generate import generate
from salesmart.warehouse import SourceFile, load_delivery
from sql_loading import build_marts, content, facts, increment_file, load_file, reset, rows, snapshot

REPO = Path(__file__).resolve().parents[1]
ORDER_HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
                "item_id,item_name,quantity,payment_amount,status")


def order_line(n: int, uid: str, day: date, *, customer: int = 1, item: int = 1, qty: int = 2,
               amount: str = "200", status: str = "shipped") -> str:
    return (f"{n},{uid},{day.isoformat()}T00:00:00,1,Northport,{customer},Ann,Able,{item},Bread,"
            f"{qty},{amount},{status}")


def order_file(path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join([ORDER_HEADER, *lines]) + "\r\n").encode())


# ------------------------------------------------------------ the calendar ----

@pytest.mark.parametrize("day", [date(1, 1, 1), date(1999, 12, 31), date(2100, 1, 1), date(9999, 12, 31)])
def test_the_calendar_grows_to_any_valid_date(db, tmp_path, day):
    path = tmp_path / "user_order_log_inc.csv"
    order_file(path, [order_line(1, "a" * 32, day), order_line(2, "b" * 32, day, customer=2, status="refunded")])
    load_file(db, path, day, day)
    build_marts(db, [day])
    date_id = day.year * 10000 + day.month * 100 + day.day
    model = Model()
    model.load_file(path, day, day)
    assert facts(db) == model.f_sales()
    iso_year, iso_week, iso_day = day.isocalendar()
    assert rows(db, "SELECT date_actual, week_of_year, day_of_week, year_actual FROM mart.d_calendar"
                    " WHERE date_id = %s", (date_id,)) == [(day, iso_week, iso_day, day.year)]
    assert rows(db, "SELECT count(*), min(date_actual), max(date_actual) FROM mart.d_calendar"
                    " WHERE year_actual = %s", (day.year,)) == [
        (366 if calendar.isleap(day.year) else 365,
         date(day.year, 1, 1), date(day.year, 12, 31))]
    assert rows(db, "SELECT period_name, period_id, item_id, new_customers_count, customers_refunded"
                    " FROM mart.f_customer_retention ORDER BY 1") == [
        ("monthly", day.year * 100 + day.month, 1, 1, 1), ("weekly", iso_year * 100 + iso_week, 1, 1, 1)]


# ------------------------------------------------ rollbacks that lose data ----

def _yoyo(url: str, *args: str, allow_data_loss: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=url)
    env.pop("PGOPTIONS", None)
    if allow_data_loss:
        env["PGOPTIONS"] = "-c salesmart.allow_data_loss=on"
    return subprocess.run([str(REPO / ".venv" / "bin" / "yoyo"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_rollbacks_that_would_lose_or_falsify_data_refuse(empty_database, tmp_path):
    url = empty_database("rollback_guards")
    assert _yoyo(url, "apply").returncode == 0
    day = date(2024, 12, 23)
    path = tmp_path / "user_order_log_inc.csv"
    order_file(path, [order_line(1, "a" * 32, day), order_line(2, "r" * 32, day, status="refunded")])
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        load_file(conn, path, day, day)
        build_marts(conn, [day])

        def applied() -> list[str]:
            return [m for (m,) in rows(conn, "SELECT migration_id FROM _yoyo_migration ORDER BY 1")]

        everything = applied()
        # 0006 keeps the only record of past loads
        refused = _yoyo(url, "rollback", "--revision", "0006.load-log")
        assert refused.returncode != 0
        assert "rolling back 0006.load-log would drop the record of past loads" in refused.stderr
        assert rows(conn, "SELECT count(*) FROM staging.load_log") == [(1,)]
        assert applied() == everything[:everything.index("0006.load-log") + 1]

        assert _yoyo(url, "rollback", "--revision", "0003.f-sales-order-key", allow_data_loss=True).returncode == 0
        # 0002: refunds would become shipped orders with negative amounts
        refused = _yoyo(url, "rollback", "--revision", "0002.order-status")
        assert refused.returncode != 0 and "would turn the stored refunds into shipped orders" in refused.stderr
        assert rows(conn, "SELECT status, count(*) FROM mart.f_sales GROUP BY 1 ORDER BY 1") == [
            ("refunded", 1), ("shipped", 1)]
        conn.cursor().execute("DELETE FROM mart.f_sales WHERE status = 'refunded'")
        conn.cursor().execute("DELETE FROM staging.user_order_log WHERE status = 'refunded'")
        assert _yoyo(url, "rollback", "--revision", "0002.order-status").returncode == 0
        # 0001: the orders themselves
        refused = _yoyo(url, "rollback", "--all")
        assert refused.returncode != 0 and "would drop the data in staging and mart" in refused.stderr
        assert rows(conn, "SELECT uniq_id FROM staging.user_order_log") == [("a" * 32,)]
        assert _yoyo(url, "rollback", "--all", allow_data_loss=True).returncode == 0
        assert applied() == []
    finally:
        conn.close()


# --------------------------------------------------- incomplete deliveries ----

@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    generate(root, days=2, orders_per_day=10, seed=5, start=date(2024, 12, 16), report_days=2)
    return root


def _load_dir(dsn: str, folder: Path) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "PGOPTIONS")}
    env["DATABASE_URL"] = dsn
    return subprocess.run([sys.executable, "-m", "salesmart", "load-dir", str(folder)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _broken_copy(source: Path, target: Path, breakage) -> Path:
    shutil.copytree(source, target, symlinks=True)
    breakage(max((target / "increments").iterdir()))
    return target


def _missing_file(increment: Path) -> None:
    (increment / "price_log_inc.csv").unlink()


def _empty_folder(increment: Path) -> None:
    shutil.rmtree(increment)
    increment.mkdir()


def _directory(increment: Path) -> None:
    (increment / "user_order_log_inc.csv").unlink()
    (increment / "user_order_log_inc.csv").mkdir()


def _dangling_symlink(increment: Path) -> None:
    (increment / "user_activity_log_inc.csv").unlink()
    (increment / "user_activity_log_inc.csv").symlink_to(increment / "gone.csv")


@pytest.mark.parametrize("breakage, message", [
    (_missing_file, "incomplete delivery, no price_log file; nothing loaded"),
    (_empty_folder, "incomplete delivery, no user_order_log, user_activity_log, customer_research, price_log file"),
    (_directory, "user_order_log_inc.csv: a directory, not a file; nothing loaded"),
    (_dangling_symlink, "user_activity_log_inc.csv: a dangling symlink, not a file; nothing loaded"),
])
def test_an_incomplete_delivery_changes_nothing(dsn, db, small_dataset, tmp_path, breakage, message):
    before = snapshot(db)
    folder = _broken_copy(small_dataset, tmp_path / "data", breakage)
    result = _load_dir(dsn, folder)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    # checked before anything loads: not even the report or the complete days went in
    assert snapshot(db) == before
    # and the same folder, repaired, loads
    shutil.rmtree(folder)
    assert _load_dir(dsn, shutil.copytree(small_dataset, folder)).returncode == 0
    assert rows(db, "SELECT count(*) FROM mart.f_sales") == [(40,)]


# ------------------------------------------------------------- concurrency ----

def _in_threads(*works) -> list[Exception]:
    errors: list[Exception] = []

    def run(work):
        try:
            work()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_a_multi_day_transaction_beside_a_single_day_call_does_not_deadlock(dsn, db, small_dataset):
    """The deadlock seen in production: BEGIN; load_f_sales(D1); sleep; load_f_sales(D2); COMMIT in one session, and
    load_f_sales(D2) in another 0.7 s later. The days share items and cities; ON CONFLICT used to lock them."""
    d1, d2 = date(2024, 12, 18), date(2024, 12, 19)
    for day in (d1, d2):
        load_file(db, increment_file(small_dataset, day), day, day)
    build_marts(db, [d1, d2])   # the dimension rows exist: a re-run of the days changes none of them
    assert rows(db, "SELECT item_id FROM staging.user_order_log GROUP BY item_id"
                    " HAVING count(DISTINCT date_time) > 1") != [], "the days share no item"
    single_started = threading.Event()

    def multi_day():
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("CALL mart.load_f_sales(%s)", (d1,))
                single_started.wait(10)
                time.sleep(1.0)
                cur.execute("CALL mart.load_f_sales(%s)", (d2,))
        finally:
            conn.close()

    def single_day():
        time.sleep(0.7)
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cur:
                single_started.set()
                cur.execute("CALL mart.load_f_sales(%s)", (d2,))
        finally:
            conn.close()

    assert _in_threads(multi_day, single_day) == []
    model = Model()
    for day in (d1, d2):
        model.load_file(increment_file(small_dataset, day), day, day)
    assert facts(db) == model.f_sales()
    assert {r[0]: r[1:] for r in rows(db, "SELECT customer_id, first_name, last_name, city_id"
                                          " FROM mart.d_customer")} == model.d_customer()


def test_two_loads_of_one_day_and_three_rebuilds_of_one_week_at_once(dsn, db, small_dataset):
    day = date(2024, 12, 18)
    files = [SourceFile(path, str(path)) for path in sorted(increment_file(small_dataset, day).parent.iterdir())]

    def load():
        load_delivery(dsn, files, load_kind="increment", where="test", date_from=day, date_to=day)

    assert _in_threads(load, load, lambda: load_delivery(dsn, [SourceFile(p, str(p)) for p in sorted(
        increment_file(small_dataset, day + timedelta(days=1)).parent.iterdir())], load_kind="increment", where="test",
        date_from=day + timedelta(days=1), date_to=day + timedelta(days=1))) == []
    concurrent = content(db)
    assert rows(db, "SELECT status, count(*) FROM staging.load_log GROUP BY 1") == [("success", 12)]

    def rebuild_week():
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("CALL mart.load_f_customer_retention(%s)", (day,))
        finally:
            conn.close()

    db.cursor().execute("DELETE FROM mart.f_customer_retention WHERE period_name = 'weekly'")
    assert _in_threads(rebuild_week, rebuild_week, rebuild_week) == []
    assert content(db) == concurrent

    reset(db)
    for current in (day, day + timedelta(days=1)):
        files = sorted(increment_file(small_dataset, current).parent.iterdir())
        load_delivery(dsn, [SourceFile(p, str(p)) for p in files],
                      load_kind="increment", where="test", date_from=current, date_to=current)
    assert content(db) == concurrent


def test_a_load_waiting_on_a_lock_says_who_holds_it(dsn, db, small_dataset, monkeypatch, caplog):
    """A load that waits on a lock longer than a while (30 s; 1 s here) logs who holds it: pid,
    application, when their query started and what it is, so a hang explains itself."""
    monkeypatch.setattr(warehouse, "LOCK_WAIT_REPORT_AFTER", 1.0, raising=False)
    monkeypatch.setattr(warehouse, "LOCK_WAIT_CHECK_INTERVAL", 0.2, raising=False)
    day = date(2024, 12, 18)
    files = [SourceFile(p, str(p)) for p in sorted(increment_file(small_dataset, day).parent.iterdir())]
    holder = psycopg2.connect(dsn, application_name="dba-at-the-console")
    try:
        holder.cursor().execute("CALL mart.load_f_customer_retention('2024-12-16')")   # open: holds the lock
        holder_pid = holder.get_backend_pid()
        loading = threading.Thread(target=lambda: _in_threads(lambda: load_delivery(
            dsn, files, load_kind="increment", where="test", date_from=day, date_to=day)))
        loading.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(str(holder_pid) in r.getMessage() for r in caplog.records):
            time.sleep(0.1)
        holder.rollback()
        loading.join(60)
    finally:
        holder.close()
    said = [r.getMessage() for r in caplog.records if str(holder_pid) in r.getMessage()]
    assert said, "the waiting load never said who holds the lock"
    assert "dba-at-the-console" in said[0] and "CALL mart.load_f_customer_retention('2024-12-16')" in said[0], said
    assert re.search(r"query started \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", said[0]), said
    assert rows(db, "SELECT status, count(*) FROM staging.load_log GROUP BY 1") == [("success", 4)]
