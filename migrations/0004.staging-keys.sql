-- Staging keeps one row per key (docs/rules.md). The legacy loader could leave
-- exact duplicate rows behind; those are redundant and dropped here. Rows
-- that share a key but differ make ADD CONSTRAINT fail, naming the key: a
-- DBA decides which one is right, nothing is guessed. A legacy table that
-- has its primary key on these columns already, under a name of its own,
-- keeps it.
-- depends: 0003.f-sales-order-key

DELETE FROM staging.user_activity_log a
USING staging.user_activity_log b
WHERE a.uniq_id = b.uniq_id AND a.ctid > b.ctid AND ROW(a.*) IS NOT DISTINCT FROM ROW(b.*);
CREATE INDEX user_activity_log_date_time_idx ON staging.user_activity_log (date_time);
COMMENT ON TABLE staging.user_activity_log IS 'one row per activity (uniq_id) of the user_activity_log files';

DELETE FROM staging.customer_research a
USING staging.customer_research b
WHERE (a.date_id, a.category_id, a.geo_id) = (b.date_id, b.category_id, b.geo_id)
  AND a.ctid > b.ctid AND ROW(a.*) IS NOT DISTINCT FROM ROW(b.*);
COMMENT ON TABLE staging.customer_research IS
    'one row per day, category and geo (date_id, category_id, geo_id) of the customer_research files';

DELETE FROM staging.price_log a
USING staging.price_log b
WHERE a.item_name = b.item_name AND a.ctid > b.ctid AND ROW(a.*) IS NOT DISTINCT FROM ROW(b.*);
COMMENT ON TABLE staging.price_log IS 'one row per item (item_name) of the latest price_log file';

DO $$
DECLARE
    v_table record;
BEGIN
    FOR v_table IN
        SELECT t.name, t.key_columns
        FROM (VALUES ('user_activity_log', ARRAY['uniq_id']),
                     ('customer_research', ARRAY['date_id', 'category_id', 'geo_id']),
                     ('price_log', ARRAY['item_name'])) AS t(name, key_columns)
        WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_constraint AS k
                          WHERE k.conrelid = format('staging.%I', t.name)::regclass AND k.contype = 'p'
                            AND ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
                                      WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) ORDER BY 1)
                                = ARRAY(SELECT c FROM unnest(t.key_columns) AS c ORDER BY 1))
    LOOP
        EXECUTE format('ALTER TABLE staging.%I ADD CONSTRAINT %I PRIMARY KEY (%s)',
                       v_table.name, v_table.name || '_pkey',
                       (SELECT string_agg(format('%I', c), ', ') FROM unnest(v_table.key_columns) AS c));
    END LOOP;
END;
$$;
