"""The Airflow 3 DAGs, parsed and run by `dag.test()`.

Airflow runs only in subprocesses with an AIRFLOW_HOME of their own (SQLite
metadata database), the repo's dags folder and no Airflow settings from this
process: nothing of Airflow's configuration or state leaks into pytest.
- The DagBag tests parse the dags folder in a fresh process with no
  connections defined and the network refused.
- The DAG runs use `dag.test()` in one long-lived runner process (Airflow's
  start-up is paid once), each run with its own connections given as
  AIRFLOW_CONN_* environment variables, against the test's fresh PostgreSQL
  database and a local report API (`make_server`) over generated data; the
  warehouse is compared with the pure-Python model (tests/model.py).
"""
from __future__ import annotations

import email
import itertools
import json
import os
import queue
import re
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import psycopg2.extensions
import pytest

from model import Model
from salesmart import pipeline
from salesmart.airflow_support import (
    base_url_from_connection,
    business_day,
    credentials_from_connection,
    dsn_from_connection,
    fail_fast,
    first_business_day,
    first_run,
    future_run_refusal,
    is_retryable,
)
from salesmart.config import ConfigError
from salesmart.dev.api_server import ReportApiServer, make_server
from salesmart.dev.generate import generate
from salesmart.files import BadInput
from salesmart.report_api import REPORT_FILES, ApiCredentials, ReportApiClient, ReportApiError
from salesmart.warehouse import LoadError
from sql_loading import DATA_TABLES, facts, retention, rows, snapshot

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"

API_KEY = "sk-dag-test-5ecret-key"
DB_PASSWORD = "pg-dag-test-5ecret"     # the test server trusts; the password only travels, and must not leak
CREDENTIALS = ApiCredentials(nickname="dag-tester", cohort="42", api_key=API_KEY)

# Report 2024-12-30 (Mon) .. 2025-01-05 (Sun); increments 2025-01-06 .. 2025-01-08.
REPORT_START = date(2024, 12, 30)
REPORT_DAYS = 7
REPORT_END = REPORT_START + timedelta(days=REPORT_DAYS - 1)
INCREMENT_DAYS = 3
LAST_INCREMENT = REPORT_END + timedelta(days=INCREMENT_DAYS)
# The business day the daily run loads: a Tuesday, with increments on both sides of it.
DAY = date(2025, 1, 7)

SUBPROCESS_TIMEOUT = 180

FAST_API = {
    "REPORT_API_POLL_INTERVAL": "0.05",
    "REPORT_API_POLL_DEADLINE": "30",
    "REPORT_API_ATTEMPTS": "2",
    "REPORT_API_BACKOFF": "0.1",
    "REPORT_API_TIMEOUT": "10",
}


# --- Airflow in subprocesses -----------------------------------------------------------


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment less any Airflow or salesmart settings, plus an
    Airflow of its own: `home`, the repo's dags folder, no examples."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW_", "REPORT_API_", "SALESMART_")) and key != "DATABASE_URL"}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def run_python(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], check=False, env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT)


# --- 1. DagBag: import, structure, schedule, business day ------------------------------

