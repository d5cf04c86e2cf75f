"""On-demand DAG `upload_report` (SPEC 5.4): the full report into staging,
then the marts of its days and weeks; the tasks only fetch, COPY and CALL
through salesmart, the same code as `python -m salesmart load-report`."""
from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task

from salesmart import airflow_support, pipeline
from salesmart.airflow_support import report_api_client, salesmart_dsn


@dag(
    dag_id="upload_report",
    description="On demand: the report API's full report -> staging -> marts of its days and weeks",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "salesmart",
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        # A multiplier in Airflow 3; `True` would mean 1, a constant delay.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(hours=2),
    },
    tags=["salesmart"],
)
def upload_report():
    """
    # upload_report — the report API's full report into the warehouse

    No schedule: trigger it (UI *Trigger*, or `airflow dags trigger upload_report`) for the
    first load of the warehouse, or to reload the whole history the report covers. Then
    `upload_inc_data` takes over from the day after the report's `end_date`.

    **Tasks** (retried with exponential backoff; each is one transaction or none):

    1. `order_report` — `POST /generate_report`, then polls `GET /get_report` until `SUCCESS`
       (`REPORT_API_POLL_INTERVAL`, `REPORT_API_POLL_DEADLINE`); returns the task id.
    2. `load_staging` — downloads all four files (nothing changes unless all arrive), COPYs them
       and CALLs `staging.load_*` for `start_day`..`end_date` in one transaction: those days are
       replaced. Returns the days whose marts need rebuilding.
    3. `load_f_sales` — `CALL mart.load_f_sales(day)` for each of those days.
    4. `load_f_customer_retention` — `CALL mart.load_f_customer_retention(day)` once per ISO week.

    Every task can be repeated: a re-run (*Clear* the run, or one task with *Downstream*, or
    `airflow dags test upload_report`) gives the same warehouse.

    **Connections:** `salesmart_db` and `report_api`, as for `upload_inc_data`.
    """

    @task(execution_timeout=timedelta(minutes=30))
    def order_report() -> str:
        """Order the full report and wait until it is ready; return its task id."""
        with report_api_client() as api:
            task_id = api.generate_report()
            api.wait_report(task_id)
        return task_id

    @task
    def load_staging(task_id: str) -> list[str]:
        """Download the report whole and load it into staging; return the days whose marts to rebuild."""
        # The file URLs are asked for here, not passed on through XCom: they
        # may be signed, and they may expire before a retry.
        with report_api_client() as api:
            report = api.wait_report(task_id)
            days = pipeline.download_and_load(salesmart_dsn(), api, report.files, load_kind="report",
                                              date_from=report.start_day, date_to=report.end_date)
        return [day.isoformat() for day in days]

    load_f_sales = task(airflow_support.load_f_sales)
    load_f_customer_retention = task(airflow_support.load_f_customer_retention)

    load_f_customer_retention(load_f_sales(load_staging(order_report())))


upload_report()
