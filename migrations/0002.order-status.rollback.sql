-- Without the status column a refund reads as a shipped order (with a
-- negative amount in f_sales): refused while any refund is stored.
DO $$
BEGIN
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') <> 'on' AND (
        EXISTS (SELECT FROM staging.user_order_log WHERE status = 'refunded')
        OR EXISTS (SELECT FROM mart.f_sales WHERE status = 'refunded'))
    THEN
        RAISE EXCEPTION 'rolling back 0002.order-status would turn the stored refunds into shipped orders'
            USING HINT = 'delete the refunded orders first, or to falsify them anyway: '
                         'PGOPTIONS=''-c salesmart.allow_data_loss=on'' yoyo rollback ...';
    END IF;
END;
$$;
ALTER TABLE staging.user_order_log DROP COLUMN status;
ALTER TABLE mart.f_sales DROP COLUMN status;
