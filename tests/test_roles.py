"""Least-privilege roles. A login granted salesmart_loader
loads whole days (the Python loader, hand COPY + CALL, the backfill
overloads) and can do nothing else; a login granted salesmart_reader reads
mart and the reporting views and nothing else; the roles are shared by the
warehouses of a cluster; a routine keeps its grants across redeploys."""
from __future__ import annotations

import shutil
from datetime import date
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.errors
import pytest
from yoyo import get_backend, read_migrations

from model import Model
from salesmart import pipeline, routines
from salesmart.dev.generate import generate
from salesmart.migrate import apply_migrations
from salesmart.warehouse import LoadError
from sql_loading import load_increment, rows
from test_migrations import MIGRATIONS

LOADER_PROCEDURES = {"staging.load_user_order_log", "staging.load_user_activity_log",
                     "staging.load_customer_research", "staging.load_price_log", "staging.log_failed_load",
                     "staging.lock_warehouse", "staging.lock_landing", "staging.empty_landing",
                     "mart.load_f_sales", "mart.load_f_customer_retention", "mart.load_f_customer_retention_monthly",
                     "mart.day_quality_flags"}


@pytest.fixture
def login(db, dsn):
    """login(role) -> DSN of a new LOGIN role granted `role` (dropped after the test)."""
    created = []

    def create(role: str) -> str:
        name = f"{role.removeprefix('salesmart_')}_{len(created)}_{db.info.dbname}"
        db.cursor().execute(f"CREATE ROLE {name} LOGIN; GRANT {role} TO {name}")
        created.append(name)
        parts = urlsplit(dsn)
        return urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port}"))

    yield create
    for name in created:
        db.cursor().execute(f"DROP ROLE {name}")


