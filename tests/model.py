"""Independent pure-Python reference model of the salesmart warehouse.

It is an oracle for the test-suite: written from the warehouse's rules
alone (docs/rules.md: the files, deliveries and staging, f_sales and
dimensions, customer retention, day quality), without reading the SQL of the
project and without a database.  Clarity first.

Usage:
    m = Model()
    m.load_file("report/user_order_log.csv")                  # whole file range
    m.load_file("increments/2022-12-05/user_order_log_inc.csv",
                date(2022, 12, 5), date(2022, 12, 5))         # replaces day D
    m.f_sales(); m.d_customer(); m.retention()

Decisions of the model's own, where the rules leave room (see also the docstrings):
- Duplicate detection compares *parsed* values (what staging would store), all
  columns but `id`; the file's `id` is ignored.  Unknown extra columns are
  ignored and take no part in the comparison.
- payment_amount is rounded to 2 places (numeric(10,2), half away from zero).
- Only one end of the date range given: the other end defaults to it
  (load_file(p, D) replaces exactly day D).
- Line numbers in errors are physical line numbers of the file (header = 1).
- Bad values (not int/number/timestamp/status, negative quantity or amount,
  missing required column) raise ValueError; like ConflictingCopies, the model
  is left unchanged because a file is fully parsed before anything is applied.
"""
from __future__ import annotations

import csv
import os
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class ConflictingCopies(Exception):
    """Same key twice in one file with different content: bad input."""


# Columns of each file kind, without the ignored `id`.
ORDER_COLUMNS = ["uniq_id", "date_time", "city_id", "city_name", "customer_id",
                 "first_name", "last_name", "item_id", "item_name", "quantity",
                 "payment_amount"]                       # + optional "status"
ACTIVITY_COLUMNS = ["uniq_id", "date_time", "action_id", "customer_id", "quantity"]
RESEARCH_COLUMNS = ["date_id", "category_id", "geo_id", "sales_qty", "sales_amt"]

STATUSES = ("shipped", "refunded")


# ---------------------------------------------------------------- parsing ----

def _fail(path, line, column, message):
    raise ValueError(f"{path}: line {line}, column {column}: {message}")


def _int(path, line, column, text):
    try:
        return int(text)
    except ValueError:
        _fail(path, line, column, f"not an integer: {text!r}")


def _decimal(path, line, column, text):
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        _fail(path, line, column, f"not a number: {text!r}")
    if not value.is_finite():
        _fail(path, line, column, f"not a number: {text!r}")
    return value


def _timestamp(path, line, column, text):
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(path, line, column, f"not a timestamp: {text!r}")


def _not_negative(path, line, column, value):
    if value < 0:
        _fail(path, line, column, f"negative value: {value}")
    return value


def _parse_order(path, line, row, has_status):
    p = (path, line)
    status = row["status"].strip() if has_status else "shipped"
    if status not in STATUSES:
        _fail(path, line, "status", f"not a status: {status!r}")
    amount = _not_negative(*p, "payment_amount", _decimal(*p, "payment_amount", row["payment_amount"]))
    return {
        "uniq_id": row["uniq_id"],
        "date_time": _timestamp(*p, "date_time", row["date_time"]),
        "city_id": _int(*p, "city_id", row["city_id"]),
        "city_name": row["city_name"],
        "customer_id": _int(*p, "customer_id", row["customer_id"]),
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "item_id": _int(*p, "item_id", row["item_id"]),
        "item_name": row["item_name"],
        "quantity": _not_negative(*p, "quantity", _int(*p, "quantity", row["quantity"])),
        "payment_amount": amount.quantize(Decimal("0.01"), ROUND_HALF_UP),
        "status": status,
    }


def _parse_activity(path, line, row, _has_status):
    p = (path, line)
    return {
        "uniq_id": row["uniq_id"],
        "date_time": _timestamp(*p, "date_time", row["date_time"]),
        "action_id": _int(*p, "action_id", row["action_id"]),
        "customer_id": _int(*p, "customer_id", row["customer_id"]),
        "quantity": _not_negative(*p, "quantity", _int(*p, "quantity", row["quantity"])),
    }


def _parse_research(path, line, row, _has_status):
    p = (path, line)
    return {
        "date_id": _timestamp(*p, "date_id", row["date_id"]),
        "category_id": _int(*p, "category_id", row["category_id"]),
        "geo_id": _int(*p, "geo_id", row["geo_id"]),
        "sales_qty": _not_negative(*p, "sales_qty", _int(*p, "sales_qty", row["sales_qty"])),
        "sales_amt": _not_negative(*p, "sales_amt", _decimal(*p, "sales_amt", row["sales_amt"])),
    }


