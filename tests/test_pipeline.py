"""The extract-and-load pipeline end to end, through the command line
(`python -m salesmart ...` in a subprocess), checked against the pure-Python
model of the rules (tests/model.py):

- load-report + run over a local report API on loopback (deliveries, the
  load log, the command line), a corrected re-delivery of one day, then
  everything re-run: staging and the marts, weekly and monthly retention
  across the year end;
- `run` for a day whose increment is NOT FOUND changes nothing;
- load-dir of the real sample (shared/data/sample-2022).
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from model import PERIODS, Model
from salesmart.dev.api_server import make_server
from salesmart.dev.generate import generate
from salesmart.report_api import ApiCredentials
from sql_loading import WAREHOUSE_TABLES, rows, snapshot

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "sample-2022"
SECRET_KEY = "pipeline-5ecret-key-never-printed"
CREDENTIALS = ApiCredentials(nickname="e2e", cohort="9", api_key=SECRET_KEY)

# The report covers Sun 2024-12-22 .. Sat 2024-12-28 (ISO weeks 2024-51 and 2024-52);
# the increments Sun 12-29 (completes week 52), Mon 12-30, Tue 12-31 and
# Wed 2025-01-01: ISO week 2025-01 spans the year end.
START = date(2024, 12, 22)
REPORT_DAYS = 7
REPORT_END = START + timedelta(days=REPORT_DAYS - 1)
INCREMENT_DAYS = [REPORT_END + timedelta(days=offset) for offset in range(1, 5)]
D1, D4 = INCREMENT_DAYS[0], INCREMENT_DAYS[-1]
REDELIVERED = date(2024, 12, 30)  # a Monday, in week 202501, whose research file holds 2025-01-01
ORDERS_PER_DAY = 60
SEED = 11

REPORT_FILES = ("customer_research", "price_log", "user_activity_log", "user_order_log")
INCREMENT_FILES = tuple(f"{name}_inc" for name in REPORT_FILES)
DATE_COLUMN = {"user_order_log": "date_time", "user_activity_log": "date_time", "customer_research": "date_id"}


# ------------------------------------------------------------------ helpers ----

def cli_env(**settings: str) -> dict[str, str]:
    """The environment of a CLI call: this one less any salesmart settings, plus `settings`."""
    env = {name: value for name, value in os.environ.items()
           if name != "DATABASE_URL" and not name.startswith("REPORT_API_") and name != "SALESMART_HOME"}
    env.update(settings)
    return env


def api_env(dsn: str, base_url: str) -> dict[str, str]:
    return cli_env(DATABASE_URL=dsn, REPORT_API_URL=base_url, REPORT_API_KEY=SECRET_KEY,
                   REPORT_API_NICKNAME=CREDENTIALS.nickname, REPORT_API_COHORT=CREDENTIALS.cohort,
                   REPORT_API_POLL_INTERVAL="0.05", REPORT_API_POLL_DEADLINE="20", REPORT_API_ATTEMPTS="2",
                   REPORT_API_BACKOFF="0.01", REPORT_API_TIMEOUT="20")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "salesmart", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=180, check=False)
    assert SECRET_KEY not in result.stdout + result.stderr, f"the API key leaked in the output of {args}"
    return result


def ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = cli(env, *args)
    assert result.returncode == 0, f"salesmart {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_dates(path: Path) -> tuple[date | None, date | None]:
    """First and last date of a dated file: the range a load without a range replaces."""
    column = DATE_COLUMN[path.name.removesuffix(".csv").removesuffix("_inc")]
    with path.open(encoding="utf-8", newline="") as handle:
        days = {datetime.fromisoformat(row[column]).date() for row in csv.DictReader(handle)}
    return (min(days), max(days)) if days else (None, None)


def warehouse(conn) -> dict[str, dict]:
    """Staging and marts as plain dicts keyed like the model's."""
    f_sales_rows = rows(conn, "SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity,"
                              " payment_amount, status FROM mart.f_sales")
    f_sales = {row[0]: tuple(row[1:]) for row in f_sales_rows}
    assert len(f_sales) == len(f_sales_rows), "mart.f_sales has more than one row for an order"
    assert None not in f_sales, "mart.f_sales has rows without uniq_id"
    retention_rows = rows(conn, "SELECT period_name, period_id, item_id, period_start, new_customers_count,"
                                " returning_customers_count, refunded_customer_count, new_customers_revenue,"
                                " returning_customers_revenue, customers_refunded"
                                " FROM mart.f_customer_retention")
    assert {row[0] for row in retention_rows} <= set(PERIODS)
    return {
        "staging.user_order_log": {row[0]: tuple(row[1:]) for row in rows(
            conn, "SELECT uniq_id, date_time, city_id, city_name, customer_id, first_name, last_name,"
                  " item_id, item_name, quantity, payment_amount, status FROM staging.user_order_log")},
        "staging.user_activity_log": {row[0]: tuple(row[1:]) for row in rows(
            conn, "SELECT uniq_id, date_time, action_id, customer_id, quantity FROM staging.user_activity_log")},
        "staging.customer_research": {row[:3]: tuple(row[3:]) for row in rows(
            conn, "SELECT date_id, category_id, geo_id, sales_qty, sales_amt FROM staging.customer_research")},
        "staging.price_log": dict(rows(conn, "SELECT item_name, price FROM staging.price_log")),
        "mart.f_sales": f_sales,
        **{f"mart.f_customer_retention {period}": {row[1:3]: tuple(row[3:]) for row in retention_rows
                                                   if row[0] == period} for period in PERIODS},
        "mart.d_customer": {row[0]: tuple(row[1:]) for row in rows(
            conn, "SELECT customer_id, first_name, last_name, city_id FROM mart.d_customer")},
        "mart.d_item": dict(rows(conn, "SELECT item_id, item_name FROM mart.d_item")),
        "mart.d_city": dict(rows(conn, "SELECT city_id, city_name FROM mart.d_city")),
    }


