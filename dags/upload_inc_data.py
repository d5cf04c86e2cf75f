"""Daily DAG `upload_inc_data`: business day D's increment into
staging and the marts, one transaction; the tasks only fetch, COPY and CALL
through salesmart, the same code as `python -m salesmart run`.

Settings, read from the environment where this file is parsed (scheduler,
DAG processor and workers alike):
- SALESMART_FIRST_BUSINESS_DAY=YYYY-MM-DD: catch up from that day. Unset, the
  DAG has no schedule (manual runs only) and says so in its description.
- SALESMART_INCREMENT_POKE_SECONDS (600), SALESMART_INCREMENT_TIMEOUT_HOURS (18):
  how often and how long to ask for D's increment while it is NOT FOUND.
- SALESMART_LOAD_DEADLINE_HOURS (unset: no deadline alert): alert when a run
  has not loaded its day that long after it was queued. Unset by default:
  Airflow 3.3's `airflow dags test` fails at the end of a run of a DAG with a
  deadline alert (https://github.com/apache/airflow/issues/73428).
- SALESMART_ALERT_EMAIL: where alerts go besides the task log (salesmart.airflow_support.alert).
"""
from datetime import timedelta

from airflow.sdk import (
    Asset,
    CronTriggerTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    PokeReturnValue,
    SyncCallback,
    TriggerRule,
    dag,
    task,
)
from airflow.sdk.exceptions import AirflowSkipException

from salesmart import airflow_support, pipeline
from salesmart.airflow_support import business_day, fail_fast, number_setting, report_api_client, salesmart_dsn

REPORT = Asset(**airflow_support.REPORT_ASSET)
MARTS = [Asset(**mart) for mart in airflow_support.MART_ASSETS]

FIRST_BUSINESS_DAY = airflow_support.first_business_day()
POKE_INTERVAL = timedelta(seconds=number_setting("SALESMART_INCREMENT_POKE_SECONDS", 600))
INCREMENT_TIMEOUT = timedelta(hours=number_setting("SALESMART_INCREMENT_TIMEOUT_HOURS", 18))
LOAD_DEADLINE_HOURS = number_setting("SALESMART_LOAD_DEADLINE_HOURS", None)


