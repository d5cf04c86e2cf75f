-- How many days of each calendar month are loaded (reporting.loaded_days),
-- as week_days_loaded does for ISO weeks.
CREATE VIEW reporting.month_days_loaded AS
SELECT date_trunc('month', l.business_day::timestamp)::date AS month_start, count(*) AS days_loaded
FROM reporting.loaded_days AS l
GROUP BY 1;

COMMENT ON VIEW reporting.month_days_loaded IS
    'one row per calendar month with a loaded day: how many of its days are loaded (reporting.loaded_days)';
COMMENT ON COLUMN reporting.month_days_loaded.month_start IS 'the 1st of the month';
COMMENT ON COLUMN reporting.month_days_loaded.days_loaded IS 'days of the month (1 .. 31) that are loaded';
