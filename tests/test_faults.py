"""A load killed, terminated or cut off by a server crash at any step leaves the
warehouse and the load log in their before-state (a failed load-log row at
most), its server session ends within seconds, and a re-run ends equal to a
clean load without waiting.

The loader is paused at the step under test by a trigger that the test
creates (a pg_sleep in a statement-level trigger on a table that step
writes): test-only, nothing in the product knows of it."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from salesmart.dev.generate import generate
from salesmart.migrate import apply_migrations
from salesmart.pipeline import load_dir
from salesmart.warehouse import LoadError, SourceFile, load_delivery
from sql_loading import DATA_TABLES, content, reset, rows, snapshot

REPO = Path(__file__).resolve().parents[1]
START = date(2024, 12, 16)
DAY = date(2024, 12, 18)           # the increment under test

# Where each step under test writes first, and how the paused session's query starts.
STEPS = {
    "copy": ("landing.customer_research", "COPY landing.customer_research"),
    "staging merge": ("staging.user_activity_log", "CALL staging.load_user_activity_log"),
    "marts": ("mart.f_customer_retention", "CALL mart.load_f_customer_retention"),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    generate(root, days=1, orders_per_day=30, seed=7, start=START, report_days=2)
    report_only, increment_only = root / "report-only", root / "increment-only"
    report_only.mkdir()
    shutil.copytree(root / "report", report_only / "report")
    shutil.copytree(root / "increments", increment_only / "increments")
    return root


def pause_at(conn, table: str) -> None:
    cur = conn.cursor()
    cur.execute("CREATE FUNCTION public.test_pause() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN PERFORM pg_sleep(120); RETURN NULL; END $$")
    cur.execute(f"CREATE TRIGGER test_pause BEFORE INSERT ON {table} FOR EACH STATEMENT"
                " EXECUTE FUNCTION public.test_pause()")


def unpause(conn, table: str) -> None:
    conn.cursor().execute(f"DROP TRIGGER test_pause ON {table}; DROP FUNCTION public.test_pause()")


def paused_session(conn, timeout: float = 30.0) -> tuple[int, str]:
    """The pid and query of the session sleeping in the pause trigger."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(conn, "SELECT pid, query FROM pg_stat_activity"
                           " WHERE wait_event = 'PgSleep' AND datname = current_database()")
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("the loader never reached the pause")