def expected(model: Model) -> dict[str, dict]:
    """The model in the shape of warehouse()."""
    retention_columns = ("period_start", "new_customers_count", "returning_customers_count",
                         "refunded_customer_count", "new_customers_revenue", "returning_customers_revenue",
                         "customers_refunded")
    return {
        "staging.user_order_log": {key: tuple(row[c] for c in (
            "date_time", "city_id", "city_name", "customer_id", "first_name", "last_name", "item_id",
            "item_name", "quantity", "payment_amount", "status")) for key, row in model.orders.items()},
        "staging.user_activity_log": {key: tuple(row[c] for c in (
            "date_time", "action_id", "customer_id", "quantity")) for key, row in model.activity.items()},
        "staging.customer_research": {key: (row["sales_qty"], row["sales_amt"])
                                      for key, row in model.research.items()},
        "staging.price_log": dict(model.prices),
        "mart.f_sales": model.f_sales(),
        **{f"mart.f_customer_retention {period}": {key: tuple(row[c] for c in retention_columns)
                                                   for key, row in model.retention(period).items()}
           for period in PERIODS},
        "mart.d_customer": model.d_customer(),
        "mart.d_item": model.d_item(),
        "mart.d_city": model.d_city(),
    }


# Dimensions are SCD1 and never lose a member: one whose orders all went away
# (a corrected re-delivery) may stay. Every member the model has must match.
DIMENSIONS = ("mart.d_customer", "mart.d_item", "mart.d_city")


def assert_same(what: str, actual: dict, wanted: dict, *, superset: bool = False) -> None:
    missing = sorted(set(wanted) - set(actual), key=repr)
    extra = [] if superset else sorted(set(actual) - set(wanted), key=repr)
    differ = [(key, actual[key], wanted[key]) for key in sorted(set(actual) & set(wanted), key=repr)
              if actual[key] != wanted[key]]
    if missing or extra or differ:
        pytest.fail(f"{what}: {len(missing)} rows missing, e.g. {missing[:3]}; {len(extra)} extra, "
                    f"e.g. {extra[:3]}; {len(differ)} differ (key, warehouse, model), e.g. {differ[:3]}")


