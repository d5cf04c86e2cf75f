"""What the DAGs in dags/ need from salesmart: the business day of
a run, the first business day, the Airflow Connections turned into what
salesmart takes, the Assets the DAGs share, fail-fast and alert callbacks.

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

import html
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg2.extensions

from salesmart.config import ConfigError, PollSettings
from salesmart.files import BadInput
from salesmart.report_api import ApiCredentials, Report, ReportApiClient, ReportApiError
from salesmart.warehouse import LoadError

logger = logging.getLogger(__name__)

DB_CONN_ID = "salesmart_db"
API_CONN_ID = "report_api"

# Settings read where the DAG files are parsed: the environment of the
# scheduler, the DAG processor and the workers alike.
FIRST_BUSINESS_DAY_VARIABLE = "SALESMART_FIRST_BUSINESS_DAY"
ALERT_EMAIL_VARIABLE = "SALESMART_ALERT_EMAIL"

# The DAGs in dags/, whose runs salesmart's Airflow plugin looks after.
DAG_IDS = ("upload_inc_data", "upload_report")

# The Assets the DAGs share: upload_report publishes the report (its
# report_id in the event's extra), both DAGs update the marts.
REPORT_ASSET = {"name": "salesmart_report", "uri": "salesmart://report-api/report"}
MART_ASSETS = (
    {"name": "salesmart_mart_f_sales", "uri": "salesmart://warehouse/mart/f_sales"},
    {"name": "salesmart_mart_f_customer_retention", "uri": "salesmart://warehouse/mart/f_customer_retention"},
)


def default_args(execution_timeout: timedelta, **more: Any) -> dict[str, Any]:
    """The task defaults both DAGs give, with the DAG's execution_timeout and `more`."""
    return {
        **more,
        "owner": "salesmart",
        # For trouble that passes (HTTP 5xx, network, lost database
        # connection); what a retry cannot fix fails at once (fail_fast).
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        # A multiplier in Airflow 3; `True` would mean 1, a constant delay.
        # Try n waits retry_delay * 2**(n-1) plus up to as much again (a
        # jitter fixed for the run and try): 5-10, 10-20, 20-40 minutes.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": execution_timeout,
        "on_failure_callback": notify_failure,
    }


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


