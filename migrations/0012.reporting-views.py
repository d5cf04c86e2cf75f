"""For analysts and DBAs: the `reporting` views, ISO year and week
in mart.d_calendar, a comment on every column and routine (so `\\d+` and
`\\df+` explain the warehouse), the backfill overloads of the mart loads, and
the retention mart built for the orders already in f_sales (an upgraded
legacy warehouse has f_sales but never had a retention mart).

The views live in their own schema rather than in `mart`: `mart` holds what
the loads write, `reporting` only reads it, so analysts find every view in
one place (`\\dv reporting.*`) and the reader role is granted whole schemas.
"""
import sys
from pathlib import Path

from psycopg2 import sql
from yoyo import step

# yoyo imports a migration by its path; take the helper from this same
# checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salesmart.routines import deploy_routines  # noqa: E402

__depends__ = {"0011.landing-validation"}

# Generated: every way a day gets into the calendar (the baseline, a year
# added when an order needs it) fills them. year_actual * 100 + week_of_year
# is wrong around New Year: 2024-12-30 is ISO 2025-W01.
ISO_CALENDAR = """
ALTER TABLE mart.d_calendar
    ADD COLUMN iso_year smallint GENERATED ALWAYS AS (extract(isoyear FROM date_actual)::smallint) STORED,
    ADD COLUMN iso_week smallint GENERATED ALWAYS AS (extract(week FROM date_actual)::smallint) STORED;
"""

VIEWS = """
CREATE SCHEMA reporting;

CREATE VIEW reporting.sales AS
SELECT f.id AS sale_id, f.uniq_id, c.date_actual AS order_date, f.date_id,
       c.iso_year, c.iso_week, c.iso_year * 100 + c.iso_week AS period_id,
       c.first_day_of_week AS week_start, c.last_day_of_week AS week_end,
       f.item_id, i.item_name, f.customer_id, cu.first_name, cu.last_name,
       f.city_id, ci.city_name, f.status,
       f.quantity AS net_quantity, f.payment_amount AS net_amount
FROM mart.f_sales AS f
JOIN mart.d_calendar AS c ON c.date_id = f.date_id
JOIN mart.d_item AS i ON i.item_id = f.item_id
JOIN mart.d_customer AS cu ON cu.customer_id = f.customer_id
LEFT JOIN mart.d_city AS ci ON ci.city_id = f.city_id;

-- The days of each week that are loaded: delivered by a successful load of
-- an order file (an empty delivery too), or, for days loaded before the load
-- log existed, holding orders. A week still being loaded shows fewer than 7.
CREATE VIEW reporting.week_days_loaded AS
WITH loaded AS (
    SELECT g.day::date AS day
    FROM staging.load_log AS l
    CROSS JOIN LATERAL generate_series(l.date_from::timestamp, l.date_to::timestamp, interval '1 day') AS g(day)
    WHERE l.file_kind = 'user_order_log' AND l.status = 'success'
    UNION
    SELECT c.date_actual
    FROM (SELECT DISTINCT f.date_id FROM mart.f_sales AS f) AS f
    JOIN mart.d_calendar AS c ON c.date_id = f.date_id
)
SELECT c.first_day_of_week AS week_start, count(*) AS days_loaded
FROM loaded AS l
JOIN mart.d_calendar AS c ON c.date_actual = l.day
GROUP BY c.first_day_of_week;

CREATE VIEW reporting.weekly_retention AS
WITH item_refunds AS (
    SELECT c.first_day_of_week AS week_start, f.item_id, -sum(f.payment_amount) AS refunded_amount
    FROM mart.f_sales AS f
    JOIN mart.d_calendar AS c ON c.date_id = f.date_id
    WHERE f.status = 'refunded'
    GROUP BY c.first_day_of_week, f.item_id
)
SELECT r.period_name, r.period_id, w.iso_year, w.iso_week,
       r.period_start AS week_start, w.last_day_of_week AS week_end,
       r.item_id, i.item_name,
       r.new_customers_count, r.returning_customers_count, r.refunded_customer_count,
       r.new_customers_revenue, r.returning_customers_revenue, r.customers_refunded,
       coalesce(ir.refunded_amount, 0)::numeric(14, 2) AS refunded_amount,
       coalesce(d.days_loaded, 0) AS days_loaded
FROM mart.f_customer_retention AS r
JOIN mart.d_calendar AS w ON w.date_actual = r.period_start
LEFT JOIN mart.d_item AS i ON i.item_id = r.item_id
LEFT JOIN item_refunds AS ir ON ir.week_start = r.period_start AND ir.item_id = r.item_id
LEFT JOIN reporting.week_days_loaded AS d ON d.week_start = r.period_start;

-- A customer counts once per week here, whatever the items: summing the
-- per-item counts of weekly_retention counts a customer once per item.
-- (week_start comes from the grouped rows, not the calendar, so a filter on
-- it reaches the f_sales scan; likewise period_start in weekly_retention.)
CREATE VIEW reporting.weekly_retention_totals AS
WITH customer_weeks AS (
    SELECT c.first_day_of_week AS week_start, f.customer_id,
           count(*) FILTER (WHERE f.status = 'shipped') AS shipped_orders,
           sum(f.payment_amount) FILTER (WHERE f.status = 'shipped') AS shipped_amount,
           count(*) FILTER (WHERE f.status = 'refunded') AS refunded_orders,
           -sum(f.payment_amount) FILTER (WHERE f.status = 'refunded') AS refunded_amount
    FROM mart.f_sales AS f
    JOIN mart.d_calendar AS c ON c.date_id = f.date_id
    GROUP BY c.first_day_of_week, f.customer_id
)
SELECT 'weekly'::varchar(10) AS period_name, w.iso_year * 100 + w.iso_week AS period_id,
       w.iso_year, w.iso_week, cw.week_start, w.last_day_of_week AS week_end,
       count(*) FILTER (WHERE cw.shipped_orders = 1) AS new_customers_count,
       count(*) FILTER (WHERE cw.shipped_orders >= 2) AS returning_customers_count,
       count(*) FILTER (WHERE cw.refunded_orders > 0) AS refunded_customer_count,
       coalesce(sum(cw.shipped_amount) FILTER (WHERE cw.shipped_orders = 1), 0)::numeric(14, 2)
           AS new_customers_revenue,
       coalesce(sum(cw.shipped_amount) FILTER (WHERE cw.shipped_orders >= 2), 0)::numeric(14, 2)
           AS returning_customers_revenue,
       sum(cw.refunded_orders)::bigint AS customers_refunded,
       coalesce(sum(cw.refunded_amount), 0)::numeric(14, 2) AS refunded_amount,
       d.days_loaded
FROM customer_weeks AS cw
JOIN mart.d_calendar AS w ON w.date_actual = cw.week_start
JOIN reporting.week_days_loaded AS d ON d.week_start = cw.week_start
GROUP BY cw.week_start, w.iso_year, w.iso_week, w.last_day_of_week, d.days_loaded;
"""

