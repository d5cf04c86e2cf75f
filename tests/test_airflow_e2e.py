"""End to end: the real Airflow components deploy and run salesmart as
docs/operator.md says.

`airflow api-server`, `airflow scheduler` and `airflow dag-processor` run
with the LocalExecutor on a metadata database of their own on the test
PostgreSQL server. salesmart is installed as a package (`pip install
--target`), not imported from the checkout: the Airflow processes run
outside the repository with only that install on their PYTHONPATH, the DAG
files are copied into their AIRFLOW_HOME, and the warehouse is migrated by
the installed `salesmart` console script. The report API is a local one
(`make_server`) over generated data dated relative to today, so the
scheduler's catch-up is real: one run per business day from
SALESMART_FIRST_BUSINESS_DAY through the last day whose run time (06:00 UTC
the day after) has passed.

The test watches the metadata database (dag_run, task_instance) and the
warehouse; the commands an operator types (unpause, trigger, clear,
backfill) are the documented ones, through the `airflow` CLI.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from salesmart.dev.generate import generate
from salesmart.report_api import REPORT_FILES, ApiCredentials
from sql_loading import DATA_TABLES, rows, snapshot
from test_dags import assert_warehouse_equals_model, model_of_days, serving

REPO = Path(__file__).resolve().parents[1]

API_KEY = "sk-e2e-5ecret-api-key"
DB_PASSWORD = "pg-e2e-5ecret"          # the test server trusts; the password only travels, and must not leak
CREDENTIALS = ApiCredentials(nickname="e2e-tester", cohort="42", api_key=API_KEY)
JWT_SECRET = "e2e-jwt-secret-of-this-test-only"

REPORT_DAYS = 7
INCREMENT_DAYS = 4        # the days before today: at least 3 are due whatever the time of day
TODAY = datetime.now(UTC).date()
FIRST_INCREMENT = TODAY - timedelta(days=INCREMENT_DAYS)
REPORT_START = FIRST_INCREMENT - timedelta(days=REPORT_DAYS)
REPORT_END = FIRST_INCREMENT - timedelta(days=1)

STEP_TIMEOUT = 150       # seconds for one phase (parse, report, catch-up, ...)
COMMAND_TIMEOUT = 120


def run_time(day: date) -> datetime:
    """When the scheduled run of business day `day` is due: 06:00 UTC on the day after."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)


def due_days(now: datetime) -> list[date]:
    return [FIRST_INCREMENT + timedelta(days=n) for n in range(INCREMENT_DAYS)
            if run_time(FIRST_INCREMENT + timedelta(days=n)) <= now]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AirflowStack:
    """api-server, scheduler and dag-processor in their own process groups, with logs in `home`."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.env = env
        self.processes: dict[str, subprocess.Popen] = {}

    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
        if check:
            assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def start(self, name: str, *args: str) -> None:
        with open(self.home / f"{name}.out", "wb") as out:
            self.processes[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args], env=self.env,
                                                    cwd=self.home, stdout=out, stderr=subprocess.STDOUT,
                                                    start_new_session=True)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"airflow {name} exited:\n{self.tail(name)}"

    def tail(self, name: str, chars: int = 4000) -> str:
        return (self.home / f"{name}.out").read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        for process in self.processes.values():
            with_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            with_group(process, signal.SIGKILL)
            process.wait()


def with_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the process group of `process` (its task runners included)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def wait_for(what: str, condition: Callable[[], object], stack: AirflowStack, timeout: float = STEP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        stack.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n--- scheduler:\n{stack.tail('scheduler')}")
        time.sleep(1)


class Metadata:
    """Reads Airflow's metadata database."""

    def __init__(self, dsn: str):
        self.connection = psycopg2.connect(dsn)
        self.connection.autocommit = True

    def query(self, sql: str, *args) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()

    def runs(self, dag_id: str) -> list[tuple]:
        """(run_id, run_type, logical_date, state) of each run, by logical date."""
        return self.query("SELECT run_id, run_type, logical_date, state FROM dag_run WHERE dag_id = %s"
                          " ORDER BY logical_date NULLS LAST, run_id", dag_id)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        return {task: (state, tries) for task, state, tries in self.query(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s", dag_id, run_id)}

    def finished(self, dag_id: str) -> bool:
        """Some run exists and none is queued or running."""
        states = [run[3] for run in self.runs(dag_id)]
        return bool(states) and all(state in ("success", "failed") for state in states)

    def close(self) -> None:
        self.connection.close()


def create_database(pg_server, name: str) -> DatabaseJanitor:
    janitor = DatabaseJanitor(user=pg_server.user, host="127.0.0.1", port=pg_server.port, dbname=name)
    janitor.init()
    return janitor


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """salesmart installed as a package (not editable) into a folder of its own."""
    site = tmp_path_factory.mktemp("site-packages")
    build = tmp_path_factory.mktemp("build")
    # Built from a copy: pip would leave build/ and *.egg-info in the checkout.
    source = build / "salesmart-src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "tests", "build",
                                                                  "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                           str(source)], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return site


def installed_env(site: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "REPORT_API_", "SALESMART_", "PYTHON")) and key != "DATABASE_URL"}
    env.update(PYTHONPATH=str(site), **extra)
    return env