DAGBAG_SCRIPT = r"""
import json, os, socket, sys
from datetime import datetime, timezone, timedelta
from types import SimpleNamespace

# No database or network at import time: any connect() while parsing is recorded and refused.
attempts = []
def refuse(self, address, *args):
    attempts.append(repr(address))
    raise OSError("network access while parsing DAG files")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse

from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction

dags_folder = sys.argv[1]

def seconds(value):
    return value if value is None or isinstance(value, (int, float)) else value.total_seconds()

def assets(items):
    return sorted(getattr(item, "name", str(item)) for item in items)

# The least and the most minutes Airflow waits before each retry of `task`, over many runs: its own
# formula (TaskInstance.next_retry_datetime) on the task's settings, for tries 1..retries.
def retry_minutes(dag, task):
    failed_at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    waits = []
    for try_number in range(1, task.retries + 1):
        minutes = [(TaskInstance.next_retry_datetime(SimpleNamespace(
                        task=task, dag_id=dag.dag_id, task_id=task.task_id, try_number=try_number,
                        logical_date=failed_at + timedelta(days=day), end_date=failed_at,
                        retry_delay_override=None)) - failed_at).total_seconds() / 60
                   for day in range(300)]
        waits.append([min(minutes), max(minutes)])
    return waits

def parse(first_business_day, deadline_hours=None):
    for name, value in (("SALESMART_FIRST_BUSINESS_DAY", first_business_day),
                        ("SALESMART_LOAD_DEADLINE_HOURS", deadline_hours)):
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value
    bag = DagBag(dag_folder=dags_folder)
    out = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": {}}
    for dag_id, dag in bag.dags.items():
        tt = dag.timetable
        described = out["dags"][dag_id] = {
            "fileloc": dag.fileloc,
            "description": dag.description,
            "tasks": [t.task_id for t in dag.tasks],
            "edges": sorted([u, t.task_id] for t in dag.tasks for u in t.upstream_task_ids),
            "timetable": type(tt).__name__,
            "cron": getattr(tt, "expression", None),
            "timezone": str(getattr(tt, "timezone", None) or getattr(tt, "_timezone", None)),
            "interval": seconds(getattr(tt, "interval", getattr(tt, "_interval", None))),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "deadlines": [[type(alert.reference).__name__, seconds(alert.interval), alert.callback.path]
                          for alert in (dag.deadline or [])],
            "doc_md": dag.doc_md or "",
            "task_settings": {t.task_id: {"retries": t.retries, "backoff": t.retry_exponential_backoff,
                                          "max_retry_delay": seconds(t.max_retry_delay),
                                          "retry_delay": seconds(t.retry_delay),
                                          "retry_minutes": retry_minutes(dag, t),
                                          "max_active_tis_per_dag": t.max_active_tis_per_dag,
                                          "execution_timeout": seconds(t.execution_timeout),
                                          "on_failure_callback": [f"{c.__module__}.{c.__name__}"
                                                                  for c in (t.on_failure_callback or [])],
                                          "mode": getattr(t, "mode", None),
                                          "poke_interval": seconds(getattr(t, "poke_interval", None)),
                                          "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                                          "inlets": assets(t.inlets), "outlets": assets(t.outlets),
                                          "doc": bool(t.doc_md)} for t in dag.tasks},
        }
        if dag_id == "upload_inc_data" and dag.catchup:
            # What the scheduler asks: the first run of the catch-up, and the one after it.
            timetable = coerce_to_core_timetable(dag.timetable)
            restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
            first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
            second = timetable.next_dagrun_info(last_automated_data_interval=first.data_interval,
                                                restriction=restriction)
            described["runs"] = [{"run_after": info.run_after.isoformat(),
                                  "logical_date": info.logical_date.isoformat()} for info in (first, second)]
    return out

out = {"unset": parse(None), "set": parse("2025-01-01"), "invalid": parse("01/01/2025"),
       "deadline": parse("2025-01-01", "6")}
out["socket_attempts"] = attempts

# Connection URIs as Airflow parses them, converted by salesmart.airflow_support.
from airflow.sdk import Connection
from salesmart import airflow_support as ac
uris = {
    "documented_example": "http://nick:key@127.0.0.1:8000/http?cohort=42",
    "https": "http://nick:k%2Fey%40x@api.example.com/https?cohort=7",
    "no_schema": "http://nick:key@api.example.com:8080?cohort=7",
}
out["report_api"] = {}
for name, uri in uris.items():
    conn = Connection.from_uri(uri, conn_id="report_api")
    credentials = ac.credentials_from_connection(conn)
    out["report_api"][name] = {"fields": [conn.conn_type, conn.host, conn.port, conn.schema],
                               "base_url": ac.base_url_from_connection(conn),
                               "credentials": [credentials.nickname, credentials.cohort, credentials.api_key]}
db = Connection.from_uri("postgresql://sales:p%40ss%20word@db.example.com:6432/salesmart?sslmode=require&cursor=dictcursor",
                         conn_id="salesmart_db")
out["salesmart_db"] = {"fields": [db.conn_type, db.host, db.port, db.schema, db.login],
                       "dsn": ac.dsn_from_connection(db)}
print("DAGBAG_RESULT " + json.dumps(out))
"""


def result_line(output: str, marker: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith(marker + " ")]
    assert lines, f"no {marker} line in the output:\n{output[-5000:]}"
    return json.loads(lines[-1][len(marker) + 1:])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    """The dags folder parsed four times: SALESMART_FIRST_BUSINESS_DAY unset, 2025-01-01, invalid, and
    2025-01-01 with SALESMART_LOAD_DEADLINE_HOURS=6. No connections in the environment: parsing must not
    need them."""
    home = tmp_path_factory.mktemp("airflow-dagbag")
    done = run_python(DAGBAG_SCRIPT, str(DAGS), env=airflow_env(home))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return result_line(done.stdout, "DAGBAG_RESULT")


@pytest.fixture(scope="module")
def dagbag(parsed) -> dict:
    """The DAGs as deployed: SALESMART_FIRST_BUSINESS_DAY=2025-01-01."""
    return parsed["set"]


def test_dags_import_without_errors_or_network(parsed, dagbag):
    assert dagbag["import_errors"] == {}
    assert parsed["socket_attempts"] == []
    assert set(dagbag["dags"]) == {"upload_inc_data", "upload_report"}
    assert Path(dagbag["dags"]["upload_inc_data"]["fileloc"]) == DAGS / "upload_inc_data.py"
    assert Path(dagbag["dags"]["upload_report"]["fileloc"]) == DAGS / "upload_report.py"


