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

COMMENT ON VIEW reporting.week_days_loaded IS
    'one row per ISO week with a loaded day: how many of its days are loaded (delivered by a successful order '
    'file load, or holding orders)';
COMMENT ON COLUMN reporting.week_days_loaded.week_start IS 'Monday of the ISO week';
COMMENT ON COLUMN reporting.week_days_loaded.days_loaded IS
    'days of the week (1 .. 7) delivered by a successful order file load or holding orders';