def connect(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def refused(conn, statement: str) -> bool:
    try:
        conn.cursor().execute(statement)
    except psycopg2.errors.InsufficientPrivilege:
        return True
    return False


@pytest.fixture(scope="module")
def week_of_data(tmp_path_factory):
    """Report 2024-12-23 .. 12-29, increments 12-30 and 12-31 (with refunds)."""
    folder = tmp_path_factory.mktemp("roles")
    generate(folder, days=2, orders_per_day=30, seed=5, start=date(2024, 12, 23), report_days=7)
    return folder


def test_loader_procedures_run_as_their_owner_with_a_pinned_search_path(db):
    """The contract with the procedures: a loader needs EXECUTE only, never table rights."""
    found = rows(db, """
        SELECT n.nspname || '.' || p.proname, p.oid::regprocedure::text, p.prosecdef, p.proconfig,
               pg_get_userbyid(p.proowner)
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('staging', 'mart')""")
    callable_by_loader = [r for r in found if r[0] in LOADER_PROCEDURES]
    assert {r[0] for r in callable_by_loader} == LOADER_PROCEDURES
    not_definer = [r[1] for r in callable_by_loader if not (r[2] and "search_path=pg_catalog, pg_temp" in r[3])]
    assert not_definer == [], \
        "not SECURITY DEFINER SET search_path = pg_catalog, pg_temp (what a loader may call must be)"
    assert {r[4] for r in found} == {"salesmart_owner"}
    # what the owner's procedures write must be the owner's
    assert rows(db, """
        SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting') AND c.relkind IN ('r', 'p', 'v', 'S')
        UNION SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace AS n
        WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting')""") == [("salesmart_owner",)]


def test_loader_loads_whole_days_and_nothing_else(db, login, week_of_data):
    loader_dsn = login("salesmart_loader")
    # the Python loader, as Airflow runs it: report and increments
    pipeline.load_dir(loader_dsn, week_of_data)
    loader = connect(loader_dsn)
    try:
        model = Model()
        for path in sorted((week_of_data / "report").glob("*.csv")):
            model.load_file(path)
        for day in (date(2024, 12, 30), date(2024, 12, 31)):
            for path in sorted((week_of_data / "increments" / day.isoformat()).glob("*.csv")):
                model.load_file(path, day, day)
        # a DBA's hand load with a loader login: COPY into landing + CALL, then the backfill overloads
        load_increment(loader, week_of_data / "increments" / "2024-12-31", date(2024, 12, 31))
        loader.cursor().execute("CALL mart.load_f_sales('2024-12-23', '2024-12-31');"
                                " CALL mart.load_f_customer_retention('2024-12-23', '2024-12-31');"
                                " CALL mart.load_f_customer_retention_monthly('2024-12-23', '2024-12-31')")
        assert {r[0]: r[1:] for r in rows(db, (
            "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity, payment_amount, status"
            " FROM mart.f_sales"))} == model.f_sales()
        assert rows(db, "SELECT period_name, count(*) FROM mart.f_customer_retention GROUP BY 1 ORDER BY 1") == [
            ("monthly", len(model.retention("monthly"))), ("weekly", len(model.retention()))]
        # what a load learns of the day it loaded, without reading the view
        assert rows(loader, "SELECT mart.day_quality_flags('2024-12-31')") == [
            (model.day_quality()[date(2024, 12, 31)]["flags"],)]

        for statement in (
                "CREATE TABLE staging.x (a int)", "CREATE TABLE landing.x (a int)", "CREATE TABLE public.x (a int)",
                "CREATE SCHEMA x", "ALTER TABLE mart.f_sales ADD COLUMN x int", "DROP TABLE landing.price_log",
                "CREATE INDEX ON landing.price_log (price)", "TRUNCATE landing.price_log",
                "DELETE FROM staging.user_order_log", "UPDATE staging.user_order_log SET quantity = 0",
                "INSERT INTO staging.price_log VALUES ('x', 1)", "DELETE FROM mart.f_sales",
                "UPDATE mart.f_customer_retention SET new_customers_count = 0", "DELETE FROM staging.load_log",
                "UPDATE landing.price_log SET price = 0", "DELETE FROM landing.price_log",
                "SELECT FROM mart.f_sales", "SELECT FROM staging.user_order_log", "SELECT FROM reporting.sales",
                "SELECT FROM reporting.day_quality", "UPDATE mart.day_quality_settings SET volume_min_days = 1",
                "CALL mart.load_f_daily_sales('2024-12-23')",
                "CALL mart.load_d_city('2024-12-23')",
                "CREATE PROCEDURE staging.x() LANGUAGE sql AS 'SELECT 1'"):
            assert refused(loader, statement), statement
    finally:
        loader.close()
    # what was refused left no trace
    assert rows(db, "SELECT count(*) FROM mart.f_sales") == [(len(model.f_sales()),)]


def test_reader_reads_marts_and_views_and_nothing_else(db, login, week_of_data):
    load_increment(db, week_of_data / "increments" / "2024-12-30", date(2024, 12, 30))
    reader = connect(login("salesmart_reader"))
    try:
        readable = rows(db, """
            SELECT c.oid::regclass::text FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname IN ('mart', 'reporting') AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1""")
        assert len(readable) >= 10
        for (relation,) in readable:
            reader.cursor().execute(f"SELECT * FROM {relation} LIMIT 1")
        assert rows(reader, "SELECT count(*) FROM reporting.sales") == rows(db, "SELECT count(*) FROM mart.f_sales")
        assert rows(reader, "SELECT count(*) FROM reporting.weekly_retention_totals") == [(1,)]
        assert rows(reader, "SELECT count(*) FROM reporting.day_quality") == [(1,)]

        for statement in (
                "SELECT FROM staging.user_order_log", "SELECT FROM staging.load_log", "SELECT FROM landing.price_log",
                "INSERT INTO landing.price_log (item_name, price) VALUES ('x', 1)",
                "DELETE FROM mart.f_sales", "UPDATE mart.d_item SET item_name = 'x'",
                "INSERT INTO mart.d_city (city_id, city_name) VALUES (99, 'x')",
                "UPDATE mart.day_quality_settings SET volume_min_days = 1",
                "CALL mart.load_f_sales('2024-12-30')", "CALL mart.load_f_customer_retention('2024-12-30')",
                "CALL staging.load_price_log()", "CALL mart.load_f_sales('2024-12-30', '2024-12-31')",
                "CREATE TABLE mart.x (a int)", "CREATE VIEW reporting.x AS SELECT 1", "CREATE TABLE public.x (a int)"):
            assert refused(reader, statement), statement
    finally:
        reader.close()


def test_a_reader_never_holds_up_a_load(login, week_of_data, monkeypatch):
    """Advisory locks are open to every login, so a writer lock made of one let a reader stop every load.
    The writer lock is out of a reader's reach, and what a reader can take on any table does not block."""
    monkeypatch.setenv("SALESMART_LOCK_TIMEOUT", "2s")    # a load held up fails within 2 s
    loader_dsn = login("salesmart_loader")
    reader = connect(login("salesmart_reader"))
    try:
        reader.cursor().execute("SELECT pg_advisory_lock(hashtext('salesmart.warehouse'))")
        pipeline.load_dir(loader_dsn, week_of_data)
        assert refused(reader, "CALL staging.lock_warehouse()")
        assert refused(reader, "BEGIN; LOCK TABLE staging.writer_lock IN EXCLUSIVE MODE")
        reader.cursor().execute("ROLLBACK")
        # ACCESS SHARE on every table of the warehouse, which any login may take (pg_relation_size opens
        # a table by its oid without asking for rights), in a transaction left open
        reader.cursor().execute("BEGIN; SELECT sum(pg_relation_size(c.oid)) FROM pg_class AS c"
                                " WHERE c.relnamespace IN ('staging'::regnamespace, 'mart'::regnamespace,"
                                " 'landing'::regnamespace) AND c.relkind = 'r'")
        pipeline.load_dir(loader_dsn, week_of_data)
    finally:
        reader.close()


def test_the_load_log_takes_success_rows_from_the_load_procedures_only(db, login, week_of_data, tmp_path):
    """A loader could write a `success` row by hand through staging.log_load; it records its failed loads
    through a routine that writes failures only."""
    loader_dsn = login("salesmart_loader")
    loader = connect(loader_dsn)
    try:
        assert refused(loader, "CALL staging.log_load(p_file_kind => 'user_order_log', p_load_kind => 'increment',"
                               " p_source => 'forged', p_file_name => 'user_order_log_inc.csv',"
                               " p_date_from => '2024-12-30', p_date_to => '2024-12-30', p_status => 'success',"
                               " p_rows_read => 1, p_rows_loaded => 1)")
    finally:
        loader.close()
    assert rows(db, "SELECT count(*) FROM staging.load_log") == [(0,)]
    # the loader still logs the failure of a bad delivery
    bad = tmp_path / "bad"
    shutil.copytree(week_of_data / "increments" / "2024-12-30", bad / "increments" / "2024-12-30")
    orders = bad / "increments" / "2024-12-30" / "user_order_log_inc.csv"
    orders.write_text(orders.read_text().replace(",shipped", ",lost", 1))
    with pytest.raises(LoadError, match="column status"):
        pipeline.load_dir(loader_dsn, bad)
    assert rows(db, "SELECT status, count(*), bool_and(error_message LIKE '%%column status%%'"
                    " OR error_message LIKE 'rolled back: %%') FROM staging.load_log GROUP BY 1") == [
        ("failed", 4, True)]


def test_routines_keep_their_owner_and_grants_across_a_redeploy(db):
    privileges = ("SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proacl::text,"
                  " obj_description(p.oid, 'pg_proc') FROM pg_proc AS p"
                  " WHERE p.proname IN ('load_f_sales', 'load_d_city') ORDER BY 1")
    before = rows(db, privileges)
    assert [r[1] for r in before] == ["salesmart_owner"] * 3
    assert all("salesmart_loader=X" in r[2] and "=X/" not in r[2].replace("salesmart_loader=X/", "")
               .replace("salesmart_owner=X/", "") for r in before if "load_f_sales" in r[0])
    for routine in ("mart.load_f_sales", "mart.load_d_city", "mart.load_f_sales(date,date)"):
        routines._deployer(routine, routines.PROCEDURES / f"{routine}.sql")(db)
    assert rows(db, privileges) == before
    # the plain name's deployment left the overload with a file of its own in place
    assert len(rows(db, "SELECT FROM pg_proc WHERE proname = 'load_f_sales'")) == 2


# ---------------------------------------------------- cluster-wide roles ----

def _rollback_roles(url: str) -> None:
    backend = get_backend(url)
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.lock():
            backend.rollback_migrations(migrations.filter(lambda m: m.id == "0013.roles"))
    finally:
        backend.connection.close()


def _roles(url: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        return rows(conn, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'salesmart\\_%%' ORDER BY 1")
    finally:
        conn.close()


def test_roles_are_shared_by_the_warehouses_of_a_cluster(own_server):
    admin = connect(own_server.dsn())
    for name in ("first", "second"):
        admin.cursor().execute(f"CREATE DATABASE {name}")
        apply_migrations(own_server.dsn(name))                 # the second finds the roles there
    shared = [("salesmart_loader",), ("salesmart_owner",), ("salesmart_reader",)]
    assert _roles(own_server.dsn()) == shared

    _rollback_roles(own_server.dsn("first"))                   # "second" still uses them
    assert _roles(own_server.dsn()) == shared
    second = connect(own_server.dsn("second"))
    assert rows(second, "SELECT has_table_privilege('salesmart_reader', 'mart.f_sales', 'SELECT')") == [(True,)]
    second.close()
    # a login still granted one keeps that one
    admin.cursor().execute("CREATE ROLE ann LOGIN; GRANT salesmart_reader TO ann")
    _rollback_roles(own_server.dsn("second"))
    assert _roles(own_server.dsn()) == [("salesmart_reader",)]
    admin.cursor().execute("DROP ROLE ann")
    apply_migrations(own_server.dsn("second"))
    _rollback_roles(own_server.dsn("second"))                  # the last user: they go
    assert _roles(own_server.dsn()) == []
    admin.close()
