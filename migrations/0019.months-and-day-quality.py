"""Monthly retention and a quality signal for every loaded business day.

mart.f_customer_retention gains monthly rows (period_name 'monthly',
period_id = year * 100 + month) under the weekly rules, kept up to date by
the same loads: each day a load touches rebuilds its ISO week and its
month. One internal procedure, mart.rebuild_retention_period, computes a
period of either kind; mart.load_f_customer_retention keeps its signatures
and results.

mart.f_daily_sales keeps one row per day with orders (orders, refunds,
customers, net revenue, the items and cities of the day), rebuilt by
mart.load_f_sales for every day whose f_sales rows it changes, so
reporting.day_quality compares days over one row per day rather than every
order. Its thresholds live in mart.day_quality_settings, one row a DBA may
UPDATE.

reporting.weekly_retention now reads the weekly rows only. New views: the
loaded days, day quality, the days loaded per month, monthly retention per
item and monthly totals counting each customer once.

The upgrade builds the daily rows and the months of the history f_sales
holds, as 0012.reporting-views built its weeks. A rollback deletes the
monthly rows (recomputed from f_sales by re-applying) and drops the daily
rows and the thresholds with their tables."""

from psycopg2 import sql
from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0018.legacy-layouts"}

RETENTION_PERIODS = """
ALTER TABLE mart.f_customer_retention
    DROP CONSTRAINT f_customer_retention_period_name_check,
    DROP CONSTRAINT f_customer_retention_period_start_check,
    ADD CONSTRAINT f_customer_retention_period_name_check CHECK (period_name IN ('weekly', 'monthly')),
    ADD CONSTRAINT f_customer_retention_period_start_check CHECK (CASE period_name
        WHEN 'weekly' THEN extract(isodow FROM period_start) = 1
                           AND period_id = extract(isoyear FROM period_start) * 100 + extract(week FROM period_start)
        WHEN 'monthly' THEN extract(day FROM period_start) = 1
                            AND period_id = extract(year FROM period_start) * 100 + extract(month FROM period_start)
    END);
"""
WEEKLY_ONLY = """
DELETE FROM mart.f_customer_retention WHERE period_name <> 'weekly';
ALTER TABLE mart.f_customer_retention
    DROP CONSTRAINT f_customer_retention_period_name_check,
    DROP CONSTRAINT f_customer_retention_period_start_check,
    ADD CONSTRAINT f_customer_retention_period_name_check CHECK (period_name IN ('weekly')),
    ADD CONSTRAINT f_customer_retention_period_start_check CHECK (extract(isodow FROM period_start) = 1);
"""

# (comment now, comment before) of mart.f_customer_retention and its columns
RETENTION_COMMENTS = {
    None: ("one row per period (ISO week or calendar month) and item that has any order in that period",
           "one row per period (ISO week) and item that has any order in that week"),
    "period_name": ("weekly: the period is an ISO week; monthly: a calendar month",
                    "weekly: the period is an ISO week"),
    "period_id": ("weekly: ISO year * 100 + ISO week number, e.g. 202249; monthly: year * 100 + month, e.g. 202412",
                  "ISO year * 100 + ISO week number, e.g. 202249"),
    "period_start": ("the first day of the period: the Monday of the week, the 1st of the month",
                     "the Monday of the week"),
    "new_customers_count": ("customers whose only shipped order of the period (of any item) is of this item",
                            "customers whose only shipped order of the week (of any item) is of this item"),
    "returning_customers_count": (
        "customers with two or more shipped orders (any item) in the period, at least one of this item",
        "customers with two or more shipped orders (any item) in the week, at least one of this item"),
    "refunded_customer_count": ("customers with a refunded order of this item in the period",
                                "customers with a refunded order of this item in the week"),
    "customers_refunded": ("number of refunded orders of this item in the period",
                           "number of refunded orders of this item in the week"),
}


def _comment_retention(version: int):
    """COMMENT ON mart.f_customer_retention and its columns: 0 = now, 1 = before."""
    def comment(conn) -> None:
        cursor = conn.cursor()
        for column, texts in RETENTION_COMMENTS.items():
            target = (sql.SQL("TABLE mart.f_customer_retention") if column is None else
                      sql.SQL("COLUMN {}").format(sql.Identifier("mart", "f_customer_retention", column)))
            cursor.execute(sql.SQL("COMMENT ON {} IS %s").format(target), (texts[version],))
    return comment


