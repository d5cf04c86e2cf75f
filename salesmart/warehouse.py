"""The warehouse side of a load: COPY files into landing and CALL the
procedures that merge them into staging and rebuild the marts. All business
logic is in those procedures; this module only moves bytes and calls them.

A delivery (the four files of an increment or of the report) is one
transaction: the staging merges and the marts of every business day, ISO
week and month they touched commit together or not at all."""
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2

from salesmart import progress
from salesmart.files import CHUNK_SIZE, FILE_KINDS, BadInput, FileKind, ValidatingReader, kind_of
from salesmart.report_api import without_query

logger = logging.getLogger(__name__)

# Session settings of the loader's connections (PostgreSQL durations; "0" turns a timeout off).
LOCK_TIMEOUT = "SALESMART_LOCK_TIMEOUT"            # waiting for another load to finish
STATEMENT_TIMEOUT = "SALESMART_STATEMENT_TIMEOUT"  # one COPY or CALL
DEFAULT_LOCK_TIMEOUT = "15min"
DEFAULT_STATEMENT_TIMEOUT = "1h"
# How long a failed load waits for the server to take its load-log rows
# when the failure took the connection down (a restart, a terminated session).
FAILED_LOG_PATIENCE_SECONDS = 15.0

# SQLSTATE classes and codes that a later attempt may not meet: the
# connection or server went away, a timeout, a serialization failure, a
# resource the server ran out of (a full disk, too many connections).
RETRYABLE_CLASSES = ("08", "40", "53", "57")
RETRYABLE_CODES = ("55P03",)
DISK_FULL = "53100"

# A load that waits on a lock longer than LOCK_WAIT_REPORT_AFTER seconds says
# in its log who holds it (checked every LOCK_WAIT_CHECK_INTERVAL seconds, from
# a connection of its own), and again every LOCK_WAIT_REPEAT seconds it lasts.
LOCK_WAIT_REPORT_AFTER = 30.0
LOCK_WAIT_CHECK_INTERVAL = 5.0
LOCK_WAIT_REPEAT = 300.0
LOCK_HOLDERS = """
SELECT l.waitstart, l.mode, coalesce(l.relation::pg_catalog.regclass::text, 'a ' || l.locktype || ' lock'),
       extract(epoch FROM clock_timestamp() - l.waitstart),
       h.pid, a.application_name, a.usename, a.query_start, a.query
FROM pg_catalog.pg_locks AS l
CROSS JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(l.pid)) AS h(pid)
LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = h.pid
WHERE l.pid = %s AND NOT l.granted AND l.waitstart < clock_timestamp() - make_interval(secs => %s)
ORDER BY l.waitstart, h.pid
"""
QUERY_SHOWN_CHARS = 300


