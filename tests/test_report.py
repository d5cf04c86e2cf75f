"""`python -m salesmart report retention` against the mart,
per ISO week and per month: csv and markdown carry the mart's columns under
their own names, the table shows the same numbers, the ranking is recomputed
here from the mart, and the chart is a real PNG. `report quality` shows
reporting.day_quality."""
from __future__ import annotations

import csv
import io
import struct
from datetime import date
from decimal import Decimal

import pytest

from salesmart.__main__ import main
from salesmart.dev.generate import generate
from salesmart.report import MONTH, WEEK
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
        sections.append([dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
                         for line in lines[2:]])
    return sections


def mart_rows(conn, period_name="weekly", first=date.min, last=date.max) -> list[dict]:
    """mart.f_customer_retention with the item name and the period's first day, as text."""
    start = "week_start" if period_name == "weekly" else "month_start"
    return [dict(zip(MART_COLUMNS + ("item_name", start), map(str, row), strict=True)) for row in rows(
        conn, f"SELECT {', '.join(MART_COLUMNS)}, i.item_name, r.period_start FROM mart.f_customer_retention AS r"
              " JOIN mart.d_item AS i USING (item_id)"
              " WHERE r.period_name = %s AND r.period_start BETWEEN %s AND %s ORDER BY period_id, item_id",
        (period_name, first, last))]


def expected_ranking(conn, period_name="weekly", first=date.min, last=date.max) -> list[tuple]:
    """(rank, item_name, returning share, returning revenue) best first, from the mart's rows
    of the periods; ties share a rank and are listed by item_id."""
    items = {}
    for item, name, new, returning, returning_revenue in rows(conn, """
            SELECT r.item_id, i.item_name, r.new_customers_count, r.returning_customers_count,
                   r.returning_customers_revenue
            FROM mart.f_customer_retention AS r JOIN mart.d_item AS i USING (item_id)
            WHERE r.period_name = %s AND r.period_start BETWEEN %s AND %s""", (period_name, first, last)):
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


def check_sections(conn, sections, first=date.min, last=date.max, period_name="weekly"):
    periods, item_periods, ranking = sections
    expected = mart_rows(conn, period_name, first, last)
    assert [{k: row[k] for k in expected[0]} for row in item_periods] == expected
    assert [(int(r["rank"]), r["item_name"], Decimal(r["returning_customers_share"] or "NaN"),
             r["returning_customers_revenue"]) for r in ranking] == expected_ranking(conn, period_name, first, last)
    view, start = (("reporting.weekly_retention_totals", "week_start") if period_name == "weekly" else
                   ("reporting.monthly_retention_totals", "month_start"))
    totals = rows(conn, f"SELECT period_id, new_customers_count, returning_customers_count, refunded_amount"
                        f" FROM {view} WHERE {start} BETWEEN %s AND %s ORDER BY 1", (first, last))
    assert [(r["period_id"], r["new_customers_count"], r["returning_customers_count"], r["refunded_amount"])
            for r in periods] == [tuple(map(str, t)) for t in totals]


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
    assert WEEK.parse(text) == date(2024, 12, 30)


@pytest.mark.parametrize("text", ["2024-12", "202412", "2024-12-01", "2024-12-30", "2024-12-31"])
def test_a_month_is_named_as_year_and_month_or_by_any_of_its_days(text):
    assert MONTH.parse(text) == date(2024, 12, 1)


def test_months_in_csv_markdown_and_table(loaded, capsys):
    as_csv = csv_sections(run_report(capsys, "--period", "month", "--format", "csv"))
    check_sections(loaded, as_csv, period_name="monthly")
    # December from the 23rd, January to the 2nd
    assert [(r["period_id"], r["month_start"], r["month_end"], r["days_in_month"], r["days_loaded"])
            for r in as_csv[0]] == [("202412", "2024-12-01", "2024-12-31", "31", "9"),
                                    ("202501", "2025-01-01", "2025-01-31", "31", "2")]
    assert markdown_sections(run_report(capsys, "--period", "month", "--format", "markdown")) == as_csv
    january = csv_sections(run_report(capsys, "--period", "month", "--format", "csv", "--from", "2025-01",
                                      "--to", "2025-01-31"))
    check_sections(loaded, january, date(2025, 1, 1), date(2025, 1, 1), "monthly")
    assert {r["period_id"] for r in january[1]} == {"202501"}

    lines = run_report(capsys, "--period", "month").splitlines()
    assert any(line.startswith("Month 2024-12 per item") for line in lines)
    for period_id, new, returning in rows(loaded, "SELECT period_id, new_customers_count, returning_customers_count"
                                                  " FROM reporting.monthly_retention_totals"):
        assert any(line.startswith(f"{period_id // 100}-{period_id % 100:02d}") and f" {new} " in line
                   and f" {returning} " in line for line in lines), period_id


def test_month_chart_is_a_png(loaded, capsys, tmp_path):
    chart = tmp_path / "months.png"
    run_report(capsys, "--period", "month", "--format", "csv", "--chart", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 60_000


def test_a_month_that_names_no_month_is_a_usage_error(loaded, capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["report", "retention", "--period", "month", "--from", "2025-13"])
    assert exit_status.value.code == 2
    assert "not a month or a day: '2025-13'" in capsys.readouterr().err


QUALITY = ("SELECT business_day, flags, delivered, orders, customers, refunds, refund_share, net_revenue,"
           " weekday_median, trailing_refund_share, new_item_ids, new_city_ids FROM reporting.day_quality")


def test_quality_shows_every_loaded_day_or_the_flagged_ones(loaded, capsys):
    # thresholds that flag any day with a larger refund share than the days before it
    loaded.cursor().execute("UPDATE mart.day_quality_settings SET refund_share_ratio = 1, refund_share_margin = 0")
    every_day = [["" if v is None else " ".join(map(str, v)) if isinstance(v, list) else str(v) for v in row]
                 for row in rows(loaded, QUALITY + " ORDER BY 1")]
    flagged = [row for row in every_day if row[1]]
    assert len(every_day) == 11 and 0 < len(flagged) < len(every_day)

    def report(*args) -> str:
        capsys.readouterr()
        assert main(["report", "quality", *args]) == 0
        return capsys.readouterr().out

    [section] = csv_sections(report("--format", "csv"))
    assert [list(row.values()) for row in section] == every_day
    assert list(section[0]) == ["business_day", "flags", "delivered", "orders", "customers", "refunds", "refund_share",
                                "net_revenue", "weekday_median", "trailing_refund_share", "new_item_ids",
                                "new_city_ids"]
    [section] = csv_sections(report("--format", "csv", "--flagged"))
    assert [list(row.values()) for row in section] == flagged
    [section] = markdown_sections(report("--format", "markdown", "--from", "2024-12-30", "--to", "2024-12-31"))
    assert [row["business_day"] for row in section] == ["2024-12-30", "2024-12-31"]
    table = report("--flagged")
    assert f"{len(flagged)} of 11 loaded business days flagged, 2024-12-23 .. 2025-01-02" in table
    assert all(any(line.startswith(f"{row[0]}  {row[1].split()[0]}") for line in table.splitlines())
               for row in flagged), table


def test_quality_of_no_loaded_day_is_an_error(loaded, caplog):
    assert main(["report", "quality", "--from", "2030-01-01"]) == 1
    assert "reporting.day_quality has no loaded days from 2030-01-01" in caplog.text
