-- One row per order of mart.f_sales for analysts: its date and ISO week,
-- and the names of its item, customer and city instead of their ids. Net
-- columns: a refund is negative, so SUM gives net units and revenue.
CREATE VIEW reporting.sales AS
SELECT f.id AS sale_id, f.uniq_id, c.date_actual AS order_date, f.date_id,
       c.iso_year, c.iso_week, c.iso_year * 100 + c.iso_week AS period_id,
       c.first_day_of_week AS week_start, c.last_day_of_week AS week_end,
       f.item_id, i.item_name, f.customer_id, cu.first_name, cu.last_name,
       f.city_id, ci.city_name, f.status,
       f.quantity AS net_quantity, f.payment_amount AS net_amount
FROM mart.f_sales AS f
JOIN mart.d_calendar AS c ON c.date_id = f.date_id
JOIN mart.d_item AS i ON i.item_id = f.item_id
JOIN mart.d_customer AS cu ON cu.customer_id = f.customer_id
LEFT JOIN mart.d_city AS ci ON ci.city_id = f.city_id;

COMMENT ON VIEW reporting.sales IS
    'one row per order of mart.f_sales with its date, ISO week, item, customer and city names';
COMMENT ON COLUMN reporting.sales.sale_id IS 'mart.f_sales.id';
COMMENT ON COLUMN reporting.sales.uniq_id IS 'the order; NULL on rows loaded before orders were keyed';
COMMENT ON COLUMN reporting.sales.order_date IS 'order date';
COMMENT ON COLUMN reporting.sales.date_id IS 'order date as YYYYMMDD (mart.d_calendar)';
COMMENT ON COLUMN reporting.sales.iso_year IS 'ISO year of the order''s week';
COMMENT ON COLUMN reporting.sales.iso_week IS 'ISO week number of the order';
COMMENT ON COLUMN reporting.sales.period_id IS 'iso_year * 100 + iso_week, as in mart.f_customer_retention';
COMMENT ON COLUMN reporting.sales.week_start IS 'Monday of the order''s week';
COMMENT ON COLUMN reporting.sales.week_end IS 'Sunday of the order''s week';
COMMENT ON COLUMN reporting.sales.item_id IS 'the item';
COMMENT ON COLUMN reporting.sales.item_name IS 'item name (SCD1: its latest)';
COMMENT ON COLUMN reporting.sales.customer_id IS 'the customer';
COMMENT ON COLUMN reporting.sales.first_name IS 'customer''s first name (SCD1: their latest)';
COMMENT ON COLUMN reporting.sales.last_name IS 'customer''s last name (SCD1: their latest)';
COMMENT ON COLUMN reporting.sales.city_id IS 'city of this order';
COMMENT ON COLUMN reporting.sales.city_name IS 'name of the city of this order';
COMMENT ON COLUMN reporting.sales.status IS 'shipped or refunded';
COMMENT ON COLUMN reporting.sales.net_quantity IS 'units; negative for a refund, so SUM gives net units';
COMMENT ON COLUMN reporting.sales.net_amount IS 'amount paid; negative for a refund, so SUM gives net revenue';
