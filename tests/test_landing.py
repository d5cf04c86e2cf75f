"""Issue 10: landing does not grow. Landing tables have no autovacuum (0010),
so the rows a load leaves there dead would stay for good: every load
empties landing by TRUNCATE, and only when another session holds landing (a
DBA's hand \\copy in an open transaction) by DELETE, beside it, without
waiting and without deadlock. And a load keeps landing to itself: a \\copy
from another session waits for its commit instead of joining its delivery."""
from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from salesmart import progress
from salesmart.generate import generate
from salesmart.warehouse import SourceFile, load_delivery
from sql_loading import (KINDS, build_marts, content, copy_and_merge, hand_copy, increment_file, load_file, reset,
                         rows)

START = date(2024, 12, 16)
D1, D2 = date(2024, 12, 17), date(2024, 12, 18)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    generate(root, days=2, orders_per_day=40, seed=11, start=START, report_days=1)
    return root


def load_day(dsn: str, root: Path, day: date) -> None:
    files = [SourceFile(path, str(path)) for path in sorted(increment_file(root, day).parent.iterdir())]
    load_delivery(dsn, files, load_kind="increment", where="test", date_from=day, date_to=day)


def landing_sizes(db) -> dict[str, int]:
    return {kind: size for kind, size in rows(db, "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class AS c"
                                                  " WHERE c.relnamespace = 'landing'::regnamespace"
                                                  " AND c.relkind = 'r'")}


def test_loads_leave_landing_empty_with_no_dead_rows(dsn, db, dataset):
    for _ in range(2):    # a day, then its re-run
        load_day(dsn, dataset, D1)
        assert landing_sizes(db) == dict.fromkeys(KINDS, 0)
    # a hand load (COPY + CALL in one transaction) too
    load_file(db, increment_file(dataset, D2), D2, D2)
    assert landing_sizes(db)["user_order_log"] == 0


def test_a_load_beside_an_open_hand_copy_deletes_instead_and_neither_waits(dsn, db, dataset, monkeypatch, caplog):
    # any wait on a lock would fail the load within a second, not hang it
    monkeypatch.setenv("SALESMART_LOCK_TIMEOUT", "1s")
    dba = psycopg2.connect(dsn)
    try:
        cur = dba.cursor()
        path = increment_file(dataset, D2)
        hand_copy(cur, path)                  # BEGIN; \copy ... : the DBA's rows are in landing, uncommitted
        started = time.monotonic()
        load_day(dsn, dataset, D1)            # holds landing beside the DBA: emptied by DELETE
        assert time.monotonic() - started < 30
        assert [r.getMessage().split(" is held")[0] for r in caplog.records
                if r.levelname == "WARNING" and "is held by another session" in r.getMessage()] \
            == ["landing.user_order_log"]
        assert landing_sizes(db)["user_order_log"] > 0, "the DBA's rows, and the load's dead ones"
        # ... ; CALL ...; COMMIT: the DBA's merge has landing to itself and TRUNCATEs it
        cur.execute("CALL staging.load_user_order_log(%s, %s, p_file_name => %s)", (D2, D2, path.name))
        dba.commit()
    finally:
        dba.close()
    assert landing_sizes(db)["user_order_log"] == 0
    assert rows(db, "SELECT file_kind, status, date_from FROM staging.load_log WHERE file_kind = 'user_order_log'"
                    " ORDER BY load_id") == [("user_order_log", "success", D1), ("user_order_log", "success", D2)]
    build_marts(db, [D2])
    together = content(db)

    reset(db)
    load_day(dsn, dataset, D1)
    load_file(db, increment_file(dataset, D2), D2, D2)
    build_marts(db, [D2])
    assert content(db) == together