@dag(
    dag_id="upload_inc_data",
    description=(f"Daily from business day {FIRST_BUSINESS_DAY}: the report API's increment of D -> staging -> marts"
                 if FIRST_BUSINESS_DAY else
                 "NOT SCHEDULED: set SALESMART_FIRST_BUSINESS_DAY=YYYY-MM-DD for the Airflow components"),
    # 06:00 UTC every day, the run's logical date is that time (a trigger
    # timetable with no data interval): the run at 06:00 on D+1 loads D.
    schedule=CronTriggerTimetable("0 6 * * *", timezone="UTC") if FIRST_BUSINESS_DAY else None,
    catchup=bool(FIRST_BUSINESS_DAY),
    max_active_runs=1,
    default_args=airflow_support.default_args(
        execution_timeout=timedelta(hours=1),
        # The DAG's start_date, given here so that Airflow also refuses to
        # trigger a run dated before it (such a run would get no tasks).
        **({"start_date": airflow_support.first_run(FIRST_BUSINESS_DAY)} if FIRST_BUSINESS_DAY else {})),
    # From when the run was queued, not from its logical date: a run that
    # catches up a past day, or re-runs one, is not born late. A scheduled run
    # is queued at its time, 06:00 UTC on D+1; a run that loads its day drops
    # its deadline.
    deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT,
                           interval=timedelta(hours=LOAD_DEADLINE_HOURS),
                           callback=SyncCallback(airflow_support.deadline_missed)) if LOAD_DEADLINE_HOURS else None,
    params={
        "report_id": Param(None, type=["null", "string"],
                           description="report whose increment to fetch; empty: the one upload_report published"),
    },
    tags=["salesmart"],
)
def upload_inc_data():
    """
    # upload_inc_data — the report API's daily increment into the warehouse

    **Business day.** The run at **06:00 UTC on D+1** loads business day **D**: a run loads
    **the day before its logical date** (UTC). Scheduled runs have logical date D+1 06:00;
    a manual or backfill run with logical date L (any time of day) loads the day before L's
    date; a manual run without a logical date loads yesterday.
    Catch-up starts with `SALESMART_FIRST_BUSINESS_DAY` (the environment of the Airflow
    components; unset, the DAG is not scheduled) and runs one day at a time, in date order.
    New DAGs start paused: **unpause** it.

    **Tasks**

    1. `order_report_if_none` — skipped when a report is known: the `report_id` param of a manual
       run, or the newest `salesmart_report` Asset event (`upload_report` publishes it). Otherwise
       orders the full report and publishes its `report_id` the same way.
    2. `wait_for_increment` — a sensor in *reschedule* mode (it holds no worker slot while it
       waits): asks every `SALESMART_INCREMENT_POKE_SECONDS` whether D's increment exists, fails
       after `SALESMART_INCREMENT_TIMEOUT_HOURS` of `NOT FOUND`.
    3. `load_day` — `salesmart.pipeline.run_day`: downloads all four files of D's increment
       (nothing changes unless all arrive), then in ONE transaction merges them into staging and
       rebuilds the marts of every day, week and month they touch. Updates the mart Assets. When
       `reporting.day_quality` flags the loaded day (orders far below or above its weekday, a burst of
       refunds, a day delivered empty, a new item or city), logs a `salesmart alert` warning (mailed
       like the others); the task still succeeds. One `load_day` at a time across all runs, backfills
       included.

    Bad input, configuration errors and HTTP 401/403 fail the task at once, without retries;
    HTTP 5xx, network trouble and a lost database connection are retried: the first retry
    5–10 minutes after the failure, the second 10–20, the third 20–40 (Airflow's exponential
    backoff doubles the delay and adds up to as much again).
    A failure that is final is logged as a `salesmart alert` (and mailed to
    `SALESMART_ALERT_EMAIL` if set). With `SALESMART_LOAD_DEADLINE_HOURS` set, so is a run that
    has not loaded its day that many hours after it was queued (a DeadlineAlert; a scheduled run
    is queued at 06:00 UTC on D+1). Re-running a day gives the same warehouse.

    **Connections:** `salesmart_db` (Postgres: host, port, schema = database, login, password)
    and `report_api` (HTTP: host, port, schema `http`/`https`, login = nickname,
    password = API key, extra `cohort`), e.g.
    `AIRFLOW_CONN_REPORT_API='http://nick:key@api.host:8000/http?cohort=42'`.

    **Re-run business day D** (e.g. 2025-01-05; its run has logical date 2025-01-06 06:00 UTC):
    - UI: *Clear* that run.
    - CLI: `airflow tasks clear upload_inc_data --start-date 2025-01-06 --end-date 2025-01-06T23:59:59+00:00 --yes`

    **Load day D in a new run**: *Trigger* with logical date D+1 (any time but the scheduled 06:00,
    and not later than now), e.g. `airflow dags trigger upload_inc_data --logical-date 2025-01-06T12:00:00+00:00`
    (loads 2025-01-05); without a logical date it loads yesterday. A logical date before the DAG's
    start_date is refused: use `salesmart run --from D1 --to D2` for days before the first business day.
    A run dated later than now is failed as soon as it starts, with a note saying why (salesmart's
    Airflow plugin): Airflow would keep it running, with no tasks, until that time, and hold up every
    other run.

    **Backfill business days D1..D2** (the window is on logical dates, D+1 06:00 UTC), e.g. 2025-01-01..2025-01-10:

        airflow backfill create --dag-id upload_inc_data --from-date 2025-01-02 \\
            --to-date 2025-01-11T06:00:00+00:00 --reprocess-behavior completed --max-active-runs 1

    (`--dry-run` first lists the runs; `--max-active-runs 1` runs the days one after another in
    date order, as the catch-up does).
    """

    @task(inlets=[REPORT], outlets=[REPORT])
    def order_report_if_none(params=None, inlet_events=None, outlet_events=None) -> None:
        """Skipped when a report is known; else order the full report and publish its report_id."""
        known = airflow_support.known_report_id(params, inlet_events, REPORT)
        if known:
            raise AirflowSkipException(f"report {known} is known: no report ordered")
        with fail_fast(), report_api_client() as api:
            report = pipeline.order_report(api)
        outlet_events[REPORT].extra = airflow_support.report_event_extra(report)

    @task.sensor(mode="reschedule", poke_interval=POKE_INTERVAL, timeout=INCREMENT_TIMEOUT,
                 trigger_rule=TriggerRule.NONE_FAILED, inlets=[REPORT])
    def wait_for_increment(params=None, inlet_events=None, logical_date=None, dag_run=None) -> PokeReturnValue:
        """Whether business day D's increment exists yet; passes on the report_id it belongs to."""
        day = business_day(logical_date, dag_run.run_after)
        with fail_fast():
            report_id = airflow_support.known_report_id(params, inlet_events, REPORT)
            with report_api_client() as api:
                found = api.find_increment(report_id, day) is not None
        return PokeReturnValue(is_done=found, xcom_value=report_id)

    # One load at a time whatever a backfill's own limit: parallel loads would
    # only wait for each other on the warehouse lock, holding worker slots.
    @task(outlets=MARTS, max_active_tis_per_dag=1)
    def load_day(report_id: str, logical_date=None, dag_run=None) -> None:
        """Business day D's increment into staging and the marts, in one transaction; a warning
        when reporting.day_quality flags the day."""
        day = business_day(logical_date, dag_run.run_after)
        with fail_fast(), report_api_client() as api:
            flags = pipeline.run_day(salesmart_dsn(), api, report_id, day)
        if flags:
            airflow_support.day_flagged(day, flags)

    load_day(order_report_if_none() >> wait_for_increment())


upload_inc_data()
