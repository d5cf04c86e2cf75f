"""Migrating as the database owner, and migrations that stop.

A database owner that is no superuser (the deployment docs/operator.md shows) migrates the
warehouse: without CREATEROLE, and with salesmart's roles missing, every way
of applying (salesmart migrate, salesmart yoyo apply, plain yoyo apply) stops
before anything is applied, in one line giving a superuser's statements;
with those statements run, it migrates. An owner with CREATEROLE migrates on
its own. A migration that refuses (a rollback that would lose data,
staging keys that differ) stops every way of running it in two lines, its
cause and what is applied now: no traceback."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from sql_loading import rows
from test_migrations import REPO, YOYO, migration_ids

# yoyo's progress lines (verbosity 2) as plain yoyo and the salesmart logger print them
PROGRESS = re.compile(r"^(INFO:yoyo\.|\S+ \S+ INFO )")


def as_login(dsn: str, login: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port}", path=f"/{database}"))


def command_lines() -> dict[str, tuple[list[str], str]]:
    """The three ways of applying the migrations: argv and folder to run in."""
    return {
        "salesmart migrate": ([sys.executable, "-m", "salesmart", "migrate"], "/"),
        "salesmart yoyo apply": ([sys.executable, "-m", "salesmart", "yoyo", "apply"], "/"),
        "yoyo apply": ([str(YOYO), "apply"], str(REPO)),
    }


def run(argv: list[str], cwd: str, url: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGOPTIONS")}
    return subprocess.run(argv, cwd=cwd, env=dict(env, DATABASE_URL=url, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300, check=False)


def refusal(result: subprocess.CompletedProcess) -> list[str]:
    """What a stopped command said besides yoyo's progress lines; never a traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if not PROGRESS.match(line)]


def applied(url: str) -> list[str]:
    connection = psycopg2.connect(url)
    try:
        if rows(connection, "SELECT to_regclass('public._yoyo_migration')") == [(None,)]:
            return []
        return [m for (m,) in rows(connection, "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")]
    finally:
        connection.close()


def execute(url: str, statement: str) -> None:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()


def create_owner(admin_dsn: str, login: str, attributes: str = "") -> str:
    execute(admin_dsn, f"CREATE ROLE {login} LOGIN {attributes}")
    execute(admin_dsn, f"CREATE DATABASE {login} OWNER {login}")
    return as_login(admin_dsn, login, login)


def test_an_owner_without_createrole_is_told_the_statements_before_anything_is_applied(own_server):
    url = create_owner(own_server.dsn(), "warehouse_owner")
    for name, (argv, cwd) in command_lines().items():
        said = refusal(run(argv, cwd, url))
        assert len(said) == 2, (name, said)
        assert said[0].endswith(
            "role warehouse_owner may not create the roles salesmart needs (salesmart_owner, salesmart_loader,"
            " salesmart_reader): a superuser either gives it CREATEROLE (ALTER ROLE warehouse_owner CREATEROLE;)"
            " or runs first: CREATE ROLE salesmart_owner NOLOGIN; CREATE ROLE salesmart_loader NOLOGIN;"
            " CREATE ROLE salesmart_reader NOLOGIN; GRANT salesmart_owner TO warehouse_owner;"), (name, said)
        assert said[1].endswith("Nothing was applied; applied now: none"), (name, said)
        assert applied(url) == [], name

    # a superuser runs exactly the statements given; then the owner migrates
    execute(own_server.dsn(), said[0].split("runs first: ", 1)[1])
    result = run(*command_lines()["salesmart migrate"], url)
    assert result.returncode == 0, result.stderr
    assert applied(url) == sorted(migration_ids())
    owner = psycopg2.connect(url)
    assert rows(owner, """
        SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('staging', 'mart', 'landing', 'reporting') AND c.relkind IN ('r', 'v')
        UNION SELECT DISTINCT pg_get_userbyid(p.proowner)
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('staging', 'mart')""") == [("salesmart_owner",)]
    owner.close()

    # and rolls everything back, keeping the roles the superuser made (it may not drop them)
    rolled_back = run([str(YOYO), "rollback", "--all"], str(REPO), url)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert applied(url) == []
    admin = psycopg2.connect(own_server.dsn())
    assert rows(admin, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'salesmart\\_%%' ORDER BY 1") == [
        ("salesmart_loader",), ("salesmart_owner",), ("salesmart_reader",)]
    admin.close()


def test_an_owner_with_createrole_migrates_on_its_own(own_server):
    """On PostgreSQL 16+ creating a role gives its creator only the right to
    administer it: the migration grants the owner role to itself for use."""
    url = create_owner(own_server.dsn(), "warehouse_owner", "CREATEROLE")
    result = run(*command_lines()["salesmart migrate"], url)
    assert result.returncode == 0, result.stderr
    assert applied(url) == sorted(migration_ids())


def test_a_rollback_that_would_lose_data_stops_in_two_lines(empty_database):
    url = empty_database("refused_rollback")
    assert run(*command_lines()["yoyo apply"], url).returncode == 0
    execute(url, "INSERT INTO staging.load_log (source, file_name, file_kind, load_kind, status, started_at,"
                 " finished_at) VALUES ('price_log.csv', 'price_log.csv', 'price_log', 'report', 'success', now(),"
                 " now())")
    ids = migration_ids()
    kept = ids[:ids.index("0006.load-log") + 1]
    for argv, cwd in (([str(YOYO)], str(REPO)), ([sys.executable, "-m", "salesmart", "yoyo"], "/")):
        said = refusal(run([*argv, "rollback", "--revision", "0006.load-log"], cwd, url))
        assert len(said) == 2, said
        assert ("0006.load-log was not rolled back: rolling back 0006.load-log would drop the record of past loads"
                " (staging.load_log) (to drop it anyway: PGOPTIONS='-c salesmart.allow_data_loss=on'" in said[0]), said
        assert said[1].endswith(f"applied now: 0001.legacy-baseline … 0006.load-log ({len(kept)} migrations)"), said
        assert applied(url) == kept


def test_staging_keys_that_differ_stop_the_upgrade_in_two_lines(empty_database):
    """A legacy warehouse whose old loader left two different rows under one key."""
    url = empty_database("differing_keys")
    assert run([str(YOYO), "apply", "--revision", "0003.f-sales-order-key"], str(REPO), url).returncode == 0
    execute(url, "INSERT INTO staging.user_activity_log (uniq_id, date_time, action_id, customer_id, quantity)"
                 " VALUES ('a1', '2022-11-01', 1, 7, 1), ('a1', '2022-11-01', 1, 7, 2)")
    for name, (argv, cwd) in command_lines().items():
        said = refusal(run(argv, cwd, url))
        assert len(said) == 2, (name, said)
        assert said[0].endswith('0004.staging-keys was not applied: could not create unique index'
                                ' "user_activity_log_pkey" Key (uniq_id)=(a1) is duplicated.'), (name, said)
        assert said[1].endswith("applied now: 0001.legacy-baseline … 0003.f-sales-order-key (3 migrations)"), said
        assert applied(url) == ["0001.legacy-baseline", "0002.order-status", "0003.f-sales-order-key"]
