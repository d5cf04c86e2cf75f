-- Staging keeps one row per key (SPEC 4.1). The legacy loader could leave
-- exact duplicate rows behind; those are redundant and dropped here. Rows
-- that share a key but differ make ADD CONSTRAINT fail, naming the key: a
-- DBA decides which one is right, nothing is guessed.
-- depends: 0003.f-sales-order-key

DELETE FROM staging.user_activity_log a
USING staging.user_activity_log b
WHERE a.uniq_id = b.uniq_id AND a.ctid > b.ctid AND ROW(a.*) IS NOT DISTINCT FROM ROW(b.*);
ALTER TABLE staging.user_activity_log
    ADD CONSTRAINT user_activity_log_pkey PRIMARY KEY (uniq_id);
CREATE INDEX user_activity_log_date_time_idx ON staging.user_activity_log (date_time);
COMMENT ON TABLE staging.user_activity_log IS 'one row per activity (uniq_id) of the user_activity_log files';

DELETE FROM staging.customer_research a
USING staging.customer_research b
WHERE (a.date_id, a.category_id, a.geo_id) = (b.date_id, b.category_id, b.geo_id)
  AND a.ctid > b.ctid AND ROW(a.*) IS NOT DISTINCT FROM ROW(b.*);
ALTER TABLE staging.customer_research
    ADD CONSTRAINT customer_research_pkey PRIMARY KEY (date_id, category_id, geo_id);
COMMENT ON TABLE staging.customer_research IS 'one row per day, category and geo (date_id, category_id, geo_id) of the customer_research files';

DELETE FROM staging.price_log a
USING staging.price_log b
WHERE a.item_name = b.item_name AND a.ctid > b.ctid AND ROW(a.*) IS NOT DISTINCT FROM ROW(b.*);
ALTER TABLE staging.price_log
    ADD CONSTRAINT price_log_pkey PRIMARY KEY (item_name);
COMMENT ON TABLE staging.price_log IS 'one row per item (item_name) of the latest price_log file';
