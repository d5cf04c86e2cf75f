-- Recomputes mart.f_customer_retention for the ISO week containing p_week
-- (SPEC 4.3) from the f_sales rows of that week loaded so far, replacing the
-- week's rows whole. A customer's shipped orders of the week are counted by
-- a window over the week's rows, not a join: no row estimate can turn it
-- into a nested loop. Its two sorts run over a whole week's orders: they get
-- the memory to do it without spilling (work_mem, for this call only).
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
    WITH week_orders AS (
        SELECT f.customer_id, f.item_id, f.status, f.payment_amount,
               count(*) FILTER (WHERE f.status = 'shipped') OVER (PARTITION BY f.customer_id) AS shipped_orders
        FROM mart.f_sales AS f
        WHERE f.date_id BETWEEN v_first_date_id AND v_last_date_id
    )
    SELECT 'weekly', v_period_id, o.item_id, v_week_start,
           count(DISTINCT o.customer_id) FILTER (WHERE o.status = 'shipped' AND o.shipped_orders = 1),
           count(DISTINCT o.customer_id) FILTER (WHERE o.status = 'shipped' AND o.shipped_orders >= 2),
           count(DISTINCT o.customer_id) FILTER (WHERE o.status = 'refunded'),
           coalesce(sum(o.payment_amount) FILTER (WHERE o.status = 'shipped' AND o.shipped_orders = 1), 0),
           coalesce(sum(o.payment_amount) FILTER (WHERE o.status = 'shipped' AND o.shipped_orders >= 2), 0),
           count(*) FILTER (WHERE o.status = 'refunded')
    FROM week_orders AS o
    GROUP BY o.item_id
    ORDER BY o.item_id;
END;
$$;

COMMENT ON PROCEDURE mart.load_f_customer_retention(date) IS
    'Recomputes mart.f_customer_retention for the ISO week containing the date passed (any day of '
    'it), e.g. CALL mart.load_f_customer_retention(''2022-12-05''). Repeatable. Does not COMMIT.';
