"""Issue 11, item 3: `python -m salesmart report retention` against the mart:
csv and markdown carry the mart's columns under their own names, the table
shows the same numbers, the ranking is recomputed here from the mart, and the
chart is a real PNG."""
from __future__ import annotations

import csv
import io
import struct
from datetime import date, timedelta
from decimal import Decimal

import pytest

from salesmart.__main__ import main
from salesmart.generate import generate
from salesmart.report import parse_week
from sql_loading import load_dataset, rows

MART_COLUMNS = ("period_name", "period_id", "item_id", "new_customers_count", "returning_customers_count",
                "refunded_customer_count", "new_customers_revenue", "returning_customers_revenue",
                "customers_refunded")


@pytest.fixture
def loaded(db, dsn, tmp_path, monkeypatch):
    """Report Mon 2024-12-23 .. Sun 12-29, increments 12-30 .. Thu 2025-01-02 (with refunds)."""
    generate(tmp_path / "data", days=4, orders_per_day=40, seed=3, start=date(2024, 12, 23), report_days=7)
    load_dataset(db, tmp_path / "data")
    monkeypatch.setenv("DATABASE_URL", dsn)
    return db


def run_report(capsys, *args) -> str:
    capsys.readouterr()
    assert main(["report", "retention", *args]) == 0
    return capsys.readouterr().out


def csv_sections(text: str) -> list[list[dict]]:
    return [list(csv.DictReader(io.StringIO(part))) for part in text.strip().split("\n\n")]


def markdown_sections(text: str) -> list[list[dict]]:
    sections = []
    for part in text.strip().split("### ")[1:]:
        lines = [line for line in part.splitlines() if line.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        sections.append([dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]])
    return sections


def mart_rows(conn, first=date.min, last=date.max) -> list[dict]:
    """mart.f_customer_retention with the item name and the week's dates, as text."""
    result = []
    for row in rows(conn, f"SELECT {', '.join(MART_COLUMNS)}, i.item_name, r.period_start FROM"
                          " mart.f_customer_retention AS r JOIN mart.d_item AS i USING (item_id)"
                          " WHERE r.period_name = 'weekly' AND r.period_start BETWEEN %s AND %s"
                          " ORDER BY period_id, item_id", (first, last)):
        record = dict(zip(MART_COLUMNS + ("item_name", "week_start"), map(str, row)))
        record["week_end"] = str(row[-1] + timedelta(days=6))
        result.append(record)
    return result


def expected_ranking(conn, first=date.min, last=date.max) -> list[tuple]:
    """(rank, item_name, returning share, returning revenue) best first, from the mart's rows
    of the weeks; ties share a rank and are listed by item_id."""
    items = {}
    for item, name, new, returning, returning_revenue in rows(conn, """
            SELECT r.item_id, i.item_name, r.new_customers_count, r.returning_customers_count,
                   r.returning_customers_revenue
            FROM mart.f_customer_retention AS r JOIN mart.d_item AS i USING (item_id)
            WHERE r.period_name = 'weekly' AND r.period_start BETWEEN %s AND %s""", (first, last)):
        total = items.setdefault((item, name), [0, 0, Decimal(0)])
        total[0] += new
        total[1] += returning
        total[2] += returning_revenue
    scored = sorted(((round(Decimal(r) / (n + r), 4) if n + r else None, revenue, item, name)
                     for (item, name), (n, r, revenue) in items.items()),
                    key=lambda s: (s[0] is None, -(s[0] or 0), -s[1], s[2]))
    ranking = []
    for position, (share, revenue, _, name) in enumerate(scored, start=1):
        tied = ranking and (ranking[-1][2], ranking[-1][3]) == (share, str(revenue))
        ranking.append((ranking[-1][0] if tied else position, name, share, str(revenue)))
    return ranking


def check_sections(conn, sections, first=date.min, last=date.max):
    weeks, item_weeks, ranking = sections
    expected = mart_rows(conn, first, last)
    assert [{k: row[k] for k in expected[0]} for row in item_weeks] == expected
    assert [(int(r["rank"]), r["item_name"], Decimal(r["returning_customers_share"] or "NaN"),
             r["returning_customers_revenue"]) for r in ranking] == expected_ranking(conn, first, last)
    totals = rows(conn, "SELECT period_id, new_customers_count, returning_customers_count, refunded_amount"
                        " FROM reporting.weekly_retention_totals WHERE week_start BETWEEN %s AND %s ORDER BY 1",
                  (first, last))
    assert [(r["period_id"], r["new_customers_count"], r["returning_customers_count"], r["refunded_amount"])
            for r in weeks] == [tuple(map(str, t)) for t in totals]


def test_csv_and_markdown_carry_the_mart(loaded, capsys):
    as_csv = csv_sections(run_report(capsys, "--format", "csv"))
    check_sections(loaded, as_csv)
    assert {r["period_id"] for r in as_csv[1]} == {"202452", "202501"}
    assert as_csv[0][-1]["days_loaded"] == "4"                                   # 2025-W01 is partial
    as_markdown = markdown_sections(run_report(capsys, "--format", "markdown"))
    assert as_markdown == as_csv


def test_weeks_chosen_by_from_and_to(loaded, capsys):
    sections = csv_sections(run_report(capsys, "--format", "csv", "--from", "2025-W01", "--to", "2025-01-05"))
    check_sections(loaded, sections, date(2024, 12, 30), date(2024, 12, 30))
    assert {r["period_id"] for r in sections[1]} == {"202501"}


def test_table_shows_the_same_numbers(loaded, capsys):
    text = run_report(capsys)
    lines = text.splitlines()
    for period_id, new, returning, revenue in rows(loaded, (
            "SELECT period_id, new_customers_count, returning_customers_count, returning_customers_revenue"
            " FROM reporting.weekly_retention_totals")):
        week = f"{period_id // 100}-W{period_id % 100:02d}"
        assert any(line.startswith(week) and f" {new} " in line and f" {returning} " in line
                   and f"{revenue:,.2f}" in line for line in lines), week
    _, name, share, _ = expected_ranking(loaded)[0]
    # names wrap at their spaces on an 80-column terminal
    assert any(line.lstrip().startswith(f"1  {name.split()[0]}") and f"{share:.1%}" in line for line in lines), text


def test_chart_is_a_png(loaded, capsys, tmp_path):
    chart = tmp_path / "charts" / "retention.png"
    run_report(capsys, "--format", "csv", "--chart", str(chart))
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1500, 1100)
    assert len(data) > 60_000                     # four panels of bars and labels, not an empty canvas


def test_no_weeks_is_an_error(loaded, caplog):
    assert main(["report", "retention", "--from", "2030-W01"]) == 1
    assert "mart.f_customer_retention has no weeks from 2029-12-31" in caplog.text


@pytest.mark.parametrize("text", ["2025-W01", "202501", "2024-12-30", "2025-01-05", "2024-12-31"])
def test_a_week_is_named_as_iso_week_or_by_any_of_its_days(text):
    assert parse_week(text) == date(2024, 12, 30)
