-- The weekly rows of mart.f_customer_retention for analysts: the week's
-- dates, the item's name, what was refunded of the item that week and how
-- many days of the week are loaded (fewer than 7: the week is partial).
-- week_start is the mart's period_start, not the calendar's, so a filter on
-- it reaches the mart's rows directly.
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
LEFT JOIN reporting.week_days_loaded AS d ON d.week_start = r.period_start
WHERE r.period_name = 'weekly';

COMMENT ON VIEW reporting.weekly_retention IS
    'one row per ISO week and item (mart.f_customer_retention) with the week''s dates, the item name, the '
    'refunded amount and how many days of the week are loaded';
COMMENT ON COLUMN reporting.weekly_retention.period_name IS 'weekly';
COMMENT ON COLUMN reporting.weekly_retention.period_id IS 'ISO year * 100 + ISO week, e.g. 202249';
COMMENT ON COLUMN reporting.weekly_retention.iso_year IS 'ISO year of the week';
COMMENT ON COLUMN reporting.weekly_retention.iso_week IS 'ISO week number';
COMMENT ON COLUMN reporting.weekly_retention.week_start IS 'Monday of the week';
COMMENT ON COLUMN reporting.weekly_retention.week_end IS 'Sunday of the week';
COMMENT ON COLUMN reporting.weekly_retention.refunded_customer_count IS
    'customers with a refunded order of this item in the week';
COMMENT ON COLUMN reporting.weekly_retention.customers_refunded IS 'refunded orders of this item in the week';
COMMENT ON COLUMN reporting.weekly_retention.refunded_amount IS
    'amount of the refunded orders of this item in the week, positive';
COMMENT ON COLUMN reporting.weekly_retention.days_loaded IS
    'days of the week (0 .. 7) loaded (see reporting.week_days_loaded): fewer than 7 is a partial week';
COMMENT ON COLUMN reporting.weekly_retention.item_id IS 'the item';
COMMENT ON COLUMN reporting.weekly_retention.item_name IS 'item name (SCD1: its latest)';
COMMENT ON COLUMN reporting.weekly_retention.new_customers_count IS
    'customers whose only shipped order of the week (any item) is of this item';
COMMENT ON COLUMN reporting.weekly_retention.returning_customers_count IS
    'customers with two or more shipped orders (any item) in the week, one of this item';
COMMENT ON COLUMN reporting.weekly_retention.new_customers_revenue IS
    'amount of this item''s shipped orders by new customers';
COMMENT ON COLUMN reporting.weekly_retention.returning_customers_revenue IS
    'amount of this item''s shipped orders by returning customers';
