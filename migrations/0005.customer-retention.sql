-- Customer retention per ISO week and item: new and returning customers,
-- their revenue, refunds (docs/rules.md).
-- depends: 0004.staging-keys

CREATE TABLE mart.f_customer_retention (
    period_name                 varchar(10)    NOT NULL,
    period_id                   integer        NOT NULL,
    item_id                     integer        NOT NULL,
    period_start                date           NOT NULL,
    new_customers_count         bigint         NOT NULL,
    returning_customers_count   bigint         NOT NULL,
    refunded_customer_count     bigint         NOT NULL,
    new_customers_revenue       numeric(14, 2) NOT NULL,
    returning_customers_revenue numeric(14, 2) NOT NULL,
    customers_refunded          bigint         NOT NULL,
    CONSTRAINT f_customer_retention_period_item_key UNIQUE (period_name, period_id, item_id),
    CONSTRAINT f_customer_retention_period_name_check CHECK (period_name IN ('weekly')),
    CONSTRAINT f_customer_retention_period_start_check CHECK (extract(isodow FROM period_start) = 1)
);
COMMENT ON TABLE mart.f_customer_retention IS
    'one row per period (ISO week) and item that has any order in that week';
COMMENT ON COLUMN mart.f_customer_retention.period_id IS 'ISO year * 100 + ISO week number, e.g. 202249';
COMMENT ON COLUMN mart.f_customer_retention.period_start IS 'the Monday of the week';
COMMENT ON COLUMN mart.f_customer_retention.new_customers_count IS
    'customers whose only shipped order of the week (of any item) is of this item';
COMMENT ON COLUMN mart.f_customer_retention.returning_customers_count IS
    'customers with two or more shipped orders (any item) in the week, at least one of this item';
COMMENT ON COLUMN mart.f_customer_retention.refunded_customer_count IS
    'customers with a refunded order of this item in the week';
COMMENT ON COLUMN mart.f_customer_retention.new_customers_revenue IS
    'payment_amount of the shipped orders of this item by new customers';
COMMENT ON COLUMN mart.f_customer_retention.returning_customers_revenue IS
    'payment_amount of the shipped orders of this item by returning customers';
COMMENT ON COLUMN mart.f_customer_retention.customers_refunded IS 'number of refunded orders of this item in the week';
