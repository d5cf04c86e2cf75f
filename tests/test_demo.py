"""`python -m salesmart demo` on a machine with nothing configured: it runs,
prints the weekly retention summary and its one flagged day, and runs again
to the same warehouse; its cluster lets in only a client with the password
it generated, kept in a 0600 file that the printed psql line names.

The demo keeps its PostgreSQL cluster in SALESMART_HOME (default
<repo>/.salesmart); the test points it at a folder of its own on tmpfs so that
a developer's demo cluster is never touched."""
from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import timedelta
from pathlib import Path

import psycopg2
import pytest

from conftest import scratch_dir
from model import Model
from salesmart.dev.demo import INCREMENT_DAYS, REPORT_DAYS, REPORT_START
from salesmart.dev.generate import ITEMS
from test_pipeline import cli, cli_env, expected, warehouse

DSN_LINE = re.compile(r"psql '(postgresql://[^']+)'")


@pytest.fixture(scope="module")
def demo_env():
    home = scratch_dir("salesmart-demo-test-")
    home.chmod(0o755)  # as root, the server runs as another user, who must reach home/pg
    env = cli_env(SALESMART_HOME=str(home), COLUMNS="200")  # no table wraps its rows
    try:
        yield env, home
    finally:
        cli(env, "demo", "--stop")
        shutil.rmtree(home, ignore_errors=True)


def run_demo(env) -> tuple[str, str]:
    result = cli(env, "demo")
    assert result.returncode == 0, result.stderr[-3000:]
    dsns = DSN_LINE.findall(result.stdout)
    assert len(dsns) == 1, f"the demo does not say how to open the database with psql:\n{result.stdout}"
    assert "PostgreSQL server: PostgreSQL " in result.stdout, "the demo does not say which server it used"
    return result.stdout + result.stderr, dsns[0]


def mart(dsn: str) -> dict:
    connection = psycopg2.connect(dsn)
    try:
        state = warehouse(connection)
        with connection.cursor() as cursor:
            cursor.execute("SELECT uniq_id, id FROM mart.f_sales")
            state["f_sales ids"] = dict(cursor.fetchall())
            cursor.execute("SELECT status, count(*) FROM staging.load_log GROUP BY status")
            state["load_log"] = dict(cursor.fetchall())
        return state
    finally:
        connection.close()


def demo_model(data: Path) -> Model:
    """The model fed the demo's files as the demo loads them: the report over its days, then each increment."""
    model = Model()
    report_end = REPORT_START + timedelta(days=REPORT_DAYS - 1)
    for path in sorted((data / "report").glob("*.csv")):
        model.load_file(path, REPORT_START, report_end)
    for offset in range(1, INCREMENT_DAYS + 1):
        day = report_end + timedelta(days=offset)
        for path in sorted((data / "increments" / day.isoformat()).glob("*.csv")):
            model.load_file(path, day, day)
    return model


WEEK_TITLE = re.compile(r"ISO week (\d{4})-W(\d{2}) per item")


def summary_rows(stdout: str) -> dict[tuple[int, str], list[str]]:
    """(week, item name) -> the numbers after the item in that week's table."""
    found, period_id = {}, None
    for text in stdout.splitlines():
        title = WEEK_TITLE.match(text)
        if title:
            period_id = int(title.group(1) + title.group(2))
        elif not text.strip():
            period_id = None
        for item in ITEMS if period_id else ():
            if text.startswith(item.name + " "):
                found[(period_id, item.name)] = text[len(item.name):].split()
    return found


def test_demo_runs_twice_with_nothing_configured(demo_env):
    env, home = demo_env
    assert not any(name == "DATABASE_URL" or name.startswith("REPORT_API_") for name in env)

    first_out, dsn = run_demo(env)
    first = mart(dsn)

    # The summary: weekly retention per item, the year-end week 2025-W01 included.
    shown = summary_rows(first_out)
    item_names = {item.item_id: item.name for item in ITEMS}
    in_mart = {(period_id, item_names[item_id]): row
               for (period_id, item_id), row in first["mart.f_customer_retention weekly"].items()}
    assert {key for key in shown if key[0] == 202501} == {(202501, item.name) for item in ITEMS}
    assert set(shown) == set(in_mart), "the summary does not show exactly the mart's rows"
    for key, row in in_mart.items():
        _, new, returning, refunded, new_revenue, returning_revenue, _ = row
        assert shown[key][:5] == [str(new), str(returning), str(refunded),
                                  f"{new_revenue:,.2f}", f"{returning_revenue:,.2f}"], key
    # ... and the one unusual day of its data: an increment with 40% refunds.
    assert "1 of 21 loaded business days flagged, 2024-12-16 .. 2025-01-05" in first_out
    assert re.search(r"^2025-01-02 +refund_burst +400 ", first_out, re.MULTILINE), first_out[-3000:]
    chart = home / "retention.png"
    assert f"Retention chart:     {chart}" in first_out
    assert chart.read_bytes().startswith(b"\x89PNG") and chart.stat().st_size > 20_000

    # The mart is the model's for the demo's data, refunds included.
    model_state = expected(demo_model(home / "demo-data"))
    for name in ("mart.f_sales", "mart.f_customer_retention weekly", "mart.f_customer_retention monthly",
                 "staging.user_order_log"):
        assert first[name] == model_state[name], name
    assert any(row[6] == "refunded" for row in first["mart.f_sales"].values())
    assert {key[0] for key in first["mart.f_customer_retention weekly"]} >= {202451, 202452, 202501}
    assert {key[0] for key in first["mart.f_customer_retention monthly"]} == {202412, 202501}
    assert set(first["load_log"]) == {"success"}

    # Only the generated password opens it; it is in a 0600 file and in no output.
    passfile = home / "pg" / "pgpass"
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    password = passfile.read_text().strip().rsplit(":", 1)[1]
    assert len(password) >= 24 and password not in first_out
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(dsn.split("?")[0], passfile=os.devnull)

    # Again: same summary, same warehouse (the load log grows by one run's rows).
    second_out, second_dsn = run_demo(env)
    assert second_dsn == dsn
    second = mart(dsn)
    assert summary_rows(second_out) == shown
    assert {name: value for name, value in second.items() if name != "load_log"} == \
        {name: value for name, value in first.items() if name != "load_log"}
    assert second["load_log"] == {"success": 2 * first["load_log"]["success"]}
