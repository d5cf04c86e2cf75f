"""python -m salesmart: the command line."""
import argparse
import logging
import sys
from datetime import date
from pathlib import Path

import psycopg2
from rich.console import Console
from yoyo.scripts.main import main as yoyo_main

from salesmart import config, pipeline, progress, report as reports
from salesmart.files import BadInput
from salesmart.migrate import apply_migrations, shipped_folder
from salesmart.report_api import ReportApiError
from salesmart.warehouse import LoadError
from salesmart_yoyo_env import MigrationStopped

logger = logging.getLogger("salesmart")

FORMATS = ("table", "csv", "markdown")

# Failures with a message that says it all: no traceback, exit 1.
EXPECTED_FAILURES = (LoadError, ReportApiError, BadInput, config.ConfigError, reports.ReportError, psycopg2.Error,
                     MigrationStopped)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m salesmart", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("migrate", help="apply the database migrations (DATABASE_URL)")
    commands.add_parser("load-report", help="order the full report from the report API, load it and rebuild its marts")

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
        "retention", help="new/returning customers per week or month, and the items that keep customers best")
    retention.add_argument("--period", choices=tuple(reports.PERIODS), default="week",
                           help="ISO weeks (default) or calendar months")
    retention.add_argument("--from", dest="first", metavar="PERIOD",
                           help="first ISO week (2022-W47, 202247) or month (2022-11, 202211), or any day of it"
                                " (default: the first loaded)")
    retention.add_argument("--to", dest="last", metavar="PERIOD", help="last one, likewise (default: the last loaded)")
    retention.add_argument("--format", choices=FORMATS, default="table",
                           help="table (default), or csv / markdown under the mart's column names")
    retention.add_argument("--chart", type=Path, metavar="PATH.png", help="also draw the report into a PNG")
    quality = report_kinds.add_parser(
        "quality", help="every loaded business day and what is unusual about it (reporting.day_quality)")
    quality.add_argument("--from", dest="first", type=date.fromisoformat, metavar="YYYY-MM-DD",
                         help="first business day (default: the first loaded)")
    quality.add_argument("--to", dest="last", type=date.fromisoformat, metavar="YYYY-MM-DD",
                         help="last business day (default: the last loaded)")
    quality.add_argument("--flagged", action="store_true", help="only the days with flags")
    quality.add_argument("--format", choices=FORMATS, default="table",
                         help="table (default), or csv / markdown under the view's column names")

    yoyo = commands.add_parser("yoyo", help="yoyo (apply, rollback, list, mark ...) on salesmart's migrations and"
                                            " DATABASE_URL, from any folder", add_help=False)
    yoyo.add_argument("arguments", nargs=argparse.REMAINDER, help="yoyo's arguments")

    demo = commands.add_parser(
        "demo", help="the whole job on an embedded PostgreSQL, with generated data",
        description="The whole job on a PostgreSQL cluster of its own, with generated data. It keeps the cluster,"
                    " the data and the chart in .salesmart in the current folder (SALESMART_HOME names another"
                    " folder), and reuses them on the next run.")
    demo.add_argument("--stop", action="store_true", help="stop the demo's PostgreSQL server and exit")
    if argv[:1] == ["yoyo"]:
        # Everything after `yoyo` is yoyo's, options first included (`yoyo --help`), which argparse's
        # REMAINDER would take for this parser's own.
        return argparse.Namespace(command="yoyo", arguments=argv[1:])
    args = parser.parse_args(argv)
    if args.command == "report" and args.report == "retention":
        # a period's name depends on --period: 202212 is a week of 2022 or December
        period = reports.PERIODS[args.period]
        try:
            args.first, args.last = (None if text is None else period.parse(text) for text in (args.first, args.last))
        except reports.ReportError as error:
            retention.error(str(error))
    return args


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
            flags = pipeline.run_day(dsn, api, report_id, day)
            if flags:
                logger.warning("business day %s loaded, but looks unusual: %s (salesmart report quality --from %s"
                               " --to %s)", day, ", ".join(flags), day, day)


def load_dir(args) -> None:
    pipeline.load_dir(config.database_url(), args.path)


# The development tools (the local report API, the sample generator, the
# demo) are imported by their own commands only: the loader's commands, which
# Airflow's workers run, start without them.

def serve_api(args) -> None:
    from salesmart.dev.api_server import serve

    serve(args.data, args.port, config.api_credentials(), running_polls=args.running_polls)


def generate(args) -> None:
    from salesmart.dev.generate import generate as write_sample

    write_sample(args.out, days=args.days, orders_per_day=args.orders_per_day, seed=args.seed,
                 start=args.start, report_days=args.report_days, old_format=args.old_format)


def report(args) -> None:
    if args.report == "quality":
        section = reports.quality_report(config.database_url(), args.first, args.last, flagged_only=args.flagged)
        write_report([section], args.format, lambda console: reports.print_quality(section, console))
        return
    if args.chart:
        reports.require_chart()
    period = reports.PERIODS[args.period]
    sections = reports.retention_report(config.database_url(), args.first, args.last, period)
    write_report(sections, args.format, lambda console: reports.print_tables(sections, console, period))
    if args.chart:
        logger.info("chart written to %s", reports.draw_chart(sections, args.chart, period))


def write_report(sections: list[reports.Section], output_format: str, print_table) -> None:
    if output_format == "csv":
        sys.stdout.write(reports.as_csv(sections))
    elif output_format == "markdown":
        sys.stdout.write(reports.as_markdown(sections))
    else:
        print_table(Console())


def yoyo(args) -> None:
    # the settings that travel with the migrations: their folder, DATABASE_URL, batch mode
    settings = shipped_folder("migrations") / "yoyo.ini"
    if not settings.is_file():
        raise config.ConfigError(f"{settings} not found: salesmart is installed without its package data")
    raise SystemExit(yoyo_main(["--config", str(settings), *args.arguments]))


def demo(args) -> None:
    from salesmart.dev import demo as demo_job

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
