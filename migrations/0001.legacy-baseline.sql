-- The legacy warehouse as it stood before this release: an existing warehouse
-- is upgraded by `yoyo mark`-ing this migration and applying the rest.

CREATE SCHEMA staging;
CREATE SCHEMA mart;

CREATE TABLE staging.user_order_log (
    uniq_id        varchar(32)   NOT NULL,
    date_time      timestamp     NOT NULL,
    city_id        integer       NOT NULL,
    city_name      varchar(100),
    customer_id    integer       NOT NULL,
    first_name     varchar(100),
    last_name      varchar(100),
    item_id        integer       NOT NULL,
    item_name      varchar(100),
    quantity       bigint,
    payment_amount numeric(10, 2),
    CONSTRAINT user_order_log_pkey PRIMARY KEY (uniq_id)
);
COMMENT ON TABLE staging.user_order_log IS 'one row per order (uniq_id) of the user_order_log files';

CREATE TABLE staging.user_activity_log (
    uniq_id     varchar(32) NOT NULL,
    date_time   timestamp   NOT NULL,
    action_id   integer     NOT NULL,
    customer_id integer     NOT NULL,
    quantity    bigint
);
COMMENT ON TABLE staging.user_activity_log IS 'one row per activity line of the user_activity_log files';

CREATE TABLE staging.customer_research (
    date_id     timestamp      NOT NULL,
    category_id integer        NOT NULL,
    geo_id      integer        NOT NULL,
    sales_qty   integer,
    sales_amt   numeric(14, 2)
);
COMMENT ON TABLE staging.customer_research IS 'one row per line of the customer_research files';

CREATE TABLE staging.price_log (
    item_name varchar(100) NOT NULL,
    price     numeric(10, 2)
);
COMMENT ON TABLE staging.price_log IS 'one row per line of the latest price_log file';

CREATE TABLE mart.d_calendar (
    date_id             integer     NOT NULL,
    date_actual         date        NOT NULL,
    day_name            varchar(9)  NOT NULL,
    day_of_week         smallint    NOT NULL,
    day_of_month        smallint    NOT NULL,
    day_of_quarter      smallint    NOT NULL,
    day_of_year         smallint    NOT NULL,
    week_of_month       smallint    NOT NULL,
    week_of_year        smallint    NOT NULL,
    month_actual        smallint    NOT NULL,
    month_name          varchar(9)  NOT NULL,
    month_name_abbreviated char(3)  NOT NULL,
    quarter_actual      smallint    NOT NULL,
    quarter_name        varchar(9)  NOT NULL,
    year_actual         smallint    NOT NULL,
    first_day_of_week   date        NOT NULL,
    last_day_of_week    date        NOT NULL,
    first_day_of_month  date        NOT NULL,
    last_day_of_month   date        NOT NULL,
    first_day_of_quarter date       NOT NULL,
    last_day_of_quarter date        NOT NULL,
    first_day_of_year   date        NOT NULL,
    last_day_of_year    date        NOT NULL,
    weekend_indr        boolean     NOT NULL,
    CONSTRAINT d_calendar_pkey PRIMARY KEY (date_id),
    CONSTRAINT d_calendar_date_actual_key UNIQUE (date_actual)
);
COMMENT ON TABLE mart.d_calendar IS 'one row per calendar day; date_id = YYYYMMDD, week_of_year is the ISO week';

-- The columns by position, as an INSERT takes them: no aliases.
-- noqa: disable=AL03
INSERT INTO mart.d_calendar
SELECT to_char(d, 'YYYYMMDD')::integer,
       d,
       trim(to_char(d, 'Day')),
       extract(isodow FROM d),
       extract(day FROM d),
       d - date_trunc('quarter', d)::date + 1,
       extract(doy FROM d),
       to_char(d, 'W')::smallint,
       extract(week FROM d),
       extract(month FROM d),
       trim(to_char(d, 'Month')),
       to_char(d, 'Mon'),
       extract(quarter FROM d),
       'Q' || extract(quarter FROM d),
       extract(year FROM d),
       date_trunc('week', d)::date,
       date_trunc('week', d)::date + 6,
       date_trunc('month', d)::date,
       (date_trunc('month', d) + interval '1 month - 1 day')::date,
       date_trunc('quarter', d)::date,
       (date_trunc('quarter', d) + interval '3 months - 1 day')::date,
       date_trunc('year', d)::date,
       (date_trunc('year', d) + interval '1 year - 1 day')::date,
       extract(isodow FROM d) IN (6, 7)
FROM generate_series(date '2000-01-01', date '2099-12-31', interval '1 day') AS g(day),
     LATERAL (SELECT g.day::date) AS c(d);
-- noqa: enable=AL03

CREATE TABLE mart.d_city (
    id        serial       NOT NULL,
    city_id   integer      NOT NULL,
    city_name varchar(100),
    CONSTRAINT d_city_pkey PRIMARY KEY (id),
    CONSTRAINT d_city_city_id_key UNIQUE (city_id)
);
COMMENT ON TABLE mart.d_city IS 'one row per city (city_id)';

CREATE TABLE mart.d_item (
    id        serial       NOT NULL,
    item_id   integer      NOT NULL,
    item_name varchar(100),
    CONSTRAINT d_item_pkey PRIMARY KEY (id),
    CONSTRAINT d_item_item_id_key UNIQUE (item_id)
);
COMMENT ON TABLE mart.d_item IS 'one row per item (item_id)';

CREATE TABLE mart.d_customer (
    id          serial       NOT NULL,
    customer_id integer      NOT NULL,
    first_name  varchar(100),
    last_name   varchar(100),
    city_id     integer,
    CONSTRAINT d_customer_pkey PRIMARY KEY (id),
    CONSTRAINT d_customer_customer_id_key UNIQUE (customer_id)
);
COMMENT ON TABLE mart.d_customer IS 'one row per customer (customer_id)';

CREATE TABLE mart.f_sales (
    id             serial         NOT NULL,
    date_id        integer        NOT NULL,
    item_id        integer        NOT NULL,
    customer_id    integer        NOT NULL,
    city_id        integer        NOT NULL,
    quantity       bigint,
    payment_amount numeric(10, 2),
    CONSTRAINT f_sales_pkey PRIMARY KEY (id),
    CONSTRAINT f_sales_date_id_fkey FOREIGN KEY (date_id) REFERENCES mart.d_calendar (date_id),
    CONSTRAINT f_sales_item_id_fkey FOREIGN KEY (item_id) REFERENCES mart.d_item (item_id),
    CONSTRAINT f_sales_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES mart.d_customer (customer_id)
);
COMMENT ON TABLE mart.f_sales IS 'one row per order';