# kind -> (required columns, row parser, key of a parsed row, business date of a parsed row)
KINDS = {
    "user_order_log": (ORDER_COLUMNS, _parse_order,
                       lambda r: r["uniq_id"], lambda r: r["date_time"].date()),
    "user_activity_log": (ACTIVITY_COLUMNS, _parse_activity,
                          lambda r: r["uniq_id"], lambda r: r["date_time"].date()),
    "customer_research": (RESEARCH_COLUMNS, _parse_research,
                          lambda r: (r["date_id"], r["category_id"], r["geo_id"]),
                          lambda r: r["date_id"].date()),
}


def file_kind(path) -> str:
    """'user_order_log', 'user_activity_log', 'customer_research' or 'price_log'."""
    name = os.path.basename(str(path))
    for kind in ("user_order_log", "user_activity_log", "customer_research", "price_log"):
        if name in (f"{kind}.csv", f"{kind}_inc.csv"):
            return kind
    raise ValueError(f"{path}: unknown file kind")


def _as_date(d):
    return d.date() if isinstance(d, datetime) else d


def iso_period(d: date) -> tuple[int, date]:
    """(period_id, Monday) of the ISO week containing d; period_id = ISO year*100 + ISO week."""
    iso_year, iso_week, iso_weekday = d.isocalendar()
    return iso_year * 100 + iso_week, d - timedelta(days=iso_weekday - 1)


def month_period(d: date) -> tuple[int, date]:
    """(period_id, 1st day) of the calendar month containing d; period_id = year*100 + month."""
    return d.year * 100 + d.month, d.replace(day=1)


PERIODS = {"weekly": iso_period, "monthly": month_period}

# The thresholds of the day quality flags, as a fresh warehouse has them.
DAY_QUALITY_SETTINGS = {"volume_low_ratio": Decimal("0.5"), "volume_high_ratio": Decimal(2),
                        "volume_min_days": 2, "refund_share_ratio": Decimal(2),
                        "refund_share_margin": Decimal("0.15")}


# ------------------------------------------------------------------ model ----