def test_a_hand_copy_committed_during_a_load_waits_for_it_and_stays_apart(dsn, db, dataset, monkeypatch):
    """An autocommit \\copy that comes after the loader found landing empty, and before its merge, was
    merged into the loader's delivery (here day D2's orders as D1's). Now it waits for the load's commit,
    and its rows then wait in landing for their own CALL."""
    path = increment_file(dataset, D2)
    still_copying_after_the_window, errors = [], []

    def autocommit_copy():
        conn = psycopg2.connect(dsn)
        conn.autocommit = True
        try:
            hand_copy(conn.cursor(), path)
        finally:
            conn.close()

    dba = threading.Thread(target=lambda: _record(errors, autocommit_copy))
    reading = progress.reading

    def copy_during_the_load(readable, total, description):
        if description == path.name:    # D1's order file, by the same name
            dba.start()
            dba.join(2)    # the window: after the loader's check for leftovers, before its merge
            still_copying_after_the_window.append(dba.is_alive())
        return reading(readable, total, description)

    monkeypatch.setattr(progress, "reading", copy_during_the_load)
    try:
        load_day(dsn, dataset, D1)
    finally:
        monkeypatch.undo()
        dba.join(30)
    assert errors == [] and not dba.is_alive(), "the \\copy finished without error once the load was done"
    assert still_copying_after_the_window == [True], "the \\copy waited for the load's commit"
    with_hand_copy_waiting = content(db)
    data_lines = len(path.read_bytes().splitlines()) - 1
    assert rows(db, "SELECT count(*) FROM landing.user_order_log") == [(data_lines,)]

    rows(db, "DELETE FROM landing.user_order_log RETURNING 1")
    reset(db)
    load_day(dsn, dataset, D1)
    assert with_hand_copy_waiting == content(db), "the load is D1's files alone"


def test_a_load_waits_for_an_open_hand_load_at_its_start_holding_nothing(dsn, db, dataset):
    dba = psycopg2.connect(dsn)
    errors = []
    loader = threading.Thread(target=lambda: _record(errors, load_day, dsn, dataset, D1))
    try:
        path = increment_file(dataset, D2)
        copy_and_merge(dba.cursor(), path.name, path.read_bytes(), D2, D2)   # COPY + CALL, not committed
        loader.start()
        deadline = time.monotonic() + 10
        waits = []
        while not waits and time.monotonic() < deadline:
            waits = rows(db, "SELECT l.locktype, l.mode FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid)"
                             " WHERE NOT l.granted AND a.application_name = '' AND a.pid <> %s"
                             " AND a.pid <> pg_backend_pid()", (dba.get_backend_pid(),))
            time.sleep(0.02)
        assert waits == [("advisory", "ExclusiveLock")]
        held = rows(db, "SELECT count(*) FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation"
                        " WHERE c.relnamespace = 'landing'::regnamespace AND l.pid NOT IN (%s, pg_backend_pid())",
                        (dba.get_backend_pid(),))
        assert held == [(0,)], "the waiting loader holds no landing table"
        dba.commit()
        loader.join(30)
        assert not loader.is_alive() and errors == []
    finally:
        dba.close()
        loader.join(30)
    assert landing_sizes(db) == dict.fromkeys(KINDS, 0)


def _record(errors: list, function, *args) -> None:
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(error)


# ------------------------------------------- copies that differ, by path ----

ORDER_HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
                "item_id,item_name,quantity,payment_amount,status")


def order_line(n: int, uid: str, day: str, qty: int = 2) -> str:
    return f"{n},{uid},{day}T10:00:00,1,Northport,1,Ann,Able,1,Bread,{qty},200,shipped"


@pytest.mark.parametrize("range_", ["one day", "the file's days"])
@pytest.mark.parametrize("known", [False, True], ids=["new key", "key in staging"])
def test_copies_that_differ_are_refused_on_every_path(db, range_, known):
    """A day's delivery leaves the check to the primary keys written; a delivery of several days, whose
    copies may fall on different days, checks first. Either way: the lines and the column, nothing loaded."""
    if known:
        load_file(db, "user_order_log.csv", data=("\r\n".join(
            [ORDER_HEADER, order_line(1, "k" * 32, "2022-12-06")]) + "\r\n").encode())
    before = rows(db, "SELECT * FROM staging.user_order_log ORDER BY uniq_id")
    lines = [ORDER_HEADER, order_line(1, "a" * 32, "2022-12-05"), order_line(2, "k" * 32, "2022-12-05"),
             order_line(3, "b" * 32, "2022-12-07"), order_line(4, "k" * 32, "2022-12-06", qty=3)]
    days = (date(2022, 12, 5), date(2022, 12, 5)) if range_ == "one day" else (None, None)
    with pytest.raises(psycopg2.errors.UniqueViolation,
                       match=r"uniq_id k{32} has copies that differ \(lines 3 and 5, column date_time\)"):
        load_file(db, "user_order_log.csv", *days, data=("\r\n".join(lines) + "\r\n").encode())
    assert rows(db, "SELECT * FROM staging.user_order_log ORDER BY uniq_id") == before
    # (the rolled-back COPY's rows are dead in landing until the next load's TRUNCATE)
    assert rows(db, "SELECT count(*) FROM landing.user_order_log") == [(0,)]