DAY_TABLES = """
CREATE TABLE mart.f_daily_sales (
    date_id         integer        NOT NULL,
    orders          bigint         NOT NULL,
    refunded_orders bigint         NOT NULL,
    customers       bigint         NOT NULL,
    net_revenue     numeric(14, 2) NOT NULL,
    item_ids        integer[]      NOT NULL,
    city_ids        integer[]      NOT NULL,
    CONSTRAINT f_daily_sales_pkey PRIMARY KEY (date_id),
    CONSTRAINT f_daily_sales_orders_check CHECK (orders > 0 AND refunded_orders BETWEEN 0 AND orders)
);
ALTER TABLE mart.f_daily_sales OWNER TO salesmart_owner;
GRANT SELECT ON mart.f_daily_sales TO salesmart_reader;
COMMENT ON TABLE mart.f_daily_sales IS
    'one row per day with orders in mart.f_sales: the day''s totals, rebuilt with the day by mart.load_f_sales; '
    'what reporting.day_quality compares';
COMMENT ON COLUMN mart.f_daily_sales.date_id IS 'the day as YYYYMMDD (mart.d_calendar), as in mart.f_sales';
COMMENT ON COLUMN mart.f_daily_sales.orders IS 'orders of the day, shipped and refunded (rows of mart.f_sales)';
COMMENT ON COLUMN mart.f_daily_sales.refunded_orders IS 'refunded orders of the day';
COMMENT ON COLUMN mart.f_daily_sales.customers IS 'distinct customers with an order of the day';
COMMENT ON COLUMN mart.f_daily_sales.net_revenue IS 'sum of payment_amount of the day: shipped less refunded';
COMMENT ON COLUMN mart.f_daily_sales.item_ids IS 'the items with an order of the day, ascending';
COMMENT ON COLUMN mart.f_daily_sales.city_ids IS 'the cities with an order of the day, ascending';

CREATE TABLE mart.day_quality_settings (
    settings_id         boolean NOT NULL DEFAULT true,
    volume_low_ratio    numeric NOT NULL DEFAULT 0.5,
    volume_high_ratio   numeric NOT NULL DEFAULT 2,
    volume_min_days     integer NOT NULL DEFAULT 2,
    refund_share_ratio  numeric NOT NULL DEFAULT 2,
    refund_share_margin numeric NOT NULL DEFAULT 0.15,
    CONSTRAINT day_quality_settings_pkey PRIMARY KEY (settings_id),
    CONSTRAINT day_quality_settings_one_row_check CHECK (settings_id),
    CONSTRAINT day_quality_settings_volume_check
        CHECK (volume_low_ratio > 0 AND volume_low_ratio < 1 AND volume_high_ratio > 1),
    CONSTRAINT day_quality_settings_volume_min_days_check CHECK (volume_min_days BETWEEN 1 AND 4),
    CONSTRAINT day_quality_settings_refund_share_check
        CHECK (refund_share_ratio >= 1 AND refund_share_margin >= 0 AND refund_share_margin < 1)
);
INSERT INTO mart.day_quality_settings DEFAULT VALUES;
ALTER TABLE mart.day_quality_settings OWNER TO salesmart_owner;
GRANT SELECT ON mart.day_quality_settings TO salesmart_reader;
COMMENT ON TABLE mart.day_quality_settings IS
    'the thresholds of reporting.day_quality''s flags: exactly one row, for a DBA to UPDATE '
    '(e.g. UPDATE mart.day_quality_settings SET volume_low_ratio = 0.4); never DELETE it, the view needs it';
COMMENT ON COLUMN mart.day_quality_settings.settings_id IS 'always true: keeps the table to one row';
COMMENT ON COLUMN mart.day_quality_settings.volume_low_ratio IS
    'low_volume: a day''s orders below this share of the median orders of the same weekday over the previous '
    'four weeks (0.5: below half)';
COMMENT ON COLUMN mart.day_quality_settings.volume_high_ratio IS
    'high_volume: a day''s orders above this multiple of that median (2: above twice)';
COMMENT ON COLUMN mart.day_quality_settings.volume_min_days IS
    'the volume flags need at least this many loaded days with orders of the same weekday in the previous '
    'four weeks (1 .. 4)';
COMMENT ON COLUMN mart.day_quality_settings.refund_share_ratio IS
    'refund_burst: a day''s refunded share of its orders above this multiple of the share over the loaded days '
    'of the previous 28 days ...';
COMMENT ON COLUMN mart.day_quality_settings.refund_share_margin IS
    '... and above that trailing share by more than this (0.15: 15 percentage points), so that a share that '
    'was near zero does not flag every ordinary day';
"""

