ALTER TABLE staging.user_order_log DROP COLUMN status;
ALTER TABLE mart.f_sales DROP COLUMN status;
