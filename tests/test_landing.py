"""Landing does not grow. Landing tables have no autovacuum (0010), so the rows a
load leaves there dead would stay for good: every load empties landing by
TRUNCATE, and only when another session holds landing (a DBA's hand \\copy in
an open transaction) by DELETE, beside it, without waiting and without
deadlock. And a load keeps landing to itself: a \\copy from another session
waits for its commit instead of joining its delivery."""
from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from salesmart import files, progress
from salesmart.dev.generate import generate
from salesmart.files import FILE_KINDS, ValidatingReader
from salesmart.warehouse import LoadError, SourceFile, load_delivery
from sql_loading import (
    KINDS,
    build_marts,
    content,
    copy_and_merge,
    hand_copy,
    increment_file,
    load_file,
    reset,
    rows,
    transaction,
)

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
            waits = rows(db, "SELECT l.locktype, l.mode, l.relation::regclass::text"
                             " FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid)"
                             " WHERE NOT l.granted AND a.application_name = '' AND a.pid <> %s"
                             " AND a.pid <> pg_backend_pid()", (dba.get_backend_pid(),))
            time.sleep(0.02)
        assert waits == [("relation", "ExclusiveLock", "staging.writer_lock")]
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


DISK_FULL = """
CREATE FUNCTION public.test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.line_no > 5 THEN  -- as PostgreSQL words a short write when the disk fills up
        RAISE EXCEPTION 'could not extend file "base/1/2": wrote only 4096 of 8192 bytes at block 7'
            USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_disk_full BEFORE INSERT ON landing.customer_research FOR EACH ROW
    EXECUTE FUNCTION public.test_disk_full();
"""


def test_what_aborted_loads_left_in_landing_goes_at_the_start_of_the_next_load(dsn, db, dataset):
    """The rows of a load killed during its COPY (or stopped by a server crash, or a full disk) stay in
    landing, where no autovacuum reclaims them. Every load empties landing first, in a step its own
    rollback does not undo; a full disk fails it as retryable, saying so, and its failure is logged."""
    aborted = psycopg2.connect(dsn)
    try:
        aborted.cursor().execute("INSERT INTO landing.price_log (item_name, price)"
                                 " SELECT 'Item ' || n, n FROM generate_series(1, 20000) AS n")
        hand_copy(aborted.cursor(), increment_file(dataset, D2))
    finally:
        aborted.close()          # as a kill: the transaction is rolled back, its rows stay, dead
    assert landing_sizes(db)["price_log"] > 0 and landing_sizes(db)["user_order_log"] > 0

    # a load stopped after its first COPYs (here terminated at its third file): the price_log it did not
    # reach was emptied all the same, and stays so after the rollback
    db.cursor().execute("CREATE FUNCTION public.test_pause() RETURNS trigger LANGUAGE plpgsql"
                        " AS $$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;"
                        " CREATE TRIGGER test_pause BEFORE INSERT ON landing.customer_research"
                        " FOR EACH STATEMENT EXECUTE FUNCTION public.test_pause()")
    errors = []
    loader = threading.Thread(target=lambda: _record(errors, load_day, dsn, dataset, D1))
    loader.start()
    deadline = time.monotonic() + 30
    paused = []
    while not paused and time.monotonic() < deadline:
        paused = rows(db, "SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
                          " AND datname = current_database()")
        time.sleep(0.05)
    assert paused, "the load never reached its third file"
    # (the sizes of the tables it merged would wait for it: it holds them, emptied by TRUNCATE)
    assert rows(db, "SELECT pg_relation_size('landing.price_log')") == [(0,)], \
        "landing was not emptied before the load's COPYs"
    db.cursor().execute("SELECT pg_terminate_backend(%s)", paused[0])
    loader.join(60)
    assert len(errors) == 1 and errors[0].retryable, errors
    assert landing_sizes(db)["price_log"] == 0
    db.cursor().execute("DROP TRIGGER test_pause ON landing.customer_research; DROP FUNCTION public.test_pause()")

    # a full disk: retryable, "no space left" in the message and the load log, landing empty after
    db.cursor().execute(DISK_FULL)
    before = rows(db, "SELECT max(load_id) FROM staging.load_log")[0][0]
    with pytest.raises(LoadError) as full:
        load_day(dsn, dataset, D1)
    assert full.value.retryable, full.value
    assert "no space left" in str(full.value).lower(), full.value
    logged = rows(db, "SELECT file_kind, status, error_message FROM staging.load_log WHERE load_id > %s"
                      " ORDER BY load_id", (before,))
    assert [(kind, status) for kind, status, _ in logged] == [(kind, "failed") for kind in KINDS]
    assert all("no space left" in message.lower() for _, _, message in logged), logged
    assert landing_sizes(db) == dict.fromkeys(KINDS, 0)

    db.cursor().execute("DROP TRIGGER test_disk_full ON landing.customer_research;"
                        " DROP FUNCTION public.test_disk_full()")
    load_day(dsn, dataset, D1)
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