@pytest.mark.parametrize("dag_id, chain", [
    ("upload_inc_data", ["order_report_if_none", "wait_for_increment", "load_day"]),
    ("upload_report", ["order_report", "load_report"]),
])
def test_tasks_run_in_a_chain(dagbag, dag_id, chain):
    dag = dagbag["dags"][dag_id]
    assert sorted(dag["tasks"]) == sorted(chain)
    assert dag["edges"] == sorted([a, b] for a, b in itertools.pairwise(chain))


def test_daily_dag_catches_up_from_the_first_business_day(dagbag):
    dag = dagbag["dags"]["upload_inc_data"]
    assert dag["timetable"] == "CronTriggerTimetable"
    assert dag["cron"] == "0 6 * * *"
    assert dag["timezone"] == "UTC"
    assert dag["interval"] == 0            # no data interval: the logical date is the run's time
    assert dag["catchup"] is True
    assert dag["max_active_runs"] == 1
    assert dag["start_date"] == "2025-01-02T00:00:00+00:00"
    # The first run loads 2025-01-01 at 06:00 UTC the day after; its logical date is not before
    # start_date, so Airflow gives it its tasks (a run dated before start_date gets none and
    # passes as a success).
    assert dag["runs"] == [{"run_after": "2025-01-02T06:00:00+00:00", "logical_date": "2025-01-02T06:00:00+00:00"},
                           {"run_after": "2025-01-03T06:00:00+00:00", "logical_date": "2025-01-03T06:00:00+00:00"}]
    assert all(run["logical_date"] >= dag["start_date"] for run in dag["runs"])
    assert "2025-01-01" in dag["description"]


def test_daily_dag_parses_unscheduled_without_a_first_business_day(parsed):
    unset = parsed["unset"]
    assert unset["import_errors"] == {}
    dag = unset["dags"]["upload_inc_data"]
    assert dag["timetable"] == "NullTimetable"
    assert dag["catchup"] is False and dag["start_date"] is None
    assert "SALESMART_FIRST_BUSINESS_DAY" in dag["description"]


def test_an_invalid_first_business_day_is_an_import_error_that_names_the_setting(parsed):
    errors = parsed["invalid"]["import_errors"]
    assert [Path(file).name for file in errors] == ["upload_inc_data.py"]
    assert "SALESMART_FIRST_BUSINESS_DAY='01/01/2025' is not a YYYY-MM-DD date" in next(iter(errors.values()))
    assert "upload_report" in parsed["invalid"]["dags"]


def test_report_dag_runs_on_demand_only(dagbag):
    dag = dagbag["dags"]["upload_report"]
    assert dag["timetable"] == "NullTimetable"
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1


@pytest.mark.parametrize("dag_id", ["upload_inc_data", "upload_report"])
def test_tasks_retry_with_backoff_time_out_and_report_failures(dagbag, dag_id):
    dag = dagbag["dags"][dag_id]
    for task_id, settings in dag["task_settings"].items():
        assert settings["retries"] >= 1, task_id
        assert settings["backoff"] > 1, task_id             # a multiplier since Airflow 3.x; 1 (True) is constant
        assert settings["retry_delay"] > 0, task_id
        assert settings["max_retry_delay"] and settings["max_retry_delay"] >= settings["retry_delay"], task_id
        assert settings["execution_timeout"] and 0 < settings["execution_timeout"] <= 4 * 3600, task_id
        assert settings["on_failure_callback"] == ["salesmart.airflow_support.notify_failure"], task_id
        assert settings["doc"], f"{task_id} has no doc"
    for words in dag["tasks"] + ["Clear", "without retries"]:
        assert words in dag["doc_md"]


def test_waiting_for_an_increment_holds_no_worker_slot(dagbag):
    sensor = dagbag["dags"]["upload_inc_data"]["task_settings"]["wait_for_increment"]
    assert sensor["mode"] == "reschedule"
    assert sensor["poke_interval"] == 600
    # It runs when the report was ordered and when that was skipped (a report is known).
    assert sensor["trigger_rule"] == "none_failed"


def test_report_id_travels_as_an_asset_event_and_the_marts_are_assets(dagbag):
    report = dagbag["dags"]["upload_report"]["task_settings"]
    daily = dagbag["dags"]["upload_inc_data"]["task_settings"]
    marts = ["salesmart_mart_f_customer_retention", "salesmart_mart_f_sales"]
    assert report["load_report"]["outlets"] == sorted(["salesmart_report", *marts])
    assert daily["order_report_if_none"]["inlets"] == daily["order_report_if_none"]["outlets"] == ["salesmart_report"]
    assert daily["wait_for_increment"]["inlets"] == ["salesmart_report"]
    assert daily["load_day"]["outlets"] == marts


