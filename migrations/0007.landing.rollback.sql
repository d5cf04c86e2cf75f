-- Rows in landing are a file \copied by hand and not merged yet: refused
-- while there are any.
DO $$
BEGIN
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') <> 'on' AND (
        EXISTS (SELECT FROM landing.user_order_log) OR EXISTS (SELECT FROM landing.user_activity_log)
        OR EXISTS (SELECT FROM landing.customer_research) OR EXISTS (SELECT FROM landing.price_log))
    THEN
        RAISE EXCEPTION 'rolling back 0007.landing would drop files copied into landing and not merged yet'
            USING HINT = 'merge or delete them first, or to drop them anyway: '
                         'PGOPTIONS=''-c salesmart.allow_data_loss=on'' yoyo rollback ...';
    END IF;
END;
$$;
DROP SCHEMA landing CASCADE;
