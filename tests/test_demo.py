"""`python -m salesmart demo` on a machine with nothing configured: it runs,
prints the weekly retention summary, and runs again to the same warehouse;
its cluster lets in only a client with the password it generated, kept in a
0600 file that the printed psql line names.

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
from salesmart.demo import INCREMENT_DAYS, REPORT_DAYS, REPORT_START
from salesmart.generate import ITEMS
from test_pipeline import cli, cli_env, expected, warehouse

DSN_LINE = re.compile(r"psql '(postgresql://[^']+)'")


@pytest.fixture(scope="module")
def demo_env():
    home = scratch_dir("salesmart-demo-test-")
    home.chmod(0o755)  # as root, the server runs as another user, who must reach home/pg
    env = cli_env(SALESMART_HOME=str(home))
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


def summary_rows(stdout: str) -> dict[tuple[int, str], list[str]]:
    """(week, item name) -> the numbers after the item on each summary line."""
    found = {}
    for text in stdout.splitlines():
        for item in ITEMS:
            match = re.match(rf"\s*(\d{{6}})\b.*\b{re.escape(item.name)}\s+(.*)$", text)
            if match:
                found[(int(match.group(1)), item.name)] = match.group(2).split()
    return found


def test_demo_runs_twice_with_nothing_configured(demo_env):
    env, home = demo_env
    assert not any(name == "DATABASE_URL" or name.startswith("REPORT_API_") for name in env)

    first_out, dsn = run_demo(env)
    first = mart(dsn)

    # The summary: weekly retention per item, the year-end week 202501 included.
    assert "202501" in first_out
    week_202501 = [text for text in first_out.splitlines() if text.lstrip().startswith("202501")]
    for item in ITEMS:
        assert any(item.name in text for text in week_202501), f"{item.name} missing from week 202501"
    shown = summary_rows(first_out)
    item_names = {item.item_id: item.name for item in ITEMS}
    in_mart = {(period_id, item_names[item_id]): row
               for (period_id, item_id), row in first["mart.f_customer_retention"].items()}
    assert set(shown) == set(in_mart), "the summary does not show exactly the mart's rows"
    for key, row in in_mart.items():
        _, new, returning, refunded, new_revenue, returning_revenue, refunds = row
        assert [str(value) for value in (new, returning, refunded, new_revenue, returning_revenue, refunds)] == \
            shown[key][-6:], key

    # The mart is the model's for the demo's data, refunds included.
    model_state = expected(demo_model(home / "demo-data"))
    for name in ("mart.f_sales", "mart.f_customer_retention", "staging.user_order_log"):
        assert first[name] == model_state[name], name
    assert any(row[6] == "refunded" for row in first["mart.f_sales"].values())
    assert {key[0] for key in first["mart.f_customer_retention"]} >= {202451, 202452, 202501}
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
