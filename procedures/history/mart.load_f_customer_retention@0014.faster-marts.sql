-- Recomputes mart.f_customer_retention for the ISO week containing p_week
-- (SPEC 4.3) from the f_sales rows of that week loaded so far, replacing the
-- week's rows whole. The week's orders are read once, into one row per
-- customer and item (hashed: no sort of a week of orders, which is what
-- grew with every day of the week); a customer's shipped orders of the week
-- are then a window over those few rows, and every count is of distinct
-- customers by construction. No join: no row estimate can turn it into a
-- nested loop. The hash table holds a week's customers and items: it gets
-- the memory to do so without spilling (work_mem, for this call only).
CREATE OR REPLACE PROCEDURE mart.load_f_customer_retention(p_week date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET work_mem = '256MB'
AS $$
DECLARE
    v_week_start    date := date_trunc('week', p_week)::date;
    -- ISO year, not calendar year: 2024-12-30 belongs to week 2025-01.
    v_period_id     integer := to_char(p_week, 'IYYYIW')::integer;
    v_first_date_id integer := to_char(date_trunc('week', p_week), 'YYYYMMDD')::integer;
    v_last_date_id  integer := to_char(date_trunc('week', p_week) + interval '6 days', 'YYYYMMDD')::integer;
BEGIN
    IF p_week IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention: p_week must not be NULL';
    END IF;
    CALL staging.lock_warehouse();

    DELETE FROM mart.f_customer_retention AS r
    WHERE r.period_name = 'weekly' AND r.period_id = v_period_id;

    INSERT INTO mart.f_customer_retention (
        period_name, period_id, item_id, period_start,
        new_customers_count, returning_customers_count, refunded_customer_count,
        new_customers_revenue, returning_customers_revenue, customers_refunded)
    WITH customer_items AS (
        SELECT f.customer_id, f.item_id,
               count(*) FILTER (WHERE f.status = 'shipped') AS shipped_orders,
               sum(f.payment_amount) FILTER (WHERE f.status = 'shipped') AS shipped_revenue,
               count(*) FILTER (WHERE f.status = 'refunded') AS refunded_orders
        FROM mart.f_sales AS f
        WHERE f.date_id BETWEEN v_first_date_id AND v_last_date_id
        GROUP BY f.customer_id, f.item_id
    ), customer_weeks AS (
        SELECT ci.item_id, ci.shipped_orders, ci.shipped_revenue, ci.refunded_orders,
               sum(ci.shipped_orders) OVER (PARTITION BY ci.customer_id) AS week_shipped_orders
        FROM customer_items AS ci
    )
    SELECT 'weekly', v_period_id, o.item_id, v_week_start,
           count(*) FILTER (WHERE o.shipped_orders > 0 AND o.week_shipped_orders = 1),
           count(*) FILTER (WHERE o.shipped_orders > 0 AND o.week_shipped_orders >= 2),
           count(*) FILTER (WHERE o.refunded_orders > 0),
           coalesce(sum(o.shipped_revenue) FILTER (WHERE o.week_shipped_orders = 1), 0),
           coalesce(sum(o.shipped_revenue) FILTER (WHERE o.week_shipped_orders >= 2), 0),
           sum(o.refunded_orders)
    FROM customer_weeks AS o
    GROUP BY o.item_id
    ORDER BY o.item_id;
END;
$$;

COMMENT ON PROCEDURE mart.load_f_customer_retention(date) IS
    'Recomputes mart.f_customer_retention for the ISO week containing the date passed (any day of '
    'it), e.g. CALL mart.load_f_customer_retention(''2022-12-05''). Repeatable. Does not COMMIT.';
