-- Recomputes day p_date's row of mart.f_daily_sales from that day's rows of
-- mart.f_sales (one index range of the day): its orders, refunds, distinct
-- customers, net revenue and the items and cities it has orders of; no row
-- for a day without orders. mart.load_f_sales calls it for the day it loads
-- and for every day whose orders it re-dated away, so the table always
-- agrees with f_sales, whatever the order of the loads; reporting.day_quality
-- reads it, one row per day instead of every order.
CREATE OR REPLACE PROCEDURE mart.load_f_daily_sales(p_date date)
LANGUAGE plpgsql
AS $$
DECLARE
    v_date_id integer := to_char(p_date, 'YYYYMMDD')::integer;
BEGIN
    CALL staging.lock_warehouse();

    DELETE FROM mart.f_daily_sales AS d
    WHERE d.date_id = v_date_id;

    INSERT INTO mart.f_daily_sales (date_id, orders, refunded_orders, customers, net_revenue, item_ids, city_ids)
    SELECT v_date_id, count(*), count(*) FILTER (WHERE f.status = 'refunded'), count(DISTINCT f.customer_id),
           coalesce(sum(f.payment_amount), 0),
           array_agg(DISTINCT f.item_id ORDER BY f.item_id),
           array_agg(DISTINCT f.city_id ORDER BY f.city_id)
    FROM mart.f_sales AS f
    WHERE f.date_id = v_date_id
    HAVING count(*) > 0;
END;
$$;

COMMENT ON PROCEDURE mart.load_f_daily_sales(date) IS
    'Internal, called by mart.load_f_sales; a DBA calls mart.load_f_sales instead. Recomputes the day''s '
    'row of mart.f_daily_sales from mart.f_sales.';
