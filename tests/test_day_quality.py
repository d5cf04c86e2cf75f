"""reporting.day_quality: a quality signal for every loaded business day.

Four weeks of report and ten increments go through the loader, the
increments in shuffled order, three of them first in a wrong version
(delivered empty, with two and a half times the orders, with an item and a
city never seen) that its correction replaces. One increment lost 90% of its
orders, another has 40% refunds. The view flags what each wrong version
shows while it is loaded, ends equal to the model of the final versions, and
flags both unusual days and at most one of the eight ordinary ones."""
from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from model import DAY_QUALITY_SETTINGS, Model
from salesmart.dev.generate import generate
from salesmart.warehouse import SourceFile, load_delivery
from sql_loading import build_marts, day_quality, load_file, rows
from test_model import orders_on

START = date(2025, 1, 6)                      # a Monday: the report is four whole weeks
REPORT_DAYS = 28
INCREMENTS = [START + timedelta(days=REPORT_DAYS + n) for n in range(10)]
ORDERS_PER_DAY = 150
LOST = INCREMENTS[4]                          # 90% of its orders lost
REFUNDS = INCREMENTS[7]                       # 40% refunds
EMPTY_FIRST, DOUBLE_FIRST, NEW_MEMBERS_FIRST = INCREMENTS[1], INCREMENTS[6], INCREMENTS[8]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("day-quality")
    generate(root, days=len(INCREMENTS), orders_per_day=ORDERS_PER_DAY, seed=23, start=START, report_days=REPORT_DAYS,
             day_orders={LOST: ORDERS_PER_DAY // 10}, day_refund_share={REFUNDS: 0.4})
    return root


def files(folder: Path) -> list[SourceFile]:
    return [SourceFile(path, str(path)) for path in sorted(folder.glob("*.csv"))]


def wrong_version(data: Path, day: date, folder: Path, *, orders: int, new_members: bool = False) -> Path:
    """Another version of the increment of `day`: `orders` orders of another draw; with new_members,
    its first order is of item 99 in city 99, which no other day has."""
    generate(folder, days=1, orders_per_day=orders, seed=99, start=day - timedelta(days=1), report_days=1)
    increment = folder / "increments" / day.isoformat()
    if new_members:
        orders_file = increment / "user_order_log_inc.csv"
        with orders_file.open(encoding="utf-8", newline="") as handle:
            header, *lines = list(csv.reader(handle))
        column = {name: position for position, name in enumerate(header)}
        first = lines[0][column["uniq_id"]]
        for line in lines:
            if line[column["uniq_id"]] == first:
                line[column["item_id"]], line[column["item_name"]] = "99", "Oat milk 1L"
                line[column["city_id"]], line[column["city_name"]] = "99", "Newtown"
        with orders_file.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerows([header, *lines])
    return increment


def flags(db, day: date) -> list[str]:
    return rows(db, "SELECT flags FROM reporting.day_quality WHERE business_day = %s", (day,))[0][0]


def test_unusual_days_are_flagged_whatever_the_order_of_the_loads(dsn, db, data, tmp_path):
    def load(folder: Path, day: date | None) -> None:
        first, last = (START, INCREMENTS[0] - timedelta(days=1)) if day is None else (day, day)
        load_delivery(dsn, files(folder), load_kind="report" if day is None else "increment", where=str(folder),
                      date_from=first, date_to=last)

    load(data / "report", None)
    assert all(q["flags"] == [] for q in day_quality(db).values()), "an ordinary report day is flagged"

    wrong = {EMPTY_FIRST: (wrong_version(data, EMPTY_FIRST, tmp_path / "empty", orders=0), {"no_orders"}),
             DOUBLE_FIRST: (wrong_version(data, DOUBLE_FIRST, tmp_path / "double", orders=ORDERS_PER_DAY * 5 // 2),
                            {"high_volume"}),
             NEW_MEMBERS_FIRST: (wrong_version(data, NEW_MEMBERS_FIRST, tmp_path / "new", orders=ORDERS_PER_DAY,
                                               new_members=True), {"new_item", "new_city"})}
    for day in random.Random(5).sample(INCREMENTS, len(INCREMENTS)):
        if day in wrong:
            folder, shown = wrong[day]
            load(folder, day)
            assert shown <= set(flags(db, day)), f"{day}: the wrong version is not flagged {shown}"
        load(data / "increments" / day.isoformat(), day)

    model = Model()
    model.load_file(data / "report" / "user_order_log.csv", START, INCREMENTS[0] - timedelta(days=1))
    for day in INCREMENTS:
        model.load_file(data / "increments" / day.isoformat() / "user_order_log_inc.csv", day, day)
    quality = day_quality(db)
    assert quality == model.day_quality()

    assert "low_volume" in quality[LOST]["flags"]
    assert quality[LOST]["orders"] == ORDERS_PER_DAY // 10 and quality[LOST]["weekday_median"] == ORDERS_PER_DAY
    assert "refund_burst" in quality[REFUNDS]["flags"]
    assert quality[REFUNDS]["refund_share"] > 2 * quality[REFUNDS]["trailing_refund_share"] + Decimal("0.15")
    ordinary = [day for day in INCREMENTS if day not in (LOST, REFUNDS)]
    assert len(ordinary) == 8
    flagged = [(day, quality[day]["flags"]) for day in ordinary if quality[day]["flags"]]
    assert len(flagged) <= 1, f"ordinary days flagged: {flagged}"
    assert all(quality[day]["weekday_median"] == ORDERS_PER_DAY for day in ordinary)
    # the corrections took away what their wrong versions brought
    assert not any(q["new_item_ids"] or q["new_city_ids"] for q in quality.values())

    # The thresholds are the DBA's: with volume_low_ratio at 5%, 10% of the usual orders is no longer low.
    db.cursor().execute("UPDATE mart.day_quality_settings SET volume_low_ratio = 0.05")
    assert "low_volume" not in flags(db, LOST)
    assert day_quality(db) == model.day_quality({**DAY_QUALITY_SETTINGS, "volume_low_ratio": Decimal("0.05")})


def test_the_volume_baseline_leaves_out_days_without_orders(db, tmp_path):
    """The hand-checked weeks of test_model through the procedures: Tuesdays of 4, 6, 0 (delivered
    empty), 10 and 2 orders, then the last one again with 13."""
    model, day = Model(), date(2025, 3, 4)
    for weeks_before, count in ((4, 4), (3, 6), (2, 0), (1, 10), (0, 2), (0, 13)):
        delivered = day - timedelta(weeks=weeks_before)
        path = orders_on(tmp_path / f"{weeks_before}-{count}", delivered, count)
        load_file(db, path, delivered, delivered)
        build_marts(db, [delivered])
        model.load_file(path, delivered, delivered)
        assert day_quality(db) == model.day_quality()
    assert [q["flags"] for _, q in sorted(day_quality(db).items())] == [
        [], [], ["no_orders", "low_volume"], [], ["high_volume"]]