def first_business_day(environ: dict[str, str] | None = None) -> date | None:
    """SALESMART_FIRST_BUSINESS_DAY (YYYY-MM-DD), or None when it is not set."""
    value = (os.environ if environ is None else environ).get(FIRST_BUSINESS_DAY_VARIABLE, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{FIRST_BUSINESS_DAY_VARIABLE}={value!r} is not a YYYY-MM-DD date") from None


def first_run(first_day: date) -> datetime:
    """The DAG's start_date for catching up from business day `first_day`: the
    midnight (UTC) after it. Its first run, at 06:00 UTC on the day after,
    has a logical date on or after start_date, so Airflow gives it its tasks
    (a run with a logical date before start_date gets none and passes as a
    success without loading anything)."""
    return datetime.combine(first_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def business_day(logical_date: datetime | None, run_after: datetime | None = None) -> date:
    """The business day D a run of `upload_inc_data` loads: the day before
    the UTC date of its logical date.

    The scheduled run for D starts at 06:00 UTC on D+1 and has that as its
    logical date (a trigger timetable: logical date = run time). A manual
    run or a backfill run with logical date L, any time of day, loads the
    day before L's date, so does a cleared run. A manual run without a
    logical date (Airflow 3 allows it) loads the day before it was
    triggered (`run_after`): yesterday.
    """
    when = logical_date or run_after
    if when is None:
        raise ValueError("the run has neither a logical date nor a run_after time, so no business day")
    return when.astimezone(UTC).date() - timedelta(days=1)


def is_retryable(error: BaseException) -> bool:
    """Whether another try later may succeed. Bad input and configuration
    errors never; report API and load errors as their `retryable` says (an
    error without it is not retryable); anything else (an unforeseen failure)
    gets the task's retries."""
    if isinstance(error, (BadInput, ConfigError)):
        return False
    if isinstance(error, (ReportApiError, LoadError)):
        return getattr(error, "retryable", False)
    return True


@contextmanager
def fail_fast() -> Iterator[None]:
    """Turn a failure that a retry cannot fix into AirflowFailException: the
    task fails at once, its remaining retries skipped. Retryable failures
    pass unchanged, to be retried with the task's backoff."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except Exception as error:
        if is_retryable(error):
            raise
        raise AirflowFailException(f"{type(error).__name__}: {error} (not retried)") from error


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
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"the Airflow connection {conn_id!r} is not defined") from None


def salesmart_dsn(conn_id: str = DB_CONN_ID) -> str:
    """The warehouse DSN from the Airflow Connection `conn_id`. Holds the password: never log it."""
    return dsn_from_connection(_get_connection(conn_id))


def report_api_client(conn_id: str = API_CONN_ID) -> ReportApiClient:
    """A report API client from the Airflow Connection `conn_id` and the REPORT_API_* settings."""
    return report_api_client_from_connection(_get_connection(conn_id))


def alert(subject: str, text: str, level: int = logging.ERROR) -> None:
    """Tell the operators: a log line (ERROR unless told) always; an e-mail
    to SALESMART_ALERT_EMAIL (comma-separated) through the `smtp_default`
    connection when that is set."""
    logger.log(level, "salesmart alert: %s: %s", subject, text)
    recipients = os.environ.get(ALERT_EMAIL_VARIABLE, "").strip()
    if recipients:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook() as smtp:
            smtp.send_email_smtp(to=recipients.split(","), subject=f"salesmart: {subject}",
                                 html_content=html.escape(text))


def notify_failure(context: Any) -> None:
    """on_failure_callback of every salesmart task: the failure, once it is final."""
    ti = context["ti"]
    alert(f"{ti.dag_id}.{ti.task_id} failed", f"run {ti.run_id}, try {ti.try_number}: {context.get('exception')}")


def day_flagged(day: date, flags: list[str]) -> None:
    """A day that loaded well but that reporting.day_quality flags: a warning, never a failure."""
    alert(f"business day {day} looks unusual: {', '.join(flags)}",
          f"loaded, but reporting.day_quality flags it; see `salesmart report quality --from {day} --to {day}`",
          level=logging.WARNING)


def deadline_missed(context: dict[str, Any], **_: Any) -> None:
    """DeadlineAlert callback of upload_inc_data: a run has not loaded its business day
    SALESMART_LOAD_DEADLINE_HOURS after it was queued."""
    run = context["dag_run"]
    day = business_day(*(datetime.fromisoformat(run[key]) if run.get(key) else None
                         for key in ("logical_date", "run_after")))
    alert(f"business day {day} is not loaded", f"{run['dag_id']} run {run['dag_run_id']} missed its deadline "
          f"{context['deadline']['deadline_time']} and is {run['state']}")


def future_run_refusal(dag_id: str, run_id: str, logical_date: datetime | None, now: datetime) -> str | None:
    """Why a run of a salesmart DAG is refused, or None when it may run.

    A run whose logical date is later than now never gets its tasks started:
    Airflow keeps it `running` with no tasks until that time, and with
    max_active_runs=1 every other run of the DAG waits behind it. Any day
    whose increment exists is loaded by a run dated before now (a run loads
    the day before its logical date)."""
    if dag_id not in DAG_IDS or logical_date is None or logical_date <= now:
        return None
    return (f"run {run_id} of {dag_id} refused: its logical date {logical_date.isoformat()} is later than now. "
            "A run loads the day before its logical date: to load day D, trigger with a logical date on D+1 "
            "that has passed, or with none to load yesterday")


def number_setting(name: str, default: float | None) -> float | None:
    """A positive number from the environment where the DAG files are parsed;
    `default` when the variable is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if number <= 0:
        raise ConfigError(f"{name}={value!r} is not a positive number")
    return number


def report_event_extra(report: Report) -> dict[str, str]:
    """The extra of the report Asset's event: what the daily runs need to know of the report."""
    return {"report_id": report.report_id, "start_day": report.start_day.isoformat(),
            "end_date": report.end_date.isoformat()}


def known_report_id(params: dict, inlet_events: Any, report_asset: Any) -> str | None:
    """The report a daily run works with: its `report_id` param when given,
    else the report_id of the newest event of the report Asset, if any."""
    if params.get("report_id"):
        return params["report_id"]
    newest = list(inlet_events[report_asset].ascending(False).limit(1))
    return newest[0].extra.get("report_id") if newest else None
