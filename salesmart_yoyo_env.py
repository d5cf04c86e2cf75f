"""salesmart's yoyo backend: what plain `yoyo`, `salesmart yoyo` and
`salesmart migrate` share when they apply or roll back migrations.

- The `env` database scheme: `env://NAME@/` connects to the database URL held
  by the environment variable NAME (yoyo.ini: `database = env://DATABASE_URL@/`).
  yoyo.ini could otherwise only name the variable through configparser
  interpolation, which stops with a traceback when the variable is unset (and
  the file cannot give it a default: its own values override the
  environment's). Reading the variable when yoyo connects turns a missing one
  into one line, `yoyo: error: DATABASE_URL is not set ...`, exit 1 (yoyo's own
  argument error, InvalidArgument, would print its three usage lines first:
  they have nothing to do with the problem). NAME stands where a URL's user
  goes: the one part that keeps its case (a host is lowercased) and that
  carries the password `yoyo --prompt-password` asks for (yoyo rebuilds the URL
  with it, which needs the `/` of an empty path too).
- Checks before applying anything: a pending migration may hold SQL named
  CHECK_BEFORE_APPLY (0013.roles: may the migrating role create or use
  salesmart's roles?). It runs, for every pending migration that has one,
  in a transaction that is rolled back, before the first migration is
  applied; if it fails, nothing is applied.
- A migration that fails or refuses (a rollback that would lose data,
  duplicate keys that differ) stops yoyo with two lines, its cause and which
  migrations are applied now, instead of a traceback.

A module of its own, outside the salesmart package: yoyo loads it before it
reads the migrations, and the migrations take their helpers (salesmart.routines,
and through it the sources of the routines and views) from the salesmart
installed beside them, through salesmart_routines(); importing salesmart here
first would fix salesmart to wherever this module is installed.
"""
import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import psycopg2
from yoyo.backends.core.postgresql import PostgresqlBackend
from yoyo.connections import BadConnectionURI, DatabaseURI, parse_uri

URL_FORM = "postgresql://user:password@host:port/db"
POSTGRESQL_SCHEMES = ("postgresql", "postgres", "psql")


class MigrationStopped(SystemExit):
    """A migration failed or refused, or a check before applying did: the
    message says why and which migrations are applied now. A SystemExit, so
    that plain `yoyo` prints it as `yoyo: error: ...` and exits 1, as it does
    its own errors."""

    def __init__(self, message: str):
        super().__init__(f"yoyo: error: {message}")
        self.message = message

    def __str__(self) -> str:
        return self.message


class WarehouseBackend(PostgresqlBackend):
    """yoyo's PostgreSQL backend (psycopg2), with the checks before applying
    and the short refusals described at the top."""

    def apply_migrations(self, migrations, force=False):
        if migrations:
            self._check_before_apply(migrations)
        super().apply_migrations(migrations, force)

    def apply_one(self, migration, force=False, mark=True):
        try:
            super().apply_one(migration, force, mark)
        except self.DatabaseError as error:
            raise MigrationStopped(f"{migration.id} was not applied: {_cause(error)}\n"
                                   f"{self._applied_now()}") from None

    def rollback_one(self, migration, force=False):
        try:
            super().rollback_one(migration, force)
        except self.DatabaseError as error:
            raise MigrationStopped(f"{migration.id} was not rolled back: {_cause(error)}\n"
                                   f"{self._applied_now()}") from None

    def _check_before_apply(self, migrations) -> None:
        for migration in migrations:
            migration.load()
            check = getattr(migration.module, "CHECK_BEFORE_APPLY", None)
            if check is None:
                continue
            try:
                with self.transaction(rollback_on_exit=True):
                    self.cursor().execute(check)  # as yoyo runs a step: no parameters, `%` is literal
            except self.DatabaseError as error:
                raise MigrationStopped(f"{_cause(error)}\nNothing was applied; {self._applied_now()}") from None

    def _applied_now(self) -> str:
        applied = [migration_id for (migration_id,) in self.execute(self.format_sql(
            "SELECT migration_id FROM {0.migration_table_quoted} ORDER BY applied_at_utc, migration_id")).fetchall()]
        if not applied:
            return "applied now: none"
        if len(applied) == 1:
            return f"applied now: {applied[0]}"
        return f"applied now: {applied[0]} … {applied[-1]} ({len(applied)} migrations)"


def _cause(error) -> str:
    """The server's message, its detail (which key) and hint (what to do), on one line."""
    diagnostics = getattr(error, "diag", None)
    primary = getattr(diagnostics, "message_primary", None)
    if not primary:
        return str(error).strip().splitlines()[0]
    return " ".join(part for part in (
        primary, diagnostics.message_detail, diagnostics.message_hint and f"({diagnostics.message_hint})") if part)


def backend_from_environment(uri: DatabaseURI, migration_table: str):
    """salesmart's backend for the URL in the variable `uri` names."""
    name = uri.username
    url = os.environ.get(name)
    if not url:
        raise SystemExit(f"yoyo: error: {name} is not set: yoyo connects to the database URL it holds ({URL_FORM})")
    # The messages never quote the URL: it holds the password.
    try:
        database = parse_uri(url)
    except BadConnectionURI:
        database = None
    if database is None or database.scheme.lower() not in POSTGRESQL_SCHEMES:
        raise SystemExit(f"yoyo: error: {name} is not a database URL of PostgreSQL ({URL_FORM})")
    if uri.password is not None:
        database = database._replace(password=uri.password)
    try:
        return WarehouseBackend(database, migration_table)
    except psycopg2.OperationalError as error:
        # libpq's message names host, port and user, never the password
        raise SystemExit(f"yoyo: error: cannot connect to the database of {name}: {_cause(error)}") from None


def salesmart_routines(migration_file: str) -> ModuleType:
    """salesmart.routines, the migrations' helpers, from the checkout or installation that holds the
    migration in `migration_file` (its folder's parent holds salesmart), whatever else is installed:
    yoyo imports a migration by its path, with no package to import its helpers relative to."""
    holder = str(Path(migration_file).resolve().parent.parent)
    if sys.path[0] != holder:
        sys.path.insert(0, holder)
    return importlib.import_module("salesmart.routines")
