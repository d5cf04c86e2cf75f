"""`python -m salesmart report retention`: the weekly retention for people.

Three tables, read from the `reporting` views of one snapshot:
- the weeks: distinct new, returning and refunding customers of each ISO week
  across all items (reporting.weekly_retention_totals);
- the weeks per item: mart.f_customer_retention under its own column names,
  plus the item name, the week's dates, the refunded amount and the days loaded
  (reporting.weekly_retention);
- the items ranked by how well they keep customers over the chosen weeks: the
  share of their customers who were returning ones, then their returning
  revenue. A customer counts once per week here, as in the mart.

`table` prints them with rich, `markdown` as pipe tables, `csv` as three CSV
tables separated by an empty line. `--chart` also draws them into a PNG.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
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


WEEK_COLUMNS = ("period_name", "period_id", "week_start", "week_end", "days_loaded",
                "new_customers_count", "returning_customers_count", "refunded_customer_count",
                "new_customers_revenue", "returning_customers_revenue", "customers_refunded", "refunded_amount")
ITEM_WEEK_COLUMNS = ("period_name", "period_id", "week_start", "week_end", "days_loaded", "item_id", "item_name",
                     "new_customers_count", "returning_customers_count", "refunded_customer_count",
                     "new_customers_revenue", "returning_customers_revenue", "customers_refunded",
                     "refunded_amount")
RANKING_COLUMNS = ("rank", "item_id", "item_name", "new_customers_count", "returning_customers_count",
                   "returning_customers_share", "new_customers_revenue", "returning_customers_revenue",
                   "returning_revenue_share", "refunded_customer_count", "refunded_amount")

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
          FROM reporting.weekly_retention AS r
          WHERE r.week_start BETWEEN %(first)s AND %(last)s
          GROUP BY r.item_id, r.item_name) AS s
    ORDER BY 1, s.item_id"""

ISO_WEEK = re.compile(r"^(\d{4})-?W?(\d{2})$")


def parse_week(text: str) -> date:
    """The Monday of an ISO week given as 2022-W49, 202249, or any day of it (2022-12-07)."""
    match = ISO_WEEK.match(text)
    try:
        if match:
            return date.fromisocalendar(int(match[1]), int(match[2]), 1)
        day = date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"not an ISO week or a day: {text!r} (e.g. 2022-W49, 202249 or 2022-12-07)") from None
    return day - timedelta(days=day.weekday())


def week_label(period_id: int) -> str:
    return f"{period_id // 100}-W{period_id % 100:02d}"


def retention_report(dsn: str, first: date | None = None, last: date | None = None) -> list[Section]:
    """The three sections for the ISO weeks from the one of `first` to the one of `last`
    (default: every week the mart has)."""
    first = date.min if first is None else first - timedelta(days=first.weekday())
    last = date.max if last is None else last
    if last < first:
        raise ReportError(f"--to ({last}) is before --from ({first})")
    weeks = {"first": first, "last": last}
    connection = psycopg2.connect(dsn)
    try:
        # one snapshot for all three tables
        connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with connection.cursor() as cursor:
            sections = []
            for title, columns, query in (
                ("Customers per ISO week, all items (a customer counts once a week)", WEEK_COLUMNS,
                 f"SELECT {', '.join(WEEK_COLUMNS)} FROM reporting.weekly_retention_totals"
                 " WHERE week_start BETWEEN %(first)s AND %(last)s ORDER BY period_id"),
                ("Customers per ISO week and item (mart.f_customer_retention)", ITEM_WEEK_COLUMNS,
                 f"SELECT {', '.join(ITEM_WEEK_COLUMNS)} FROM reporting.weekly_retention"
                 " WHERE week_start BETWEEN %(first)s AND %(last)s ORDER BY period_id, item_id"),
                ("Items that keep their customers best: returning share of their weekly customers,"
                 " then returning revenue", RANKING_COLUMNS, RANKING),
            ):
                cursor.execute(query, weeks)
                sections.append(Section(title, columns, cursor.fetchall()))
    finally:
        connection.close()
    if not sections[0].rows:
        raise ReportError("mart.f_customer_retention has no weeks" + ("" if first == date.min else f" from {first}")
                          + ("" if last == date.max else f" to {last}"))
    return sections


# ------------------------------------------------------------------ formats ----

def _text(value) -> str:
    if value is None:
        return ""
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
    return any(isinstance(row[column], (int, Decimal)) for row in section.rows)


# The table format is for reading on an 80-column terminal: short headers, the
# week as 2022-W49, and only the columns that tell the story (csv and markdown
# carry them all).
TABLE_HEADERS = {
    "rank": "#", "period_id": "ISO week", "days_loaded": "days", "item_name": "item",
    "new_customers_count": "new", "returning_customers_count": "returning",
    "refunded_customer_count": "refunding", "returning_customers_share": "returning share",
    "new_customers_revenue": "new revenue", "returning_customers_revenue": "returning revenue",
    "returning_revenue_share": "returning revenue share", "refunded_amount": "refunds",
}
def print_tables(sections: list[Section], console: Console) -> None:
    weeks, item_weeks, ranking = sections
    _print_table(weeks, console)
    # one table per week: the week in the title rather than on every row
    period = item_weeks.columns.index("period_id")
    for period_id in dict.fromkeys(row[period] for row in item_weeks.rows):
        _print_table(Section(f"ISO week {week_label(period_id)} per item (mart.f_customer_retention)",
                             item_weeks.columns, [r for r in item_weeks.rows if r[period] == period_id]),
                     console, hidden=("period_id", "days_loaded"))
    _print_table(ranking, console, hidden=("new_customers_revenue", "refunded_customer_count", "refunded_amount"))


