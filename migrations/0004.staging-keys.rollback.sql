-- A key the legacy table had already, under a name of its own, stays.
COMMENT ON TABLE staging.price_log IS 'one row per line of the latest price_log file';
ALTER TABLE staging.price_log DROP CONSTRAINT IF EXISTS price_log_pkey;
COMMENT ON TABLE staging.customer_research IS 'one row per line of the customer_research files';
ALTER TABLE staging.customer_research DROP CONSTRAINT IF EXISTS customer_research_pkey;
COMMENT ON TABLE staging.user_activity_log IS 'one row per activity line of the user_activity_log files';
DROP INDEX staging.user_activity_log_date_time_idx;
ALTER TABLE staging.user_activity_log DROP CONSTRAINT IF EXISTS user_activity_log_pkey;
