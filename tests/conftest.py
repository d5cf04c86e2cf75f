"""Test fixtures: one PostgreSQL server per session, started by the tests
themselves on tmpfs, a migrated template database, and a fresh clone of it
for every test.

The server is the one salesmart.dev.embedded_pg finds (PG_BIN, else a system
PostgreSQL, else the pip-installed one); `pytest` prints which in its header.

Two things a clone may lack: the real sample (../shared/data/sample-2022) and
the plpgsql_check extension. Tests that need them are marked `real_sample` /
`plpgsql_check` and skip with the reason, except with CI=true, where a
missing one fails them."""
import os
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest
from pytest_postgresql import factories
from pytest_postgresql.executors.noop import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from salesmart.dev.embedded_pg import UNSAFE_FAST, EmbeddedPostgres, EmbeddedPostgresError, find_server
from salesmart.migrate import apply_migrations

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLE = SHARED / "data" / "sample-2022"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config):
    config.addinivalue_line("markers", "real_sample: needs the real sample data in ../shared/data/sample-2022")
    config.addinivalue_line("markers", "plpgsql_check: needs the plpgsql_check extension on the test server")


def pytest_report_header(config):
    try:
        server = find_server()
    except EmbeddedPostgresError as error:
        return f"PostgreSQL server: {error}"
    return f"PostgreSQL server: {server.version()} ({server.source}, {server.bin_dir})"


def missing(reason: str) -> None:
    """Skips the test for want of `reason`; with CI=true fails it instead."""
    if IN_CI:
        pytest.fail(f"{reason}, and CI=true requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _requirements_of_marks(request):
    if request.node.get_closest_marker("real_sample") and not SAMPLE.is_dir():
        missing(f"real sample data not found at {SAMPLE}")
    if request.node.get_closest_marker("plpgsql_check") and \
            "plpgsql_check" not in request.getfixturevalue("available_extensions"):
        missing("the test server has no plpgsql_check extension")


def scratch_dir(prefix: str) -> Path:
    """A new folder on tmpfs when /dev/shm lets us write (CREATE DATABASE ...
    TEMPLATE is steady on tmpfs and erratic on this disk), else in the temp folder."""
    shm = Path("/dev/shm")
    usable = shm.is_dir() and os.access(shm, os.W_OK | os.X_OK)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if usable else None))


def throwaway_server(prefix: str, server_options: str):
    """A server of the tests' own on scratch space, stopped and removed after."""
    folder = scratch_dir(prefix)
    folder.chmod(0o711)  # as root the server runs as another user, who must enter it
    # Throw-away: tests connect without a password (test_demo and
    # test_embedded_pg check the demo's password-protected cluster).
    server = EmbeddedPostgres(folder, server_options=server_options, trust_local_users=True).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    yield from throwaway_server("salesmart-tests-", UNSAFE_FAST)


@pytest.fixture
def own_server():
    """A server for one test: to crash (so durable: what committed survives), or
    to hold cluster-wide objects (roles) of its own."""
    yield from throwaway_server("salesmart-own-", "")


@pytest.fixture(scope="session")
def available_extensions(pg_server) -> set[str]:
    connection = psycopg2.connect(pg_server.dsn())
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_available_extensions")
            return {name for (name,) in cursor.fetchall()}
    finally:
        connection.close()


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
