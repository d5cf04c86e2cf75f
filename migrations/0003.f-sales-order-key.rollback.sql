DROP INDEX staging.user_order_log_city_latest_idx;
DROP INDEX staging.user_order_log_item_latest_idx;
DROP INDEX staging.user_order_log_customer_latest_idx;
DROP INDEX staging.user_order_log_date_time_idx;
DROP INDEX mart.f_sales_customer_id_idx;
DROP INDEX mart.f_sales_date_id_idx;
ALTER TABLE mart.f_sales DROP COLUMN uniq_id;
