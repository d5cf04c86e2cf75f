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

COMMENT ON VIEW reporting.weekly_retention_totals IS
    'one row per ISO week: distinct new, returning and refunding customers across all items (not the sum of the '
    'per-item counts, which counts a customer once per item)';
COMMENT ON COLUMN reporting.weekly_retention_totals.period_name IS 'weekly';
COMMENT ON COLUMN reporting.weekly_retention_totals.period_id IS 'ISO year * 100 + ISO week, e.g. 202249';
COMMENT ON COLUMN reporting.weekly_retention_totals.iso_year IS 'ISO year of the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.iso_week IS 'ISO week number';
COMMENT ON COLUMN reporting.weekly_retention_totals.week_start IS 'Monday of the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.week_end IS 'Sunday of the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.refunded_customer_count IS
    'customers with a refunded order in the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.customers_refunded IS 'refunded orders in the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.refunded_amount IS
    'amount of the refunded orders in the week, positive';
COMMENT ON COLUMN reporting.weekly_retention_totals.days_loaded IS
    'days of the week (0 .. 7) loaded (see reporting.week_days_loaded): fewer than 7 is a partial week';
COMMENT ON COLUMN reporting.weekly_retention_totals.new_customers_count IS
    'distinct customers with exactly one shipped order in the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.returning_customers_count IS
    'distinct customers with two or more shipped orders in the week';
COMMENT ON COLUMN reporting.weekly_retention_totals.new_customers_revenue IS
    'amount of the shipped orders of new customers';
COMMENT ON COLUMN reporting.weekly_retention_totals.returning_customers_revenue IS
    'amount of the shipped orders of returning customers';
