"""The warehouse side of a load: COPY files into landing and CALL the
procedures that merge them into staging and rebuild the marts. All business
logic is in those procedures; this module only moves bytes and calls them."""
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg2

from salesmart.files import BadInput, FileKind, ValidatingReader, kind_of
from salesmart.report_api import without_query

logger = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """A load failed and was rolled back; the message says which file and why."""


@dataclass(frozen=True)
class SourceFile:
    path: Path    # the local copy
    source: str   # where it came from (URL or path)

    @property
    def logged_source(self) -> str:
        """The source as logs and errors show it."""
        return without_query(self.source) if "://" in self.source else self.source

    @property
    def kind(self) -> FileKind | None:
        return kind_of(self.path)


def load_staging(dsn: str, files: list[SourceFile], *, load_kind: str,
                 date_from: date | None = None, date_to: date | None = None) -> list[date]:
    """Loads `files` into staging in one transaction, replacing the days
    date_from..date_to (None: each file's own first..last date). On any
    error nothing is loaded, each file gets a failed load-log row, and
    LoadError is raised. Returns the days the order file holds."""
    started_at = datetime.now(timezone.utc)
    files = _source_files(files)
    connection = psycopg2.connect(dsn)
    current = None
    try:
        order_days: set[date] = set()
        with connection, connection.cursor() as cursor:
            for current in files:
                days = _load_file(cursor, current, load_kind, date_from, date_to)
                if current.kind.name == "user_order_log":
                    order_days = days
        return sorted(order_days)
    except (BadInput, LoadError, psycopg2.Error) as error:
        message = _error_message(error)
        try:
            _log_failed_loads(connection, files, current, message, load_kind, date_from, date_to, started_at)
        except psycopg2.Error as logging_error:
            logger.error("could not record the failed load in staging.load_log: %s", _error_message(logging_error))
        raise LoadError(message) from None
    finally:
        connection.close()


def _source_files(files: list[SourceFile]) -> list[SourceFile]:
    """The files that are one of the four; others are left alone, as the source may grow."""
    for file in files:
        if file.kind is None:
            logger.warning("%s: not a source file, ignored", file.logged_source)
    return [file for file in files if file.kind is not None]


def _load_file(cursor, file: SourceFile, load_kind: str, date_from: date | None,
               date_to: date | None) -> set[date]:
    kind = file.kind
    # Rows left by a hand \copy committed without its CALL would be merged
    # into this load: stop rather than guess whose they are.
    cursor.execute(f"SELECT EXISTS (SELECT FROM landing.{kind.name})")
    if cursor.fetchone()[0]:
        raise LoadError(f"landing.{kind.name} holds rows of an unfinished earlier load (a \\copy committed"
                        f" without its CALL): check them, then DELETE FROM landing.{kind.name}")
    reader = ValidatingReader(file.path, kind, file.logged_source)
    started = time.monotonic()
    try:
        cursor.copy_expert(reader.copy_sql, reader)
    except psycopg2.Error:
        if reader.error:
            raise reader.error from None
        raise
    finally:
        reader.close()
    if kind.date_column is None:
        cursor.execute(f"CALL staging.load_{kind.name}(%s, %s, %s, %s)",
                       (load_kind, file.logged_source, file.path.name, reader.stats.checksum))
    else:
        cursor.execute(f"CALL staging.load_{kind.name}(%s, %s, %s, %s, %s, %s)",
                       (date_from, date_to, load_kind, file.logged_source, file.path.name,
                        reader.stats.checksum))
    # The merge reports its counts in a NOTICE: rows read and loaded, copies dropped.
    counts = [notice.removeprefix("NOTICE:").strip() for notice in cursor.connection.notices]
    cursor.connection.notices.clear()
    logger.info("%s in %.2f s", "; ".join(counts) or file.path.name, time.monotonic() - started)
    return reader.stats.dates


def _error_message(error: Exception) -> str:
    if isinstance(error, psycopg2.Error) and error.diag.message_primary:
        # COPY's context names the line and column PostgreSQL refused.
        context = (error.diag.context or "").splitlines()
        copy_context = [line for line in context if line.startswith("COPY ")]
        return error.diag.message_primary + (f" ({copy_context[0]})" if copy_context else "")
    return str(error)


def _log_failed_loads(connection, files: list[SourceFile], failed: SourceFile | None, message: str,
                      load_kind: str, date_from: date | None, date_to: date | None,
                      started_at: datetime) -> None:
    """One failed load-log row per file of the rolled-back load."""
    with connection, connection.cursor() as cursor:
        for file in files:
            cursor.execute(
                "CALL staging.log_load(p_file_kind => %s, p_load_kind => %s, p_source => %s,"
                " p_file_name => %s, p_date_from => %s, p_date_to => %s, p_status => 'failed',"
                " p_error_message => %s, p_started_at => %s)",
                (file.kind.name, load_kind, file.logged_source, file.path.name, date_from, date_to,
                 message if file is failed else f"rolled back: {failed.path.name if failed else 'the load'} failed",
                 started_at))


def load_f_sales(dsn: str, days: Iterable[date]) -> None:
    """CALL mart.load_f_sales for each day."""
    _call_each(dsn, "mart.load_f_sales", sorted(set(days)))


def load_f_customer_retention(dsn: str, days: Iterable[date]) -> None:
    """CALL mart.load_f_customer_retention once for each ISO week the days fall in."""
    _call_each(dsn, "mart.load_f_customer_retention", sorted({week_start(day) for day in days}))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _call_each(dsn: str, procedure: str, days: list[date]) -> None:
    """All the calls in one transaction: a task that fails leaves none of its days done."""
    connection = psycopg2.connect(dsn)
    try:
        with connection, connection.cursor() as cursor:
            for day in days:
                started = time.monotonic()
                cursor.execute(f"CALL {procedure}(%s)", (day,))
                logger.info("%s(%s) in %.2f s", procedure, day, time.monotonic() - started)
    finally:
        connection.close()
