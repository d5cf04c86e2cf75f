"""On-demand DAG `upload_report`: the full report into staging and
the marts of its days and weeks, one transaction; it publishes the report's
report_id, which the daily runs of `upload_inc_data` use. The tasks only
fetch, COPY and CALL through salesmart, the same code as
`python -m salesmart load-report`."""
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, dag, task

from salesmart import airflow_support, pipeline
from salesmart.airflow_support import fail_fast, report_api_client, salesmart_dsn

REPORT = Asset(**airflow_support.REPORT_ASSET)
MARTS = [Asset(**mart) for mart in airflow_support.MART_ASSETS]


@dag(
    dag_id="upload_report",
    description="On demand: the report API's full report -> staging -> marts; publishes its report_id",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=airflow_support.default_args(execution_timeout=timedelta(hours=2)),
    tags=["salesmart"],
)
def upload_report():
    """
    # upload_report — the report API's full report into the warehouse

    No schedule: trigger it (UI *Trigger*, or `airflow dags trigger upload_report`) once for the
    first load of the warehouse, or to reload the whole history the report covers. Unpause it
    first (new DAGs start paused). `upload_inc_data` then loads the days after the report's
    `end_date` with this report's `report_id`.

    **Tasks**

    1. `order_report` — `POST /generate_report`, then polls `GET /get_report` until `SUCCESS`
       (`REPORT_API_POLL_INTERVAL`, `REPORT_API_POLL_DEADLINE`); returns the report's task id.
    2. `load_report` — `salesmart.pipeline.load_full_report`: downloads all four files (nothing
       changes unless all arrive), then in ONE transaction merges them into staging for
       `start_day`..`end_date` and rebuilds the marts of those days and weeks. Publishes the
       `salesmart_report` Asset event with extra `report_id` (read by `upload_inc_data`) and
       updates the mart Assets.

    Bad input, configuration errors and HTTP 401/403 fail the task at once, without retries;
    HTTP 5xx, network trouble and a lost database connection are retried: the first retry
    5–10 minutes after the failure, the second 10–20, the third 20–40 (Airflow's exponential
    backoff doubles the delay and adds up to as much again).
    A re-run (*Clear*) gives the same warehouse.

    **Connections:** `salesmart_db` and `report_api`, as for `upload_inc_data`.
    """

    @task(execution_timeout=timedelta(minutes=30))
    def order_report() -> str:
        """Order the full report and wait until it is ready; return its task id."""
        with fail_fast(), report_api_client() as api:
            task_id = api.generate_report()
            api.wait_report(task_id)
        return task_id

    @task(outlets=[REPORT, *MARTS])
    def load_report(task_id: str, outlet_events=None) -> None:
        """The report into staging and the marts, in one transaction; publish its report_id."""
        # The file URLs are asked for here, not passed on through XCom: they
        # may be signed, and they may expire before a retry.
        with fail_fast(), report_api_client() as api:
            report = api.wait_report(task_id)
            pipeline.load_full_report(salesmart_dsn(), api, report)
        outlet_events[REPORT].extra = airflow_support.report_event_extra(report)

    load_report(order_report())


upload_report()
