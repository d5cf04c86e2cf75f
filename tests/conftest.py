"""Test fixtures: one PostgreSQL server per session, started by the tests
themselves on tmpfs, a migrated template database, and a fresh clone of it
for every test."""
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest
from pytest_postgresql import factories
from pytest_postgresql.executors.noop import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from salesmart.embedded_pg import UNSAFE_FAST, EmbeddedPostgres
from salesmart.migrate import apply_migrations

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLE = SHARED / "data" / "sample-2022"


def _tmpfs_dir() -> Path:
    # CREATE DATABASE ... TEMPLATE is steady on tmpfs and erratic on this disk.
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="salesmart-tests-", dir=shm if shm.is_dir() else None))


@pytest.fixture(scope="session")
def pg_server():
    folder = _tmpfs_dir()
    server = EmbeddedPostgres(folder, server_options=UNSAFE_FAST).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _migrate(host, port, user, dbname, **_connection_settings):
    apply_migrations(f"postgresql://{user}@{host}:{port}/{dbname}")


@pytest.fixture(scope="session")
def salesmart_db(pg_server):
    """Connection details of the per-test database; its template holds all migrations."""
    executor = NoopExecutor(host="127.0.0.1", port=pg_server.port, user=pg_server.user,
                            options="", dbname="salesmart")
    with DatabaseJanitor(user=executor.user, host=executor.host, port=executor.port,
                         dbname=executor.template_dbname, as_template=True) as janitor:
        janitor.load(_migrate)
        yield executor


postgresql = factories.postgresql("salesmart_db")


@pytest.fixture
def dsn(postgresql):
    """URL of this test's fresh, migrated database."""
    info = postgresql.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
def db(dsn):
    """A psycopg2 connection (autocommit) to this test's database."""
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def empty_database(pg_server):
    """Factory for empty databases (no migrations) on the test server; dropped after the test."""
    janitors = []

    def create(name: str) -> str:
        janitor = DatabaseJanitor(user=pg_server.user, host="127.0.0.1", port=pg_server.port, dbname=name)
        janitor.init()
        janitors.append(janitor)
        return pg_server.dsn(name)

    yield create
    for janitor in janitors:
        janitor.drop()