SCHEMA_COMMENTS = {
    "staging": "the source files as delivered: one table per file, one row per key, the current version of each",
    "mart": "dimensions (d_*) and facts (f_*) built from staging by the mart.load_* procedures",
    "reporting": "read-only views over mart for analysts: names instead of ids, ISO weeks, week totals",
}

RELATION_COMMENTS = {
    "reporting.sales": "one row per order of mart.f_sales with its date, ISO week, item, customer and city names",
    "reporting.week_days_loaded": (
        "one row per ISO week with a loaded day: how many of its days are loaded (delivered by a successful "
        "order file load, or holding orders)"),
    "reporting.weekly_retention": (
        "one row per ISO week and item (mart.f_customer_retention) with the week's dates, the item name, "
        "the refunded amount and how many days of the week are loaded"),
    "reporting.weekly_retention_totals": (
        "one row per ISO week: distinct new, returning and refunding customers across all items "
        "(not the sum of the per-item counts, which counts a customer once per item)"),
}

SALES_COLUMNS = {
    "quantity": "units; negative for a refund (net units when summed)",
    "payment_amount": "amount paid; negative for a refund (net revenue when summed)",
}
ORDER_FILE_COLUMNS = {
    "uniq_id": "the order: one uniq_id per order across all files",
    "date_time": "order date (always midnight)",
    "city_id": "city of the order (mart.d_city)",
    "city_name": "name of the city as the order gives it",
    "customer_id": "the customer (mart.d_customer)",
    "first_name": "customer's first name as the order gives it",
    "last_name": "customer's last name as the order gives it",
    "item_id": "the item (mart.d_item)",
    "item_name": "name of the item as the order gives it",
    "quantity": "units ordered (refunds too are positive here)",
    "payment_amount": "amount paid, quantity x price (refunds too are positive here)",
    "status": "shipped, or refunded (a refund is its own order); files without a status column are shipped",
}
ACTIVITY_FILE_COLUMNS = {
    "uniq_id": "the activity: one uniq_id per activity",
    "date_time": "activity date (always midnight)",
    "action_id": "what the customer did",
    "customer_id": "the customer (mart.d_customer)",
    "quantity": "units the action concerned",
}
RESEARCH_FILE_COLUMNS = {
    "date_id": "research date (always midnight)",
    "category_id": "item category",
    "geo_id": "region",
    "sales_qty": "units sold in the category and region that day",
    "sales_amt": "sales amount in the category and region that day",
}
PRICE_FILE_COLUMNS = {
    "item_name": "item (mart.d_item.item_name)",
    "price": "current price of one unit",
}
LINE_NO = {"line_no": "line number of the row in its file, for error messages"}

