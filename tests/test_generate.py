"""The sample-data generator reproduces the traits of the real source: redelivered copies, refunds,
CRLF line ends, 3 cities and 12 items at fixed prices, old-format files without status."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

import salesmart
from salesmart.dev.generate import CITIES, ITEMS, customer_name, generate, research_date

START = date(2023, 3, 1)  # a Wednesday: increments then include a Monday and its Wednesday
REPORT_DAYS = 5
INCREMENT_DAYS = 5
ORDERS_PER_DAY = 300
SEED = 7

INCREMENT_DATES = [START + timedelta(days=REPORT_DAYS + offset) for offset in range(INCREMENT_DAYS)]
ORDER_FIELDS = [
    "id", "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name",
    "last_name", "item_id", "item_name", "quantity", "payment_amount",
]
REPORT_FILES = ["user_order_log", "user_activity_log", "customer_research", "price_log"]
MIDNIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _generate(out: Path, **overrides) -> Path:
    arguments = {"days": INCREMENT_DAYS, "orders_per_day": ORDERS_PER_DAY, "seed": SEED, "start": START,
                 "report_days": REPORT_DAYS}
    arguments.update(overrides)
    generate(out, **arguments)
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def old_dataset(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("old"), old_format=True)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _order_logs(root: Path) -> list[Path]:
    return [root / "report" / "user_order_log.csv"] + [
        root / "increments" / day.isoformat() / "user_order_log_inc.csv" for day in INCREMENT_DATES
    ]


def _all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_layout_matches_report_and_increment_days(dataset):
    assert sorted(path.name for path in (dataset / "report").iterdir()) == \
        sorted(f"{name}.csv" for name in REPORT_FILES)
    assert sorted(path.name for path in (dataset / "increments").iterdir()) == \
        [day.isoformat() for day in INCREMENT_DATES]
    for day in INCREMENT_DATES:
        folder = dataset / "increments" / day.isoformat()
        assert sorted(path.name for path in folder.iterdir()) == sorted(f"{name}_inc.csv" for name in REPORT_FILES)

    report_dates = sorted({row["date_time"] for row in _rows(dataset / "report" / "user_order_log.csv")})
    assert report_dates == [f"{START + timedelta(days=offset)}T00:00:00" for offset in range(REPORT_DAYS)]
    for day in INCREMENT_DATES:
        rows = _rows(dataset / "increments" / day.isoformat() / "user_order_log_inc.csv")
        assert {row["date_time"] for row in rows} == {f"{day}T00:00:00"}


def test_every_line_ends_with_crlf(dataset):
    for path in _all_files(dataset):
        with path.open("rb") as handle:
            for line in handle:
                assert line.endswith(b"\r\n"), f"{path}: {line!r}"


def test_ids_are_data_line_numbers(dataset):
    for path in _order_logs(dataset) + [dataset / "report" / "user_activity_log.csv"]:
        ids = [int(row["id"]) for row in _rows(path)]
        assert ids == list(range(1, len(ids) + 1)), path


def test_copies_are_identical_but_for_id_scattered_and_within_a_day(dataset):
    for path in _order_logs(dataset):
        lines_by_order: dict[str, list[tuple[int, tuple]]] = defaultdict(list)
        for row in _rows(path):
            content = tuple(value for field, value in row.items() if field != "id")
            lines_by_order[row["uniq_id"]].append((int(row["id"]), content))

        copies = Counter()
        adjacent_runs = 0
        multi_copy_orders = 0
        for uniq_id, lines in lines_by_order.items():
            assert HEX32.match(uniq_id)
            assert len({content for _, content in lines}) == 1, f"{path}: copies of {uniq_id} differ"
            copies[uniq_id] = len(lines)
            if len(lines) >= 3:
                multi_copy_orders += 1
                ids = [line_id for line_id, _ in lines]
                adjacent_runs += ids[-1] - ids[0] == len(ids) - 1

        assert len(lines_by_order) == ORDERS_PER_DAY * (REPORT_DAYS if path.parent.name == "report" else 1)
        counts = list(copies.values())
        assert max(counts) <= 60
        assert 0.35 < sum(1 for count in counts if count == 1) / len(counts) < 0.6
        assert 4 < sum(counts) / len(counts) < 8
        assert adjacent_runs < multi_copy_orders * 0.05, "copies should be scattered, not written side by side"


def test_orders_use_the_catalog(dataset):
    city_names = {str(city.city_id): city.name for city in CITIES}
    items = {str(item.item_id): item for item in ITEMS}
    assert len(city_names) == 3 and len(items) == 12
    seen_cities, seen_items, seen_quantities = set(), set(), set()
    for path in _order_logs(dataset):
        for row in _rows(path):
            assert MIDNIGHT.match(row["date_time"])
            assert city_names[row["city_id"]] == row["city_name"]
            item = items[row["item_id"]]
            assert item.name == row["item_name"]
            quantity = int(row["quantity"])
            assert 1 <= quantity <= 5
            assert row["payment_amount"] == str(quantity * item.price)
            customer_id = int(row["customer_id"])
            assert 0 <= customer_id <= 9_919
            assert (row["first_name"], row["last_name"]) == customer_name(customer_id)
            seen_cities.add(row["city_id"])
            seen_items.add(row["item_id"])
            seen_quantities.add(quantity)
    assert seen_cities == set(city_names)
    assert seen_items == set(items)
    assert seen_quantities == {1, 2, 3, 4, 5}


def test_customers_have_stable_names_and_come_back_within_a_week(dataset):
    orders_per_customer = defaultdict(set)
    cities_per_customer = defaultdict(set)
    for row in _rows(dataset / "report" / "user_order_log.csv"):
        orders_per_customer[row["customer_id"]].add(row["uniq_id"])
        cities_per_customer[row["customer_id"]].add(row["city_id"])
    assert any(len(orders) >= 2 for orders in orders_per_customer.values())
    assert any(len(cities) > 1 for cities in cities_per_customer.values()), "city is drawn per order"
    assert len({customer_name(customer_id) for customer_id in range(2000)}) > 500


def test_refunds_only_in_increments_with_status(dataset):
    report_rows = _rows(dataset / "report" / "user_order_log.csv")
    assert list(report_rows[0]) == ORDER_FIELDS

    status_by_order = {}
    for day in INCREMENT_DATES:
        rows = _rows(dataset / "increments" / day.isoformat() / "user_order_log_inc.csv")
        assert list(rows[0]) == ORDER_FIELDS + ["status"]
        for row in rows:
            assert row["status"] in {"shipped", "refunded"}
            assert int(row["quantity"]) > 0 and int(row["payment_amount"]) > 0
            status_by_order[row["uniq_id"]] = row["status"]
    refund_share = Counter(status_by_order.values())["refunded"] / len(status_by_order)
    assert 0.05 < refund_share < 0.13


def test_old_format_has_no_status_and_no_refunds(old_dataset):
    for path in _order_logs(old_dataset):
        with path.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
            assert header == ORDER_FIELDS, path
            assert all("refunded" not in line for line in handle)


def test_price_log_is_a_headerless_snapshot_of_the_catalog(dataset):
    expected = "".join(f"{item.name},{item.price}\r\n" for item in ITEMS).encode("utf-8")
    assert (dataset / "report" / "price_log.csv").read_bytes() == expected
    for day in INCREMENT_DATES:
        assert (dataset / "increments" / day.isoformat() / "price_log_inc.csv").read_bytes() == expected


def test_activity_log_has_about_ten_rows_a_day(dataset):
    rows = _rows(dataset / "report" / "user_activity_log.csv")
    assert list(rows[0]) == ["id", "uniq_id", "date_time", "action_id", "customer_id", "quantity"]
    assert 2 * REPORT_DAYS < len(rows) < 20 * REPORT_DAYS
    for row in rows:
        assert HEX32.match(row["uniq_id"]) and MIDNIGHT.match(row["date_time"])
        assert 0 <= int(row["action_id"]) <= 3 and int(row["quantity"]) >= 0


def test_research_has_thirty_rows_a_day_and_monday_increments_carry_wednesday(dataset):
    report = _rows(dataset / "report" / "customer_research.csv")
    assert len(report) == 30 * REPORT_DAYS
    assert {row["date_id"][:10] for row in report} == {
        (START + timedelta(days=offset)).isoformat() for offset in range(REPORT_DAYS)
    }

    research_by_increment = {}
    for day in INCREMENT_DATES:
        rows = _rows(dataset / "increments" / day.isoformat() / "customer_research_inc.csv")
        assert sorted((int(row["category_id"]), int(row["geo_id"])) for row in rows) == [
            (category, geo) for category in range(1001, 1011) for geo in range(1, 4)
        ]
        assert {row["date_id"] for row in rows} == {f"{research_date(day)}T00:00:00"}
        research_by_increment[day] = rows

    monday = next(day for day in INCREMENT_DATES if day.weekday() == 0)
    wednesday = monday + timedelta(days=2)
    assert research_date(monday) == wednesday
    assert research_by_increment[monday] == research_by_increment[wednesday], "both deliveries of a date agree"


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in _all_files(root)
    }


def test_same_arguments_give_identical_files(dataset, tmp_path):
    assert _digests(_generate(tmp_path / "again")) == _digests(dataset)
    other_seed = _digests(_generate(tmp_path / "other", seed=SEED + 1))
    assert other_seed["report/user_order_log.csv"] != _digests(dataset)["report/user_order_log.csv"]


def test_unusual_days_change_those_days_only(dataset, tmp_path):
    lost, burst = INCREMENT_DATES[1], INCREMENT_DATES[3]
    shaped = _generate(tmp_path / "shaped", day_orders={lost: 30}, day_refund_share={burst: 0.5})
    changed = {name for name, digest in _digests(shaped).items() if _digests(dataset)[name] != digest}
    assert changed == {f"increments/{day}/user_order_log_inc.csv" for day in (lost, burst)}
    statuses = {day: {row["uniq_id"]: row["status"] for row in
                      _rows(shaped / "increments" / day.isoformat() / "user_order_log_inc.csv")}
                for day in (lost, burst)}
    assert len(statuses[lost]) == 30 and len(statuses[burst]) == ORDERS_PER_DAY
    assert 0.4 < Counter(statuses[burst].values())["refunded"] / ORDERS_PER_DAY < 0.6


def test_memory_stays_flat_for_a_large_day(tmp_path):
    out = tmp_path / "large"
    child = f"""
import json, resource
from datetime import date
from pathlib import Path
from salesmart.dev.generate import generate
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
generate(Path({str(out)!r}), days=0, orders_per_day=200_000, seed=1, start=date(2023, 3, 1), report_days=1)
print(json.dumps({{"before_kib": before, "after_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""
    package_parent = str(Path(salesmart.__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True, text=True, check=True, timeout=120, env={**os.environ, "PYTHONPATH": package_parent},
    )
    peak = json.loads(result.stdout)
    growth_bytes = (peak["after_kib"] - peak["before_kib"]) * 1024
    order_log_bytes = (out / "report" / "user_order_log.csv").stat().st_size
    # Holding the day's lines as Python strings would take more than the file.
    assert order_log_bytes > 100 * 2**20
    assert growth_bytes < order_log_bytes / 10, f"peak RSS grew {growth_bytes} bytes for a {order_log_bytes}-byte file"
