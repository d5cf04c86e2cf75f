"""No plan catastrophes. The two bad-statistics set-ups seen in production
are built first (landing analyzed while another transaction was filling it:
reltuples 0 over many pages; f_sales analyzed before a new ISO week had
rows), then a day is loaded with auto_explain reporting the plan of every
statement, nested ones included, with actual row counts. The load keeps its
normal plan: estimates of landing scans match what was copied, no scan of
more than a handful of rows is repeated (the signature of a nested loop over
an unindexed side), and retention joins nothing."""
from __future__ import annotations

import json
import shutil
from collections import deque
from datetime import date, timedelta

import psycopg2
import pytest

from model import Model
from salesmart.dev.generate import generate
from sql_loading import build_marts, copy_and_merge, facts, hand_copy, increment_file, load_file, rows

MONDAY = date(2024, 12, 16)
NEXT_MONDAY = MONDAY + timedelta(days=7)
REPEATED_ROWS_LIMIT = 50
INDEXED = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("plans")
    # report: 12-16 (Monday of 2024-51); increments 12-17 .. 12-23, the last the Monday of 2024-52
    generate(root, days=7, orders_per_day=300, seed=2, start=MONDAY, report_days=1)
    return root


def explained_load(dsn: str, root, day: date) -> list[dict]:
    """The day's four files COPYed and merged, then its marts, in one transaction, with the
    plan of every statement reported as JSON."""
    conn = psycopg2.connect(dsn)
    conn.notices = deque()    # all of them: psycopg2 trims a list to the last 50
    try:
        with conn, conn.cursor() as cur:
            cur.execute("LOAD 'auto_explain'")
            for setting, value in (("log_min_duration", "0"), ("log_analyze", "on"), ("log_timing", "off"),
                                   ("log_nested_statements", "on"), ("log_verbose", "on"),
                                   ("log_format", "json")):
                cur.execute(f"SET auto_explain.{setting} = {value}")
            cur.execute("SET client_min_messages = log")
            for kind in ("user_order_log", "user_activity_log", "customer_research", "price_log"):
                path = increment_file(root, day, kind)
                copy_and_merge(cur, path.name, path.read_bytes(), day, day)
            cur.execute("CALL mart.load_f_sales(%s)", (day,))
            cur.execute("CALL mart.load_f_customer_retention(%s)", (day,))
            cur.execute("CALL mart.load_f_customer_retention_monthly(%s)", (day,))
        plans = []
        for notice in conn.notices:
            if "plan:" in notice:
                plans.append(json.loads(notice.split("plan:", 1)[1]))
        return plans
    finally:
        conn.close()


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def repeated_scans(plans: list[dict]) -> list[str]:
    """Non-index nodes run more than once over more than a handful of rows each time."""
    found = []
    for plan in plans:
        for node in nodes(plan["Plan"]):
            if (node["Node Type"] not in INDEXED and node.get("Actual Loops", 1) > 1
                    and node.get("Actual Rows", 0) > REPEATED_ROWS_LIMIT):
                found.append(f"{node['Node Type']} on {node.get('Relation Name', '?')} x{node['Actual Loops']}"
                             f" in: {plan['Query Text'][:200]}")
    return found


def landing_estimates(plans: list[dict]) -> list[tuple[int, int, str]]:
    """(estimated, actual) rows of every scan of a landing table that read any."""
    return [(node["Plan Rows"], node["Actual Rows"], node["Relation Name"])
            for plan in plans for node in nodes(plan["Plan"])
            if node.get("Schema") == "landing" and node.get("Actual Rows", 0) > 0]


def test_landing_analyzed_while_being_filled_keeps_the_normal_plan(dsn, db, dataset):
    day = MONDAY + timedelta(days=1)
    # Another transaction is filling landing when ANALYZE runs: it sees pages, and no rows.
    filling = psycopg2.connect(dsn)
    try:
        hand_copy(filling.cursor(), increment_file(dataset, day, "user_order_log"))
        db.cursor().execute("ANALYZE landing.user_order_log")
        filling.rollback()
    finally:
        filling.close()
    [(pages, tuples)] = rows(db, "SELECT relpages, reltuples FROM pg_class"
                                 " WHERE oid = 'landing.user_order_log'::regclass")
    assert pages > 0 and tuples == 0, "the bad statistics were not set up"

    plans = explained_load(dsn, dataset, day)
    assert len(plans) > 20
    assert repeated_scans(plans) == []
    estimates = landing_estimates(plans)
    assert any(relation == "user_order_log" for _, _, relation in estimates)
    assert [e for e in estimates if not e[1] / 10 <= e[0] <= e[1] * 10] == [], "landing estimates are off"

    model = Model()
    for kind in ("user_order_log",):
        model.load_file(increment_file(dataset, day, kind), day, day)
    assert rows(db, "SELECT count(*) FROM mart.f_sales") == [(len(model.f_sales()),)]