COLUMN_COMMENTS = {
    "staging.user_order_log": ORDER_FILE_COLUMNS,
    "staging.user_activity_log": ACTIVITY_FILE_COLUMNS,
    "staging.customer_research": RESEARCH_FILE_COLUMNS,
    "staging.price_log": PRICE_FILE_COLUMNS,
    "staging.user_order_log_delivery": ORDER_FILE_COLUMNS,
    "staging.user_activity_log_delivery": ACTIVITY_FILE_COLUMNS,
    "staging.customer_research_delivery": RESEARCH_FILE_COLUMNS,
    "landing.user_order_log": ORDER_FILE_COLUMNS,
    "landing.user_activity_log": {**LINE_NO, **ACTIVITY_FILE_COLUMNS},
    "landing.customer_research": {**LINE_NO, **RESEARCH_FILE_COLUMNS},
    "landing.price_log": {**LINE_NO, **PRICE_FILE_COLUMNS},
    "staging.load_log": {
        "load_id": "identifies the load attempt",
        "file_name": "name of the file loaded",
        "file_kind": "user_order_log, user_activity_log, customer_research or price_log",
        "load_kind": "report (full history) or increment (one day)",
        "date_to": "last business day the load replaced",
        "status": "success, or failed (then the load changed nothing)",
        "error_message": "why a failed load failed; NULL on success",
        "started_at": "when the load began",
        "finished_at": "when the load ended",
    },
    "mart.d_calendar": {
        "date_id": "the day as YYYYMMDD",
        "date_actual": "the day",
        "day_name": "English day name, e.g. Monday",
        "day_of_week": "ISO day of the week, Monday = 1 .. Sunday = 7",
        "day_of_month": "1 .. 31",
        "day_of_quarter": "1 .. 92",
        "day_of_year": "1 .. 366",
        "week_of_month": "week of the month counted from its 1st day (days 1-7 = 1), not ISO",
        "week_of_year": "ISO week number 1 .. 53; pair it with iso_year, not year_actual",
        "month_actual": "1 .. 12",
        "month_name": "English month name, e.g. January",
        "month_name_abbreviated": "e.g. Jan",
        "quarter_actual": "1 .. 4",
        "quarter_name": "Q1 .. Q4 (a legacy calendar kept by the upgrade keeps its own spelling, e.g. First)",
        "year_actual": "calendar year",
        "first_day_of_week": "Monday of the ISO week",
        "last_day_of_week": "Sunday of the ISO week",
        "first_day_of_month": "1st of the month",
        "last_day_of_month": "last day of the month",
        "first_day_of_quarter": "first day of the quarter",
        "last_day_of_quarter": "last day of the quarter",
        "first_day_of_year": "1 January",
        "last_day_of_year": "31 December",
        "weekend_indr": "Saturday or Sunday",
        "iso_year": "ISO year of the day's week, e.g. 2025 for 2024-12-30 (ISO week 2025-01)",
        "iso_week": "ISO week number 1 .. 53 within iso_year; iso_year * 100 + iso_week = period_id",
    },
    "mart.d_city": {
        "id": "surrogate key (f_sales refers to city_id)",
        "city_id": "the source's city id",
        "city_name": "name of the city's latest order (SCD1)",
    },
    "mart.d_item": {
        "id": "surrogate key (f_sales refers to item_id)",
        "item_id": "the source's item id",
        "item_name": "name of the item's latest order (SCD1)",
    },
    "mart.d_customer": {
        "id": "surrogate key (f_sales refers to customer_id)",
        "customer_id": "the source's customer id",
        "first_name": "first name of the customer's latest order (SCD1)",
        "last_name": "last name of the customer's latest order (SCD1)",
        "city_id": "city of the customer's latest order (SCD1)",
    },
    "mart.f_sales": {
        "id": "row id; kept when a day is reloaded",
        "date_id": "order date (mart.d_calendar)",
        "item_id": "the item (mart.d_item)",
        "customer_id": "the customer (mart.d_customer)",
        "city_id": "city of the order (mart.d_city)",
        **SALES_COLUMNS,
    },
    "mart.f_customer_retention": {
        "period_name": "weekly: the period is an ISO week",
        "item_id": "the item (mart.d_item)",
    },
    "reporting.sales": {
        "sale_id": "mart.f_sales.id",
        "uniq_id": "the order; NULL on rows loaded before orders were keyed",
        "order_date": "order date",
        "date_id": "order date as YYYYMMDD (mart.d_calendar)",
        "iso_year": "ISO year of the order's week",
        "iso_week": "ISO week number of the order",
        "period_id": "iso_year * 100 + iso_week, as in mart.f_customer_retention",
        "week_start": "Monday of the order's week",
        "week_end": "Sunday of the order's week",
        "item_id": "the item",
        "item_name": "item name (SCD1: its latest)",
        "customer_id": "the customer",
        "first_name": "customer's first name (SCD1: their latest)",
        "last_name": "customer's last name (SCD1: their latest)",
        "city_id": "city of this order",
        "city_name": "name of the city of this order",
        "status": "shipped or refunded",
        "net_quantity": "units; negative for a refund, so SUM gives net units",
        "net_amount": "amount paid; negative for a refund, so SUM gives net revenue",
    },
    "reporting.week_days_loaded": {
        "week_start": "Monday of the ISO week",
        "days_loaded": "days of the week (1 .. 7) delivered by a successful order file load or holding orders",
    },
}
RETENTION_VIEW_COLUMNS = {
    "period_name": "weekly",
    "period_id": "ISO year * 100 + ISO week, e.g. 202249",
    "iso_year": "ISO year of the week",
    "iso_week": "ISO week number",
    "week_start": "Monday of the week",
    "week_end": "Sunday of the week",
    "refunded_customer_count": "customers with a refunded order in the week",
    "customers_refunded": "refunded orders in the week",
    "refunded_amount": "amount of the refunded orders in the week, positive",
    "days_loaded": "days of the week (0 .. 7) loaded (see reporting.week_days_loaded): fewer than 7 is a partial week",
}
COLUMN_COMMENTS["reporting.weekly_retention"] = {
    **RETENTION_VIEW_COLUMNS,
    "item_id": "the item",
    "item_name": "item name (SCD1: its latest)",
    "new_customers_count": "customers whose only shipped order of the week (any item) is of this item",
    "returning_customers_count": "customers with two or more shipped orders (any item) in the week, one of this item",
    "refunded_customer_count": "customers with a refunded order of this item in the week",
    "new_customers_revenue": "amount of this item's shipped orders by new customers",
    "returning_customers_revenue": "amount of this item's shipped orders by returning customers",
    "customers_refunded": "refunded orders of this item in the week",
    "refunded_amount": "amount of the refunded orders of this item in the week, positive",
}
COLUMN_COMMENTS["reporting.weekly_retention_totals"] = {
    **RETENTION_VIEW_COLUMNS,
    "new_customers_count": "distinct customers with exactly one shipped order in the week",
    "returning_customers_count": "distinct customers with two or more shipped orders in the week",
    "new_customers_revenue": "amount of the shipped orders of new customers",
    "returning_customers_revenue": "amount of the shipped orders of returning customers",
}