def test_a_run_not_done_by_its_deadline_raises_an_alert_only_when_a_deadline_is_set(dagbag, parsed):
    # Unset: no DeadlineAlert, which `airflow dags test` of Airflow 3.3 cannot finish a run with.
    assert dagbag["dags"]["upload_inc_data"]["deadlines"] == []
    # Set: counted from when the run was queued (a scheduled run at 06:00 UTC on D+1), so that a run
    # catching up or re-running a past day is not late from the start.
    assert parsed["deadline"]["dags"]["upload_inc_data"]["deadlines"] == [
        ["DagRunQueuedAtDeadline", 6 * 3600, "salesmart.airflow_support.deadline_missed"]]
    assert parsed["deadline"]["dags"]["upload_report"]["deadlines"] == []


@pytest.mark.parametrize("dag_id", ["upload_inc_data", "upload_report"])
def test_retries_come_when_the_docs_say(dagbag, dag_id):
    # Airflow's backoff doubles the delay from 5 minutes and adds a jitter of up to as much again: the
    # first retry comes 5 to 10 minutes after the failure (8.8 was seen), not after exactly 5.
    dag = dagbag["dags"][dag_id]
    documented = [(5, 10), (10, 20), (20, 40)]
    for task_id, settings in dag["task_settings"].items():
        assert len(settings["retry_minutes"]) == len(documented), task_id
        for (least, most), (low, high) in zip(settings["retry_minutes"], documented, strict=True):
            assert low <= least < low * 1.05 and high * 0.95 < most < high, (task_id, least, most)
    text = "the first retry 5–10 minutes after the failure, the second 10–20, the third 20–40"
    for doc in (dag["doc_md"], (REPO / "README.md").read_text()):
        assert text in " ".join(doc.split())


def test_one_day_is_loaded_at_a_time_whatever_the_runs(dagbag):
    settings = dagbag["dags"]["upload_inc_data"]["task_settings"]
    assert settings["load_day"]["max_active_tis_per_dag"] == 1
    assert "--max-active-runs 1" in dagbag["dags"]["upload_inc_data"]["doc_md"]


def test_a_run_dated_later_than_now_is_refused():
    now = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
    for past in (None, now, now - timedelta(hours=3)):
        assert future_run_refusal("upload_inc_data", "manual__x", past, now) is None
    # Only salesmart's own DAGs.
    assert future_run_refusal("someone_elses_dag", "manual__x", now + timedelta(days=1), now) is None
    for dag_id in ("upload_inc_data", "upload_report"):
        refusal = future_run_refusal(dag_id, "manual__x", now + timedelta(seconds=1), now)
        assert refusal.startswith(f"run manual__x of {dag_id} refused: its logical date 2025-01-06T09:30:01+00:00"
                                  " is later than now")


def test_daily_doc_tells_how_to_rerun_backfill_and_trigger(dagbag):
    doc = dagbag["dags"]["upload_inc_data"]["doc_md"]
    for words in ("Business day", "SALESMART_FIRST_BUSINESS_DAY", "unpause", "airflow tasks clear",
                  "airflow backfill create", "airflow dags trigger upload_inc_data --logical-date"):
        assert words in doc


def test_business_day_is_the_day_before_the_logical_date():
    # The scheduled run at 2025-01-06 06:00 UTC (its logical date) loads 2025-01-05.
    assert business_day(datetime(2025, 1, 6, 6, tzinfo=UTC)) == date(2025, 1, 5)
    # A manual run with logical date L, any time of day, loads the day before L's date; in UTC.
    assert business_day(datetime(2025, 1, 6, 0, tzinfo=UTC)) == date(2025, 1, 5)
    assert business_day(datetime(2025, 1, 6, 23, 59, tzinfo=UTC)) == date(2025, 1, 5)
    assert business_day(datetime(2025, 1, 6, 1, tzinfo=timezone(timedelta(hours=3)))) == date(2025, 1, 4)
    # A manual run without a logical date loads the day before it was triggered.
    assert business_day(None, datetime(2025, 1, 6, 9, tzinfo=UTC)) == date(2025, 1, 5)
    with pytest.raises(ValueError, match="no business day"):
        business_day(None, None)


def test_first_business_day_setting():
    assert first_business_day({}) is None
    assert first_business_day({"SALESMART_FIRST_BUSINESS_DAY": " 2025-01-01 "}) == date(2025, 1, 1)
    with pytest.raises(ConfigError, match="SALESMART_FIRST_BUSINESS_DAY='2025-13-01' is not a YYYY-MM-DD date"):
        first_business_day({"SALESMART_FIRST_BUSINESS_DAY": "2025-13-01"})
    assert first_run(date(2025, 1, 1)) == datetime(2025, 1, 2, tzinfo=UTC)


