"""`python -m salesmart report retention` and `report quality`: the marts for people.

`report retention` shows three tables per ISO week (default) or per calendar
month (`--period month`), read from the `reporting` views of one snapshot:
- the periods: distinct new, returning and refunding customers of each period
  across all items (reporting.weekly_retention_totals / monthly_retention_totals);
- the periods per item: mart.f_customer_retention under its own column names,
  plus the item name, the period's dates, the refunded amount and the days
  loaded (reporting.weekly_retention / monthly_retention);
- the items ranked by how well they keep customers over the chosen periods:
  the share of their customers who were returning ones, then their returning
  revenue. A customer counts once per period here, as in the mart.

`report quality` shows reporting.day_quality: every loaded business day with
its orders, refunds and revenue, and what is unusual about it.

`table` prints them with rich, `markdown` as pipe tables, `csv` as CSV
tables separated by an empty line. `--chart` also draws the retention into a PNG.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
from psycopg2 import sql
from rich import box
from rich.console import Console
from rich.table import Table


class ReportError(RuntimeError):
    pass


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]


@dataclass(frozen=True)
class Period:
    """A kind of retention period: its rows of the mart and views, how people name one."""
    name: str                         # period_name in mart.f_customer_retention
    option: str                       # --period
    noun: str                         # "ISO week", "month"
    unit: str                         # "week", "month"
    views: tuple[str, str]            # (totals, per item) in reporting
    columns: tuple[str, ...]          # its own columns, between period_id and days_loaded
    pattern: re.Pattern               # a period given by its name, e.g. 2022-W49 / 2022-12
    example: str
    start: Callable[[date], date]     # the first day of the period containing a day
    named: Callable[[re.Match], date]  # the first day of the period a pattern match names
    label: Callable[[int], str]       # period_id -> 2022-W49 / 2022-12

    def parse(self, text: str) -> date:
        """The first day of the period given by its name or by any day of it."""
        match = self.pattern.match(text)
        try:
            return self.named(match) if match else self.start(date.fromisoformat(text))
        except ValueError:
            raise ReportError(f"not {'an' if self.noun[0] in 'AEIOU' else 'a'} {self.noun} or a day: {text!r}"
                              f" (e.g. {self.example} or 2022-12-07)") from None

    def days(self, row: dict) -> int:
        """How many days the period of a row of its views has."""
        return row.get("days_in_month", 7)


WEEK = Period(
    name="weekly", option="week", noun="ISO week", unit="week",
    views=("reporting.weekly_retention_totals", "reporting.weekly_retention"),
    columns=("week_start", "week_end"),
    pattern=re.compile(r"^(\d{4})-?W?(\d{2})$"), example="2022-W49, 202249",
    start=lambda day: day - timedelta(days=day.weekday()),
    named=lambda match: date.fromisocalendar(int(match[1]), int(match[2]), 1),
    label=lambda period_id: f"{period_id // 100}-W{period_id % 100:02d}",
)
MONTH = Period(
    name="monthly", option="month", noun="month", unit="month",
    views=("reporting.monthly_retention_totals", "reporting.monthly_retention"),
    columns=("month_start", "month_end", "days_in_month"),
    pattern=re.compile(r"^(\d{4})-?(\d{2})$"), example="2022-12, 202212",
    start=lambda day: day.replace(day=1),
    named=lambda match: date(int(match[1]), int(match[2]), 1),
    label=lambda period_id: f"{period_id // 100}-{period_id % 100:02d}",
)
PERIODS = {period.option: period for period in (WEEK, MONTH)}

COUNT_COLUMNS = ("new_customers_count", "returning_customers_count", "refunded_customer_count",
                 "new_customers_revenue", "returning_customers_revenue", "customers_refunded", "refunded_amount")
RANKING_COLUMNS = ("rank", "item_id", "item_name", "new_customers_count", "returning_customers_count",
                   "returning_customers_share", "new_customers_revenue", "returning_customers_revenue",
                   "returning_revenue_share", "refunded_customer_count", "refunded_amount")


def period_columns(period: Period) -> tuple[str, ...]:
    return ("period_name", "period_id", *period.columns, "days_loaded")


RANKING = """
    SELECT rank() OVER (ORDER BY s.returning_customers_share DESC NULLS LAST,
                                 s.returning_customers_revenue DESC),
           s.*
    FROM (SELECT r.item_id, r.item_name,
                 sum(r.new_customers_count)::bigint AS new_customers_count,
                 sum(r.returning_customers_count)::bigint AS returning_customers_count,
                 round(sum(r.returning_customers_count)
                       / nullif(sum(r.new_customers_count + r.returning_customers_count), 0), 4)
                     AS returning_customers_share,
                 sum(r.new_customers_revenue) AS new_customers_revenue,
                 sum(r.returning_customers_revenue) AS returning_customers_revenue,
                 round(sum(r.returning_customers_revenue)
                       / nullif(sum(r.new_customers_revenue + r.returning_customers_revenue), 0), 4)
                     AS returning_revenue_share,
                 sum(r.refunded_customer_count)::bigint AS refunded_customer_count,
                 sum(r.refunded_amount) AS refunded_amount
          FROM {view} AS r
          WHERE r.{start} BETWEEN %(first)s AND %(last)s
          GROUP BY r.item_id, r.item_name) AS s
    ORDER BY 1, s.item_id"""


def retention_report(dsn: str, first: date | None = None, last: date | None = None,
                     period: Period = WEEK) -> list[Section]:
    """The three sections for the periods from the one of `first` to the one of `last`
    (default: every period the mart has)."""
    first = date.min if first is None else period.start(first)
    last = date.max if last is None else last
    if last < first:
        raise ReportError(f"--to ({last}) is before --from ({first})")
    periods = {"first": first, "last": last}
    totals_view, items_view = (sql.Identifier(*view.split(".")) for view in period.views)
    start = sql.Identifier(period.columns[0])
    own = period_columns(period)
    connection = psycopg2.connect(dsn)
    try:
        # one snapshot for all three tables
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            sections = []
            for title, columns, query in (
                (f"Customers per {period.noun}, all items (a customer counts once a {period.unit})",
                 own + COUNT_COLUMNS,
                 sql.SQL("SELECT {} FROM {} WHERE {} BETWEEN %(first)s AND %(last)s ORDER BY period_id").format(
                     sql.SQL(", ").join(map(sql.Identifier, own + COUNT_COLUMNS)), totals_view, start)),
                (f"Customers per {period.noun} and item (mart.f_customer_retention)",
                 own + ("item_id", "item_name") + COUNT_COLUMNS,
                 sql.SQL("SELECT {} FROM {} WHERE {} BETWEEN %(first)s AND %(last)s ORDER BY period_id, item_id")
                 .format(sql.SQL(", ").join(map(sql.Identifier, own + ("item_id", "item_name") + COUNT_COLUMNS)),
                         items_view, start)),
                ((f"Items that keep their customers best: returning share of their {period.name} customers,"
                  " then returning revenue"), RANKING_COLUMNS,
                 sql.SQL(RANKING).format(view=items_view, start=start)),
            ):
                cursor.execute(query, periods)
                sections.append(Section(title, columns, cursor.fetchall()))
    finally:
        connection.close()
    if not sections[0].rows:
        raise ReportError(f"mart.f_customer_retention has no {period.unit}s"
                          + ("" if first == date.min else f" from {first}")
                          + ("" if last == date.max else f" to {last}"))
    return sections


# the flags first: what a reader looks for, and never squeezed out of a narrow table
QUALITY_COLUMNS = ("business_day", "flags", "delivered", "orders", "customers", "refunds", "refund_share",
                   "net_revenue", "weekday_median", "trailing_refund_share", "new_item_ids", "new_city_ids")


def quality_report(dsn: str, first: date | None = None, last: date | None = None,
                   flagged_only: bool = False) -> Section:
    """reporting.day_quality for the loaded days from `first` to `last` (default: all of them);
    only the flagged ones when told."""
    first, last = first or date.min, last or date.max
    if last < first:
        raise ReportError(f"--to ({last}) is before --from ({first})")
    connection = psycopg2.connect(dsn)
    try:
        connection.set_session(readonly=True)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(QUALITY_COLUMNS)} FROM reporting.day_quality"
                           " WHERE business_day BETWEEN %s AND %s ORDER BY business_day", (first, last))
            days = cursor.fetchall()
    finally:
        connection.close()
    if not days:
        raise ReportError("reporting.day_quality has no loaded days" + ("" if first == date.min else f" from {first}")
                          + ("" if last == date.max else f" to {last}"))
    flagged = [day for day in days if day[1]]
    title = (f"{len(flagged)} of {len(days)} loaded business days flagged, {days[0][0]} .. {days[-1][0]}"
             " (reporting.day_quality)")
    return Section(title, QUALITY_COLUMNS, flagged if flagged_only else days)


# ------------------------------------------------------------------ formats ----

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):          # ids and flags: space-separated
        return " ".join(map(str, value))
    return str(value)


def as_csv(sections: list[Section]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for n, section in enumerate(sections):
        if n:
            out.write("\n")
        writer.writerow(section.columns)
        writer.writerows([_text(v) for v in row] for row in section.rows)
    return out.getvalue()


def as_markdown(sections: list[Section]) -> str:
    lines = []
    for section in sections:
        lines += [f"### {section.title}", "",
                  "| " + " | ".join(section.columns) + " |",
                  "|" + "|".join("---:" if _numeric(section, c) else "---" for c in range(len(section.columns)))
                  + "|"]
        lines += ["| " + " | ".join(_text(v).replace("|", "\\|") for v in row) + " |" for row in section.rows]
        lines.append("")
    return "\n".join(lines)


def _numeric(section: Section, column: int) -> bool:
    return any(isinstance(row[column], (int, Decimal)) and not isinstance(row[column], bool)
               for row in section.rows)


# The table format is for reading on an 80-column terminal: short headers, the
# week as 2022-W49 (the month as 2022-12), and only the columns that tell the
# story (csv and markdown carry them all).
RETENTION_HEADERS = {
    "rank": "#", "days_loaded": "days", "item_name": "item",
    "new_customers_count": "new", "returning_customers_count": "returning",
    "refunded_customer_count": "refunding", "returning_customers_share": "returning share",
    "new_customers_revenue": "new revenue", "returning_customers_revenue": "returning revenue",
    "returning_revenue_share": "returning revenue share", "refunded_amount": "refunds",
}
QUALITY_HEADERS = {
    "business_day": "day", "flags": "flags", "orders": "orders", "refunds": "refunds", "refund_share": "refund share",
    "net_revenue": "net revenue", "weekday_median": "weekday median", "trailing_refund_share": "28-day refund share",
    "new_item_ids": "new items", "new_city_ids": "new cities",
}


def print_tables(sections: list[Section], console: Console, period: Period = WEEK) -> None:
    periods, item_periods, ranking = sections
    headers = {**RETENTION_HEADERS, "period_id": period.noun}
    _print_table(periods, console, headers, period)
    # one table per period: the period in the title rather than on every row
    column = item_periods.columns.index("period_id")
    for period_id in dict.fromkeys(row[column] for row in item_periods.rows):
        _print_table(Section(f"{period.noun[0].upper()}{period.noun[1:]} {period.label(period_id)} per item"
                             " (mart.f_customer_retention)",
                             item_periods.columns, [r for r in item_periods.rows if r[column] == period_id]),
                     console, headers, period, hidden=("period_id", "days_loaded"))
    _print_table(ranking, console, headers, period,
                 hidden=("new_customers_revenue", "refunded_customer_count", "refunded_amount"))


def print_quality(section: Section, console: Console) -> None:
    _print_table(section, console, QUALITY_HEADERS)


def _print_table(section: Section, console: Console, headers: dict[str, str], period: Period | None = None,
                 hidden: tuple[str, ...] = ()) -> None:
    """A section as a table; `period`: the retention period its rows are of."""
    shown = [c for c, column in enumerate(section.columns) if column in headers and column not in hidden]
    table = Table(title=section.title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False, show_edge=False)
    cells = [[_shown(section.columns[c], row[c], period, dict(zip(section.columns, row, strict=True))) for c in shown]
             for row in section.rows]
    for n, c in enumerate(shown):
        # numbers are never cut; headers and item names wrap at their spaces
        longest = max((len(word) for r in cells for word in r[n].split()), default=1)
        table.add_column(headers[section.columns[c]], min_width=longest,
                         justify="right" if _numeric(section, c) else "left")
    for row in cells:
        table.add_row(*row)
    console.print(table)
    console.print()


def _shown(column: str, value, period: Period | None, row: dict) -> str:
    if column.endswith("_share") and value is not None:
        return f"{value:.1%}"
    if column == "period_id":
        return period.label(value)
    if column == "days_loaded":
        return f"{value}/{period.days(row)}"
    if column == "weekday_median" and value is not None:
        return f"{value:,.1f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return _text(value)


# -------------------------------------------------------------------- chart ----

NEW, RETURNING, REFUNDS = "#4C72B0", "#DD8452", "#C44E52"


def require_chart() -> None:
    """Charts need matplotlib, an extra of the package (an Airflow worker has
    no use for it): say so before any work is done."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ReportError("charts need matplotlib, which salesmart installs as an extra:"
                          " pip install 'salesmart[chart]'")