# The new views, in views/, each after the views it reads; and
# reporting.weekly_retention, which read every row of the mart and reads the
# weekly ones now.
VIEWS = ["reporting.loaded_days", "reporting.day_quality", "reporting.month_days_loaded",
         "reporting.monthly_retention", "reporting.monthly_retention_totals", "reporting.weekly_retention"]
NEW_VIEWS = VIEWS[:-1]


# Every day f_sales holds gets its daily row, every month its retention.
BUILD_HISTORY = """
DO $$
DECLARE
    v_day  date;
    v_from date;
    v_to   date;
BEGIN
    FOR v_day IN
        SELECT c.date_actual
        FROM (SELECT DISTINCT f.date_id FROM mart.f_sales AS f) AS f
        JOIN mart.d_calendar AS c ON c.date_id = f.date_id
        ORDER BY 1
    LOOP
        CALL mart.load_f_daily_sales(v_day);
        v_from := coalesce(v_from, v_day);
        v_to := v_day;
    END LOOP;
    IF v_from IS NOT NULL THEN
        CALL mart.load_f_customer_retention_monthly(v_from, v_to);
    END IF;
END;
$$;
"""

step(RETENTION_PERIODS, WEEKLY_ONLY)
step(_comment_retention(0), _comment_retention(1))
step(DAY_TABLES, "DROP TABLE mart.day_quality_settings; DROP TABLE mart.f_daily_sales;")
routines.deploy_routines(__file__, [
    "mart.rebuild_retention_period",
    "mart.load_f_customer_retention",
    "mart.load_f_customer_retention_monthly",
    "mart.load_f_customer_retention_monthly(date,date)",
    "mart.load_f_daily_sales",
    "mart.load_f_sales",
    "mart.day_quality_flags",
])
# The new routines: owned and granted as 0013.roles left the others (the
# reworked ones kept theirs). The loader may learn a day's flags, not read the view.
step("""
ALTER PROCEDURE mart.rebuild_retention_period(varchar, integer, date, date) OWNER TO salesmart_owner;
REVOKE EXECUTE ON PROCEDURE mart.rebuild_retention_period(varchar, integer, date, date) FROM PUBLIC;
ALTER PROCEDURE mart.load_f_daily_sales(date) OWNER TO salesmart_owner;
REVOKE EXECUTE ON PROCEDURE mart.load_f_daily_sales(date) FROM PUBLIC;
ALTER PROCEDURE mart.load_f_customer_retention_monthly(date) OWNER TO salesmart_owner;
REVOKE EXECUTE ON PROCEDURE mart.load_f_customer_retention_monthly(date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE mart.load_f_customer_retention_monthly(date) TO salesmart_loader;
ALTER PROCEDURE mart.load_f_customer_retention_monthly(date, date) OWNER TO salesmart_owner;
REVOKE EXECUTE ON PROCEDURE mart.load_f_customer_retention_monthly(date, date) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE mart.load_f_customer_retention_monthly(date, date) TO salesmart_loader;
ALTER FUNCTION mart.day_quality_flags(date) OWNER TO salesmart_owner;
REVOKE EXECUTE ON FUNCTION mart.day_quality_flags(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mart.day_quality_flags(date) TO salesmart_loader;
""")
routines.deploy_views(__file__, VIEWS)
# The new views: owned and granted as 0013.roles left the others (the reworked one kept its own).
step("".join(f"ALTER VIEW {view} OWNER TO salesmart_owner;\nGRANT SELECT ON {view} TO salesmart_reader;\n"
             for view in NEW_VIEWS))
# Data only: a rollback of the steps above takes it away.
step(BUILD_HISTORY)