class LoadError(RuntimeError):
    """A load failed and was rolled back; the message says which file and why.
    `retryable`: the failure was the connection, the server or a timeout, so
    the same load may succeed later; False for bad input and everything else."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


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


def connect(dsn: str):
    """A connection for loads: a dead peer is noticed within seconds on both
    sides (the server checks the client socket while a statement runs, and
    TCP keepalives cover a lost network), and waits are bounded."""
    connection = psycopg2.connect(dsn, keepalives=1, keepalives_idle=10, keepalives_interval=5,
                                  keepalives_count=3, connect_timeout=10)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('client_connection_check_interval', '2s', false),"
                       " set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false),"
                       " set_config('tcp_keepalives_idle', '10', false),"
                       " set_config('tcp_keepalives_interval', '5', false),"
                       " set_config('tcp_keepalives_count', '3', false),"
                       # room for a merge's temporary tables (a whole file's rows) in memory:
                       # settable only before the session's first temporary table
                       " set_config('temp_buffers', '256MB', false)",
                       (os.environ.get(LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT),
                        os.environ.get(STATEMENT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT)))
    connection.autocommit = False
    return connection


def complete_delivery(files: list[SourceFile], where: str) -> list[SourceFile]:
    """The four files of a delivery, one of each kind: all of them or an error
    (a delivery is whole or not loaded); files of no known kind are left alone, as the source may grow."""
    by_kind: dict[str, SourceFile] = {}
    for file in files:
        if file.kind is None:
            logger.warning("%s: not a source file, ignored", file.logged_source)
        elif file.kind.name in by_kind:
            raise LoadError(f"{where}: two {file.kind.name} files ({by_kind[file.kind.name].path.name},"
                            f" {file.path.name})")
        else:
            by_kind[file.kind.name] = file
    missing = [name for name in FILE_KINDS if name not in by_kind]
    if missing:
        raise LoadError(f"{where}: incomplete delivery, no {', '.join(missing)} file; nothing loaded")
    for file in by_kind.values():
        if not file.path.is_file():
            problem = ("a directory" if file.path.is_dir()
                       else "a dangling symlink" if file.path.is_symlink() else "missing")
            raise LoadError(f"{file.path}: {problem}, not a file; nothing loaded")
    return [by_kind[name] for name in FILE_KINDS]


def load_delivery(dsn: str, files: list[SourceFile], *, load_kind: str, where: str,
                  date_from: date | None = None, date_to: date | None = None) -> list[date]:
    """Loads a delivery of the business days date_from..date_to (None: each
    file's own first..last date) in one transaction: the four files into
    staging, then mart.load_f_sales for every day the order file touched and
    the retention of every ISO week and month of those days. On any
    error nothing is loaded, each file gets a failed load-log row, and
    LoadError is raised. Returns the business days rebuilt."""
    started_at = datetime.now(UTC)
    files = complete_delivery(files, where)
    connection = None
    failed_step = None
    try:
        connection = connect(dsn)
        days: list[date] = []
        with reporting_lock_waits(dsn, connection.get_backend_pid()), connection.cursor() as cursor:
            # What aborted loads left in landing goes first, committed on its
            # own, so that this load's rollback does not bring it back.
            failed_step = "emptying landing"
            _empty_landing(cursor)
            connection.commit()
            # The writer lock first: no other load COPYs into landing while
            # this one's rows are there, so each merge can TRUNCATE landing.
            failed_step = "waiting for the warehouse writer lock"
            cursor.execute("CALL staging.lock_warehouse()")
            # Then landing, without waiting for it: another session's \copy
            # now waits for this load's commit instead of being merged into it.
            cursor.execute("CALL staging.lock_landing()")
            for table in cursor.fetchone()[0]:
                logger.warning("%s is held by another session (a \\copy in an open transaction): this load"
                               " works beside its rows, which stay that session's", table)
            for file in files:
                failed_step = file.path.name
                touched = _load_file(cursor, file, load_kind, date_from, date_to)
                if file.kind.name == "user_order_log":
                    days = touched
            failed_step = "the marts"
            _rebuild_marts(cursor, days)
            connection.commit()
        return days
    except (BadInput, LoadError, psycopg2.Error) as error:
        message = _error_message(error)
        _log_failed_loads(dsn, connection, files, failed_step, message, load_kind, date_from, date_to,
                          started_at)
        raise LoadError(message, retryable=_retryable(error)) from None
    finally:
        if connection is not None:
            connection.close()


def _empty_landing(cursor) -> None:
    """staging.empty_landing: the space of rows that aborted loads left in landing back, in the caller's
    transaction (which the caller commits on its own)."""
    cursor.execute("CALL staging.empty_landing()")
    kept = cursor.fetchone()[0]
    if kept:
        logger.info("landing tables not emptied (another session is using them, or they hold committed rows): %s",
                    ", ".join(kept))


def _load_file(cursor, file: SourceFile, load_kind: str, date_from: date | None,
               date_to: date | None) -> list[date]:
    """COPY one file into landing and CALL its merge; the days whose marts it touched."""
    kind = file.kind
    # Rows left by a hand \copy committed without its CALL would be merged
    # into this load: stop rather than guess whose they are.
    cursor.execute(f"SELECT EXISTS (SELECT FROM landing.{kind.name})")
    if cursor.fetchone()[0]:
        raise LoadError(f"landing.{kind.name} holds rows of an unfinished earlier load (a \\copy committed"
                        f" without its CALL): check them, then DELETE FROM landing.{kind.name}")
    started = time.monotonic()
    with ValidatingReader(file.path, kind, file.logged_source) as reader, \
            progress.reading(reader, file.path.stat().st_size, file.path.name) as counted:
        # psycopg2 reads 8 KiB at a time unless told: the reader's own chunks instead.
        cursor.copy_expert(reader.copy_sql, counted, size=CHUNK_SIZE)
    # The COPY above read the whole file: a file without rows is an empty
    # delivery (a day without orders), not the failed \copy the procedures guard against.
    # The copies the reader left out count as read and dropped.
    touched: list[date] = []
    if kind.date_column is None:
        cursor.execute(f"CALL staging.load_{kind.name}(%s, %s, %s, %s, p_allow_empty => true,"
                       " p_copies_dropped => %s)",
                       (load_kind, file.logged_source, file.path.name, reader.stats.checksum,
                        reader.stats.copies_dropped))
    else:
        cursor.execute(f"CALL staging.load_{kind.name}(%s, %s, %s, %s, %s, %s, p_allow_empty => true,"
                       " p_copies_dropped => %s)",
                       (date_from, date_to, load_kind, file.logged_source, file.path.name,
                        reader.stats.checksum, reader.stats.copies_dropped))
        touched = cursor.fetchone()[0] or []
    # The merge reports its counts in a NOTICE: rows read and loaded, copies dropped.
    counts = [notice.removeprefix("NOTICE:").strip() for notice in cursor.connection.notices]
    cursor.connection.notices.clear()
    logger.info("%s in %.2f s", "; ".join(counts) or file.path.name, time.monotonic() - started)
    return touched


def _rebuild_marts(cursor, days: Iterable[date]) -> None:
    """f_sales of each day, then the retention of each ISO week and of each month they fall in."""
    days = sorted(set(days))
    for procedure, arguments in (("mart.load_f_sales", days),
                                 ("mart.load_f_customer_retention", sorted({week_start(d) for d in days})),
                                 ("mart.load_f_customer_retention_monthly", sorted({d.replace(day=1) for d in days}))):
        for day in arguments:
            started = time.monotonic()
            cursor.execute(f"CALL {procedure}(%s)", (day,))
            logger.info("%s(%s) in %.2f s", procedure, day, time.monotonic() - started)


def day_flags(dsn: str, day: date) -> list[str]:
    """What reporting.day_quality flags for business day `day` (empty: nothing unusual), through
    mart.day_quality_flags, which a loader login may call."""
    connection = connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT mart.day_quality_flags(%s)", (day,))
            return cursor.fetchone()[0]
    finally:
        connection.close()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _error_message(error: Exception) -> str:
    if isinstance(error, psycopg2.Error) and error.diag.message_primary:
        # COPY's context names the line and column PostgreSQL refused.
        context = (error.diag.context or "").splitlines()
        copy_context = [line for line in context if line.startswith("COPY ")]
        message = error.diag.message_primary + (f" ({copy_context[0]})" if copy_context else "")
        if error.pgcode == DISK_FULL:
            return f"no space left on the database server's disk: {message}"
        return message
    # libpq's own messages (a lost connection) span lines: one line for the log and the load log.
    return " ".join(str(error).split())


def _retryable(error: Exception) -> bool:
    if isinstance(error, LoadError):
        return error.retryable
    if not isinstance(error, psycopg2.Error):
        return False
    if error.pgcode is None:  # no answer from the server: the connection is gone
        return isinstance(error, (psycopg2.OperationalError, psycopg2.InterfaceError))
    return error.pgcode[:2] in RETRYABLE_CLASSES or error.pgcode in RETRYABLE_CODES


def _log_failed_loads(dsn: str, connection, files: list[SourceFile], failed_step: str | None, message: str,
                      load_kind: str, date_from: date | None, date_to: date | None,
                      started_at: datetime) -> None:
    """One failed load-log row per file of the rolled-back load, written after
    the rollback; on a fresh connection when the load's own one is gone (a
    terminated session, a server restart), waiting a little for the server.
    Landing is emptied first: on a full disk, the space the rolled-back COPYs
    took is what the log rows need."""
    rows = [(file.kind.name, load_kind, file.logged_source, file.path.name, date_from, date_to,
             message if failed_step in (None, file.path.name) else f"rolled back: {failed_step} failed: {message}",
             started_at) for file in files]
    # A load that never got a connection has no server to wait for.
    deadline = time.monotonic() + (FAILED_LOG_PATIENCE_SECONDS if connection is not None else 0)
    fresh = None
    try:
        while True:
            target = connection if connection is not None and not connection.closed else fresh
            try:
                if target is None or target.closed:
                    fresh = target = connect(dsn)
                target.rollback()
                try:
                    with target, target.cursor() as cursor:
                        _empty_landing(cursor)
                except psycopg2.Error as error:
                    if target.closed:
                        raise
                    logger.warning("could not empty landing after the failed load: %s", _error_message(error))
                with target, target.cursor() as cursor:
                    for row in rows:
                        cursor.execute(
                            "CALL staging.log_failed_load(p_file_kind => %s, p_load_kind => %s, p_source => %s,"
                            " p_file_name => %s, p_date_from => %s, p_date_to => %s, p_error_message => %s,"
                            " p_started_at => %s)", row)
                return
            except psycopg2.Error as error:
                if target is not None:
                    target.close()
                if not _retryable(error) or time.monotonic() > deadline:
                    logger.error("could not record the failed load in staging.load_log: %s",
                                 _error_message(error))
                    return
                time.sleep(0.5)
    finally:
        if fresh is not None:
            fresh.close()


@contextmanager
def reporting_lock_waits(dsn: str, pid: int) -> Iterator[None]:
    """While the block runs, a thread watches the load's server session `pid`: when it has waited on a lock
    longer than LOCK_WAIT_REPORT_AFTER, the load's log says who holds that lock, so that a load that hangs
    explains itself. A load that ends sooner never opens the watcher's connection."""
    stop = threading.Event()
    watcher = threading.Thread(target=_report_lock_waits, args=(dsn, pid, stop), name="salesmart-lock-waits",
                               daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=15)


