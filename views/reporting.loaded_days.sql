-- The loaded business days: those the load log knows were delivered by a
-- successful order file load (an empty one too), and those holding orders
-- (loaded before the load log existed, or orders of another day's file).
CREATE VIEW reporting.loaded_days AS
WITH delivered AS (
    SELECT DISTINCT g.day::date AS business_day
    FROM staging.load_log AS l
    CROSS JOIN LATERAL generate_series(l.date_from::timestamp, l.date_to::timestamp, interval '1 day') AS g(day)
    WHERE l.file_kind = 'user_order_log' AND l.status = 'success'
), with_orders AS (
    SELECT make_date(s.date_id / 10000, s.date_id / 100 % 100, s.date_id % 100) AS business_day
    FROM mart.f_daily_sales AS s
)
SELECT coalesce(d.business_day, o.business_day) AS business_day,
       d.business_day IS NOT NULL AS delivered,
       o.business_day IS NOT NULL AS has_orders
FROM delivered AS d
FULL JOIN with_orders AS o ON o.business_day = d.business_day;

COMMENT ON VIEW reporting.loaded_days IS
    'one row per loaded business day: delivered by a successful order file load (an empty one too), or holding '
    'orders';
COMMENT ON COLUMN reporting.loaded_days.business_day IS 'the day';
COMMENT ON COLUMN reporting.loaded_days.delivered IS
    'a successful load of an order file delivered the day (staging.load_log)';
COMMENT ON COLUMN reporting.loaded_days.has_orders IS 'mart.f_sales holds orders of the day';