class Model:
    """Staging as deliveries: per dated file kind, delivery day ->
    {key: row}; the current table holds, per key, the version from the
    greatest delivery day that carries it."""

    def __init__(self):
        self.deliveries: dict[str, dict[date, dict]] = {kind: {} for kind in KINDS}
        self.prices: dict[str, Decimal] = {}
        self.delivered_days: set[date] = set()     # business days an order file delivered, empty or not

    def _current(self, kind) -> dict:
        current = {}
        for day in sorted(self.deliveries[kind]):
            current.update(self.deliveries[kind][day])
        return current

    @property
    def orders(self) -> dict[str, dict]:
        return self._current("user_order_log")

    @property
    def activity(self) -> dict[str, dict]:
        return self._current("user_activity_log")

    @property
    def research(self) -> dict[tuple, dict]:
        return self._current("customer_research")

    # ---- staging ----

    def load_file(self, path, date_from: date | None = None, date_to: date | None = None) -> dict:
        """Apply one file as the delivery of the business days
        [date_from, date_to]; return the load statistics.

        The kind comes from the file name.  None/None means the file's
        first..last date (an empty file then delivers nothing); if only one end
        is given the range is that single day.  The earlier deliveries of those
        days are forgotten whole; each row of the file belongs to the delivery
        of its own date, clamped into the range (rows dated outside it count as
        out_of_date_rows).  Copies identical except `id` collapse; copies with
        different content raise ConflictingCopies and the model is left
        unchanged.
        """
        kind = file_kind(path)
        if kind == "price_log":
            return self._load_prices(path)
        columns, parse, key_of, date_of = KINDS[kind]

        # 1. Read and parse the whole file; nothing is applied before it all parsed.
        rows_read = 0
        by_key: dict = {}          # key -> (parsed row, line number of its first copy)
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path}: line 1: no header")
            header = [h.strip() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise ValueError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
            has_status = "status" in header
            for fields in reader:
                if not fields or fields == [""]:
                    continue                      # blank line
                line = reader.line_num
                if len(fields) != len(header):
                    raise ValueError(f"{path}: line {line}: {len(fields)} fields, header has {len(header)}")
                row = parse(path, line, dict(zip(header, fields, strict=True)), has_status)
                rows_read += 1
                key = key_of(row)
                if key in by_key:
                    first, first_line = by_key[key]
                    if first != row:
                        raise ConflictingCopies(
                            f"{path}: key {key!r} has different content on lines {first_line} and {line}")
                else:
                    by_key[key] = (row, line)

        # 2. The business days this file delivers.
        date_from, date_to = _as_date(date_from), _as_date(date_to)
        if date_from is None and date_to is None:
            days = [date_of(row) for row, _ in by_key.values()]
            date_from, date_to = (min(days), max(days)) if days else (None, None)
        elif date_from is None:
            date_from = date_to
        elif date_to is None:
            date_to = date_from

        # 3. Apply: forget the deliveries of the range, then file each row under its delivery day.
        out_of_date = 0
        if date_from is not None:
            if kind == "user_order_log":
                self.delivered_days.update(date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1))
            deliveries = self.deliveries[kind]
            for day in [d for d in deliveries if date_from <= d <= date_to]:
                del deliveries[day]
            for key, (row, _) in by_key.items():
                day = date_of(row)
                if not date_from <= day <= date_to:
                    out_of_date += 1
                deliveries.setdefault(min(max(day, date_from), date_to), {})[key] = row

        return {"rows_read": rows_read, "rows_loaded": len(by_key),
                "duplicates_dropped": rows_read - len(by_key), "out_of_date_rows": out_of_date}

    def _load_prices(self, path) -> dict:
        """price_log: no header, `item_name,price`; a snapshot replacing the table whole."""
        rows_read = 0
        prices: dict[str, tuple[Decimal, int]] = {}
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for fields in reader:
                if not fields or fields == [""]:
                    continue
                line = reader.line_num
                if len(fields) < 2:
                    raise ValueError(f"{path}: line {line}: expected item_name,price")
                name = fields[0]
                price = _not_negative(path, line, "price", _decimal(path, line, "price", fields[1]))
                rows_read += 1
                if name in prices:
                    if prices[name][0] != price:
                        raise ConflictingCopies(
                            f"{path}: key {name!r} has different content on lines {prices[name][1]} and {line}")
                else:
                    prices[name] = (price, line)
        self.prices = {name: price for name, (price, _) in prices.items()}
        return {"rows_read": rows_read, "rows_loaded": len(prices),
                "duplicates_dropped": rows_read - len(prices), "out_of_date_rows": 0}

    # ---- mart ----

    def f_sales(self) -> dict[str, tuple]:
        """uniq_id -> (date_id YYYYMMDD, item_id, customer_id, city_id, quantity, payment_amount, status);
        refunds negated."""
        facts = {}
        for uid, o in self.orders.items():
            sign = -1 if o["status"] == "refunded" else 1
            d = o["date_time"]
            facts[uid] = (d.year * 10000 + d.month * 100 + d.day, o["item_id"], o["customer_id"],
                          o["city_id"], sign * o["quantity"], sign * o["payment_amount"], o["status"])
        return facts

    def _latest_orders(self, entity_key) -> dict:
        """entity id -> its latest staging order, latest = greatest (date_time, uniq_id)."""
        latest = {}
        for o in self.orders.values():
            k = o[entity_key]
            if k not in latest or (o["date_time"], o["uniq_id"]) > (latest[k]["date_time"], latest[k]["uniq_id"]):
                latest[k] = o
        return latest

    def d_customer(self) -> dict[int, tuple]:
        """customer_id -> (first_name, last_name, city_id) of the customer's latest order."""
        return {k: (o["first_name"], o["last_name"], o["city_id"])
                for k, o in self._latest_orders("customer_id").items()}

    def d_item(self) -> dict[int, str]:
        """item_id -> item_name of the item's latest order."""
        return {k: o["item_name"] for k, o in self._latest_orders("item_id").items()}

    def d_city(self) -> dict[int, str]:
        """city_id -> city_name of the city's latest order."""
        return {k: o["city_name"] for k, o in self._latest_orders("city_id").items()}

    # ---- retention ----

    def retention(self, period_name: str = "weekly") -> dict[tuple[int, int], dict]:
        """(period_id, item_id) -> row of mart.f_customer_retention with that period_name: for every ISO
        week ('weekly') or calendar month ('monthly') in f_sales, the same rules over the period."""
        period = PERIODS[period_name]
        # n(c, P): distinct shipped orders (of all items) of customer c in period P.
        shipped_orders = defaultdict(int)
        for o in self.orders.values():
            if o["status"] == "shipped":
                shipped_orders[(period(o["date_time"].date())[0], o["customer_id"])] += 1

        rows = {}
        for o in self.orders.values():
            period_id, first_day = period(o["date_time"].date())
            r = rows.setdefault((period_id, o["item_id"]), {
                "new": set(), "returning": set(), "refunders": set(),
                "new_customers_revenue": Decimal("0.00"),
                "returning_customers_revenue": Decimal("0.00"),
                "customers_refunded": 0, "period_start": first_day})
            c = o["customer_id"]
            if o["status"] == "refunded":
                r["refunders"].add(c)
                r["customers_refunded"] += 1
            elif shipped_orders[(period_id, c)] == 1:
                r["new"].add(c)
                r["new_customers_revenue"] += o["payment_amount"]
            else:
                r["returning"].add(c)
                r["returning_customers_revenue"] += o["payment_amount"]

        return {key: {"new_customers_count": len(r["new"]),
                      "returning_customers_count": len(r["returning"]),
                      "refunded_customer_count": len(r["refunders"]),
                      "new_customers_revenue": r["new_customers_revenue"],
                      "returning_customers_revenue": r["returning_customers_revenue"],
                      "customers_refunded": r["customers_refunded"],
                      "period_start": r["period_start"]}
                for key, r in rows.items()}

    # ---- day quality ----

    def day_quality(self, settings: dict | None = None) -> dict[date, dict]:
        """business day -> row of reporting.day_quality, for every loaded day: delivered by an order
        file (empty or not) or holding orders.

        - orders, customers, refunds, net revenue: the day's orders (refunds count as orders);
        - new items and cities: their first order is on this day, unless it is the first loaded day;
        - weekday_median: median orders of the loaded days with orders among D-7, D-14, D-21 and D-28,
          when there are at least volume_min_days of them; low_volume / high_volume when the day's
          orders are below volume_low_ratio / above volume_high_ratio times it;
        - trailing_refund_share: refunds / orders over the loaded days D-28 .. D-1; refund_burst when
          the day's share is above refund_share_ratio times it and above it by refund_share_margin
          (both shares rounded to 4 places first, half up);
        - no_orders: a delivered day without orders."""
        settings = settings or DAY_QUALITY_SETTINGS
        by_day = defaultdict(list)
        for o in self.orders.values():
            by_day[o["date_time"].date()].append(o)
        loaded = sorted(self.delivered_days | set(by_day))
        if not loaded:
            return {}
        first_seen = {}
        for day in loaded:
            for o in by_day[day]:
                first_seen.setdefault(("item", o["item_id"]), day)
                first_seen.setdefault(("city", o["city_id"]), day)

        def share(refunds, orders):
            return (Decimal(refunds) / Decimal(orders)).quantize(Decimal("0.0001"), ROUND_HALF_UP) if orders else None

        def refunds_of(day):
            return sum(o["status"] == "refunded" for o in by_day[day])

        quality = {}
        for day in loaded:
            orders = len(by_day[day])
            refunds = refunds_of(day)
            weekdays = [Decimal(len(by_day[d])) for d in (day - timedelta(days=7 * n) for n in range(1, 5))
                        if by_day.get(d)]
            median = statistics.median(weekdays) if len(weekdays) >= settings["volume_min_days"] else None
            trailing = [d for d in loaded if day - timedelta(days=28) <= d < day]
            refund_share = share(refunds, orders)
            trailing_share = share(sum(refunds_of(d) for d in trailing), sum(len(by_day[d]) for d in trailing))
            new = {kind: sorted(member for (k, member), first in first_seen.items()
                                if k == kind and first == day and day > loaded[0]) for kind in ("item", "city")}
            flags = []
            if day in self.delivered_days and not orders:
                flags.append("no_orders")
            if median is not None and orders < settings["volume_low_ratio"] * median:
                flags.append("low_volume")
            if median is not None and orders > settings["volume_high_ratio"] * median:
                flags.append("high_volume")
            if refund_share is not None and trailing_share is not None \
                    and refund_share > settings["refund_share_ratio"] * trailing_share \
                    and refund_share - trailing_share > settings["refund_share_margin"]:
                flags.append("refund_burst")
            flags += [f"new_{kind}" for kind in ("item", "city") if new[kind]]
            quality[day] = {
                "delivered": day in self.delivered_days, "orders": orders,
                "customers": len({o["customer_id"] for o in by_day[day]}), "refunds": refunds,
                "refund_share": refund_share,
                "net_revenue": sum(((-1 if o["status"] == "refunded" else 1) * o["payment_amount"]
                                    for o in by_day[day]), Decimal("0.00")),
                "new_item_ids": new["item"], "new_city_ids": new["city"],
                "weekday_median": median, "trailing_refund_share": trailing_share, "flags": flags}
        return quality