def seconds_until_gone(conn, pid: int, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not rows(conn, "SELECT FROM pg_stat_activity WHERE pid = %s", (pid,)):
            return time.monotonic() - started
        time.sleep(0.05)
    return timeout


def kill_9_while_paused(db, process: subprocess.Popen, query: str) -> None:
    """Kills `process` with SIGKILL while its session sleeps in the pause, in a statement starting with
    `query`: the server notices the dead client while the statement still runs (it would sleep 120 s)."""
    try:
        pid, running = paused_session(db)
        assert running.startswith(query), running
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        assert seconds_until_gone(db, pid) < 10
    finally:
        process.kill()
        process.communicate()


def loader(dsn: str, folder: Path) -> subprocess.Popen:
    env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "PGOPTIONS")}
    env.update(DATABASE_URL=dsn, SALESMART_LOCK_TIMEOUT="3s")
    return subprocess.Popen([sys.executable, "-m", "salesmart", "load-dir", str(folder)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rerun_equals_a_clean_load(dsn: str, db, dataset: Path) -> None:
    """The increment re-run at once (a dead session's lock would time it out after 3 s) ends
    as the report and the increment loaded cleanly."""
    started = time.monotonic()
    process = loader(dsn, dataset / "increment-only")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert time.monotonic() - started < 60
    rerun = content(db)
    reset(db)
    load_dir(dsn, dataset)
    assert content(db) == rerun


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_of_the_loader_leaves_the_before_state(dsn, db, dataset, step):
    load_dir(dsn, dataset / "report-only")
    before = snapshot(db)
    table, query = STEPS[step]
    pause_at(db, table)
    kill_9_while_paused(db, loader(dsn, dataset / "increment-only"), query)
    unpause(db, table)
    assert snapshot(db) == before          # staging, marts, load log, landing: all as before
    rerun_equals_a_clean_load(dsn, db, dataset)
    assert rows(db, "SELECT file_kind, status FROM staging.load_log WHERE load_kind = 'increment'"
                    " ORDER BY load_id") == [(kind, "success") for kind in (
                        "user_order_log", "user_activity_log", "customer_research", "price_log")]


def test_a_terminated_session_is_logged_as_failed_and_retryable(dsn, db, dataset):
    load_dir(dsn, dataset / "report-only")
    before = snapshot(db, DATA_TABLES)
    pause_at(db, "mart.f_customer_retention")
    folder = dataset / "increment-only" / "increments" / DAY.isoformat()
    files = [SourceFile(path, str(path)) for path in sorted(folder.iterdir())]
    errors: list[LoadError] = []

    def load():
        try:
            load_delivery(dsn, files, load_kind="increment", where=str(folder), date_from=DAY, date_to=DAY)
        except LoadError as error:
            errors.append(error)

    thread = threading.Thread(target=load)
    thread.start()
    pid, _ = paused_session(db)
    db.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    thread.join(60)
    assert len(errors) == 1 and errors[0].retryable, errors
    # libpq reports the FATAL it was sent, or just the closed connection
    assert "terminating connection" in str(errors[0]) or "server closed the connection" in str(errors[0])
    unpause(db, "mart.f_customer_retention")
    assert snapshot(db, DATA_TABLES) == before
    logged = rows(db, "SELECT file_kind, status, error_message FROM staging.load_log"
                      " WHERE load_kind = 'increment' ORDER BY load_id")
    assert [(kind, status) for kind, status, _ in logged] == [(kind, "failed") for kind in (
        "user_order_log", "user_activity_log", "customer_research", "price_log")]
    assert {message for _, _, message in logged} == {f"rolled back: the marts failed: {errors[0]}"}
    rerun_equals_a_clean_load(dsn, db, dataset)


def test_bad_input_is_not_retryable(dsn, tmp_path, dataset):
    folder = tmp_path / "bad"
    shutil.copytree(dataset / "increments" / DAY.isoformat(), folder)
    orders = folder / "user_order_log_inc.csv"
    orders.write_text(orders.read_text().replace(",shipped", ",lost", 1))
    with pytest.raises(LoadError) as error:
        load_delivery(dsn, [SourceFile(path, str(path)) for path in sorted(folder.iterdir())],
                      load_kind="increment", where=str(folder), date_from=DAY, date_to=DAY)
    assert not error.value.retryable and "column status" in str(error.value)


def test_a_server_crash_mid_load_leaves_the_before_state(own_server, dataset):
    dsn = own_server.dsn("postgres")
    apply_migrations(dsn)
    db = psycopg2.connect(dsn)
    db.autocommit = True
    try:
        load_dir(dsn, dataset / "report-only")
        before = snapshot(db, DATA_TABLES)
        pause_at(db, "mart.f_customer_retention")
        process = loader(dsn, dataset / "increment-only")
        paused_session(db)
    finally:
        db.close()
    port = own_server.port
    own_server.stop(mode="immediate")
    own_server.start(port=port)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "Traceback" not in stderr
    db = psycopg2.connect(dsn)
    db.autocommit = True
    try:
        unpause(db, "mart.f_customer_retention")
        assert snapshot(db, DATA_TABLES) == before
        # the failure was written after the restart, on a fresh connection
        assert rows(db, "SELECT status, count(*) FROM staging.load_log WHERE load_kind = 'increment'"
                        " GROUP BY 1") == [("failed", 4)]
        rerun_equals_a_clean_load(dsn, db, dataset)
    finally:
        db.close()


DBA_CALL = """
import sys
import psycopg2
psycopg2.connect(sys.argv[1]).cursor().execute("CALL mart.load_f_customer_retention('2024-12-16')")
"""


def test_a_dba_session_killed_mid_call_ends_and_frees_the_warehouse(empty_database, dataset):
    """Not the loader's sessions only: the server notices any dead client of the warehouse database while
    its statement runs (a DBA's psql killed in the middle of a long CALL, which holds the writer lock),
    rolls it back and ends the session within seconds."""
    url = empty_database("dead_dba")
    apply_migrations(url)
    db = psycopg2.connect(url)
    db.autocommit = True
    try:
        load_dir(url, dataset / "report-only")
        before = snapshot(db)
        pause_at(db, "mart.f_customer_retention")
        kill_9_while_paused(db, subprocess.Popen([sys.executable, "-c", DBA_CALL, url]),
                            "CALL mart.load_f_customer_retention")
        unpause(db, "mart.f_customer_retention")
        assert snapshot(db) == before
        rerun_equals_a_clean_load(url, db, dataset)
    finally:
        db.close()
