"""`python -m salesmart demo`: the whole job on a machine with nothing set up.

Starts (or reuses) a PostgreSQL cluster in .salesmart/pg of the current
folder (SALESMART_HOME moves .salesmart elsewhere; salesmart.dev.embedded_pg says
which server and where its data lives), says which server it uses, generates a report
and a week of increments with refunds across a year end, serves them with the
local report API, then runs migrate, load-report and run exactly as
production would, and prints the weekly retention mart and the loaded days
that reporting.day_quality flags: one increment has a burst of refunds.
"""
import logging
import os
import secrets
import shutil
import threading
from datetime import date, timedelta
from pathlib import Path

import psycopg2
from rich.console import Console

from salesmart import pipeline, report
from salesmart.dev.api_server import make_server
from salesmart.dev.embedded_pg import EmbeddedPostgres
from salesmart.dev.generate import generate
from salesmart.migrate import apply_migrations
from salesmart.report_api import ApiCredentials, ReportApiClient

logger = logging.getLogger(__name__)

DATABASE = "salesmart"
REPORT_START = date(2024, 12, 16)
REPORT_DAYS = 14
INCREMENT_DAYS = 7
ORDERS_PER_DAY = 400
# An increment with four times the usual share of refunds, for day quality to flag.
REFUND_BURST = {date(2025, 1, 2): 0.4}


def home() -> Path:
    """The demo's folder: SALESMART_HOME, else .salesmart in the current folder (never beside the
    package, which an install puts into site-packages)."""
    return Path(os.environ.get("SALESMART_HOME") or Path.cwd() / ".salesmart")


def server() -> EmbeddedPostgres:
    return EmbeddedPostgres(home() / "pg")


def run() -> None:
    report.require_chart()  # the demo ends with one
    postgres = server().start()
    print(f"PostgreSQL server: {postgres.describe()}")
    _create_database(postgres)
    dsn = postgres.dsn(DATABASE)
    apply_migrations(dsn)

    data = home() / "demo-data"
    shutil.rmtree(data, ignore_errors=True)
    generate(data, days=INCREMENT_DAYS, orders_per_day=ORDERS_PER_DAY, seed=1,
             start=REPORT_START, report_days=REPORT_DAYS, day_refund_share=REFUND_BURST)

    # A key made up for this run only: the local API checks it like the real one.
    credentials = ApiCredentials(nickname="demo", cohort="1", api_key=secrets.token_hex(16))
    api_server = make_server(data, 0, credentials)
    threading.Thread(target=api_server.serve_forever, daemon=True).start()
    try:
        base_url = f"http://127.0.0.1:{api_server.server_address[1]}"
        with ReportApiClient(base_url, credentials, poll_interval=0.2) as api:
            report_id = pipeline.load_report(dsn, api)
            first = REPORT_START + timedelta(days=REPORT_DAYS)
            for day in pipeline.days_between(first, first + timedelta(days=INCREMENT_DAYS - 1)):
                pipeline.run_day(dsn, api, report_id, day)
    finally:
        api_server.shutdown()
        api_server.server_close()

    sections = report.retention_report(dsn)
    console = Console()
    report.print_tables(sections, console)
    report.print_quality(report.quality_report(dsn, flagged_only=True), console)
    print(f"Retention chart:     {report.draw_chart(sections, home() / 'retention.png')}")
    # The DSN names the cluster's password file: the password itself is never printed.
    print(f"\nOpen the warehouse:  {postgres.psql()} '{dsn}'")
    print("Stop its server:     python -m salesmart demo --stop")


def stop() -> None:
    server().stop()


def _create_database(postgres: EmbeddedPostgres) -> None:
    connection = psycopg2.connect(postgres.dsn())
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT FROM pg_database WHERE datname = %s", (DATABASE,))
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        connection.close()