def test_what_a_retry_cannot_fix_fails_at_once():
    from airflow.sdk.exceptions import AirflowFailException

    final = [BadInput("orders.csv", 3, "quantity", "negative"), ConfigError("REPORT_API_URL is not set"),
             ReportApiError("generate_report: HTTP 403 Forbidden"), LoadError("orders.csv: bad")]
    passing = [ReportApiError("get_increment 2025-01-05: still HTTP 503 after 5 attempts", retryable=True),
               psycopg2.OperationalError("server closed the connection unexpectedly")]
    for error in final:
        with pytest.raises(AirflowFailException) as failed, fail_fast():
            raise error
        assert failed.value.__cause__ is error and str(error) in str(failed.value)
    for error in passing:
        with pytest.raises(type(error)), fail_fast():
            raise error
    # core's LoadError.retryable, once it exists, is obeyed.
    retryable_load = LoadError("lost connection")
    retryable_load.retryable = True
    assert is_retryable(retryable_load)


def test_connection_uris_as_airflow_parses_them(parsed):
    # The documented example: the URI's scheme is the connection type, its path (`http`) the schema field.
    assert parsed["report_api"]["documented_example"] == {
        "fields": ["http", "127.0.0.1", 8000, "http"],
        "base_url": "http://127.0.0.1:8000",
        "credentials": ["nick", "42", "key"],               # cohort arrives as text
    }
    assert parsed["report_api"]["https"]["base_url"] == "https://api.example.com"
    assert parsed["report_api"]["https"]["credentials"] == ["nick", "7", "k/ey@x"]
    assert parsed["report_api"]["no_schema"]["base_url"] == "http://api.example.com:8080"
    db = parsed["salesmart_db"]
    assert db["fields"] == ["postgres", "db.example.com", 6432, "salesmart", "sales"]
    # libpq options from extra pass into the DSN, the provider's own (cursor) do not.
    assert psycopg2.extensions.parse_dsn(db["dsn"]) == {
        "dbname": "salesmart", "host": "db.example.com", "port": "6432", "user": "sales",
        "password": "p@ss word", "sslmode": "require"}


class FakeConnection:
    def __init__(self, conn_id="c", host=None, port=None, schema=None, login=None, password=None, extra=None):
        self.conn_id, self.host, self.port, self.schema = conn_id, host, port, schema
        self.login, self.password, self.extra_dejson = login, password, extra or {}


def test_connection_conversion_rejects_incomplete_connections_without_showing_secrets():
    with pytest.raises(ConfigError, match="schema must be http or https"):
        base_url_from_connection(FakeConnection(host="h", schema="ftp"))
    with pytest.raises(ConfigError, match="host is not set"):
        base_url_from_connection(FakeConnection(schema="http"))
    # A host with a scheme is the base URL (as HttpHook reads it); the port goes into it.
    assert base_url_from_connection(FakeConnection(host="https://api.example.com/v1/", port=8443)) \
        == "https://api.example.com:8443/v1"
    assert base_url_from_connection(FakeConnection(host="http://api.example.com:81", port=82)) \
        == "http://api.example.com:81"
    with pytest.raises(ConfigError) as missing:
        credentials_from_connection(FakeConnection(host="h", login="nick", password="", extra={}))
    assert "password (API key)" in str(missing.value) and "extra 'cohort'" in str(missing.value)
    with pytest.raises(ConfigError, match="database name"):
        dsn_from_connection(FakeConnection(host="h", password="secret-pw"))
    credentials = credentials_from_connection(FakeConnection(login="n", password="secret-pw", extra={"cohort": 5}))
    assert credentials.cohort == "5" and "secret-pw" not in repr(credentials)


# --- 2..4. DAG runs against PostgreSQL and the local report API --------------------------

RUNNER_SCRIPT = r"""
# Runs DAGs with dag.test(), one request per stdin line: {"dag_id", "logical_date", "env", "retries"}.
# `env` (connections, REPORT_API_*) holds for that run only. One process serves every run of the
# module: Airflow's start-up (imports, in-process execution API) is paid once, not per run.
import json, os, sys, traceback
from datetime import datetime

from airflow.dag_processing.dagbag import DagBag

dags_folder = sys.argv[1]
state = lambda value: getattr(value, "value", value)
for line in sys.stdin:
    request = json.loads(line)
    saved = dict(os.environ)
    os.environ.update(request["env"])
    try:
        bag = DagBag(dag_folder=dags_folder)    # parsed afresh: no run sees another's changes
        if bag.import_errors:
            result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}
        else:
            dag = bag.dags[request["dag_id"]]
            if request["retries"] is not None:
                for task in dag.tasks:
                    task.retries = request["retries"]
            run = dag.test(logical_date=datetime.fromisoformat(request["logical_date"]))
            result = {"state": state(run.state), "logical_date": run.logical_date.isoformat(),
                      "tasks": {ti.task_id: state(ti.state) for ti in run.get_task_instances()}}
    except Exception:
        result = {"error": traceback.format_exc()}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    sys.stderr.flush()
    print("DAG_TEST_RESULT " + json.dumps(result), flush=True)
"""
RESULT_MARKER = "DAG_TEST_RESULT "
PER_RUN_ENV = ("AIRFLOW_CONN_", "REPORT_API_", "SALESMART_")


