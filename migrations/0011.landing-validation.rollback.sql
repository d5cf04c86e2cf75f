ALTER TABLE landing.price_log
    DROP CONSTRAINT price_log_item_name_not_empty,
    DROP CONSTRAINT price_log_price_not_nan;

ALTER TABLE landing.customer_research
    DROP CONSTRAINT customer_research_sales_amt_not_nan;

ALTER TABLE landing.user_activity_log
    DROP CONSTRAINT user_activity_log_uniq_id_not_empty;

ALTER TABLE landing.user_order_log
    DROP CONSTRAINT user_order_log_uniq_id_not_empty,
    DROP CONSTRAINT user_order_log_city_name_not_empty,
    DROP CONSTRAINT user_order_log_first_name_not_empty,
    DROP CONSTRAINT user_order_log_last_name_not_empty,
    DROP CONSTRAINT user_order_log_item_name_not_empty,
    DROP CONSTRAINT user_order_log_payment_amount_not_nan;
