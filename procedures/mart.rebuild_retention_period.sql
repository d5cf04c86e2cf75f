-- Recomputes the rows of one period of mart.f_customer_retention
-- (docs/rules.md, "Retention"), starting on p_first, from the f_sales rows of
-- its days loaded so far, replacing the period's rows whole: an ISO week for
-- mart.load_f_customer_retention, a calendar month for
-- mart.load_f_customer_retention_monthly. The same rules for both: a customer
-- is new with exactly one shipped order (of any item) in the period,
-- returning with two or more. The period's orders come summed per customer
-- and item, as mart.f_period_customer_item keeps them (mart.load_f_sales,
-- through mart.load_f_daily_sales, for each day it changes), not read order
-- by order: a month's last day costs what its first does. A customer's
-- shipped orders of the period are then a window over those few rows, and
-- every count is of distinct customers by construction. No join: no row
-- estimate can turn it into a nested loop. Its sorts hold a period's
-- customers and items: they get the memory to do so without spilling
-- (work_mem, for this call only).
CREATE OR REPLACE PROCEDURE mart.rebuild_retention_period(p_period_name varchar, p_period_id integer,
                                                          p_first date)
LANGUAGE plpgsql
SET work_mem = '256MB'
AS $$
BEGIN
    CALL staging.lock_warehouse();

    DELETE FROM mart.f_customer_retention AS r
    WHERE r.period_name = p_period_name AND r.period_id = p_period_id;

    INSERT INTO mart.f_customer_retention (
        period_name, period_id, item_id, period_start,
        new_customers_count, returning_customers_count, refunded_customer_count,
        new_customers_revenue, returning_customers_revenue, customers_refunded)
    WITH customer_items AS (
        SELECT p.customer_id, p.item_id, p.shipped_orders, p.shipped_revenue, p.refunded_orders
        FROM mart.f_period_customer_item AS p
        WHERE p.period_name = p_period_name AND p.period_id = p_period_id
    ), customer_periods AS (
        SELECT ci.item_id, ci.shipped_orders, ci.shipped_revenue, ci.refunded_orders,
               sum(ci.shipped_orders) OVER (PARTITION BY ci.customer_id) AS period_shipped_orders
        FROM customer_items AS ci
    )
    SELECT p_period_name, p_period_id, o.item_id, p_first,
           count(*) FILTER (WHERE o.shipped_orders > 0 AND o.period_shipped_orders = 1),
           count(*) FILTER (WHERE o.shipped_orders > 0 AND o.period_shipped_orders >= 2),
           count(*) FILTER (WHERE o.refunded_orders > 0),
           coalesce(sum(o.shipped_revenue) FILTER (WHERE o.period_shipped_orders = 1), 0),
           coalesce(sum(o.shipped_revenue) FILTER (WHERE o.period_shipped_orders >= 2), 0),
           sum(o.refunded_orders)
    FROM customer_periods AS o
    GROUP BY o.item_id
    ORDER BY o.item_id;
END;
$$;

COMMENT ON PROCEDURE mart.rebuild_retention_period(varchar, integer, date) IS
    'Internal, called by mart.load_f_customer_retention (ISO weeks) and '
    'mart.load_f_customer_retention_monthly (months); a DBA calls those. Replaces the rows of one period '
    '(name, id, first day) of mart.f_customer_retention.';