class AirflowRunner:
    """A subprocess with its own AIRFLOW_HOME that runs `dag.test()` on request."""

    def __init__(self, home: Path):
        self.home = home
        self.process = subprocess.Popen([sys.executable, "-u", "-c", RUNNER_SCRIPT, str(DAGS)],
                                        env=airflow_env(home), cwd=REPO, text=True, bufsize=1,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, dag_id: str, logical_date: str, env: dict[str, str],
            retries: int | None = None) -> tuple[str, dict]:
        """dag.test() of `dag_id` at `logical_date` with `env`; returns the run's output and result.
        retries=N replaces the tasks' retries: Airflow-level retries would make dag.test() wait
        out retry_delay (the retry settings themselves are checked in the DagBag tests)."""
        assert all(key.startswith(PER_RUN_ENV) for key in env)
        self.process.stdin.write(json.dumps({"dag_id": dag_id, "logical_date": logical_date, "env": env,
                                             "retries": retries}) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        output: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no result within {SUBPROCESS_TIMEOUT}s:\n" + "".join(output)[-5000:]) from None
            if line is None:
                raise AssertionError("the Airflow runner exited:\n" + "".join(output)[-5000:])
            if line.startswith(RESULT_MARKER):
                break
            output.append(line)
        text = "".join(output)
        self.assert_no_secret(text)
        result = json.loads(line[len(RESULT_MARKER):])
        assert "error" not in result and "import_errors" not in result, f"{result}\n{text[-5000:]}"
        return text, result

    def command(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        """The `airflow` command line, on this runner's Airflow home, with `env` as for run()."""
        assert all(key.startswith(PER_RUN_ENV) for key in env)
        done = subprocess.run([sys.executable, "-m", "airflow", *args], check=False, cwd=REPO,
                              env=airflow_env(self.home, **env),
                              capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        self.assert_no_secret(done.stdout + done.stderr)
        return done

    def task_states(self, dag_id: str) -> dict[str, str]:
        """The task states of the newest run of `dag_id` in this runner's metadata database."""
        with closing(sqlite3.connect(self.home / "airflow.db")) as metadata:
            return dict(metadata.execute(
                "SELECT task_id, state FROM task_instance WHERE run_id ="
                " (SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)", (dag_id,)))

    def assert_no_secret(self, output: str) -> None:
        logs = "".join(path.read_text(errors="replace") for path in (self.home / "logs").rglob("*") if path.is_file())
        for secret in (API_KEY, DB_PASSWORD):
            assert secret not in output and secret not in logs, "a secret reached the output or the task logs"

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """The DAG runner, on a freshly migrated Airflow metadata database."""
    home = tmp_path_factory.mktemp("airflow-home")
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=False, env=airflow_env(home),
                          cwd=REPO,
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runner = AirflowRunner(home)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dag-data") / "data"
    # DAY has a burst of refunds, which reporting.day_quality flags
    generate(root, days=INCREMENT_DAYS, orders_per_day=40, seed=17, start=REPORT_START, report_days=REPORT_DAYS,
             day_refund_share={DAY: 0.6})
    return root


@contextmanager
def serving(data: Path, credentials: ApiCredentials) -> Iterator[ReportApiServer]:
    """A local report API over `data`, in a thread, on a free port."""
    server = make_server(data, 0, credentials, running_polls=1)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def api_server(data):
    with serving(data, CREDENTIALS) as server:
        yield server


@pytest.fixture(scope="module")
def api(api_server) -> int:
    return api_server.server_address[1]


def connections_env(dsn: str, api_port: int) -> dict[str, str]:
    """salesmart_db and report_api as Airflow URIs; the DB URI gains a password (the server trusts)."""
    scheme, rest = dsn.split("://", 1)
    user, host = rest.split("@", 1)
    return {
        "AIRFLOW_CONN_SALESMART_DB": f"{scheme}://{user}:{DB_PASSWORD}@{host}",
        "AIRFLOW_CONN_REPORT_API": (f"http://{CREDENTIALS.nickname}:{API_KEY}@127.0.0.1:{api_port}"
                                    f"/http?cohort={CREDENTIALS.cohort}"),
        **FAST_API,
        # Unscheduled: dag.test() runs the DAG at any logical date.
        "SALESMART_INCREMENT_POKE_SECONDS": "0.5",
        "SALESMART_INCREMENT_TIMEOUT_HOURS": str(3 / 3600),
    }


def load_report_directly(dsn: str, api_port: int) -> None:
    with ReportApiClient(f"http://127.0.0.1:{api_port}", CREDENTIALS, poll_interval=0.05, attempts=2,
                         backoff=0.1) as client:
        pipeline.load_report(dsn, client)


def model_of(data: Path, days: list[date]) -> Model:
    """The model after the report (replacing REPORT_START..REPORT_END) and the increments of `days`."""
    return model_of_days(data, REPORT_START, REPORT_END, days)


def model_of_days(data: Path, report_start: date, report_end: date, days: list[date]) -> Model:
    """The model after the report (replacing report_start..report_end) and the increments of `days`."""
    model = Model()
    for name in REPORT_FILES:
        model.load_file(data / "report" / f"{name}.csv", report_start, report_end)
    for day in days:
        for name in REPORT_FILES:
            model.load_file(data / "increments" / day.isoformat() / f"{name}_inc.csv", day, day)
    return model


ORDER_COLUMNS = ("uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name", "last_name",
                 "item_id", "item_name", "quantity", "payment_amount", "status")


def assert_warehouse_equals_model(db, model: Model) -> None:
    staging_orders = {row[0]: dict(zip(ORDER_COLUMNS, row, strict=True))
                      for row in rows(db, f"SELECT {', '.join(ORDER_COLUMNS)} FROM staging.user_order_log")}
    assert staging_orders == model.orders
    assert {row[0] for row in rows(db, "SELECT uniq_id FROM staging.user_activity_log")} == set(model.activity)
    assert {row[:3] for row in rows(db, "SELECT date_id, category_id, geo_id FROM staging.customer_research")} \
        == set(model.research)
    assert dict(rows(db, "SELECT item_name, price FROM staging.price_log")) == model.prices

    assert facts(db) == model.f_sales()
    assert {row[0]: row[1:] for row in rows(db, "SELECT customer_id, first_name, last_name, city_id"
                                                " FROM mart.d_customer")} == model.d_customer()
    assert dict(rows(db, "SELECT item_id, item_name FROM mart.d_item")) == model.d_item()
    assert dict(rows(db, "SELECT city_id, city_name FROM mart.d_city")) == model.d_city()

    for period_name in ("weekly", "monthly"):
        assert retention(db, period_name) == model.retention(period_name), period_name


def days_in(db, query: str) -> set[date]:
    return {row[0] for row in rows(db, query)}


def test_daily_run_loads_exactly_its_business_day_and_a_rerun_changes_nothing(dsn, db, api, api_server, data,
                                                                              airflow):
    load_report_directly(dsn, api)
    report_days = {REPORT_START + timedelta(days=n) for n in range(REPORT_DAYS)}
    env = connections_env(dsn, api)
    reports_before = len(api_server.tasks)

    # The first command an Airflow user runs, `airflow dags test` (logical date D+1 00:00 UTC: business day D),
    # exits 0 after a good run.
    done = airflow.command("dags", "test", "upload_inc_data", (DAY + timedelta(days=1)).isoformat(), env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    tasks = airflow.task_states("upload_inc_data")
    assert tasks["wait_for_increment"] == tasks["load_day"] == "success"
    # No report published yet in this Airflow (or one from an earlier test): ordered only when none is known.
    ordered = tasks["order_report_if_none"] == "success"
    assert tasks["order_report_if_none"] in ("success", "skipped")
    assert len(api_server.tasks) - reports_before == int(ordered)

    # Exactly day D joined the report's days: not the increments before or after it.
    neighbours = {DAY - timedelta(days=1), DAY + timedelta(days=1)}
    assert neighbours <= {REPORT_END + timedelta(days=n) for n in range(1, INCREMENT_DAYS + 1)}  # served, not loaded
    expected = report_days | {DAY}
    assert days_in(db, "SELECT DISTINCT date_time::date FROM staging.user_order_log") == expected
    assert days_in(db, "SELECT DISTINCT date_time::date FROM staging.user_activity_log") == expected
    assert days_in(db, "SELECT DISTINCT d.date_actual FROM mart.f_sales JOIN mart.d_calendar d USING (date_id)") \
        == expected
    assert rows(db, "SELECT file_kind, load_kind, date_from, date_to, status FROM staging.load_log"
                    " WHERE load_kind = 'increment' ORDER BY file_kind") == [
        (kind, "increment", *((None, None) if kind == "price_log" else (DAY, DAY)), "success")
        for kind in sorted(REPORT_FILES)]
    assert_warehouse_equals_model(db, model_of(data, [DAY]))
    # The day's refunds are flagged: a warning, and the run succeeded.
    assert rows(db, "SELECT flags FROM reporting.day_quality WHERE business_day = %s", (DAY,)) == [(["refund_burst"],)]
    assert re.search(rf"\[warning\s*\] salesmart alert: business day {DAY} looks unusual: refund_burst", output), \
        output[-5000:]

    # The same run again: the report it published is known now, and every landing, staging and
    # mart table stays identical, f_sales ids included.
    before = snapshot(db, DATA_TABLES)
    reports_before = len(api_server.tasks)
    output, result = airflow.run("upload_inc_data", f"{DAY + timedelta(days=1)}T00:00:00+00:00", env)
    assert result["state"] == "success", output[-5000:]
    assert result["tasks"] == {"order_report_if_none": "skipped", "wait_for_increment": "success",
                               "load_day": "success"}
    assert len(api_server.tasks) == reports_before
    assert snapshot(db, DATA_TABLES) == before
    # ... and the load log tells of the second load.
    assert rows(db, "SELECT count(*) FROM staging.load_log WHERE load_kind = 'increment' AND status = 'success'") \
        == [(2 * len(REPORT_FILES),)]


def test_run_whose_increment_is_not_found_fails_after_waiting_and_changes_nothing(dsn, db, api, data, airflow):
    load_report_directly(dsn, api)
    missing_day = LAST_INCREMENT + timedelta(days=1)
    assert not (data / "increments" / missing_day.isoformat()).exists()
    before = snapshot(db)

    output, result = airflow.run("upload_inc_data", f"{missing_day + timedelta(days=1)}T00:00:00+00:00",
                                 connections_env(dsn, api), retries=0)
    assert result["state"] == "failed"
    assert result["tasks"]["wait_for_increment"] == "failed"
    assert result["tasks"]["load_day"] == "upstream_failed"
    assert f"get_increment {missing_day}: NOT FOUND" in output
    assert snapshot(db) == before


def test_report_dag_loads_the_report_and_its_marts(dsn, db, api, data, airflow):
    output, result = airflow.run("upload_report", "2025-01-06T00:00:00+00:00", connections_env(dsn, api))
    assert result["state"] == "success", output[-5000:]
    assert result["tasks"] == {"order_report": "success", "load_report": "success"}

    report_days = {REPORT_START + timedelta(days=n) for n in range(REPORT_DAYS)}
    assert days_in(db, "SELECT DISTINCT date_time::date FROM staging.user_order_log") == report_days
    assert rows(db, "SELECT DISTINCT load_kind, date_from, date_to FROM staging.load_log"
                    " WHERE file_kind <> 'price_log'") == [("report", REPORT_START, REPORT_END)]
    assert_warehouse_equals_model(db, model_of(data, []))


class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough of an SMTP server to take mail: the messages it got, as text."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.messages: list[str] = []
        super().__init__(("127.0.0.1", 0), SmtpSession)


class SmtpSession(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink")
        for raw in self.rfile:
            command = raw.decode(errors="replace").strip().upper()
            if command.startswith("DATA"):
                self.reply("354 go on")
                lines = []
                for data in self.rfile:
                    if data in (b".\r\n", b".\n"):
                        break
                    lines.append(data.decode(errors="replace"))
                self.server.messages.append("".join(lines))
                self.reply("250 taken")
            elif command.startswith("QUIT"):
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


@pytest.fixture
def smtp_sink():
    server = SmtpSink()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("problem", ["wrong API key", "no report_api connection"])
def test_what_a_retry_cannot_fix_fails_the_task_at_once(dsn, db, api, airflow, smtp_sink, problem):
    env = connections_env(dsn, api)
    if problem == "wrong API key":
        env["AIRFLOW_CONN_REPORT_API"] = env["AIRFLOW_CONN_REPORT_API"].replace(API_KEY, "not-the-key")
        expected = "generate_report: HTTP 403"
        # ... and the alert goes out by mail too.
        env["SALESMART_ALERT_EMAIL"] = "ops@example.com"
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = (f"smtp://127.0.0.1:{smtp_sink.server_address[1]}"
                                           "?from_email=airflow%40example.com&disable_ssl=true&disable_tls=true")
    else:
        del env["AIRFLOW_CONN_REPORT_API"]
        expected = "the Airflow connection 'report_api' is not defined"
    before = snapshot(db)

    # The DAG's own retries (3, from 5 minutes): a retried task would keep dag.test() waiting past the timeout.
    output, result = airflow.run("upload_report", "2025-01-06T00:00:00+00:00", env)
    assert result["state"] == "failed"
    assert result["tasks"] == {"order_report": "failed", "load_report": "upstream_failed"}
    assert expected in output and "(not retried)" in output
    assert "salesmart alert: upload_report.order_report failed" in output
    assert snapshot(db) == before
    if problem == "wrong API key":
        [mail] = [email.message_from_string(message) for message in smtp_sink.messages]
        assert mail["Subject"] == "salesmart: upload_report.order_report failed" and mail["To"] == "ops@example.com"
        body = "".join(part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart())
        assert "generate_report: HTTP 403" in body and API_KEY not in body
