-- A customer counts once per month here, whatever the items, as
-- weekly_retention_totals does for weeks.
CREATE VIEW reporting.monthly_retention_totals AS
WITH customer_months AS (
    SELECT make_date(f.date_id / 10000, f.date_id / 100 % 100, 1) AS month_start, f.customer_id,
           count(*) FILTER (WHERE f.status = 'shipped') AS shipped_orders,
           sum(f.payment_amount) FILTER (WHERE f.status = 'shipped') AS shipped_amount,
           count(*) FILTER (WHERE f.status = 'refunded') AS refunded_orders,
           -sum(f.payment_amount) FILTER (WHERE f.status = 'refunded') AS refunded_amount
    FROM mart.f_sales AS f
    -- 1: the month, computed once in the select list
    GROUP BY 1, f.customer_id  -- noqa: AM06
)
SELECT 'monthly'::varchar(10) AS period_name,
       (extract(year FROM cm.month_start) * 100 + extract(month FROM cm.month_start))::integer AS period_id,
       extract(year FROM cm.month_start)::integer AS year, extract(month FROM cm.month_start)::integer AS month,
       cm.month_start, (cm.month_start + interval '1 month - 1 day')::date AS month_end,
       extract(day FROM cm.month_start + interval '1 month - 1 day')::integer AS days_in_month,
       count(*) FILTER (WHERE cm.shipped_orders = 1) AS new_customers_count,
       count(*) FILTER (WHERE cm.shipped_orders >= 2) AS returning_customers_count,
       count(*) FILTER (WHERE cm.refunded_orders > 0) AS refunded_customer_count,
       coalesce(sum(cm.shipped_amount) FILTER (WHERE cm.shipped_orders = 1), 0)::numeric(14, 2)
           AS new_customers_revenue,
       coalesce(sum(cm.shipped_amount) FILTER (WHERE cm.shipped_orders >= 2), 0)::numeric(14, 2)
           AS returning_customers_revenue,
       sum(cm.refunded_orders)::bigint AS customers_refunded,
       coalesce(sum(cm.refunded_amount), 0)::numeric(14, 2) AS refunded_amount,
       d.days_loaded
FROM customer_months AS cm
JOIN reporting.month_days_loaded AS d ON d.month_start = cm.month_start
GROUP BY cm.month_start, d.days_loaded;

COMMENT ON VIEW reporting.monthly_retention_totals IS
    'one row per calendar month: distinct new, returning and refunding customers across all items (not the sum '
    'of the per-item counts, which counts a customer once per item)';
COMMENT ON COLUMN reporting.monthly_retention_totals.period_name IS 'monthly';
COMMENT ON COLUMN reporting.monthly_retention_totals.period_id IS 'year * 100 + month, e.g. 202412';
COMMENT ON COLUMN reporting.monthly_retention_totals.year IS 'calendar year';
COMMENT ON COLUMN reporting.monthly_retention_totals.month IS 'calendar month 1 .. 12';
COMMENT ON COLUMN reporting.monthly_retention_totals.month_start IS 'the 1st of the month';
COMMENT ON COLUMN reporting.monthly_retention_totals.month_end IS 'the last day of the month';
COMMENT ON COLUMN reporting.monthly_retention_totals.days_in_month IS '28 .. 31';
COMMENT ON COLUMN reporting.monthly_retention_totals.days_loaded IS
    'days of the month loaded (reporting.month_days_loaded): fewer than days_in_month: a partial month';
COMMENT ON COLUMN reporting.monthly_retention_totals.new_customers_count IS
    'distinct customers with exactly one shipped order in the month';
COMMENT ON COLUMN reporting.monthly_retention_totals.returning_customers_count IS
    'distinct customers with two or more shipped orders in the month';
COMMENT ON COLUMN reporting.monthly_retention_totals.refunded_customer_count IS
    'customers with a refunded order in the month';
COMMENT ON COLUMN reporting.monthly_retention_totals.new_customers_revenue IS
    'amount of the shipped orders of new customers';
COMMENT ON COLUMN reporting.monthly_retention_totals.returning_customers_revenue IS
    'amount of the shipped orders of returning customers';
COMMENT ON COLUMN reporting.monthly_retention_totals.customers_refunded IS 'refunded orders in the month';
COMMENT ON COLUMN reporting.monthly_retention_totals.refunded_amount IS
    'amount of the refunded orders in the month, positive';