def assert_warehouse_is(conn, model: Model, phase: str) -> None:
    actual, wanted = warehouse(conn), expected(model)
    for name in wanted:
        assert_same(f"{phase}: {name}", actual[name], wanted[name], superset=name in DIMENSIONS)
    assert actual["mart.f_sales"], f"{phase}: nothing loaded"
    assert rows(conn, "SELECT count(*) FROM landing.user_order_log") == [(0,)]


def new_load_log(conn, after: int) -> list[tuple]:
    return rows(conn, "SELECT file_name, load_kind, date_from, date_to, rows_read, rows_loaded,"
                      " duplicates_dropped, out_of_date_rows, status, error_message, checksum, source"
                      " FROM staging.load_log WHERE load_id > %s ORDER BY load_id", (after,))


def last_load_id(conn) -> int:
    return rows(conn, "SELECT coalesce(max(load_id), 0) FROM staging.load_log")[0][0]


def log_row(path: Path, load_kind: str, date_from, date_to, stats: dict, source: str) -> tuple:
    if path.name.startswith("price_log"):
        date_from = date_to = None
    return (path.name, load_kind, date_from, date_to, stats["rows_read"], stats["rows_loaded"],
            stats["duplicates_dropped"], stats["out_of_date_rows"], "success", None, sha256(path), source)


# ------------------------------------------------------- the local report API ----

@pytest.fixture
def api(tmp_path):
    """A generated data folder served by the local report API on loopback: (base URL, folder)."""
    data = tmp_path / "data"
    generate(data, days=len(INCREMENT_DAYS), orders_per_day=ORDERS_PER_DAY, seed=SEED, start=START,
             report_days=REPORT_DAYS)
    server = make_server(data, 0, CREDENTIALS, running_polls=1)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", data
    finally:
        server.shutdown()
        server.server_close()


class Loads:
    """Feeds the model what the CLI loads, and checks the load-log rows a CLI call wrote."""

    def __init__(self, conn, model: Model, base_url: str, data: Path):
        self.conn, self.model, self.base_url, self.data = conn, model, base_url, data

    def report(self) -> list[tuple]:
        folder = self.data / "report"
        return [log_row(folder / f"{name}.csv", "report", START, REPORT_END,
                        self.model.load_file(folder / f"{name}.csv", START, REPORT_END),
                        f"{self.base_url}/files/report/{name}.csv")
                for name in REPORT_FILES]

    def increment(self, day: date) -> list[tuple]:
        folder = self.data / "increments" / day.isoformat()
        return [log_row(folder / f"{name}.csv", "increment", day, day,
                        self.model.load_file(folder / f"{name}.csv", day, day),
                        f"{self.base_url}/files/increments/{day.isoformat()}/{name}.csv")
                for name in INCREMENT_FILES]

    def check(self, phase: str, since: int, wanted_log: list[tuple]) -> int:
        assert_warehouse_is(self.conn, self.model, phase)
        log = new_load_log(self.conn, since)
        assert sorted(log, key=repr) == sorted(wanted_log, key=repr), f"{phase}: load log"
        return last_load_id(self.conn)


