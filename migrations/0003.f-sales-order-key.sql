-- f_sales learns which order each row is, so a day reload updates rows in
-- place (stable ids, no churn) instead of deleting and re-inserting them;
-- legacy rows keep a NULL uniq_id. The date indexes make per-day work cheap.
-- depends: 0002.order-status

ALTER TABLE mart.f_sales
    ADD COLUMN uniq_id varchar(32),
    ADD CONSTRAINT f_sales_uniq_id_key UNIQUE (uniq_id);
COMMENT ON COLUMN mart.f_sales.uniq_id IS
    'the order (staging.user_order_log.uniq_id); NULL on rows loaded before this column existed';

CREATE INDEX f_sales_date_id_idx ON mart.f_sales (date_id);
-- A customer's orders: for analysts, and to tell whether a customer has any left.
CREATE INDEX f_sales_customer_id_idx ON mart.f_sales (customer_id);
CREATE INDEX user_order_log_date_time_idx ON staging.user_order_log (date_time);
-- Dimensions take the values of an entity's latest order: a backward scan of
-- these finds it without reading the entity's whole history.
CREATE INDEX user_order_log_customer_latest_idx ON staging.user_order_log (customer_id, date_time, uniq_id);
CREATE INDEX user_order_log_item_latest_idx ON staging.user_order_log (item_id, date_time, uniq_id);
CREATE INDEX user_order_log_city_latest_idx ON staging.user_order_log (city_id, date_time, uniq_id);
