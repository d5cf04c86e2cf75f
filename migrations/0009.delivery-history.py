"""Staging remembers each row's delivery day: a history table per
dated file holds every delivery's rows, and the staging tables BI reads keep
the current version of each key, the one from the latest delivery. Existing
staging rows become the delivery of their own date (the legacy upgrade)."""

from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0008.routines"}

# The history tables have the columns of the staging tables (LIKE), plus the delivery day.
step("""
CREATE TABLE staging.user_order_log_delivery (
    delivery_day date NOT NULL,
    LIKE staging.user_order_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    CONSTRAINT user_order_log_delivery_pkey PRIMARY KEY (uniq_id, delivery_day)
);
CREATE INDEX user_order_log_delivery_delivery_day_idx ON staging.user_order_log_delivery (delivery_day);
COMMENT ON TABLE staging.user_order_log_delivery IS
    'every delivery''s orders, one row per order (uniq_id) and delivery; '
    'staging.user_order_log holds the current version of each';
COMMENT ON COLUMN staging.user_order_log_delivery.delivery_day IS
    'the business day whose delivery brought the row: an increment''s day, '
    'or the row''s own date within a report''s range';
INSERT INTO staging.user_order_log_delivery (
    delivery_day, uniq_id, date_time, city_id, city_name, customer_id, first_name, last_name,
    item_id, item_name, quantity, payment_amount, status)
SELECT date_time::date, uniq_id, date_time, city_id, city_name, customer_id, first_name, last_name,
       item_id, item_name, quantity, payment_amount, status
FROM staging.user_order_log;

CREATE TABLE staging.user_activity_log_delivery (
    delivery_day date NOT NULL,
    LIKE staging.user_activity_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    CONSTRAINT user_activity_log_delivery_pkey PRIMARY KEY (uniq_id, delivery_day)
);
CREATE INDEX user_activity_log_delivery_delivery_day_idx ON staging.user_activity_log_delivery (delivery_day);
COMMENT ON TABLE staging.user_activity_log_delivery IS
    'every delivery''s activities, one row per activity (uniq_id) and delivery; '
    'staging.user_activity_log holds the current version of each';
COMMENT ON COLUMN staging.user_activity_log_delivery.delivery_day IS
    'the business day whose delivery brought the row: an increment''s day, '
    'or the row''s own date within a report''s range';
INSERT INTO staging.user_activity_log_delivery (delivery_day, uniq_id, date_time, action_id, customer_id, quantity)
SELECT date_time::date, uniq_id, date_time, action_id, customer_id, quantity
FROM staging.user_activity_log;

CREATE TABLE staging.customer_research_delivery (
    delivery_day date NOT NULL,
    LIKE staging.customer_research INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    CONSTRAINT customer_research_delivery_pkey PRIMARY KEY (date_id, category_id, geo_id, delivery_day)
);
CREATE INDEX customer_research_delivery_delivery_day_idx ON staging.customer_research_delivery (delivery_day);
COMMENT ON TABLE staging.customer_research_delivery IS
    'every delivery''s research rows, one per (date_id, category_id, geo_id) and delivery; '
    'staging.customer_research holds the current version of each';
COMMENT ON COLUMN staging.customer_research_delivery.delivery_day IS
    'the business day whose delivery brought the row: an increment''s day, '
    'or the row''s own date within a report''s range';
INSERT INTO staging.customer_research_delivery (delivery_day, date_id, category_id, geo_id, sales_qty, sales_amt)
SELECT date_id::date, date_id, category_id, geo_id, sales_qty, sales_amt
FROM staging.customer_research;
""", """
-- The history holds versions the current tables do not: superseded ones, and
-- those that would become current again if a later delivery were corrected.
-- Compared column by column, by name: a legacy table may order its columns
-- its own way.
DO $$
BEGIN
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') <> 'on' AND (
        EXISTS (SELECT FROM staging.user_order_log_delivery AS h
                WHERE NOT EXISTS (SELECT FROM staging.user_order_log AS c
                                  WHERE c.uniq_id = h.uniq_id
                                    AND (c.date_time, c.city_id, c.city_name, c.customer_id, c.first_name,
                                         c.last_name, c.item_id, c.item_name, c.quantity, c.payment_amount,
                                         c.status)
                                        IS NOT DISTINCT FROM
                                        (h.date_time, h.city_id, h.city_name, h.customer_id, h.first_name,
                                         h.last_name, h.item_id, h.item_name, h.quantity, h.payment_amount,
                                         h.status)))
        OR EXISTS (SELECT FROM staging.user_activity_log_delivery AS h
                   WHERE NOT EXISTS (SELECT FROM staging.user_activity_log AS c
                                     WHERE c.uniq_id = h.uniq_id
                                       AND (c.date_time, c.action_id, c.customer_id, c.quantity)
                                           IS NOT DISTINCT FROM (h.date_time, h.action_id, h.customer_id, h.quantity)))
        OR EXISTS (SELECT FROM staging.customer_research_delivery AS h
                   WHERE NOT EXISTS (SELECT FROM staging.customer_research AS c
                                     WHERE (c.date_id, c.category_id, c.geo_id) = (h.date_id, h.category_id, h.geo_id)
                                       AND (c.sales_qty, c.sales_amt) IS NOT DISTINCT FROM (h.sales_qty, h.sales_amt))))
    THEN
        RAISE EXCEPTION 'rolling back 0009.delivery-history would drop delivered versions that are not current'
            USING HINT = 'to drop them anyway: PGOPTIONS=''-c salesmart.allow_data_loss=on'' yoyo rollback ...';
    END IF;
END;
$$;
DROP TABLE staging.customer_research_delivery;
DROP TABLE staging.user_activity_log_delivery;
DROP TABLE staging.user_order_log_delivery;
""")

routines.deploy_routines(__file__, [
    "staging.lock_warehouse",
    "staging.log_load",
    "staging.merge_delivery",
    "staging.merge_landing",
    "staging.load_user_order_log",
    "staging.load_user_activity_log",
    "staging.load_customer_research",
    "staging.load_price_log",
])