def draw_chart(sections: list[Section], path: Path, period: Period = WEEK) -> Path:
    """Per period (ISO week or month): new vs returning customers, their revenue
    and the refunds; and the items ranked by their returning customers' share
    and revenue."""
    # imported here: matplotlib takes a second to import, and only --chart needs it
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.colors import to_rgba
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    periods, _, ranking = sections
    per_period = {c: [row[i] for row in periods.rows] for i, c in enumerate(periods.columns)}
    full = [period.days(dict(zip(periods.columns, row, strict=True))) for row in periods.rows]
    labels = [period.label(p) + ("" if d == n else f"\n{d}/{n} days")
              for p, d, n in zip(per_period["period_id"], per_period["days_loaded"], full, strict=True)]
    positions = range(len(labels))

    # a period still being loaded is drawn pale: its numbers will grow
    def shade(color: str) -> list:
        return [to_rgba(color, 1.0 if days == n else 0.45)
                for days, n in zip(per_period["days_loaded"], full, strict=True)]

    money = FuncFormatter(lambda value, _: f"{value / 1e6:g}M" if abs(value) >= 1e6
                          else f"{value / 1e3:g}k" if abs(value) >= 1e3 else f"{value:g}")

    figure = pyplot.figure(figsize=(15, 11), dpi=100, layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=(1, 1.15))
    customers, revenue = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    share = figure.add_subplot(grid[1, 0])
    item_revenue = figure.add_subplot(grid[1, 1], sharey=share)
    shown = f"{labels[0].splitlines()[0]} .. {labels[-1].splitlines()[0]}"
    figure.suptitle(f"Customer retention, {period.noun}s {shown}", fontsize=16, fontweight="bold")

    width = 0.27
    for offset, column, color, name in ((-width, "new_customers_count", NEW, f"new (1 order in the {period.unit})"),
                                        (0, "returning_customers_count", RETURNING, "returning (2+ orders)"),
                                        (width, "refunded_customer_count", REFUNDS, "with a refund")):
        bars = customers.bar([p + offset for p in positions], per_period[column], width, color=shade(color), label=name)
        customers.bar_label(bars, fontsize=8, padding=2)
    customers.set_title(f"Customers per {period.unit} (each counted once, whatever the items)")
    customers.set_ylabel("customers")

    new_revenue = [float(v) for v in per_period["new_customers_revenue"]]
    returning_revenue = [float(v) for v in per_period["returning_customers_revenue"]]
    refunds = [-float(v) for v in per_period["refunded_amount"]]
    revenue.bar(positions, new_revenue, 0.6, color=shade(NEW), label="new customers")
    shipped = revenue.bar(positions, returning_revenue, 0.6, bottom=new_revenue, color=shade(RETURNING),
                          label="returning customers")
    revenue.bar_label(shipped, [f"{n + r:,.0f}\n{r / (n + r):.0%} returning" if n + r else ""
                                for n, r in zip(new_revenue, returning_revenue, strict=True)], fontsize=8, padding=2)
    refunded = revenue.bar(positions, refunds, 0.6, color=shade(REFUNDS), label="refunds")
    revenue.bar_label(refunded, [f"{r:,.0f}" if r else "" for r in refunds], fontsize=8, padding=2)
    revenue.axhline(0, color="black", linewidth=0.8)
    revenue.set_title(f"Revenue per {period.unit}: shipped orders above zero, refunds below")
    revenue.set_ylabel("amount")
    revenue.yaxis.set_major_formatter(money)

    for axes in (customers, revenue):
        axes.set_xticks(list(positions), labels)
        axes.margins(y=0.15)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3, fontsize=9, frameon=False)
        axes.spines[["top", "right"]].set_visible(False)

    ranked = {c: [row[i] for row in ranking.rows] for i, c in enumerate(ranking.columns)}
    names = [f"{rank}. {name}" for rank, name in zip(ranked["rank"], ranked["item_name"], strict=True)][::-1]
    shares = [float(s or 0) for s in ranked["returning_customers_share"]][::-1]
    # a dot plot on a zoomed axis: the items differ by points, not by tens of them
    share.hlines(names, min(shares) - 0.02, shares, color=RETURNING, alpha=0.35, linewidth=2)
    share.plot(shares, names, "o", color=RETURNING, markersize=9)
    for value, name in zip(shares, names, strict=True):
        share.annotate(f"{value:.1%}", (value, name), xytext=(8, 0), textcoords="offset points",
                       va="center", fontsize=9)
    share.set_xlim(min(shares) - 0.02, max(shares) + 0.02)
    share.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    share.set_title(f"Items ranked: share of their {period.name} customers who were returning")
    share.set_xlabel(f"returning / (new + returning) customers, summed over the {period.unit}s")

    new_by_item = [float(v) for v in ranked["new_customers_revenue"]][::-1]
    returning_by_item = [float(v) for v in ranked["returning_customers_revenue"]][::-1]
    item_revenue.barh(names, returning_by_item, color=RETURNING, height=0.65, label="returning customers")
    bars = item_revenue.barh(names, new_by_item, left=returning_by_item, color=NEW, height=0.65,
                             label="new customers")
    item_revenue.bar_label(bars, [f"{r:,.0f} returning" for r in returning_by_item], padding=4, fontsize=8)
    item_revenue.margins(x=0.3)
    item_revenue.xaxis.set_major_formatter(money)
    item_revenue.tick_params(axis="y", labelleft=False)
    item_revenue.set_title(f"Their revenue over the {period.unit}s: from returning and from new customers")
    item_revenue.set_xlabel("amount")
    item_revenue.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncols=2, fontsize=9, frameon=False)

    for axes in (share, item_revenue):
        axes.grid(axis="x", alpha=0.3)
        axes.set_axisbelow(True)
        axes.spines[["top", "right"]].set_visible(False)

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot.close(figure)
    return path
