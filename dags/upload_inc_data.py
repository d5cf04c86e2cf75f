"""Daily DAG `upload_inc_data` (SPEC §5.4): one run per business day D loads
D's increment into staging and rebuilds the marts it touched.

The tasks only fetch, COPY and CALL through `salesmart` (the same code path as
`python -m salesmart run`); all business logic is in the warehouse's stored
procedures. No database or network access at import time.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from salesmart import pipeline, warehouse
from salesmart.airflow_connections import report_api_client, salesmart_dsn

logger = logging.getLogger(__name__)

# The first business day to load; the first run (at 06:00 UTC the day after)
# loads it and catchup walks on from there. Operators: set it to the day
# after the full report's end_date (increments exist only for later days).
FIRST_BUSINESS_DAY = date(2025, 1, 1)

# 06:00 UTC every day; each run's data interval is the 24 h before its run time.
TIMETABLE = CronTriggerTimetable("0 6 * * *", timezone="UTC", interval=timedelta(days=1))


def business_day(data_interval_start: datetime | None) -> date:
    """The business day D a run loads: the UTC date of its data interval start.

    The run at 06:00 UTC on D+1 has the data interval [D 06:00, D+1 06:00)
    and loads D, whose increment the source has formed by then. A manual run
    or `airflow dags test` with logical date L (any time of day) gets the
    interval [L - 1 day, L] and so loads the day before L's date.
    """
    if data_interval_start is None:
        raise ValueError("the run has no data interval, so no business day: "
                         "trigger it with a logical date (D + 1 day loads day D)")
    return data_interval_start.astimezone(timezone.utc).date()


DOC_MD = f"""
# upload_inc_data — daily increment of the report API into the warehouse

**Business day.** Each run loads one business day **D = the UTC date of the run's
data interval start**. The schedule is `0 6 * * *` UTC with a one-day data interval
(`CronTriggerTimetable(..., interval=1 day)`), so the run at **06:00 UTC on D+1** (logical
date D+1 06:00) loads **D** — by then the source has formed D's increment.
A run with logical date L (any time of day, also `airflow dags test`) loads the day before L's date.
The first business day is `FIRST_BUSINESS_DAY` = {FIRST_BUSINESS_DAY} in the DAG file
(`start_date` is the day after it); catchup is on and runs go one at a time, in date order.

**Tasks** (each retried with exponential backoff; they only fetch, COPY and CALL):

1. `fetch_increment` — orders a report to get a `report_id` (or uses the `report_id`
   param of a manual run), asks `GET /get_increment` for D and returns the file URLs (XCom).
   `NOT FOUND` (increment not formed yet), HTTP 5xx and timeouts are retried inside the task
   (`REPORT_API_ATTEMPTS`, `REPORT_API_BACKOFF`), then the task fails and Airflow retries it later.
2. `load_staging` — downloads all four files (nothing changes unless all arrive), COPYs them and
   CALLs `staging.load_*` for D..D in one transaction: D's rows are replaced, rows of other days
   upserted. Returns the days whose marts need rebuilding (D and any other order day in the files).
3. `load_f_sales` — `CALL mart.load_f_sales(day)` for each of those days.
4. `load_f_customer_retention` — `CALL mart.load_f_customer_retention(monday)` once per ISO week touched.

Every step is idempotent: re-running a day, or any task of it, gives the same warehouse.
If `load_staging` fails long after `fetch_increment` (the file URLs may have expired),
clear `fetch_increment` with its downstream tasks.

**Connections:** `salesmart_db` (Postgres: host, port, schema = database, login, password) and
`report_api` (HTTP: host, port, schema `http`/`https`, login = nickname, password = API key,
extra `cohort`), e.g. `AIRFLOW_CONN_REPORT_API='http://nick:key@api.host:8000/http?cohort=42'`.
Poll/retry settings of the API client: the `REPORT_API_*` environment variables of the worker.

**Re-run one business day D** (e.g. D = 2025-01-05 → the run of 2025-01-06 06:00 UTC):
- UI: open that run and *Clear* it (all tasks), or clear one task with *Downstream*.
- CLI: `airflow tasks clear upload_inc_data --start-date 2025-01-06T06:00:00+00:00 --end-date 2025-01-06T06:00:00+00:00 --yes`
- Without the scheduler: `airflow dags test upload_inc_data 2025-01-06T06:00:00+00:00`.

**Backfill business days D1..D2:** runs at D1+1 .. D2+1 06:00 UTC, e.g. days 2025-01-01..2025-01-10:
`airflow backfill create --dag-id upload_inc_data --from-date 2025-01-02T06:00:00+00:00 --to-date 2025-01-11T06:00:00+00:00 --reprocess-behavior completed`
(`--reprocess-behavior completed` re-runs days already loaded).
"""


@dag(
    dag_id="upload_inc_data",
    description="Daily: the report API's increment of business day D -> staging -> marts",
    schedule=TIMETABLE,
    start_date=datetime.combine(FIRST_BUSINESS_DAY + timedelta(days=1), datetime.min.time(), timezone.utc),
    catchup=True,
    max_active_runs=1,
    default_args={
        "owner": "salesmart",
        "retries": 4,
        "retry_delay": timedelta(minutes=10),
        # A multiplier (Airflow 3.x); `True` would mean 1, a constant delay.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=2),
        "execution_timeout": timedelta(minutes=30),
    },
    params={
        "report_id": Param(None, type=["null", "string"],
                           description="report whose increment to fetch; empty: order a new report"),
    },
    doc_md=DOC_MD,
    tags=["salesmart"],
)
def upload_inc_data():
    @task
    def fetch_increment(data_interval_start=None, params=None) -> dict[str, str]:
        """Order a report for its report_id (or take the `report_id` param), then
        fetch the file URLs of business day D's increment. Fails when the
        increment stays NOT FOUND after the client's retries."""
        day = business_day(data_interval_start)
        logger.info("business day %s", day)
        with report_api_client() as api:
            report_id = (params or {}).get("report_id") or api.wait_report(api.generate_report()).report_id
            return api.get_increment(report_id, day)

    @task(execution_timeout=timedelta(hours=1))
    def load_staging(urls: dict[str, str], data_interval_start=None) -> list[str]:
        """Download the increment whole, COPY it and CALL the staging loads for
        D..D in one transaction; return the days whose marts to rebuild."""
        day = business_day(data_interval_start)
        logger.info("business day %s", day)
        with report_api_client() as api:
            days = pipeline.download_and_load(salesmart_dsn(), api, urls, load_kind="increment",
                                              date_from=day, date_to=day)
        return [d.isoformat() for d in days]

    @task(execution_timeout=timedelta(hours=1))
    def load_f_sales(days: list[str]) -> list[str]:
        """CALL mart.load_f_sales for each day staging changed; pass the days on."""
        warehouse.load_f_sales(salesmart_dsn(), [date.fromisoformat(d) for d in days])
        return days

    @task(execution_timeout=timedelta(hours=1))
    def load_f_customer_retention(days: list[str]) -> None:
        """CALL mart.load_f_customer_retention once for each ISO week of those days."""
        warehouse.load_f_customer_retention(salesmart_dsn(), [date.fromisoformat(d) for d in days])

    load_f_customer_retention(load_f_sales(load_staging(fetch_increment())))


upload_inc_data()
