-- The load log is the only record of past loads: refused while it has any.
DO $$
BEGIN
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') <> 'on'
       AND EXISTS (SELECT FROM staging.load_log) THEN
        RAISE EXCEPTION 'rolling back 0006.load-log would drop the record of past loads (staging.load_log)'
            USING HINT = 'to drop it anyway: PGOPTIONS=''-c salesmart.allow_data_loss=on'' yoyo rollback ...';
    END IF;
END;
$$;
DROP TABLE staging.load_log;
