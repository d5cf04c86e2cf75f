-- Recomputes day p_date's rows of the day tables from that day's rows of
-- mart.f_sales (one index range of the day, read once into one row per
-- customer, item and city): mart.f_daily_sales, the day's totals (its
-- orders, refunds, distinct customers, net revenue and the items and cities
-- it has orders of), and mart.f_daily_customer_item, the day's shipped
-- orders, their revenue and refunded orders per customer and item; no rows
-- for a day without orders. The sums of the day's ISO week and month per
-- customer and item, mart.f_period_customer_item, follow: the day's old rows
-- are taken out of them and its new rows added, so a period's sums cost a
-- day's rows, whatever the period holds already. mart.load_f_sales calls it
-- for the day it loads and for every day whose orders it re-dated away, so
-- the tables always agree with f_sales, whatever the order of the loads.
-- reporting.day_quality reads f_daily_sales, the retention of a week or
-- month the period sums: a row per day, or per customer and item, instead
-- of every order.
CREATE OR REPLACE PROCEDURE mart.load_f_daily_sales(p_date date)
LANGUAGE plpgsql
AS $$
DECLARE
    v_date_id  integer := to_char(p_date, 'YYYYMMDD')::integer;
    v_week_id  integer := to_char(p_date, 'IYYYIW')::integer;
    v_month_id integer := to_char(p_date, 'YYYYMM')::integer;
    v_gone_customers integer[];
    v_gone_items     integer[];
BEGIN
    CALL staging.lock_warehouse();

    DELETE FROM mart.f_daily_sales AS d
    WHERE d.date_id = v_date_id;
    WITH gone AS (
        DELETE FROM mart.f_daily_customer_item AS d
        WHERE d.date_id = v_date_id
        RETURNING d.customer_id, d.item_id, d.shipped_orders, d.shipped_revenue, d.refunded_orders
    ), taken_out AS (
        INSERT INTO mart.f_period_customer_item AS p (
            period_name, period_id, customer_id, item_id, shipped_orders, shipped_revenue, refunded_orders)
        SELECT periods.period_name, periods.period_id, g.customer_id, g.item_id,
               -g.shipped_orders, -g.shipped_revenue, -g.refunded_orders
        FROM gone AS g
        CROSS JOIN (VALUES ('weekly', v_week_id), ('monthly', v_month_id)) AS periods(period_name, period_id)
        ON CONFLICT (period_name, period_id, customer_id, item_id) DO UPDATE
        SET shipped_orders = p.shipped_orders + excluded.shipped_orders,
            shipped_revenue = p.shipped_revenue + excluded.shipped_revenue,
            refunded_orders = p.refunded_orders + excluded.refunded_orders
    )
    SELECT array_agg(g.customer_id), array_agg(g.item_id)
    INTO v_gone_customers, v_gone_items
    FROM gone AS g;

    WITH customer_items AS (
        SELECT f.customer_id, f.item_id, f.city_id,
               count(*) FILTER (WHERE f.status = 'shipped') AS shipped_orders,
               coalesce(sum(f.payment_amount) FILTER (WHERE f.status = 'shipped'), 0) AS shipped_revenue,
               count(*) FILTER (WHERE f.status = 'refunded') AS refunded_orders,
               sum(f.payment_amount) AS net_revenue
        FROM mart.f_sales AS f
        WHERE f.date_id = v_date_id
        GROUP BY f.customer_id, f.item_id, f.city_id
    ), came AS (
        INSERT INTO mart.f_daily_customer_item (date_id, customer_id, item_id, shipped_orders, shipped_revenue,
                                                refunded_orders)
        SELECT v_date_id, ci.customer_id, ci.item_id, sum(ci.shipped_orders), sum(ci.shipped_revenue),
               sum(ci.refunded_orders)
        FROM customer_items AS ci
        GROUP BY ci.customer_id, ci.item_id
        RETURNING customer_id, item_id, shipped_orders, shipped_revenue, refunded_orders
    ), period_sums AS (
        INSERT INTO mart.f_period_customer_item AS p (
            period_name, period_id, customer_id, item_id, shipped_orders, shipped_revenue, refunded_orders)
        SELECT periods.period_name, periods.period_id, c.customer_id, c.item_id,
               c.shipped_orders, c.shipped_revenue, c.refunded_orders
        FROM came AS c
        CROSS JOIN (VALUES ('weekly', v_week_id), ('monthly', v_month_id)) AS periods(period_name, period_id)
        ON CONFLICT (period_name, period_id, customer_id, item_id) DO UPDATE
        SET shipped_orders = p.shipped_orders + excluded.shipped_orders,
            shipped_revenue = p.shipped_revenue + excluded.shipped_revenue,
            refunded_orders = p.refunded_orders + excluded.refunded_orders
    )
    INSERT INTO mart.f_daily_sales (date_id, orders, refunded_orders, customers, net_revenue, item_ids, city_ids)
    SELECT v_date_id, sum(ci.shipped_orders + ci.refunded_orders), sum(ci.refunded_orders),
           count(DISTINCT ci.customer_id), coalesce(sum(ci.net_revenue), 0),
           array_agg(DISTINCT ci.item_id ORDER BY ci.item_id),
           array_agg(DISTINCT ci.city_id ORDER BY ci.city_id)
    FROM customer_items AS ci
    HAVING count(*) > 0;

    -- A customer and item left without orders in the period has no row there.
    -- Only a key the day had before can be left so: those are probed, not
    -- every row of the week and the month (a month of big days holds
    -- millions).
    IF v_gone_customers IS NOT NULL THEN
        DELETE FROM mart.f_period_customer_item AS p
        USING unnest(v_gone_customers, v_gone_items) AS g(customer_id, item_id)
        CROSS JOIN (VALUES ('weekly', v_week_id), ('monthly', v_month_id)) AS periods(period_name, period_id)
        WHERE p.period_name = periods.period_name AND p.period_id = periods.period_id
          AND p.customer_id = g.customer_id AND p.item_id = g.item_id
          AND p.shipped_orders = 0 AND p.refunded_orders = 0;
    END IF;
END;
$$;

COMMENT ON PROCEDURE mart.load_f_daily_sales(date) IS
    'Internal, called by mart.load_f_sales; a DBA calls mart.load_f_sales instead. Recomputes the day''s '
    'rows of mart.f_daily_sales and mart.f_daily_customer_item from mart.f_sales, and the sums of its week '
    'and month in mart.f_period_customer_item.';
