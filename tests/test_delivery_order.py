"""The order in which deliveries arrive does not matter. Random delivery
histories (re-dated orders, out-of-date rows, corrections, repeats, across a
year end) go through the loader, one transaction per delivery, and end in
the same warehouse as the final versions loaded once in date order, in
reverse order, and as the model: staging, f_sales, dimensions, weekly and
monthly retention, day quality."""
from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pytest

from model import Model
from salesmart.warehouse import SourceFile, load_delivery
from sql_loading import CONTENT_TABLES, content, day_quality, facts, reset, retention, rows

ORDER_HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
                "item_id,item_name,quantity,payment_amount,status")
ACTIVITY_HEADER = "id,uniq_id,date_time,action_id,customer_id,quantity"
RESEARCH_HEADER = "date_id,category_id,geo_id,sales_qty,sales_amt"
ITEMS = {1: ("Bread", 30), 2: ("Milk", 55), 3: ("Tea", 120)}
CITIES = {1: "Northport", 2: "Southbay"}
NAMES = ("Ann", "Bob", "Cid", "Dee")


def write_delivery(folder: Path, orders: list[tuple], activities: list[tuple], research: list[tuple],
                   copies: random.Random | None = None) -> list[SourceFile]:
    """The four files of an increment; with `copies`, some lines are repeated (redelivered copies)."""
    folder.mkdir(parents=True, exist_ok=True)

    def lines(header, records, numbered=True):
        out = []
        for record in records:
            for _ in range(copies.choice((1, 1, 2, 3)) if copies else 1):
                out.append(",".join(map(str, ((len(out) + 1,) if numbered else ()) + record)))
        return "\r\n".join([header, *out]) + "\r\n"

    files = {
        "user_order_log_inc.csv": lines(ORDER_HEADER, orders),
        "user_activity_log_inc.csv": lines(ACTIVITY_HEADER, activities),
        "customer_research_inc.csv": lines(RESEARCH_HEADER, research, numbered=False),
        "price_log_inc.csv": "".join(f"{name},{price}\r\n" for name, price in ITEMS.values()),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [SourceFile(folder / name, str(folder / name)) for name in files]


def order(uid: str, day: date, customer: int, item: int, qty: int, status: str) -> tuple:
    name, price = ITEMS[item]
    city = 1 + customer % 2
    return (uid, f"{day.isoformat()}T00:00:00", city, CITIES[city], customer, NAMES[customer % 4],
            f"L{customer}", item, name, qty, qty * price, status)


def load(dsn, folder: Path, files: list[SourceFile], day: date) -> None:
    load_delivery(dsn, files, load_kind="increment", where=str(folder), date_from=day, date_to=day)


def assert_same(first: dict, second: dict, what: str) -> None:
    for t in CONTENT_TABLES:
        assert first[t] == second[t], f"{what}: {t} differs"


# ------------------------------------- a re-dated order and a corrected day ----

def test_a_redated_order_survives_the_correction_of_the_earlier_day(dsn, db, tmp_path):
    a, b = date(2024, 12, 30), date(2024, 12, 31)
    u1, u2, u3 = "1" * 32, "2" * 32, "3" * 32
    b_files = write_delivery(tmp_path / "b", [order(u1, b, 1, 1, 2, "shipped")], [], [])
    a_files = write_delivery(tmp_path / "a", [order(u1, a, 1, 2, 1, "shipped"), order(u2, a, 2, 1, 1, "shipped")],
                             [], [])
    # an out-of-date row: A's first version also carried an order dated B
    a_first = write_delivery(tmp_path / "a-first", [order(u1, a, 1, 2, 1, "shipped"),
                                                    order(u3, b, 3, 3, 4, "refunded")], [], [])
    a_corrected = write_delivery(tmp_path / "a-corrected", [order(u2, a, 2, 1, 1, "shipped")], [], [])

    load(dsn, tmp_path / "b", b_files, b)
    load(dsn, tmp_path / "a-first", a_first, a)
    assert rows(db, "SELECT uniq_id, date_time::date FROM staging.user_order_log ORDER BY 1") == [
        (u1, b), (u3, b)]           # u1: B's delivery is the later business day
    load(dsn, tmp_path / "a", a_files, a)
    load(dsn, tmp_path / "a-corrected", a_corrected, a)
    shuffled = content(db)
    assert rows(db, "SELECT uniq_id, date_time::date FROM staging.user_order_log ORDER BY 1") == [(u1, b), (u2, a)]
    assert facts(db) == {u1: (20241231, 1, 1, 2, 2, 60, "shipped"), u2: (20241230, 1, 2, 1, 1, 30, "shipped")}
    assert rows(db, "SELECT delivery_day, uniq_id FROM staging.user_order_log_delivery ORDER BY 1, 2") == [
        (a, u2), (b, u1)]

    reset(db)
    load(dsn, tmp_path / "a-corrected", a_corrected, a)
    load(dsn, tmp_path / "b", b_files, b)
    assert_same(shuffled, content(db), "final versions once")


# --------------------------------------------------------- random histories ----

FIRST_DAY = date(2024, 12, 28)   # a Saturday: the window spans ISO weeks 2024-52, 2025-01 and the year end
DAYS = [FIRST_DAY + timedelta(days=offset) for offset in range(6)]


def random_version(rng: random.Random, day: date) -> tuple[list, list, list]:
    """One delivery of `day`: orders from a small shared pool of uniq_ids, mostly dated `day`,
    some re-dated or out of date (another day of the window); activities and research likewise.
    Names and a customer's city vary from order to order, so that which order is a dimension
    member's latest (all orders of a day share their time: the greatest uniq_id) shows."""
    def some_day():
        return day if rng.random() < 0.7 else rng.choice(DAYS)

    def varied(record: tuple) -> tuple:
        city = rng.choice(list(CITIES))
        uid, when, _, _, customer, _, last_name, item, item_name, *rest = record
        return (uid, when, city, f"{CITIES[city]} {rng.choice('xy')}", customer, rng.choice(NAMES), last_name,
                item, f"{item_name} {rng.choice('xy')}", *rest)

    uids = rng.sample(range(14), rng.randint(0, 6))
    orders = [varied(order(f"{uid:032d}", some_day(), rng.randint(0, 4), rng.choice(list(ITEMS)), rng.randint(1, 3),
                           rng.choice(("shipped", "shipped", "refunded")))) for uid in uids]
    activities = [(f"a{uid:031d}", f"{some_day().isoformat()}T00:00:00", rng.randint(1, 3), rng.randint(0, 4),
                   rng.randint(1, 5)) for uid in rng.sample(range(8), rng.randint(0, 3))]
    research = sorted({(f"{some_day().isoformat()}T00:00:00", 1000 + rng.randint(1, 2), rng.randint(1, 2)):
                       (rng.randint(0, 9), rng.randint(0, 900)) for _ in range(rng.randint(0, 3))}.items())
    return orders, activities, [key + value for key, value in research]


@pytest.mark.parametrize("seed", range(12))
def test_random_delivery_histories_end_as_the_final_versions_loaded_once(dsn, db, tmp_path, seed):
    rng = random.Random(seed)
    versions = {day: [random_version(rng, day) for _ in range(rng.randint(1, 3))] for day in DAYS}
    folders = {}
    for day, day_versions in versions.items():
        for number, (orders, activities, research) in enumerate(day_versions):
            folder = tmp_path / f"{day.isoformat()}-v{number}"
            folders[day, number] = (folder, write_delivery(folder, orders, activities, research, copies=rng))

    # Every version of every day at least once, some twice, shuffled; each day's
    # final version is the one of its versions delivered last.
    schedule = [(day, number) for day, day_versions in versions.items() for number in range(len(day_versions))]
    schedule += rng.sample(schedule, len(schedule) // 3)
    rng.shuffle(schedule)
    final = {day: number for day, number in schedule}
    for day, number in schedule:
        load(dsn, *folders[day, number], day)
    shuffled = content(db)
    assert shuffled["staging.user_order_log_delivery"] or not any(v[final[d]][0] for d, v in versions.items())

    model = Model()
    for day in DAYS:
        folder, files = folders[day, final[day]]
        for file in files:
            model.load_file(file.path, day, day)
    assert facts(db) == model.f_sales()
    assert {r[0]: r[1:] for r in rows(db, "SELECT customer_id, first_name, last_name, city_id"
                                          " FROM mart.d_customer")} == model.d_customer()
    assert dict(rows(db, "SELECT item_id, item_name FROM mart.d_item")) == model.d_item()
    assert dict(rows(db, "SELECT city_id, city_name FROM mart.d_city")) == model.d_city()
    for period_name in ("weekly", "monthly"):
        assert retention(db, period_name) == model.retention(period_name), period_name
    assert day_quality(db) == model.day_quality()
    assert rows(db, "SELECT uniq_id FROM mart.f_sales AS f"       # no foreign keys: the loads keep integrity
                    " WHERE NOT EXISTS (SELECT FROM mart.d_item AS d WHERE d.item_id = f.item_id)"
                    " OR NOT EXISTS (SELECT FROM mart.d_customer AS d WHERE d.customer_id = f.customer_id)"
                    " OR NOT EXISTS (SELECT FROM mart.d_calendar AS d WHERE d.date_id = f.date_id)") == []
    assert {r[0] for r in rows(db, "SELECT uniq_id FROM staging.user_activity_log")} == set(model.activity)
    assert rows(db, "SELECT count(*) FROM staging.customer_research") == [(len(model.research),)]

    for order_of_days in (DAYS, DAYS[::-1]):
        reset(db)
        for day in order_of_days:
            load(dsn, *folders[day, final[day]], day)
        order = "reversed" if order_of_days[0] != DAYS[0] else "in date order"
        assert_same(shuffled, content(db), f"seed {seed}: final versions {order}")


def test_a_report_row_dated_outside_its_range_belongs_to_the_nearest_day(dsn, db, tmp_path):
    """A report delivers each day of start..end; a row dated outside the range is out of date
    and belongs to the delivery of the nearest day of the range, which a later delivery of that
    day replaces like any other of its rows."""
    first, last = date(2024, 12, 23), date(2024, 12, 24)
    early, late, inside = "e" * 32, "l" * 32, "i" * 32
    report = write_delivery(tmp_path / "report", [order(early, first - timedelta(days=3), 1, 1, 1, "shipped"),
                                                  order(inside, first, 2, 2, 1, "shipped"),
                                                  order(late, last + timedelta(days=2), 3, 3, 1, "shipped")], [], [])
    load_delivery(dsn, report, load_kind="report", where="report", date_from=first, date_to=last)
    assert rows(db, "SELECT uniq_id, delivery_day FROM staging.user_order_log_delivery ORDER BY 2, 1") == [
        (early, first), (inside, first), (late, last)]
    assert rows(db, "SELECT out_of_date_rows FROM staging.load_log WHERE file_kind = 'user_order_log'") == [(2,)]
    assert sorted(facts(db)) == sorted([early, inside, late])    # the marts of the rows' own days too

    corrected = write_delivery(tmp_path / "last", [], [], [])   # day `last` corrected: no orders
    load(dsn, tmp_path / "last", corrected, last)
    assert sorted(facts(db)) == sorted([early, inside])
    model = Model()
    for files, day_from, day_to in ((report, first, last), (corrected, last, last)):
        for file in files:
            model.load_file(file.path, day_from, day_to)
    assert facts(db) == model.f_sales()
