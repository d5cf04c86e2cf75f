"""The loads as the CLI and the Airflow DAGs run them: fetch, download every
file whole, then one transaction per delivery (an increment's day, or the
full report) for its staging merges and the marts of every day it touched."""
from datetime import date, timedelta
from pathlib import Path

from salesmart import progress
from salesmart.downloads import run_folder
from salesmart.report_api import Report, ReportApiClient
from salesmart.warehouse import LoadError, SourceFile, complete_delivery, day_flags, load_delivery


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def download_and_load(dsn: str, api: ReportApiClient, urls: dict[str, str], *, load_kind: str,
                      date_from: date, date_to: date, where: str) -> None:
    """Downloads every file first (nothing changes unless the delivery came
    whole), into a folder of this run's own, then loads them in one transaction."""
    with run_folder() as folder:
        files = [SourceFile(api.download(url, folder / f"{name}.csv"), url)
                 for name, url in sorted(urls.items())]
        load_delivery(dsn, files, load_kind=load_kind, where=where, date_from=date_from, date_to=date_to)


def order_report(api: ReportApiClient) -> Report:
    """Order the full report and wait until it is ready: increments are asked for by its report_id."""
    return api.wait_report(api.generate_report())


def run_day(dsn: str, api: ReportApiClient, report_id: str, day: date) -> list[str]:
    """The daily job for business day `day`: its increment, staging and marts in one transaction.
    Returns what reporting.day_quality flags for the day as loaded (empty: nothing unusual)."""
    urls = api.get_increment(report_id, day)
    download_and_load(dsn, api, urls, load_kind="increment", date_from=day, date_to=day,
                      where=f"increment {day.isoformat()}")
    return day_flags(dsn, day)


def load_full_report(dsn: str, api: ReportApiClient, report: Report) -> None:
    """A ready report, delivering each day of start_day..end_date: staging and marts in one transaction."""
    download_and_load(dsn, api, report.files, load_kind="report", date_from=report.start_day,
                      date_to=report.end_date, where=f"report {report.report_id}")


def load_report(dsn: str, api: ReportApiClient) -> str:
    """Orders the full report, loads it and rebuilds the marts of its days; returns its report_id."""
    report = order_report(api)
    load_full_report(dsn, api, report)
    return report.report_id


def load_dir(dsn: str, folder: Path) -> None:
    """The same from local files: folder/report/*.csv, then each
    folder/increments/YYYY-MM-DD/*_inc.csv in date order, each one
    transaction. Every delivery is checked complete before any is loaded."""
    if not folder.is_dir():
        raise LoadError(f"{folder}: not a folder")
    report, increments = folder / "report", folder / "increments"
    if not report.is_dir() and not increments.is_dir():
        raise LoadError(f"{folder}: no report/ or increments/ folder to load")
    deliveries: list[tuple[list[SourceFile], date | None]] = []
    if report.is_dir():
        # Local report files carry no start/end: each delivers its own first..last date.
        deliveries.append((_local_files(report), None))
    for increment in sorted(increments.glob("????-??-??")) if increments.is_dir() else ():
        try:
            day = date.fromisoformat(increment.name)
        except ValueError:
            raise LoadError(f"{increment}: not a date (YYYY-MM-DD)") from None
        deliveries.append((_local_files(increment), day))
    for files, day in progress.days(deliveries, "load-dir", unit="deliveries"):
        load_delivery(dsn, files, load_kind="report" if day is None else "increment",
                      where=str(files[0].path.parent), date_from=day, date_to=day)


def _local_files(folder: Path) -> list[SourceFile]:
    return complete_delivery([SourceFile(path, str(path.resolve())) for path in sorted(folder.glob("*.csv"))],
                             str(folder))
