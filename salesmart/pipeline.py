"""The loads as the CLI and the Airflow DAGs run them: fetch, download
whole, load staging, rebuild the marts of the days touched."""
import tempfile
from datetime import date, timedelta
from pathlib import Path

from salesmart.report_api import Report, ReportApiClient
from salesmart.warehouse import LoadError, SourceFile, load_f_customer_retention, load_f_sales, load_staging


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def days_to_rebuild(order_days: list[date], date_from: date | None = None,
                    date_to: date | None = None) -> list[date]:
    """The days whose marts a staging load changed: every day of the replaced
    range (a day may have lost all its orders) and every day the order file
    touched outside it. No range: the order file's own first..last day."""
    if date_from is None:
        return days_between(order_days[0], order_days[-1]) if order_days else []
    return sorted(set(days_between(date_from, date_to)) | set(order_days))


def download_and_load(dsn: str, api: ReportApiClient, urls: dict[str, str], *, load_kind: str,
                      date_from: date, date_to: date) -> list[date]:
    """Downloads every file first (nothing changes unless the increment came
    whole), then loads them in one transaction. Returns the days whose marts
    need rebuilding."""
    with tempfile.TemporaryDirectory(prefix="salesmart-") as folder:
        files = [SourceFile(api.download(url, Path(folder) / f"{name}.csv"), url)
                 for name, url in sorted(urls.items())]
        order_days = load_staging(dsn, files, load_kind=load_kind, date_from=date_from, date_to=date_to)
    return days_to_rebuild(order_days, date_from, date_to)


def rebuild_marts(dsn: str, days: list[date]) -> None:
    load_f_sales(dsn, days)
    load_f_customer_retention(dsn, days)


def order_report(api: ReportApiClient) -> Report:
    """Order the full report and wait until it is ready: increments are asked for by its report_id."""
    return api.wait_report(api.generate_report())


def run_day(dsn: str, api: ReportApiClient, report_id: str, day: date) -> None:
    """The daily job for business day `day`: its increment into staging, then the marts."""
    urls = api.get_increment(report_id, day)
    rebuild_marts(dsn, download_and_load(dsn, api, urls, load_kind="increment", date_from=day, date_to=day))


def load_full_report(dsn: str, api: ReportApiClient, report: Report) -> None:
    """A ready full report into staging, then the marts of its days."""
    rebuild_marts(dsn, download_and_load(dsn, api, report.files, load_kind="report",
                                         date_from=report.start_day, date_to=report.end_date))


def load_report(dsn: str, api: ReportApiClient) -> str:
    """Orders the full report, loads it and rebuilds the marts of its days; returns its report_id."""
    report = order_report(api)
    load_full_report(dsn, api, report)
    return report.report_id


def load_dir(dsn: str, folder: Path) -> None:
    """The same from local files: folder/report/*.csv, then each
    folder/increments/YYYY-MM-DD/*_inc.csv in date order."""
    if not (folder / "report").is_dir() and not (folder / "increments").is_dir():
        raise LoadError(f"{folder}: no report/ or increments/ folder to load")
    report_files = [SourceFile(path, str(path.resolve())) for path in sorted((folder / "report").glob("*.csv"))]
    if report_files:
        # Local report files carry no start/end: each replaces its own first..last date.
        rebuild_marts(dsn, days_to_rebuild(load_staging(dsn, report_files, load_kind="report")))
    for increment in sorted((folder / "increments").glob("????-??-??")):
        day = date.fromisoformat(increment.name)
        files = [SourceFile(path, str(path.resolve())) for path in sorted(increment.glob("*.csv"))]
        order_days = load_staging(dsn, files, load_kind="increment", date_from=day, date_to=day)
        rebuild_marts(dsn, days_to_rebuild(order_days, day, day))
