"""Generate sample report-API data with the traits of the real source
(docs/rules.md, "Words": its files, copies, refunds and dates).

The output is laid out as the report API and `load-dir` expect::

    OUT/report/{user_order_log,user_activity_log,customer_research,price_log}.csv
    OUT/increments/YYYY-MM-DD/{user_order_log,user_activity_log,customer_research,price_log}_inc.csv

The report covers `report_days` days from `start`; one increment follows for
each of the `days` days after it.  Traits reproduced from the real data:

- CRLF line ends, UTF-8, a header line in every file but price_log;
- `id` is the data line number inside its file (1 on the first data line);
- every order (`uniq_id`, 32 hex digits) is written 1..60 times, identical but
  for `id`: about half the orders once, about 6 copies on average.  As in the
  real files, an order's copies lie within about a thousand lines of its first
  line: orders are written in groups of at most `COPY_SPAN_LINES` lines, their
  copies shuffled within the group, never across days;
- `date_time` is always midnight (`2022-11-09T00:00:00`);
- 3 cities, 12 items with fixed prices, quantity 1..5,
  `payment_amount = quantity × price` written as an integer;
- customers 0..9,919 with a name derived from the id, a random city per order;
- refunds (own order, positive quantity and amount, `status = refunded`, about
  9% of the orders) exist only in increments, which carry a `status` column;
  the report never has one, nor do increments written with `old_format=True`;
- price_log (report and every increment) is the same price snapshot;
- ~10 activity rows and exactly 30 research rows (10 categories × 3 geos) a day.

Research date quirk: the research file of every increment whose date D is a
Monday holds the research of D+2 (the Wednesday) instead of D, as the real
increment of Monday 2022-12-05 holds 2022-12-07.  Monday's own research is
therefore never delivered, and Wednesday's arrives twice (in Monday's and in
Wednesday's increment) with identical values, because research content depends
only on the seed and the date it describes.  The report is not affected.

Unusual days, for the day quality checks: `day_orders` gives some days
another number of orders (a day that lost most of them), `day_refund_share`
another share of refunds (a burst of refunds in an increment).

Output is deterministic: every file's content is a function of the arguments
(each day and file kind draws from its own seeded random stream).  Memory stays
flat whatever `orders_per_day`: orders are generated, copied and shuffled one
group at a time and streamed to disk.
"""
from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import repeat
from pathlib import Path
from typing import NamedTuple, TextIO

logger = logging.getLogger(__name__)


class City(NamedTuple):
    city_id: int
    name: str


class Item(NamedTuple):
    item_id: int
    name: str
    price: int


# Names are free of commas and quotes so lines need no CSV quoting.
CITIES: tuple[City, ...] = (
    City(0, "Riverton"),
    City(1, "Oakford"),
    City(2, "Lakeshire"),
)

ITEMS: tuple[Item, ...] = (
    Item(0, "Skimmed milk 1L", 90),
    Item(1, "Whole milk 1L", 110),
    Item(2, "Double cream 500ml", 160),
    Item(3, "Espresso machine", 650),
    Item(4, "Cane sugar 1kg", 55),
    Item(5, "Golden apples 1kg", 380),
    Item(6, "Green apples 1kg", 130),
    Item(7, "Laundry detergent", 210),
    Item(8, "Smart light bulb", 320),
    Item(9, "Gel pen", 40),
    Item(10, "Cherry tomatoes 250g", 65),
    Item(11, "Sourdough loaf", 25),
)

FIRST_NAMES: tuple[str, ...] = (
    "Alice", "Brian", "Chloe", "Daniel", "Emma", "Felix", "Grace", "Henry",
    "Isla", "Jack", "Kate", "Liam", "Mia", "Noah", "Olivia", "Peter",
    "Quinn", "Ruby", "Samuel", "Tara", "Victor", "Wendy", "Xavier", "Zoe",
)

LAST_NAMES: tuple[str, ...] = (
    "Abbott", "Baker", "Carter", "Dawson", "Ellis", "Fisher", "Gibson",
    "Harper", "Ingram", "Jensen", "Keller", "Lawson", "Morgan", "Nolan",
    "Owens", "Porter", "Quincy", "Reed", "Sawyer", "Turner", "Upton",
    "Vaughn", "Walsh", "Young", "Zimmerman", "Bishop", "Crane", "Doyle",
    "Foster", "Hale",
)

