"""Airflow Connections -> what salesmart needs (SPEC §5.4), shared by the DAGs.

- `salesmart_db` (Postgres): host, port, schema (= database), login,
  password, and libpq options such as `sslmode` in extra  ->  a psycopg2 DSN.
  The Postgres provider's hook hands out psycopg 3 connections; salesmart's
  loader speaks psycopg2 (COPY, NOTICEs), so it gets a DSN, not a hook.
- `report_api` (HTTP): host, port and schema (`http` or `https`) give the
  base URL, login is the nickname, password the API key, extra `cohort` the
  cohort; e.g. `AIRFLOW_CONN_REPORT_API='http://nick:key@127.0.0.1:8000/http?cohort=42'`
  (in such a URI the scheme is the connection type and the path, here
  `http`, is the schema field).  Poll and retry settings come from the
  REPORT_API_* environment variables, as for the command line.

The conversions are pure functions of a Connection-like object (fields
`host`, `port`, `schema`, `login`, `password`, `extra_dejson`), testable
without Airflow; `salesmart_dsn()` and `report_api_client()` look the
Connections up and must be called inside a task, never at DAG import.
A DSN holds the password: never log one.  Error messages name fields,
never their values.
"""
from __future__ import annotations

from typing import Any, Protocol

import psycopg2.extensions

from salesmart.config import ConfigError, PollSettings
from salesmart.report_api import ApiCredentials, ReportApiClient

DB_CONN_ID = "salesmart_db"
API_CONN_ID = "report_api"

# Extras of a Postgres connection that are libpq connection parameters and so
# belong in the DSN; others (the provider's own: cursor, iam, sqlalchemy_*, ...) are not for libpq.
LIBPQ_EXTRAS = frozenset({
    "application_name", "channel_binding", "client_encoding", "connect_timeout", "gssencmode",
    "gsslib", "hostaddr", "keepalives", "keepalives_count", "keepalives_idle", "keepalives_interval",
    "krbsrvname", "load_balance_hosts", "options", "passfile", "require_auth", "service",
    "ssl_max_protocol_version", "ssl_min_protocol_version", "sslcert", "sslcertmode", "sslcompression",
    "sslcrl", "sslcrldir", "sslkey", "sslmode", "sslnegotiation", "sslpassword", "sslrootcert",
    "sslsni", "target_session_attrs", "tcp_user_timeout",
})
API_SCHEMES = ("http", "https")


class ConnectionLike(Protocol):
    conn_id: str
    host: str | None
    port: int | None
    schema: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def dsn_from_connection(conn: ConnectionLike) -> str:
    """A psycopg2/libpq DSN from a Postgres Connection (schema = database name)."""
    if not conn.schema:
        raise ConfigError(f"connection {conn.conn_id!r}: schema (the database name) is not set")
    params: dict[str, Any] = {"dbname": conn.schema}
    for key, value in (("host", conn.host), ("port", conn.port), ("user", conn.login),
                       ("password", conn.password)):
        if value not in (None, ""):
            params[key] = value
    params.update({key: value for key, value in conn.extra_dejson.items() if key in LIBPQ_EXTRAS})
    return psycopg2.extensions.make_dsn(**params)


def base_url_from_connection(conn: ConnectionLike) -> str:
    """The API's base URL, built as the HTTP provider's HttpHook builds it:
    `schema://host[:port]` (schema default `http`), or the host as is if it
    already holds a scheme."""
    host = (conn.host or "").strip()
    if not host:
        raise ConfigError(f"connection {conn.conn_id!r}: host is not set")
    if "://" in host:
        base_url = host
    else:
        scheme = (conn.schema or "http").strip().lower()
        if scheme not in API_SCHEMES:
            raise ConfigError(f"connection {conn.conn_id!r}: schema must be http or https, got {scheme!r}")
        base_url = f"{scheme}://{host}"
    if conn.port:
        base_url = f"{base_url}:{conn.port}"
    return base_url


def credentials_from_connection(conn: ConnectionLike) -> ApiCredentials:
    """login = nickname, password = API key, extra `cohort` = cohort."""
    missing = [name for name, value in (("login (nickname)", conn.login), ("password (API key)", conn.password))
               if not value]
    cohort = conn.extra_dejson.get("cohort")
    if cohort in (None, ""):
        missing.append("extra 'cohort'")
    if missing:
        raise ConfigError(f"connection {conn.conn_id!r}: {', '.join(missing)} not set")
    # An extra given in a URI may come back as a number (?cohort=42): the header wants text.
    return ApiCredentials(nickname=conn.login, cohort=str(cohort), api_key=conn.password)


def report_api_client_from_connection(conn: ConnectionLike, settings: PollSettings | None = None) -> ReportApiClient:
    settings = settings or PollSettings.from_env()
    return ReportApiClient(base_url_from_connection(conn), credentials_from_connection(conn),
                           poll_interval=settings.poll_interval, poll_deadline=settings.poll_deadline,
                           attempts=settings.attempts, backoff=settings.backoff, timeout=settings.timeout)


def _get_connection(conn_id: str) -> ConnectionLike:
    # Imported here: the module stays importable (and testable) without Airflow.
    from airflow.sdk import Connection

    return Connection.get(conn_id)


def salesmart_dsn(conn_id: str = DB_CONN_ID) -> str:
    """The warehouse DSN from the Airflow Connection `conn_id`. Holds the password: never log it."""
    return dsn_from_connection(_get_connection(conn_id))


def report_api_client(conn_id: str = API_CONN_ID) -> ReportApiClient:
    """A report API client from the Airflow Connection `conn_id` and the REPORT_API_* settings."""
    return report_api_client_from_connection(_get_connection(conn_id))
