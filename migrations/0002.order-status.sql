-- Orders carry a status now that the store has refunds; every order before
-- this release was shipped.
-- depends: 0001.legacy-baseline

ALTER TABLE staging.user_order_log
    ADD COLUMN status varchar(10) NOT NULL DEFAULT 'shipped',
    ADD CONSTRAINT user_order_log_status_check CHECK (status IN ('shipped', 'refunded'));

ALTER TABLE mart.f_sales
    ADD COLUMN status varchar(10) NOT NULL DEFAULT 'shipped',
    ADD CONSTRAINT f_sales_status_check CHECK (status IN ('shipped', 'refunded'));

COMMENT ON COLUMN mart.f_sales.status IS 'shipped, or refunded: then quantity and payment_amount are negated';