def test_stale_f_sales_statistics_on_a_new_week_keep_the_normal_plan(dsn, db, dataset):
    db.cursor().execute("ALTER TABLE mart.f_sales SET (autovacuum_enabled = off)")
    model = Model()
    for day in [MONDAY + timedelta(days=n) for n in range(1, 7)]:   # the rest of week 2024-51
        for kind in ("user_order_log", "user_activity_log", "customer_research", "price_log"):
            load_file(db, increment_file(dataset, day, kind), day, day)
        model.load_file(increment_file(dataset, day, "user_order_log"), day, day)
    build_marts(db, [MONDAY + timedelta(days=n) for n in range(1, 7)])
    db.cursor().execute("ANALYZE mart.f_sales")      # statistics know week 51 only
    [(newest,)] = rows(db, "SELECT max(date_id) FROM mart.f_sales")
    assert newest < int(NEXT_MONDAY.strftime("%Y%m%d"))

    plans = explained_load(dsn, dataset, NEXT_MONDAY)
    model.load_file(increment_file(dataset, NEXT_MONDAY, "user_order_log"), NEXT_MONDAY, NEXT_MONDAY)
    assert repeated_scans(plans) == []
    retention = [plan for plan in plans
                 if plan["Query Text"].lstrip().startswith("INSERT INTO mart.f_customer_retention")]
    assert len(retention) == 2                       # the week's and the month's
    assert [node["Node Type"] for node in nodes(retention[0]["Plan"]) if "Join" in node["Node Type"]
            or node["Node Type"] == "Nested Loop"] == []
    period = int(NEXT_MONDAY.strftime("%G%V"))
    expected = {k: tuple(v.values())[:6] for k, v in model.retention().items() if k[0] == period}
    assert {(r[0], r[1]): r[2:] for r in rows(db, (
        "SELECT period_id, item_id, new_customers_count, returning_customers_count, refunded_customer_count,"
        " new_customers_revenue, returning_customers_revenue, customers_refunded FROM mart.f_customer_retention"
        " WHERE period_name = 'weekly' AND period_id = %s"), (period,))} == expected


def test_a_corrected_redelivery_deletes_and_writes_staging_rows_by_probes(dsn, db, dataset, tmp_path):
    """The re-delivered keys whose staging row goes or changes are found by their primary key or row
    address, never by a join with the whole staging table whose method the planner would choose."""
    day = MONDAY + timedelta(days=2)
    # staging as big as a few weeks of history, beyond which reading a row by its address always wins
    db.cursor().execute("INSERT INTO staging.user_order_log (uniq_id, date_time, city_id, city_name, customer_id,"
                        " first_name, last_name, item_id, item_name, quantity, payment_amount)"
                        " SELECT md5(n::text), '2024-11-01', 1, 'Northport', n, 'Ann', 'Able', 1, 'Bread', 1, 60"
                        " FROM generate_series(1, 20000) AS n; ANALYZE staging.user_order_log")
    for kind in ("user_order_log", "user_activity_log", "customer_research", "price_log"):
        load_file(db, increment_file(dataset, day, kind), day, day)
    build_marts(db, [day])
    corrected = tmp_path / "increments" / day.isoformat()
    shutil.copytree(increment_file(dataset, day).parent, corrected)
    lines = increment_file(dataset, day).read_text().splitlines()
    orders = sorted({line.split(",")[1] for line in lines[1:]})
    dropped, changed = set(orders[::5]), set(orders[1::5])
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        if fields[1] in dropped:
            continue
        if fields[1] in changed:
            fields[10], fields[11] = str(int(fields[10]) * 2), str(int(fields[11]) * 2)
        kept.append(",".join(fields))
    (corrected / "user_order_log_inc.csv").write_text("\r\n".join(kept) + "\r\n")

    plans = explained_load(dsn, tmp_path, day)

    writes = [plan for plan in plans if plan["Query Text"].lstrip().startswith((
        "DELETE FROM staging.user_order_log", "UPDATE staging.user_order_log"))]
    assert writes, "the merge deleted no staging row"
    reads_staging = [f"{node['Node Type']} in: {plan['Query Text'][:120]}"
                     for plan in writes for node in nodes(plan["Plan"])
                     if ("Join" in node["Node Type"] or node["Node Type"] in ("Nested Loop", "Seq Scan"))
                     and any(below.get("Schema") == "staging" for below in nodes(node))]
    assert reads_staging == [], "a join with, or a scan of, a staging table"
    model = Model()
    model.load_file(increment_file(dataset, day), day, day)
    model.load_file(corrected / "user_order_log_inc.csv", day, day)
    assert facts(db) == model.f_sales()
