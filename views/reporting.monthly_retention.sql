-- The monthly rows of mart.f_customer_retention for analysts, as
-- weekly_retention shows the weekly ones: the month's dates, the item's
-- name, what was refunded of the item that month and how many days of the
-- month are loaded (fewer than days_in_month: the month is partial).
CREATE VIEW reporting.monthly_retention AS
WITH item_refunds AS (
    SELECT f.date_id / 100 AS period_id, f.item_id, -sum(f.payment_amount) AS refunded_amount
    FROM mart.f_sales AS f
    WHERE f.status = 'refunded'
    GROUP BY f.date_id / 100, f.item_id
)
SELECT r.period_name, r.period_id, (r.period_id / 100)::integer AS year, (r.period_id % 100)::integer AS month,
       r.period_start AS month_start, (r.period_start + interval '1 month - 1 day')::date AS month_end,
       extract(day FROM r.period_start + interval '1 month - 1 day')::integer AS days_in_month,
       r.item_id, i.item_name,
       r.new_customers_count, r.returning_customers_count, r.refunded_customer_count,
       r.new_customers_revenue, r.returning_customers_revenue, r.customers_refunded,
       coalesce(ir.refunded_amount, 0)::numeric(14, 2) AS refunded_amount,
       coalesce(d.days_loaded, 0) AS days_loaded
FROM mart.f_customer_retention AS r
LEFT JOIN mart.d_item AS i ON i.item_id = r.item_id
LEFT JOIN item_refunds AS ir ON ir.period_id = r.period_id AND ir.item_id = r.item_id
LEFT JOIN reporting.month_days_loaded AS d ON d.month_start = r.period_start
WHERE r.period_name = 'monthly';

COMMENT ON VIEW reporting.monthly_retention IS
    'one row per calendar month and item (the monthly rows of mart.f_customer_retention) with the month''s '
    'dates, the item name, the refunded amount and how many days of the month are loaded';
COMMENT ON COLUMN reporting.monthly_retention.period_name IS 'monthly';
COMMENT ON COLUMN reporting.monthly_retention.period_id IS 'year * 100 + month, e.g. 202412';
COMMENT ON COLUMN reporting.monthly_retention.year IS 'calendar year';
COMMENT ON COLUMN reporting.monthly_retention.month IS 'calendar month 1 .. 12';
COMMENT ON COLUMN reporting.monthly_retention.month_start IS 'the 1st of the month';
COMMENT ON COLUMN reporting.monthly_retention.month_end IS 'the last day of the month';
COMMENT ON COLUMN reporting.monthly_retention.days_in_month IS '28 .. 31';
COMMENT ON COLUMN reporting.monthly_retention.days_loaded IS
    'days of the month loaded (reporting.month_days_loaded): fewer than days_in_month: a partial month';
COMMENT ON COLUMN reporting.monthly_retention.item_id IS 'the item';
COMMENT ON COLUMN reporting.monthly_retention.item_name IS 'item name (SCD1: its latest)';
COMMENT ON COLUMN reporting.monthly_retention.new_customers_count IS
    'customers whose only shipped order of the month (any item) is of this item';
COMMENT ON COLUMN reporting.monthly_retention.returning_customers_count IS
    'customers with two or more shipped orders (any item) in the month, one of this item';
COMMENT ON COLUMN reporting.monthly_retention.refunded_customer_count IS
    'customers with a refunded order of this item in the month';
COMMENT ON COLUMN reporting.monthly_retention.new_customers_revenue IS
    'amount of this item''s shipped orders by new customers';
COMMENT ON COLUMN reporting.monthly_retention.returning_customers_revenue IS
    'amount of this item''s shipped orders by returning customers';
COMMENT ON COLUMN reporting.monthly_retention.customers_refunded IS 'refunded orders of this item in the month';
COMMENT ON COLUMN reporting.monthly_retention.refunded_amount IS
    'amount of the refunded orders of this item in the month, positive';
