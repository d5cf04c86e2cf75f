"""Retention reads a row per customer and item of its period, not every order.

The retention of a week or a month is recomputed from all its days loaded
so far, whenever one of them is loaded: read order by order, a month's last
day read the whole month (about 6M orders for days of 200k) where its first
read one day. mart.f_daily_customer_item holds, per day, customer and item,
the shipped orders, their revenue and the refunded orders, and
mart.f_period_customer_item their sums per ISO week and calendar month:
mart.load_f_sales keeps both with mart.f_daily_sales (mart.load_f_daily_sales
fills them from one read of the day, taking the day's old rows out of the
period sums and adding its new ones), and mart.rebuild_retention_period reads
the period's sums. It needs only the period's first day now: it and the
weekly and monthly loads that call it lose the last-day argument.

The upgrade fills them from the f_sales the warehouse holds; a rollback drops
them (they are derived) and restores the 0019 routines."""
from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0024.first-load-without-lookups"}

DAY_ROWS = """
CREATE TABLE mart.f_daily_customer_item (
    date_id         integer        NOT NULL,
    customer_id     integer        NOT NULL,
    item_id         integer        NOT NULL,
    shipped_orders  bigint         NOT NULL,
    shipped_revenue numeric(14, 2) NOT NULL,
    refunded_orders bigint         NOT NULL,
    CONSTRAINT f_daily_customer_item_pkey PRIMARY KEY (date_id, customer_id, item_id),
    CONSTRAINT f_daily_customer_item_orders_check
        CHECK (shipped_orders >= 0 AND refunded_orders >= 0 AND shipped_orders + refunded_orders > 0)
);
ALTER TABLE mart.f_daily_customer_item OWNER TO salesmart_owner;
GRANT SELECT ON mart.f_daily_customer_item TO salesmart_reader;
COMMENT ON TABLE mart.f_daily_customer_item IS
    'one row per day, customer and item with orders in mart.f_sales: the shipped and refunded orders, rebuilt '
    'with the day by mart.load_f_sales; what the retention of a week or month sums instead of every order';
COMMENT ON COLUMN mart.f_daily_customer_item.date_id IS 'the day as YYYYMMDD (mart.d_calendar), as in mart.f_sales';
COMMENT ON COLUMN mart.f_daily_customer_item.customer_id IS 'the customer (mart.d_customer)';
COMMENT ON COLUMN mart.f_daily_customer_item.item_id IS 'the item (mart.d_item)';
COMMENT ON COLUMN mart.f_daily_customer_item.shipped_orders IS 'the customer''s shipped orders of the item that day';
COMMENT ON COLUMN mart.f_daily_customer_item.shipped_revenue IS
    'their payment_amount summed (0 without shipped orders)';
COMMENT ON COLUMN mart.f_daily_customer_item.refunded_orders IS 'the customer''s refunded orders of the item that day';
INSERT INTO mart.f_daily_customer_item (date_id, customer_id, item_id, shipped_orders, shipped_revenue,
                                        refunded_orders)
SELECT f.date_id, f.customer_id, f.item_id, count(*) FILTER (WHERE f.status = 'shipped'),
       coalesce(sum(f.payment_amount) FILTER (WHERE f.status = 'shipped'), 0),
       count(*) FILTER (WHERE f.status = 'refunded')
FROM mart.f_sales AS f
GROUP BY f.date_id, f.customer_id, f.item_id;

CREATE TABLE mart.f_period_customer_item (
    period_name     varchar(10)    NOT NULL,
    period_id       integer        NOT NULL,
    customer_id     integer        NOT NULL,
    item_id         integer        NOT NULL,
    shipped_orders  bigint         NOT NULL,
    shipped_revenue numeric(14, 2) NOT NULL,
    refunded_orders bigint         NOT NULL,
    CONSTRAINT f_period_customer_item_pkey PRIMARY KEY (period_name, period_id, customer_id, item_id),
    CONSTRAINT f_period_customer_item_period_name_check CHECK (period_name IN ('weekly', 'monthly'))
);
ALTER TABLE mart.f_period_customer_item OWNER TO salesmart_owner;
GRANT SELECT ON mart.f_period_customer_item TO salesmart_reader;
COMMENT ON TABLE mart.f_period_customer_item IS
    'one row per period (ISO week, calendar month), customer and item with orders in it: the sums of '
    'mart.f_daily_customer_item over the period''s days, kept by mart.load_f_sales day by day; what the '
    'period''s retention is computed from';
COMMENT ON COLUMN mart.f_period_customer_item.period_name IS 'weekly (an ISO week) or monthly (a calendar month)';
COMMENT ON COLUMN mart.f_period_customer_item.period_id IS
    'the period as in mart.f_customer_retention: ISO year * 100 + week, or year * 100 + month';
COMMENT ON COLUMN mart.f_period_customer_item.customer_id IS 'the customer (mart.d_customer)';
COMMENT ON COLUMN mart.f_period_customer_item.item_id IS 'the item (mart.d_item)';
COMMENT ON COLUMN mart.f_period_customer_item.shipped_orders IS
    'the customer''s shipped orders of the item in the period';
COMMENT ON COLUMN mart.f_period_customer_item.shipped_revenue IS
    'their payment_amount summed (0 without shipped orders)';
COMMENT ON COLUMN mart.f_period_customer_item.refunded_orders IS
    'the customer''s refunded orders of the item in the period';
INSERT INTO mart.f_period_customer_item (period_name, period_id, customer_id, item_id, shipped_orders,
                                         shipped_revenue, refunded_orders)
SELECT periods.period_name, periods.period_id, d.customer_id, d.item_id, sum(d.shipped_orders),
       sum(d.shipped_revenue), sum(d.refunded_orders)
FROM mart.f_daily_customer_item AS d
CROSS JOIN LATERAL (SELECT to_date(d.date_id::text, 'YYYYMMDD') AS day) AS c
CROSS JOIN LATERAL (VALUES ('weekly', to_char(c.day, 'IYYYIW')::integer),
                           ('monthly', to_char(c.day, 'YYYYMM')::integer)) AS periods(period_name, period_id)
GROUP BY periods.period_name, periods.period_id, d.customer_id, d.item_id;
"""

step(DAY_ROWS, "DROP TABLE mart.f_period_customer_item; DROP TABLE mart.f_daily_customer_item")

routines.deploy_routines(__file__, [
    "mart.load_f_daily_sales",
    "mart.rebuild_retention_period",
    "mart.load_f_customer_retention",
    "mart.load_f_customer_retention_monthly",
])
