"""Retention reads a row per day, customer and item, not every order.

The retention of a week or a month is recomputed from all its days loaded
so far, whenever one of them is loaded: read order by order, a month's last
day read the whole month (about 6M orders for days of 200k) where its first
read one day. mart.f_daily_customer_item holds, per day, customer and item,
the shipped orders, their revenue and the refunded orders; mart.load_f_sales
keeps it with mart.f_daily_sales (mart.load_f_daily_sales fills both from one
read of the day), and mart.rebuild_retention_period sums it over the period.

The upgrade fills it from the f_sales the warehouse holds; a rollback drops
it (it is derived) and restores the 0019 routines."""
import sys
from pathlib import Path

from yoyo import step

# yoyo imports a migration by its path; take the helper from this same
# checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salesmart.routines import deploy_routines

__depends__ = {"0023.first-load-without-lookups"}

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
"""

step(DAY_ROWS, "DROP TABLE mart.f_daily_customer_item")

deploy_routines(__file__, [
    "mart.load_f_daily_sales",
    "mart.rebuild_retention_period",
])
