"""python -m salesmart: the command line (SPEC 5.3)."""
import argparse
import logging
import sys
from datetime import date
from pathlib import Path

import psycopg2
from rich.console import Console
from yoyo.scripts.main import main as yoyo_main

from salesmart import config, demo as demo_job, pipeline, progress, report as reports
from salesmart.api_server import serve
from salesmart.embedded_pg import EmbeddedPostgresError
from salesmart.files import BadInput
from salesmart.generate import generate as write_sample
from salesmart.migrate import apply_migrations, shipped_folder
from salesmart.report_api import ReportApiError
from salesmart.warehouse import LoadError
from salesmart_yoyo_env import MigrationStopped

logger = logging.getLogger("salesmart")

# Failures with a message that says it all: no traceback, exit 1.
EXPECTED_FAILURES = (LoadError, ReportApiError, BadInput, config.ConfigError, EmbeddedPostgresError,
                     reports.ReportError, psycopg2.Error, MigrationStopped)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m salesmart", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="apply the database migrations (DATABASE_URL)")
    commands.add_parser("load-report", help="order, load the full report and rebuild its marts")

    run = commands.add_parser("run", help="load the daily increments of a date range and rebuild their marts")
    run.add_argument("--from", dest="first", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    run.add_argument("--to", dest="last", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
    run.add_argument("--report-id", help="report whose increments to fetch (default: order a new report)")

    load_dir = commands.add_parser("load-dir", help="load PATH/report/*.csv and PATH/increments/YYYY-MM-DD/*")
    load_dir.add_argument("path", type=Path)

    serve = commands.add_parser("serve-api", help="serve a local report API over a data folder")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--running-polls", type=int, default=1,
                       help="polls that answer RUNNING before a report is ready (default 1)")

    generate = commands.add_parser("generate", help="write sample data with the traits of the real source")
    generate.add_argument("--out", type=Path, required=True)
    generate.add_argument("--days", type=int, required=True, help="daily increments after the report")
    generate.add_argument("--orders-per-day", type=int, required=True)
    generate.add_argument("--seed", type=int, required=True)
    generate.add_argument("--start", type=date.fromisoformat, default=date(2024, 12, 16),
                          help="first day of the report (default 2024-12-16)")
    generate.add_argument("--report-days", type=int, default=14, help="days the report covers (default 14)")
    generate.add_argument("--old-format", action="store_true",
                          help="increments without the status column (and so without refunds)")

    report = commands.add_parser("report", help="reports for people, from the reporting views")
    report_kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    retention = report_kinds.add_parser(
        "retention", help="weekly new/returning customers, and the items that keep customers best")
    retention.add_argument("--from", dest="first", type=week, metavar="WEEK",
                           help="first ISO week: 2022-W47, 202247 or any day of it (default: the first loaded)")
    retention.add_argument("--to", dest="last", type=week, metavar="WEEK",
                           help="last ISO week, likewise (default: the last loaded)")
    retention.add_argument("--format", choices=("table", "csv", "markdown"), default="table",
                           help="table (default), or csv / markdown under the mart's column names")
    retention.add_argument("--chart", type=Path, metavar="PATH.png", help="also draw the report into a PNG")

    yoyo = commands.add_parser("yoyo", help="yoyo (apply, rollback, list, mark ...) on salesmart's migrations and"
                                            " DATABASE_URL, from any folder", add_help=False)
    yoyo.add_argument("arguments", nargs=argparse.REMAINDER, help="yoyo's arguments")

    demo = commands.add_parser(
        "demo", help="the whole job on an embedded PostgreSQL, with generated data",
        description="The whole job on a PostgreSQL cluster of its own, with generated data. It keeps the cluster,"
                    " the data and the chart in .salesmart in the current folder (SALESMART_HOME names another"
                    " folder), and reuses them on the next run.")
    demo.add_argument("--stop", action="store_true", help="stop the demo's PostgreSQL server and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        COMMANDS[args.command](args)
    except EXPECTED_FAILURES as error:
        logger.error("%s", error)
        return 1
    return 0


def migrate(args) -> None:
    apply_migrations(config.database_url())


def load_report(args) -> None:
    with config.report_api_client() as api:
        report_id = pipeline.load_report(config.database_url(), api)
    logger.info("report %s loaded", report_id)


def run(args) -> None:
    if args.last < args.first:
        raise config.ConfigError("--to is before --from")
    dsn = config.database_url()
    with config.report_api_client() as api:
        report_id = args.report_id or pipeline.order_report(api).report_id
        days = pipeline.days_between(args.first, args.last)
        for day in progress.days(days, "days"):
            pipeline.run_day(dsn, api, report_id, day)


def load_dir(args) -> None:
    pipeline.load_dir(config.database_url(), args.path)


def serve_api(args) -> None:
    serve(args.data, args.port, config.api_credentials(), running_polls=args.running_polls)


def generate(args) -> None:
    write_sample(args.out, days=args.days, orders_per_day=args.orders_per_day, seed=args.seed,
                 start=args.start, report_days=args.report_days, old_format=args.old_format)


def week(text: str) -> date:
    try:
        return reports.parse_week(text)
    except reports.ReportError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def report(args) -> None:
    if args.chart:
        reports.require_chart()
    sections = reports.retention_report(config.database_url(), args.first, args.last)
    if args.format == "csv":
        sys.stdout.write(reports.as_csv(sections))
    elif args.format == "markdown":
        sys.stdout.write(reports.as_markdown(sections))
    else:
        reports.print_tables(sections, Console())
    if args.chart:
        logger.info("chart written to %s", reports.draw_chart(sections, args.chart))


def yoyo(args) -> None:
    # the settings that travel with the migrations: their folder, DATABASE_URL, batch mode
    settings = shipped_folder("migrations") / "yoyo.ini"
    if not settings.is_file():
        raise config.ConfigError(f"{settings} not found: salesmart is installed without its package data")
    raise SystemExit(yoyo_main(["--config", str(settings), *args.arguments]))


def demo(args) -> None:
    if args.stop:
        demo_job.stop()
    else:
        demo_job.run()


COMMANDS = {
    "migrate": migrate, "load-report": load_report, "run": run, "load-dir": load_dir,
    "serve-api": serve_api, "generate": generate, "report": report, "yoyo": yoyo, "demo": demo,
}

if __name__ == "__main__":
    sys.exit(main())
