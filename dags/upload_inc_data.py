"""Daily DAG `upload_inc_data` (SPEC 5.4): business day D's increment into
staging, then the marts; the tasks only fetch, COPY and CALL through
salesmart, the same code as `python -m salesmart run`."""
from datetime import datetime, timedelta, timezone

from airflow.sdk import CronTriggerTimetable, Param, dag, task

from salesmart import airflow_support, pipeline
from salesmart.airflow_support import business_day, report_api_client, salesmart_dsn


@dag(
    dag_id="upload_inc_data",
    description="Daily: the report API's increment of business day D -> staging -> marts",
    # 06:00 UTC every day; each run's data interval is the 24 h before it, and
    # D is the day that interval starts on (salesmart.airflow_support.business_day).
    schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC", interval=timedelta(days=1)),
    # The run at 06:00 on this day loads the first business day, 2025-01-01;
    # set it to two days after the full report's end_date before deploying.
    start_date=datetime(2025, 1, 2, tzinfo=timezone.utc),
    catchup=True,
    max_active_runs=1,
    default_args={
        "owner": "salesmart",
        "retries": 4,
        "retry_delay": timedelta(minutes=10),
        # A multiplier in Airflow 3; `True` would mean 1, a constant delay.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=2),
        "execution_timeout": timedelta(hours=1),
    },
    params={
        "report_id": Param(None, type=["null", "string"],
                           description="report whose increment to fetch; empty: order a new report"),
    },
    tags=["salesmart"],
)
def upload_inc_data():
    """
    # upload_inc_data — the report API's daily increment into the warehouse

    **Business day.** Each run loads one business day **D = the UTC date of the run's data
    interval start** (shown in the run's details). The run that starts at **06:00 UTC on D+1**
    has the data interval [D 06:00, D+1 06:00) and loads **D**: by then the source has formed
    D's increment. Airflow gives a scheduled (or backfill) run the logical date D 06:00 UTC.
    A *manual* run (Trigger, `airflow dags test`) with logical date L gets the interval
    [L − 1 day, L], so it loads **the day before L's date**: trigger 2025-01-06 to load 2025-01-05.
    Catchup is on, runs go one at a time in date order, from the first business day
    (`start_date` in the DAG file, minus one day).

    **Tasks** (retried with exponential backoff; each is one transaction or none):

    1. `fetch_increment` — orders a report for a `report_id` (or takes the `report_id` param of a
       manual run) and waits until D's increment exists: `NOT FOUND`, HTTP 5xx and timeouts are
       retried (`REPORT_API_ATTEMPTS`, `REPORT_API_BACKOFF`), then the task fails and Airflow
       retries it later.
    2. `load_staging` — downloads all four files of D's increment (nothing changes unless all
       arrive), COPYs them and CALLs `staging.load_*` for D in one transaction: D's rows are
       replaced, rows dated other days upserted. Returns the days whose marts need rebuilding.
    3. `load_f_sales` — `CALL mart.load_f_sales(day)` for each of those days.
    4. `load_f_customer_retention` — `CALL mart.load_f_customer_retention(day)` once per ISO week.

    Every task can be repeated: re-running a day, or any task of it, gives the same warehouse.

    **Connections:** `salesmart_db` (Postgres: host, port, schema = database, login, password)
    and `report_api` (HTTP: host, port, schema `http`/`https`, login = nickname,
    password = API key, extra `cohort`), e.g.
    `AIRFLOW_CONN_REPORT_API='http://nick:key@api.host:8000/http?cohort=42'`.
    The API client's poll and retry settings: the workers' `REPORT_API_*` environment variables.

    **Re-run business day D** (e.g. 2025-01-05):
    - UI: *Clear* the run with logical date 2025-01-05 06:00 UTC (or one task, with *Downstream*).
    - CLI: `airflow tasks clear upload_inc_data --start-date 2025-01-05 --end-date 2025-01-05T23:59:59+00:00 --yes`
    - A day without a run: *Trigger* with logical date D+1, e.g. 2025-01-06 00:00 UTC, or
      `airflow dags test upload_inc_data 2025-01-06` (both load 2025-01-05). Not at 06:00 UTC:
      that is a scheduled run's logical date. Not `airflow dags trigger`: Airflow 3.3 takes its
      data interval from the trigger time, not `--logical-date`, and `fetch_increment` refuses it.

    **Backfill business days D1..D2** (the window is on run times, D+1 06:00 UTC), e.g. 2025-01-01..2025-01-10:
    `airflow backfill create --dag-id upload_inc_data --from-date 2025-01-02 --to-date 2025-01-11T06:00:00+00:00 --reprocess-behavior completed`
    (`--dry-run` first lists the runs).
    """

    @task(execution_timeout=timedelta(minutes=30))
    def fetch_increment(data_interval_start=None, data_interval_end=None, logical_date=None,
                        params=None) -> str:
        """Wait until business day D's increment exists; return the report_id it belongs to."""
        day = business_day(data_interval_start, data_interval_end, logical_date)
        with report_api_client() as api:
            report_id = params.get("report_id") or pipeline.order_report(api).report_id
            api.get_increment(report_id, day)
        return report_id

    @task
    def load_staging(report_id: str, data_interval_start=None, data_interval_end=None,
                     logical_date=None) -> list[str]:
        """Download D's increment whole and load it into staging; return the days whose marts to rebuild."""
        day = business_day(data_interval_start, data_interval_end, logical_date)
        # The file URLs are asked for here, not passed on through XCom: they
        # may be signed, and they may expire before a retry.
        with report_api_client() as api:
            urls = api.get_increment(report_id, day)
            days = pipeline.download_and_load(salesmart_dsn(), api, urls, load_kind="increment",
                                              date_from=day, date_to=day)
        return [day.isoformat() for day in days]

    load_f_sales = task(airflow_support.load_f_sales)
    load_f_customer_retention = task(airflow_support.load_f_customer_retention)

    load_f_customer_retention(load_f_sales(load_staging(fetch_increment())))


upload_inc_data()