ORDER_HEADER = (
    "id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
    "item_id,item_name,quantity,payment_amount"
)
ACTIVITY_HEADER = "id,uniq_id,date_time,action_id,customer_id,quantity"
RESEARCH_HEADER = "date_id,category_id,geo_id,sales_qty,sales_amt"

RESEARCH_CATEGORIES = range(1001, 1011)
RESEARCH_GEOS = range(1, 4)
# Real research amounts are a fixed multiple of the quantity.
RESEARCH_UNIT_PRICE = 745

REFUND_SHARE = 0.09
SINGLE_COPY_SHARE = 0.47
MEAN_EXTRA_COPIES = 8.5
MAX_COPIES = 60
MAX_QUANTITY = 5

# Real customer ids come in runs of 20 per hundred (0..19, 100..119, ...):
# about 2,000 customers, so that customers do come back within a week.
CUSTOMER_BLOCKS = 100
CUSTOMERS_PER_BLOCK = 20
ACTIVITY_CUSTOMERS = 1000

# The lines within which an order's copies are scattered: the real report's
# copies lie at most 1,089 lines after their first, the real increment's 1,050.
COPY_SPAN_LINES = 1000

NEWLINE = "\r\n"


def customer_name(customer_id: int) -> tuple[str, str]:
    """First and last name of a customer: fixed for the id, seed-independent."""
    first = FIRST_NAMES[customer_id % len(FIRST_NAMES)]
    last = LAST_NAMES[(customer_id // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return first, last


def research_date(increment_day: date) -> date:
    """The date the research file of the increment for `increment_day` holds."""
    if increment_day.weekday() == 0:
        return increment_day + timedelta(days=2)
    return increment_day


class DayShape(NamedTuple):
    """How many orders a day has, and what share of them are refunds."""
    orders_per_day: int
    day_orders: dict[date, int]
    day_refund_share: dict[date, float]

    def orders(self, day: date) -> int:
        return self.day_orders.get(day, self.orders_per_day)

    def refund_share(self, day: date) -> float:
        return self.day_refund_share.get(day, REFUND_SHARE)


def generate(
    out: Path,
    *,
    days: int,
    orders_per_day: int,
    seed: int,
    start: date,
    report_days: int = 14,
    old_format: bool = False,
    day_orders: dict[date, int] | None = None,
    day_refund_share: dict[date, float] | None = None,
) -> None:
    """Write a report of `report_days` days from `start` and `days` increments after it.

    `orders_per_day` is the number of distinct orders (uniq_ids) per day,
    refunds included, unless `day_orders` names the day; the order log holds
    about six times as many lines. `day_refund_share` sets the share of
    refunds of an increment's day (REFUND_SHARE otherwise).
    `old_format=True` writes increments as the older source did: no `status`
    column and therefore no refunds.  Existing files are replaced; each file
    appears atomically (written aside, then renamed) so a server reading the
    folder never serves a half-written file.
    """
    if report_days < 1:
        raise ValueError(f"report_days must be at least 1, got {report_days}")
    if days < 0 or orders_per_day < 0:
        raise ValueError(f"days and orders_per_day must not be negative, got {days} and {orders_per_day}")
    shape = DayShape(orders_per_day, day_orders or {}, day_refund_share or {})

    report_range = [start + timedelta(days=offset) for offset in range(report_days)]
    logger.info("writing report %s..%s to %s", report_range[0], report_range[-1], out / "report")
    _write_file_set(out / "report", "", report_range, report_range, shape, seed, with_status=False)

    for offset in range(days):
        day = start + timedelta(days=report_days + offset)
        logger.info("writing increment %s", day)
        _write_file_set(
            out / "increments" / day.isoformat(),
            "_inc",
            [day],
            [research_date(day)],
            shape,
            seed,
            with_status=not old_format,
        )


def _write_file_set(
    folder: Path,
    suffix: str,
    order_days: list[date],
    research_days: list[date],
    shape: DayShape,
    seed: int,
    *,
    with_status: bool,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)

    with _atomic_text(folder / f"user_order_log{suffix}.csv") as orders_file:
        orders_file.write(ORDER_HEADER + (",status" if with_status else "") + NEWLINE)
        next_id = 1
        for day in order_days:
            refund_share = shape.refund_share(day) if with_status else None
            next_id = _write_order_day(orders_file, next_id, day, shape.orders(day), seed, refund_share)

    with _atomic_text(folder / f"user_activity_log{suffix}.csv") as activity_file:
        activity_file.write(ACTIVITY_HEADER + NEWLINE)
        next_id = 1
        for day in order_days:
            next_id = _write_activity_day(activity_file, next_id, day, seed)

    with _atomic_text(folder / f"customer_research{suffix}.csv") as research_file:
        research_file.write(RESEARCH_HEADER + NEWLINE)
        for day in research_days:
            _write_research_day(research_file, day, seed)

    with _atomic_text(folder / f"price_log{suffix}.csv") as price_file:
        price_file.writelines(f"{item.name},{item.price}{NEWLINE}" for item in ITEMS)


@contextmanager
def _atomic_text(path: Path) -> Iterator[TextIO]:
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _stream(seed: int, day: date, kind: str) -> random.Random:
    # One stream per (day, file kind): a day's content does not depend on how
    # many other days are generated, and research of a date is the same in
    # whichever increment carries it.
    return random.Random(f"{seed}/{day.isoformat()}/{kind}")


def _timestamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _copies(rng: random.Random) -> int:
    if rng.random() < SINGLE_COPY_SHARE:
        return 1
    return min(MAX_COPIES, 2 + int(rng.expovariate(1 / MEAN_EXTRA_COPIES)))


def _order_body(rng: random.Random, timestamp: str, refund_share: float | None) -> str:
    """One order line without its leading `id`; with a status column unless refund_share is None."""
    city = rng.choice(CITIES)
    customer_id = rng.randrange(CUSTOMER_BLOCKS) * 100 + rng.randrange(CUSTOMERS_PER_BLOCK)
    first_name, last_name = customer_name(customer_id)
    item = rng.choice(ITEMS)
    quantity = rng.randint(1, MAX_QUANTITY)
    body = (
        f"{rng.getrandbits(128):032x},{timestamp},{city.city_id},{city.name},"
        f"{customer_id},{first_name},{last_name},{item.item_id},{item.name},"
        f"{quantity},{quantity * item.price}"
    )
    if refund_share is not None:
        body += ",refunded" if rng.random() < refund_share else ",shipped"
    return body


def _write_order_day(
    out: TextIO, first_id: int, day: date, orders: int, seed: int, refund_share: float | None
) -> int:
    """Write one day's orders with their copies; return the next free `id`."""
    rng = _stream(seed, day, "orders")
    timestamp = _timestamp(day)
    next_id = first_id
    group: list[str] = []  # the lines of the orders written together, one string per order
    for _ in range(orders):
        body = _order_body(rng, timestamp, refund_share)
        copies = _copies(rng)
        if len(group) + copies > COPY_SPAN_LINES:
            next_id = _write_order_group(out, group, next_id, rng)
            group = []
        group.extend(repeat(body, copies))
    return _write_order_group(out, group, next_id, rng)


def _write_order_group(out: TextIO, group: list[str], first_id: int, rng: random.Random) -> int:
    """Write a group of order lines in random order; return the next free `id`."""
    rng.shuffle(group)
    out.writelines(f"{line_id},{body}{NEWLINE}" for line_id, body in enumerate(group, start=first_id))
    return first_id + len(group)


def _write_activity_day(out: TextIO, first_id: int, day: date, seed: int) -> int:
    """Write one day's activity rows; return the next free `id`."""
    rng = _stream(seed, day, "activity")
    timestamp = _timestamp(day)
    rows = rng.randint(0, 20)
    out.writelines(
        f"{line_id},{rng.getrandbits(128):032x},{timestamp},{rng.randint(0, 3)},"
        f"{rng.randrange(ACTIVITY_CUSTOMERS)},{rng.randint(0, 24)}{NEWLINE}"
        for line_id in range(first_id, first_id + rows)
    )
    return first_id + rows


def _write_research_day(out: TextIO, day: date, seed: int) -> None:
    rng = _stream(seed, day, "research")
    timestamp = _timestamp(day)
    for category_id in RESEARCH_CATEGORIES:
        for geo_id in RESEARCH_GEOS:
            sales_qty = rng.randint(0, 9)
            out.write(f"{timestamp},{category_id},{geo_id},{sales_qty},{sales_qty * RESEARCH_UNIT_PRICE}{NEWLINE}")