# --------------------------------------- copies the loader leaves out ----

def test_the_loader_leaves_out_copies_sent_in_the_same_chunk_or_the_one_before(db, monkeypatch, tmp_path):
    """A line identical to one sent (the file's id aside) stays out of the COPY when the copy sent is in
    the same chunk or the chunk before; further away it is sent again, and the merge drops it. The load
    log counts every copy either way, as a hand \\copy of the whole file does."""
    day = date(2022, 12, 5)
    a, b, c, d, e, f, g = (letter * 32 for letter in "abcdefg")
    uids = [a, b, a, c, b, d, b, e, a, g, f, f]   # three lines a chunk
    lines = [order_line(10 + number, uid, day.isoformat()) for number, uid in enumerate(uids)]
    assert len({len(line) for line in lines}) == 1
    monkeypatch.setattr(files, "CHUNK_SIZE", 3 * len(lines[0] + "\r\n"))
    data = ("\r\n".join([ORDER_HEADER, *lines]) + "\r\n").encode()
    path = tmp_path / "user_order_log_inc.csv"
    path.write_bytes(data)
    counts = ("SELECT rows_read, rows_loaded, duplicates_dropped FROM staging.load_log"
              " WHERE file_kind = 'user_order_log'")
    with transaction(db), db.cursor() as cursor:
        with ValidatingReader(path, FILE_KINDS["user_order_log"], path.name) as reader:
            cursor.copy_expert(reader.copy_sql, reader)
        assert rows(db, "SELECT line_no, uniq_id FROM landing.user_order_log ORDER BY line_no") == [
            (2, a), (3, b), (5, c), (7, d), (9, e), (10, a), (11, g), (12, f)]
        assert reader.stats.copies_dropped == 4
        cursor.execute("CALL staging.load_user_order_log(%s, %s, p_file_name => %s, p_copies_dropped => %s)",
                       (day, day, path.name, reader.stats.copies_dropped))
    assert rows(db, counts) == [(12, 7, 5)]
    loaded = rows(db, "SELECT * FROM staging.user_order_log ORDER BY uniq_id")

    reset(db)
    load_file(db, path.name, day, day, data=data)   # a hand \copy of the whole file
    assert rows(db, counts) == [(12, 7, 5)]
    assert rows(db, "SELECT * FROM staging.user_order_log ORDER BY uniq_id") == loaded


def test_a_hand_copy_of_a_day_loads_as_the_loader_does(dsn, db, dataset):
    """The generated day places its copies as the source does: the loader sends each order about once.
    Loaded by hand instead, COPYing every line, the warehouse and the load log's counts are the same."""
    load_day(dsn, dataset, D1)
    by_loader = content(db)
    counts = ("SELECT file_kind, rows_read, rows_loaded, duplicates_dropped, out_of_date_rows FROM staging.load_log"
              " ORDER BY file_kind")
    loader_counts = rows(db, counts)
    orders_read, orders_loaded = rows(db, "SELECT rows_read, rows_loaded FROM staging.load_log"
                                          " WHERE file_kind = 'user_order_log'")[0]
    assert orders_read > 3 * orders_loaded, "the day has copies"

    reset(db)
    for kind in KINDS:
        load_file(db, increment_file(dataset, D1, kind), D1, D1)
    build_marts(db, [D1])
    assert content(db) == by_loader
    assert rows(db, counts) == loader_counts