def redeliver_corrected(data: Path, day: date, tmp_path: Path) -> None:
    """Replaces the increment folder of `day` with a corrected one: half its
    orders gone, some changed (a shipped order refunded, a quantity fixed),
    orders of another generation run added, a new activity file; swapped in
    whole, as a source re-delivering the day would."""
    other = tmp_path / "other"
    generate(other, days=len(INCREMENT_DAYS), orders_per_day=25, seed=SEED + 1, start=START,
             report_days=REPORT_DAYS)
    original = data / "increments" / day.isoformat()
    fresh = data / "increments" / f".{day.isoformat()}.new"
    shutil.copytree(original, fresh)
    shutil.copy(other / "increments" / day.isoformat() / "user_activity_log_inc.csv", fresh)

    def read(path: Path) -> tuple[list[str], list[list[str]]]:
        with path.open(encoding="utf-8", newline="") as handle:
            lines = list(csv.reader(handle))
        return lines[0], lines[1:]

    header, lines = read(original / "user_order_log_inc.csv")
    _, added = read(other / "increments" / day.isoformat() / "user_order_log_inc.csv")
    col = {name: position for position, name in enumerate(header)}
    orders = sorted({line[col["uniq_id"]] for line in lines})
    kept = set(orders[::2])
    shipped = sorted(uid for uid in kept if any(
        line[col["uniq_id"]] == uid and line[col["status"]] == "shipped" for line in lines))
    refund_now, fix_quantity = shipped[0], shipped[1]
    corrected = []
    for line in lines:
        uid = line[col["uniq_id"]]
        if uid not in kept:
            continue
        fields = list(line)
        if uid == refund_now:
            fields[col["status"]] = "refunded"
        if uid == fix_quantity:
            price = int(fields[col["payment_amount"]]) // int(fields[col["quantity"]])
            fields[col["quantity"]] = "7"
            fields[col["payment_amount"]] = str(7 * price)
        corrected.append(fields)
    corrected += added
    with (fresh / "user_order_log_inc.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([str(number), *line[1:]] for number, line in enumerate(corrected, start=1))

    aside = data / "increments" / f".{day.isoformat()}.old"
    os.rename(original, aside)
    os.rename(fresh, original)
    shutil.rmtree(aside)


# -------------------------------------------------------------------- tests ----

def test_report_then_increments_then_a_corrected_day_then_all_again(api, dsn, db, tmp_path):
    base_url, data = api
    env = api_env(dsn, base_url)
    model = Model()
    loads = Loads(db, model, base_url, data)
    run_all = ("run", "--from", D1.isoformat(), "--to", D4.isoformat())

    # 1. The full report: staging for 12-22..12-28 and the marts of its days and weeks.
    ok(env, "load-report")
    since = loads.check("load-report", 0, loads.report())
    assert set(rows(db, "SELECT DISTINCT period_name, period_id FROM mart.f_customer_retention")) == {
        ("weekly", 202451), ("weekly", 202452), ("monthly", 202412)}

    # 2. The four increments; week 202452 gains its Sunday, week 202501 spans the year end, and so
    #    month 202412 gains three days and month 202501 begins.
    ok(env, *run_all)
    since = loads.check("run D1..D4", since, [row for day in INCREMENT_DAYS for row in loads.increment(day)])
    assert set(rows(db, "SELECT DISTINCT period_name, period_id FROM mart.f_customer_retention")) == {
        ("weekly", 202451), ("weekly", 202452), ("weekly", 202501), ("monthly", 202412), ("monthly", 202501)}
    f_sales_before = warehouse(db)["mart.f_sales"]

    # 3. Monday 12-30 re-delivered corrected, and run again: the day is replaced whole.
    redeliver_corrected(data, REDELIVERED, tmp_path)
    ok(env, "run", "--from", REDELIVERED.isoformat(), "--to", REDELIVERED.isoformat())
    since = loads.check("corrected re-delivery", since, loads.increment(REDELIVERED))
    f_sales_after = warehouse(db)["mart.f_sales"]
    redelivered_id = int(REDELIVERED.strftime("%Y%m%d"))
    gone = {uid for uid, row in f_sales_before.items() if row[0] == redelivered_id} - set(f_sales_after)
    assert gone, "the corrected day dropped orders; their f_sales rows must be gone"
    assert any(row[6] == "refunded" and f_sales_before[uid][6] == "shipped"
               for uid, row in f_sales_after.items() if uid in f_sales_before)
    assert {uid: row for uid, row in f_sales_after.items() if row[0] != redelivered_id} == {
        uid: row for uid, row in f_sales_before.items() if row[0] != redelivered_id}, \
        "re-delivering one day changed other days"

    # 4. Everything again: the same warehouse as loading each day's final version once.
    ok(env, "load-report")
    since = loads.check("load-report again", since, loads.report())
    ok(env, *run_all)
    loads.check("run D1..D4 again", since, [row for day in INCREMENT_DAYS for row in loads.increment(day)])

    once = Model()
    for name in REPORT_FILES:
        once.load_file(data / "report" / f"{name}.csv", START, REPORT_END)
    for day in INCREMENT_DAYS:
        for name in INCREMENT_FILES:
            once.load_file(data / "increments" / day.isoformat() / f"{name}.csv", day, day)
    assert_warehouse_is(db, once, "final versions loaded once")

    leaked = rows(db, "SELECT count(*) FROM staging.load_log AS l WHERE l::text LIKE %s", (f"%{SECRET_KEY}%",))
    assert leaked == [(0,)]


@pytest.mark.parametrize("case", ["no folder", "folder not complete"])
def test_run_for_an_increment_not_found_fails_and_changes_nothing(api, dsn, db, case):
    base_url, data = api
    env = api_env(dsn, base_url)
    if case == "no folder":
        day = D4 + timedelta(days=1)
    else:
        day = D4
        (data / "increments" / day.isoformat() / "price_log_inc.csv").unlink()
    ok(env, "load-report")
    before = snapshot(db)

    result = cli(env, "run", "--from", day.isoformat(), "--to", day.isoformat())

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "NOT FOUND" in result.stderr and day.isoformat() in result.stderr, result.stderr[-2000:]
    assert snapshot(db) == before


def test_run_with_a_bad_file_in_the_increment_changes_nothing(api, dsn, db):
    base_url, data = api
    env = api_env(dsn, base_url)
    orders = data / "increments" / D1.isoformat() / "user_order_log_inc.csv"
    lines = orders.read_text(encoding="utf-8").splitlines()
    fields = lines[4].split(",")
    fields[10] = "-3"  # quantity on line 5
    orders.write_bytes("".join(f"{line}\r\n" for line in lines[:4] + [",".join(fields)] + lines[5:]).encode())
    ok(env, "load-report")
    since = last_load_id(db)
    before = snapshot(db, tuple(table for table in WAREHOUSE_TABLES if table != "staging.load_log"))

    result = cli(env, "run", "--from", D1.isoformat(), "--to", D1.isoformat())

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert any("user_order_log_inc.csv" in text and "line 5" in text and "column quantity" in text
               for text in result.stderr.splitlines()), result.stderr[-2000:]
    assert snapshot(db, tuple(table for table in WAREHOUSE_TABLES if table != "staging.load_log")) == before
    log = new_load_log(db, since)
    assert sorted((row[0], row[8], row[11]) for row in log) == [
        (f"{name}.csv", "failed", f"{base_url}/files/increments/{D1.isoformat()}/{name}.csv")
        for name in INCREMENT_FILES]
    message = next(row[9] for row in log if row[0] == "user_order_log_inc.csv")
    assert "user_order_log_inc.csv" in message and "line 5" in message and "column quantity" in message, message


@pytest.mark.real_sample
def test_load_dir_of_the_real_sample_gives_the_model(dsn, db):
    model = Model()
    report, increment = SAMPLE / "report", SAMPLE / "increments" / "2022-12-05"
    day = date(2022, 12, 5)
    wanted_log = []
    for path in sorted(report.glob("*.csv")):
        date_from, date_to = (None, None) if path.name == "price_log.csv" else file_dates(path)
        wanted_log.append(log_row(path, "report", date_from, date_to, model.load_file(path, None, None),
                                  str(path.resolve())))
    for path in sorted(increment.glob("*.csv")):
        wanted_log.append(log_row(path, "increment", day, day, model.load_file(path, day, day),
                                  str(path.resolve())))

    result = ok(cli_env(DATABASE_URL=dsn), "load-dir", str(SAMPLE))

    assert_warehouse_is(db, model, "load-dir sample-2022")
    log = new_load_log(db, 0)
    assert sorted(log, key=repr) == sorted(wanted_log, key=repr)
    # What the sample is known to hold: copies, and research of 12-07 in the 12-05 increment.
    assert sum(row[6] for row in log if row[0] == "user_order_log.csv") > 15_000
    assert [row[7] for row in log if row[0] == "customer_research_inc.csv"] == [30]
    assert "Traceback" not in result.stderr