def _print_table(section: Section, console: Console, hidden: tuple[str, ...] = ()) -> None:
    shown = [c for c, column in enumerate(section.columns) if column in TABLE_HEADERS and column not in hidden]
    table = Table(title=section.title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  collapse_padding=True, pad_edge=False, show_edge=False)
    cells = [[_shown(section.columns[c], row[c]) for c in shown] for row in section.rows]
    for n, c in enumerate(shown):
        # numbers are never cut; headers and item names wrap at their spaces
        longest = max((len(word) for r in cells for word in r[n].split()), default=1)
        table.add_column(TABLE_HEADERS[section.columns[c]], min_width=longest,
                         justify="right" if _numeric(section, c) else "left")
    for row in cells:
        table.add_row(*row)
    console.print(table)
    console.print()


def _shown(column: str, value) -> str:
    if column.endswith("_share") and value is not None:
        return f"{value:.1%}"
    if column == "period_id":
        return week_label(value)
    if column == "days_loaded":
        return f"{value}/7"
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


def draw_chart(sections: list[Section], path: Path) -> Path:
    """Per ISO week: new vs returning customers, their revenue and the refunds;
    and the items ranked by their returning customers' share and revenue."""
    # imported here: matplotlib takes a second to import, and only --chart needs it
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.colors import to_rgba
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    weeks, _, ranking = sections
    week = {c: [row[i] for row in weeks.rows] for i, c in enumerate(weeks.columns)}
    labels = [week_label(p) + ("" if d == 7 else f"\n{d}/7 days") for p, d in zip(week["period_id"], week["days_loaded"])]
    positions = range(len(labels))
    # a week still being loaded is drawn pale: its numbers will grow
    def shade(color: str) -> list:
        return [to_rgba(color, 1.0 if days == 7 else 0.45) for days in week["days_loaded"]]

    money = FuncFormatter(lambda value, _: f"{value / 1e6:g}M" if abs(value) >= 1e6
                          else f"{value / 1e3:g}k" if abs(value) >= 1e3 else f"{value:g}")

    figure = pyplot.figure(figsize=(15, 11), dpi=100, layout="constrained")
    grid = figure.add_gridspec(2, 2, height_ratios=(1, 1.15))
    customers, revenue = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    share = figure.add_subplot(grid[1, 0])
    item_revenue = figure.add_subplot(grid[1, 1], sharey=share)
    period = f"{labels[0].splitlines()[0]} .. {labels[-1].splitlines()[0]}"
    figure.suptitle(f"Customer retention, ISO weeks {period}", fontsize=16, fontweight="bold")

    width = 0.27
    for offset, column, color, name in ((-width, "new_customers_count", NEW, "new (1 order in the week)"),
                                        (0, "returning_customers_count", RETURNING, "returning (2+ orders)"),
                                        (width, "refunded_customer_count", REFUNDS, "with a refund")):
        bars = customers.bar([p + offset for p in positions], week[column], width, color=shade(color), label=name)
        customers.bar_label(bars, fontsize=8, padding=2)
    customers.set_title("Customers per week (each counted once, whatever the items)")
    customers.set_ylabel("customers")

    new_revenue = [float(v) for v in week["new_customers_revenue"]]
    returning_revenue = [float(v) for v in week["returning_customers_revenue"]]
    refunds = [-float(v) for v in week["refunded_amount"]]
    revenue.bar(positions, new_revenue, 0.6, color=shade(NEW), label="new customers")
    shipped = revenue.bar(positions, returning_revenue, 0.6, bottom=new_revenue, color=shade(RETURNING),
                          label="returning customers")
    revenue.bar_label(shipped, [f"{n + r:,.0f}\n{r / (n + r):.0%} returning" if n + r else ""
                                for n, r in zip(new_revenue, returning_revenue)], fontsize=8, padding=2)
    refunded = revenue.bar(positions, refunds, 0.6, color=shade(REFUNDS), label="refunds")
    revenue.bar_label(refunded, [f"{r:,.0f}" if r else "" for r in refunds], fontsize=8, padding=2)
    revenue.axhline(0, color="black", linewidth=0.8)
    revenue.set_title("Revenue per week: shipped orders above zero, refunds below")
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
    names = [f"{rank}. {name}" for rank, name in zip(ranked["rank"], ranked["item_name"])][::-1]
    shares = [float(s or 0) for s in ranked["returning_customers_share"]][::-1]
    # a dot plot on a zoomed axis: the items differ by points, not by tens of them
    share.hlines(names, min(shares) - 0.02, shares, color=RETURNING, alpha=0.35, linewidth=2)
    share.plot(shares, names, "o", color=RETURNING, markersize=9)
    for value, name in zip(shares, names):
        share.annotate(f"{value:.1%}", (value, name), xytext=(8, 0), textcoords="offset points",
                       va="center", fontsize=9)
    share.set_xlim(min(shares) - 0.02, max(shares) + 0.02)
    share.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    share.set_title("Items ranked: share of their weekly customers who were returning")
    share.set_xlabel("returning / (new + returning) customers, summed over the weeks")

    new_by_item = [float(v) for v in ranked["new_customers_revenue"]][::-1]
    returning_by_item = [float(v) for v in ranked["returning_customers_revenue"]][::-1]
    item_revenue.barh(names, returning_by_item, color=RETURNING, height=0.65, label="returning customers")
    bars = item_revenue.barh(names, new_by_item, left=returning_by_item, color=NEW, height=0.65,
                             label="new customers")
    item_revenue.bar_label(bars, [f"{r:,.0f} returning" for r in returning_by_item], padding=4, fontsize=8)
    item_revenue.margins(x=0.3)
    item_revenue.xaxis.set_major_formatter(money)
    item_revenue.tick_params(axis="y", labelleft=False)
    item_revenue.set_title("Their revenue over the weeks: from returning and from new customers")
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
