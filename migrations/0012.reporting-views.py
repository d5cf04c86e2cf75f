"""For analysts and DBAs: the `reporting` views, ISO year and week
in mart.d_calendar, a comment on every column and routine (so `\\d+` and
`\\df+` explain the warehouse), the backfill overloads of the mart loads, and
the retention mart built for the orders already in f_sales (an upgraded
legacy warehouse has f_sales but never had a retention mart).

The views live in their own schema rather than in `mart`: `mart` holds what
the loads write, `reporting` only reads it, so analysts find every view in
one place (`\\dv reporting.*`) and the reader role is granted whole schemas.
"""

from psycopg2 import sql
from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0011.landing-validation"}

# Generated: every way a day gets into the calendar (the baseline, a year
# added when an order needs it) fills them. year_actual * 100 + week_of_year
# is wrong around New Year: 2024-12-30 is ISO 2025-W01.
ISO_CALENDAR = """
ALTER TABLE mart.d_calendar
    ADD COLUMN iso_year smallint GENERATED ALWAYS AS (extract(isoyear FROM date_actual)::smallint) STORED,
    ADD COLUMN iso_week smallint GENERATED ALWAYS AS (extract(week FROM date_actual)::smallint) STORED;
"""

# The views, in views/: each after the views it reads.
VIEWS = ["reporting.sales", "reporting.week_days_loaded", "reporting.weekly_retention",
         "reporting.weekly_retention_totals"]

SCHEMA_COMMENTS = {
    "staging": "the source files as delivered: one table per file, one row per key, the current version of each",
    "mart": "dimensions (d_*) and facts (f_*) built from staging by the mart.load_* procedures",
    "reporting": "read-only views over mart for analysts: names instead of ids, ISO weeks, week totals",
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
}

RANGE_OVERLOADS = ["mart.load_f_sales(date,date)", "mart.load_f_customer_retention(date,date)"]


def _comment_all(conn, text_of) -> None:
    """COMMENT ON every object listed above: text_of(comment) is the text to set."""
    cursor = conn.cursor()
    for schema, comment in SCHEMA_COMMENTS.items():
        cursor.execute(sql.SQL("COMMENT ON SCHEMA {} IS %s").format(sql.Identifier(schema)), (text_of(comment),))
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
step("CREATE SCHEMA reporting", "DROP SCHEMA reporting")
routines.deploy_views(__file__, VIEWS)
step(lambda conn: _comment_all(conn, lambda comment: comment),
     lambda conn: _comment_all(conn, lambda comment: None))
routines.deploy_routines(__file__, RANGE_OVERLOADS)
# Data only: a rollback leaves the weeks built, as the loads would have.
step(BUILD_RETENTION)