RANGE_OVERLOADS = ["mart.load_f_sales(date,date)", "mart.load_f_customer_retention(date,date)"]


def _comment_all(conn, text_of) -> None:
    """COMMENT ON every object listed above: text_of(comment) is the text to set."""
    cursor = conn.cursor()
    for schema, comment in SCHEMA_COMMENTS.items():
        cursor.execute(sql.SQL("COMMENT ON SCHEMA {} IS %s").format(sql.Identifier(schema)), (text_of(comment),))
    for relation, comment in RELATION_COMMENTS.items():
        cursor.execute(sql.SQL("COMMENT ON VIEW {} IS %s").format(sql.Identifier(*relation.split("."))),
                       (text_of(comment),))
    for relation, columns in COLUMN_COMMENTS.items():
        for column, comment in columns.items():
            cursor.execute(sql.SQL("COMMENT ON COLUMN {} IS %s").format(
                sql.Identifier(*relation.split("."), column)), (text_of(comment),))


BUILD_RETENTION = """
DO $$
DECLARE
    v_from date;
    v_to   date;
BEGIN
    SELECT min(c.date_actual), max(c.date_actual) INTO v_from, v_to
    FROM mart.f_sales AS f JOIN mart.d_calendar AS c ON c.date_id = f.date_id;
    IF v_from IS NOT NULL THEN
        CALL mart.load_f_customer_retention(v_from, v_to);
    END IF;
END;
$$;
"""

step(ISO_CALENDAR, "ALTER TABLE mart.d_calendar DROP COLUMN iso_week, DROP COLUMN iso_year")
step(VIEWS, "DROP SCHEMA reporting CASCADE")
step(lambda conn: _comment_all(conn, lambda comment: comment),
     lambda conn: _comment_all(conn, lambda comment: None))
deploy_routines(__file__, RANGE_OVERLOADS)
# Data only: a rollback leaves the weeks built, as the loads would have.
step(BUILD_RETENTION)