def test_installed_package_migrates_from_any_folder_and_fails_without_migrations(installed, pg_server, tmp_path):
    janitor = create_database(pg_server, "salesmart_installed")
    try:
        env = installed_env(installed, DATABASE_URL=pg_server.dsn("salesmart_installed"))
        script = installed / "bin" / "salesmart"
        for _ in range(2):        # the second time: nothing left to apply, still success
            done = subprocess.run([str(script), "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT, check=False)
            assert done.returncode == 0, done.stderr[-3000:]
        connection = psycopg2.connect(pg_server.dsn("salesmart_installed"))
        try:
            applied = rows(connection, "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")
            shipped = sorted({path.name.split(".rollback")[0].removesuffix(".sql").removesuffix(".py")
                              for path in (REPO / "migrations").iterdir() if path.suffix in (".sql", ".py")})
            assert [row[0] for row in applied] == shipped
            assert rows(connection, "SELECT count(*) FROM pg_proc WHERE proname = 'load_f_sales'") != [(0,)]
        finally:
            connection.close()

        # The same install less its migrations must fail, not report success with nothing applied.
        broken = tmp_path / "broken"
        shutil.copytree(installed / "salesmart", broken / "salesmart", ignore=shutil.ignore_patterns("migrations"))
        done = subprocess.run([sys.executable, "-m", "salesmart", "migrate"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT, check=False,
                              env=installed_env(broken, DATABASE_URL=pg_server.dsn("salesmart_installed")))
        assert done.returncode == 1
        assert "no migrations found" in done.stderr
    finally:
        janitor.drop()


@pytest.fixture(scope="module")
def api_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e-data") / "data"
    generate(root, days=INCREMENT_DAYS, orders_per_day=30, seed=23, start=REPORT_START, report_days=REPORT_DAYS)
    return root


@pytest.fixture(scope="module")
def report_api(api_data):
    with serving(api_data, CREDENTIALS) as server:
        yield server


@pytest.fixture(scope="module")
def deployment(installed, pg_server, report_api, tmp_path_factory) -> Iterator[dict]:
    """Airflow deployed as docs/operator.md says, upload_report triggered and done, upload_inc_data unpaused
    and caught up. Yields what the tests look at."""
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    for dag_file in (REPO / "dags").glob("*.py"):
        shutil.copy(dag_file, home / "dags")
    janitors = [create_database(pg_server, "airflow_e2e"), create_database(pg_server, "salesmart_e2e")]
    warehouse_dsn = pg_server.dsn("salesmart_e2e")
    port = free_port()
    user, host = warehouse_dsn.split("://", 1)[1].split("@", 1)
    env = installed_env(
        installed,
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=pg_server.dsn("airflow_e2e").replace("postgresql://",
                                                                                 "postgresql+psycopg2://"),
        AIRFLOW__API_AUTH__JWT_SECRET=JWT_SECRET,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        # Short intervals, so that a test takes minutes, not hours.
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="10",
        AIRFLOW_CONN_SALESMART_DB=f"postgresql://{user}:{DB_PASSWORD}@{host}",
        AIRFLOW_CONN_REPORT_API=(f"http://{CREDENTIALS.nickname}:{API_KEY}@127.0.0.1:{report_api.server_address[1]}"
                                 f"/http?cohort={CREDENTIALS.cohort}"),
        REPORT_API_POLL_INTERVAL="0.2",
        REPORT_API_ATTEMPTS="2",
        REPORT_API_BACKOFF="0.2",
        SALESMART_FIRST_BUSINESS_DAY=FIRST_INCREMENT.isoformat(),
        SALESMART_INCREMENT_POKE_SECONDS="2",
        SALESMART_LOAD_DEADLINE_HOURS="6",
    )
    stack = AirflowStack(home, env)
    metadata = None
    try:
        done = subprocess.run([str(installed / "bin" / "salesmart"), "migrate"], cwd=home, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT, check=False,
                              env=installed_env(installed, DATABASE_URL=warehouse_dsn))
        assert done.returncode == 0, done.stderr[-3000:]
        stack.airflow("db", "migrate")
        stack.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port))
        stack.start("scheduler", "scheduler")
        stack.start("dag-processor", "dag-processor")
        metadata = Metadata(pg_server.dsn("airflow_e2e"))
        wait_for("both DAGs parsed", lambda: len(metadata.query(
            "SELECT dag_id FROM dag WHERE dag_id IN ('upload_inc_data', 'upload_report')")) == 2, stack)

        # docs/operator.md: unpause, load the full report once, then the daily DAG takes over.
        stack.airflow("dags", "unpause", "upload_report")
        stack.airflow("dags", "trigger", "upload_report")
        wait_for("upload_report", lambda: metadata.finished("upload_report"), stack)
        stack.airflow("dags", "unpause", "upload_inc_data")
        unpaused_at = datetime.now(UTC)
        expected = due_days(unpaused_at)
        wait_for(f"catch-up of {len(expected)} days",
                 lambda: len(metadata.runs("upload_inc_data")) >= len(expected)
                 and metadata.finished("upload_inc_data"), stack)
        yield {"stack": stack, "metadata": metadata, "dsn": warehouse_dsn, "due": due_days(datetime.now(UTC)),
               "api": report_api, "unpaused_at": unpaused_at}
    finally:
        stack.stop()
        if metadata is not None:
            metadata.close()
        for janitor in reversed(janitors):
            janitor.drop()


def increment_loads(db) -> dict[date, int]:
    """How often each business day's increment was loaded (its dated files, successfully)."""
    counts = rows(db, "SELECT date_from, count(*) FROM staging.load_log WHERE load_kind = 'increment'"
                      " AND status = 'success' AND date_from IS NOT NULL GROUP BY date_from")
    return {day: count // (len(REPORT_FILES) - 1) for day, count in counts}


def logs(stack: AirflowStack) -> dict[Path, str]:
    """Every log of the deployment: the components' output, task and callback logs."""
    return {path: path.read_text(errors="replace") for path in stack.home.rglob("*")
            if path.is_file() and path.suffix in ("", ".log", ".out", ".json")}


def assert_no_deadline_alert(stack: AirflowStack) -> None:
    alerts = [line for text in logs(stack).values() for line in text.splitlines() if "is not loaded" in line]
    assert alerts == []


def assert_no_secret_in_logs(stack: AirflowStack) -> None:
    for path, text in logs(stack).items():
        assert API_KEY not in text and DB_PASSWORD not in text, f"a secret reached {path}"


def wait_run(deployment, logical_date: datetime) -> tuple:
    """The run of upload_inc_data with `logical_date`, once it and every other run have finished."""
    metadata, stack = deployment["metadata"], deployment["stack"]

    def finished():
        runs = [run for run in metadata.runs("upload_inc_data") if run[2] == logical_date]
        return runs[0] if runs and metadata.finished("upload_inc_data") else None

    return wait_for(f"the run of {logical_date}", finished, stack)


def test_scheduler_loads_every_due_business_day_exactly_once(deployment, api_data):
    metadata, due = deployment["metadata"], deployment["due"]
    assert len(due) >= 3

    # upload_report ran once, and published the report the daily runs used: one report ordered in total.
    [(report_run, _, _, report_state)] = metadata.runs("upload_report")
    assert report_state == "success"
    assert metadata.task_states("upload_report", report_run) == {"order_report": ("success", 1),
                                                                 "load_report": ("success", 1)}
    assert len(deployment["api"].tasks) == 1
    [(extra,)] = metadata.query("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
                                " WHERE a.name = 'salesmart_report'")
    assert extra["report_id"] == next(iter(deployment["api"].tasks.values())).report_id

    # One scheduled run per due business day, at 06:00 UTC the day after, each with its tasks run.
    runs = metadata.runs("upload_inc_data")
    assert [(run_type, logical_date, state) for _, run_type, logical_date, state in runs] == [
        ("scheduled", run_time(day), "success") for day in due]
    for run_id, *_ in runs:
        assert metadata.task_states("upload_inc_data", run_id) == {
            "order_report_if_none": ("skipped", 1), "wait_for_increment": ("success", 1), "load_day": ("success", 1)}

    db = psycopg2.connect(deployment["dsn"])
    try:
        assert increment_loads(db) == {day: 1 for day in due}
        assert_warehouse_equals_model(db, model_of_days(api_data, REPORT_START, REPORT_END, due))
    finally:
        db.close()

    # The deadline (6 hours after a run is queued) is set, and a catch-up that loaded every day raised no
    # alert, not even for days whose 06:00 UTC run time was more than 6 hours before the catch-up.
    assert metadata.query("SELECT DISTINCT a.reference->>'reference_type', (a.interval->>'__data__')::float"
                          " FROM deadline_alert a JOIN serialized_dag s ON s.id = a.serialized_dag_id"
                          " WHERE s.dag_id = 'upload_inc_data'") == [("DagRunQueuedAtDeadline", 6 * 3600)]
    assert any(run_time(day) + timedelta(hours=6) < deployment["unpaused_at"] for day in due)
    assert_no_deadline_alert(deployment["stack"])
    assert_no_secret_in_logs(deployment["stack"])


def test_readme_clear_backfill_and_trigger_reload_a_day(deployment, api_data):
    stack, metadata, due = deployment["stack"], deployment["metadata"], deployment["due"]
    cleared, backfilled, triggered = due[0], due[1:3], due[2]

    # Re-run business day D: clear its run (logical date D+1 06:00 UTC).
    after = (cleared + timedelta(days=1)).isoformat()
    stack.airflow("tasks", "clear", "upload_inc_data", "--start-date", after, "--end-date",
                  f"{after}T23:59:59+00:00", "--yes")
    wait_for("the cleared run", lambda: metadata.finished("upload_inc_data") and metadata.task_states(
        "upload_inc_data", metadata.runs("upload_inc_data")[0][0])["load_day"] == ("success", 2), stack)

    # Backfill business days D1..D2 (here two days): one after the other, in date order.
    start, end = ((day + timedelta(days=1)).isoformat() for day in (backfilled[0], backfilled[-1]))
    stack.airflow("backfill", "create", "--dag-id", "upload_inc_data", "--from-date", start,
                  "--to-date", f"{end}T06:00:00+00:00", "--reprocess-behavior", "completed", "--max-active-runs", "1")
    run_ids = [run[0] for run in metadata.runs("upload_inc_data") if run[2] in {run_time(day) for day in backfilled}]
    assert len(run_ids) == len(backfilled)
    wait_for("the backfilled runs", lambda: metadata.finished("upload_inc_data") and all(
        metadata.task_states("upload_inc_data", run_id)["load_day"][1] == 2 for run_id in run_ids), stack)
    [(_, first_ended), (second_started, _)] = [metadata.query(
        "SELECT start_date, end_date FROM task_instance WHERE dag_id = 'upload_inc_data' AND task_id = 'load_day'"
        " AND run_id = %s", run_id)[0] for run_id in run_ids]
    assert first_ended <= second_started

    # A trigger dated later than now is refused at once, with a note saying why, and holds nothing up ...
    future = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    stack.airflow("dags", "trigger", "upload_inc_data", "--logical-date", future.isoformat())
    # ... such as a manual run with logical date D+1 (another time than the scheduled run's), which loads D.
    logical = run_time(triggered) + timedelta(hours=6)
    stack.airflow("dags", "trigger", "upload_inc_data", "--logical-date", logical.isoformat())
    manual = wait_run(deployment, logical)
    assert manual[1:] == ("manual", logical, "success")
    future_run = wait_run(deployment, future)
    assert future_run[1:] == ("manual", future, "failed")
    assert set(metadata.task_states("upload_inc_data", future_run[0]).values()) == {(None, 0)}    # nothing ran
    [(note,)] = metadata.query("SELECT n.content FROM dag_run_note n JOIN dag_run r ON r.id = n.dag_run_id"
                               " WHERE r.run_id = %s", future_run[0])
    assert f"its logical date {future.isoformat()} is later than now" in note

    # A manual run without a logical date loads yesterday.
    yesterday = TODAY - timedelta(days=1)
    stack.airflow("dags", "trigger", "upload_inc_data")
    undated = wait_for("the run without a logical date", lambda: next(
        (run for run in metadata.runs("upload_inc_data") if run[2] is None and metadata.finished("upload_inc_data")),
        None), stack)
    assert undated[3] == "success"

    # A run dated before the first business day's run would get no tasks: Airflow refuses to create it.
    refused = stack.airflow("dags", "trigger", "upload_inc_data", "--logical-date",
                            f"{FIRST_INCREMENT.isoformat()}T06:00:00+00:00", check=False)
    assert refused.returncode != 0
    assert "should be >= start_date" in refused.stdout + refused.stderr
    assert all(metadata.task_states("upload_inc_data", run[0]) for run in metadata.runs("upload_inc_data"))

    db = psycopg2.connect(deployment["dsn"])
    try:
        reloaded = [cleared, *backfilled, triggered, yesterday]
        assert increment_loads(db) == {day: 1 + reloaded.count(day) for day in {*due, yesterday}}
        assert_warehouse_equals_model(db, model_of_days(api_data, REPORT_START, REPORT_END, sorted({*due, yesterday})))
    finally:
        db.close()
    assert len(deployment["api"].tasks) == 1
    # Re-running loaded days raised no deadline alert, and no deadline is left to raise one: a run that
    # loaded its day dropped its deadline, and so did the refused run.
    assert_no_deadline_alert(stack)
    assert metadata.query("SELECT count(*) FROM deadline") == [(0,)]
    assert_no_secret_in_logs(stack)


def test_bad_increment_fails_its_run_at_once_without_retries(deployment, api_data):
    stack, metadata, due = deployment["stack"], deployment["metadata"], deployment["due"]
    day = due[0]
    orders = api_data / "increments" / day.isoformat() / "user_order_log_inc.csv"
    original = orders.read_bytes()
    db = psycopg2.connect(deployment["dsn"])
    db.autocommit = True
    try:
        before = snapshot(db, DATA_TABLES)
        lines = original.decode().splitlines()
        fields = lines[1].split(",")
        fields[10] = "-5"                   # a negative quantity: bad input
        orders.write_bytes("\r\n".join([lines[0], ",".join(fields), *lines[2:]]).encode() + b"\r\n")
        # Not the scheduled run's 06:00, and in the past: a run dated later than now is refused.
        logical = run_time(day) + timedelta(hours=12)
        stack.airflow("dags", "trigger", "upload_inc_data", "--logical-date", logical.isoformat())
        started = time.monotonic()
        run = wait_run(deployment, logical)
        assert run[3] == "failed"
        # Failed on its first try, not up for retry (the retry delay is minutes): fail-fast.
        assert metadata.task_states("upload_inc_data", run[0])["load_day"] == ("failed", 1)
        assert time.monotonic() - started < 90
        assert snapshot(db, DATA_TABLES) == before
        assert "salesmart alert: upload_inc_data.load_day failed" in "".join(logs(stack).values())
        assert rows(db, "SELECT count(*) FROM staging.load_log WHERE status = 'failed' AND date_from = %s",
                    (day,)) != [(0,)]
    finally:
        orders.write_bytes(original)
        db.close()
    assert_no_secret_in_logs(stack)