def _report_lock_waits(dsn: str, pid: int, stop: threading.Event) -> None:
    if stop.wait(LOCK_WAIT_REPORT_AFTER):
        return
    try:
        connection = psycopg2.connect(dsn, connect_timeout=10, application_name="salesmart lock-wait report")
    except psycopg2.Error as error:
        logger.warning("cannot watch the load's lock waits: %s", _error_message(error))
        return
    connection.autocommit = True
    reported: dict[datetime, float] = {}  # wait (its start) -> when it was last reported
    try:
        while True:
            with connection.cursor() as cursor:
                cursor.execute(LOCK_HOLDERS, (pid, LOCK_WAIT_REPORT_AFTER))
                holders = cursor.fetchall()
            waits = {}
            for waitstart, mode, target, waited, *holder in holders:
                waits.setdefault((waitstart, mode, target, waited), []).append(holder)
            for (waitstart, mode, target, waited), blockers in waits.items():
                if time.monotonic() - reported.get(waitstart, -LOCK_WAIT_REPEAT) >= LOCK_WAIT_REPEAT:
                    reported[waitstart] = time.monotonic()
                    logger.warning("the load has waited %.0f s for %s on %s, held by: %s", waited, mode, target,
                                   "; ".join(_lock_holder(*blocker) for blocker in blockers))
            if stop.wait(LOCK_WAIT_CHECK_INTERVAL):
                return
    except psycopg2.Error as error:
        logger.warning("stopped watching the load's lock waits: %s", _error_message(error))
    finally:
        connection.close()


def _lock_holder(pid: int, application: str | None, user: str | None, query_start: datetime | None,
                 query: str | None) -> str:
    """A session that holds up the load, as its log shows it. Another login's query and its start show
    only to a login allowed to read them (pg_read_all_stats)."""
    if query_start is None:
        return (f"pid {pid} (application {application or '-'!r}, user {user or '-'};"
                f" its query is not visible to this login)")
    text = " ".join((query or "").split())
    if "password" in text.lower():  # ALTER ROLE ... PASSWORD '...', a connection string: no secret in a log
        text = re.sub(r"'(?:[^']|'')*'", "'***'", text)
    if len(text) > QUERY_SHOWN_CHARS:
        text = text[:QUERY_SHOWN_CHARS] + " ..."
    return (f"pid {pid} (application {application or '-'!r}, user {user or '-'},"
            f" query started {query_start.isoformat(sep=' ', timespec='seconds')}: {text})")
