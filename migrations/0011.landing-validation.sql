-- Landing checks the file rules itself (docs/rules.md, bad input): the loader
-- streams the file's bytes and lets COPY refuse bad values (types, ranges and
-- lengths by the column types, the rules below by CHECK constraints); the
-- loader names the file, line and column from COPY's error context and these
-- constraint names. Unquoted empty fields already arrive as NULL and meet NOT
-- NULL; these catch a quoted "" in a hand \copy, and 'NaN', which numeric
-- takes and >= 0 passes.
-- depends: 0010.reliable-loads

ALTER TABLE landing.user_order_log
    ADD CONSTRAINT user_order_log_uniq_id_not_empty CHECK (uniq_id <> ''),
    ADD CONSTRAINT user_order_log_city_name_not_empty CHECK (city_name <> ''),
    ADD CONSTRAINT user_order_log_first_name_not_empty CHECK (first_name <> ''),
    ADD CONSTRAINT user_order_log_last_name_not_empty CHECK (last_name <> ''),
    ADD CONSTRAINT user_order_log_item_name_not_empty CHECK (item_name <> ''),
    ADD CONSTRAINT user_order_log_payment_amount_not_nan CHECK (payment_amount <> 'NaN');
COMMENT ON CONSTRAINT user_order_log_uniq_id_not_empty ON landing.user_order_log IS 'an order needs its uniq_id';
COMMENT ON CONSTRAINT user_order_log_city_name_not_empty ON landing.user_order_log IS 'a city needs a name';
COMMENT ON CONSTRAINT user_order_log_first_name_not_empty ON landing.user_order_log IS 'a customer needs a first name';
COMMENT ON CONSTRAINT user_order_log_last_name_not_empty ON landing.user_order_log IS 'a customer needs a last name';
COMMENT ON CONSTRAINT user_order_log_item_name_not_empty ON landing.user_order_log IS 'an item needs a name';
COMMENT ON CONSTRAINT user_order_log_payment_amount_not_nan ON landing.user_order_log IS
    'an amount is a number, not NaN';

ALTER TABLE landing.user_activity_log
    ADD CONSTRAINT user_activity_log_uniq_id_not_empty CHECK (uniq_id <> '');
COMMENT ON CONSTRAINT user_activity_log_uniq_id_not_empty ON landing.user_activity_log IS
    'an activity needs its uniq_id';

ALTER TABLE landing.customer_research
    ADD CONSTRAINT customer_research_sales_amt_not_nan CHECK (sales_amt <> 'NaN');
COMMENT ON CONSTRAINT customer_research_sales_amt_not_nan ON landing.customer_research IS
    'an amount is a number, not NaN';

ALTER TABLE landing.price_log
    ADD CONSTRAINT price_log_item_name_not_empty CHECK (item_name <> ''),
    ADD CONSTRAINT price_log_price_not_nan CHECK (price <> 'NaN');
COMMENT ON CONSTRAINT price_log_item_name_not_empty ON landing.price_log IS 'a price needs its item';
COMMENT ON CONSTRAINT price_log_price_not_nan ON landing.price_log IS 'a price is a number, not NaN';
