"""What the DAGs in dags/ need from salesmart (SPEC §5.4): the business day of
a run, and the Airflow Connections turned into what salesmart takes.

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

from datetime import date, datetime, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg2.extensions

from salesmart import warehouse
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


def business_day(data_interval_start: datetime | None, data_interval_end: datetime | None = None,
                 logical_date: datetime | None = None) -> date:
    """The business day D a run of `upload_inc_data` loads: the UTC date of its data interval start.

    The scheduled run at 06:00 UTC on D+1 has the data interval [D 06:00,
    D+1 06:00) (and logical date D 06:00) and loads D, whose increment the
    source has formed by then. A manual run (UI / REST API trigger, `airflow
    dags test`) with logical date L, any time of day, gets the interval
    [L - 1 day, L] and so loads the day before L's date.

    A run whose logical date is neither end of its data interval got its
    interval from somewhere else than its logical date (Airflow 3.3's
    `airflow dags trigger -l L` infers it from the trigger time): refused
    rather than load a day nobody asked for.
    """
    if data_interval_start is None:
        raise ValueError("the run has no data interval, so no business day: trigger it with a logical date "
                         "(logical date D + 1 day loads day D), or clear the scheduled run of D")
    if (logical_date is not None and data_interval_end is not None
            and logical_date not in (data_interval_start, data_interval_end)):
        raise ValueError(f"the run's data interval {data_interval_start.isoformat()}..{data_interval_end.isoformat()}"
                         f" does not come from its logical date {logical_date.isoformat()} (as `airflow dags trigger`"
                         " makes it): trigger from the UI or REST API, clear the run, or use `airflow dags test`"
                         " or `airflow backfill create`")
    return data_interval_start.astimezone(timezone.utc).date()


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
    """The API's base URL, as the HTTP provider's HttpHook reads an HTTP
    Connection: `schema://host[:port]` (schema default `http`); a host that
    already holds a scheme (`https://api.example.com/prefix`) is taken as the
    base URL, with the port put into it if given."""
    host = (conn.host or "").strip()
    if not host:
        raise ConfigError(f"connection {conn.conn_id!r}: host is not set")
    if "://" in host:
        parts = urlsplit(host)
        if parts.scheme not in API_SCHEMES:
            raise ConfigError(f"connection {conn.conn_id!r}: the host's scheme must be http or https")
        if conn.port and parts.port is None:
            parts = parts._replace(netloc=f"{parts.netloc}:{conn.port}")
        return urlunsplit(parts).rstrip("/")
    scheme = (conn.schema or "http").strip().lower()
    if scheme not in API_SCHEMES:
        raise ConfigError(f"connection {conn.conn_id!r}: schema must be http or https, got {scheme!r}")
    return f"{scheme}://{host}:{conn.port}" if conn.port else f"{scheme}://{host}"


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
    return (settings or PollSettings.from_env()).client(base_url_from_connection(conn),
                                                        credentials_from_connection(conn))


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


def load_f_sales(days: list[str]) -> list[str]:
    """Task body: CALL mart.load_f_sales for each day (ISO dates, as XCom
    carries them); pass the days on to the retention task."""
    warehouse.load_f_sales(salesmart_dsn(), map(date.fromisoformat, days))
    return days


def load_f_customer_retention(days: list[str]) -> None:
    """Task body: CALL mart.load_f_customer_retention once for each ISO week of the days."""
    warehouse.load_f_customer_retention(salesmart_dsn(), map(date.fromisoformat, days))
