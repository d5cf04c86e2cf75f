-- Dropping the schemas drops every order, fact and dimension: refused while
-- any is there (the calendar does not count: it is rebuilt by the baseline).
DO $$
BEGIN
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') <> 'on' AND (
        EXISTS (SELECT FROM staging.user_order_log) OR EXISTS (SELECT FROM staging.user_activity_log)
        OR EXISTS (SELECT FROM staging.customer_research) OR EXISTS (SELECT FROM staging.price_log)
        OR EXISTS (SELECT FROM mart.f_sales) OR EXISTS (SELECT FROM mart.d_customer)
        OR EXISTS (SELECT FROM mart.d_item) OR EXISTS (SELECT FROM mart.d_city))
    THEN
        RAISE EXCEPTION 'rolling back 0001.legacy-baseline would drop the data in staging and mart'
            USING HINT = 'to drop it anyway: PGOPTIONS=''-c salesmart.allow_data_loss=on'' yoyo rollback ...';
    END IF;
END;
$$;
DROP SCHEMA mart CASCADE;
DROP SCHEMA staging CASCADE;
