-- Brings mart.d_item up to date (SCD1) for the items of day p_date's orders
-- and of the f_sales rows about to be replaced (the day's, and those of
-- orders re-dated to it): each takes the name of its
-- latest staging order, so the outcome does not depend on load order.
-- Unchanged rows are left alone, unlocked.
-- p_replaced_items: the items of the f_sales rows about to be replaced,
-- when the caller (mart.load_f_sales) has them already; NULL: found here.
CREATE OR REPLACE PROCEDURE mart.load_d_item(p_date date, p_replaced_items integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL staging.lock_warehouse();
    INSERT INTO mart.d_item (item_id, item_name)
    SELECT latest.item_id, latest.item_name
    FROM (SELECT s.item_id
          FROM staging.user_order_log AS s
          WHERE s.date_time >= p_date AND s.date_time < p_date + 1
          UNION
          SELECT r.item_id
          FROM unnest(p_replaced_items) AS r(item_id)
          UNION
          SELECT f.item_id
          FROM mart.f_sales AS f
          WHERE p_replaced_items IS NULL AND f.date_id = to_char(p_date, 'YYYYMMDD')::integer
          UNION
          SELECT f.item_id
          FROM staging.user_order_log AS s
          JOIN mart.f_sales AS f ON f.uniq_id = s.uniq_id
          WHERE p_replaced_items IS NULL AND s.date_time >= p_date AND s.date_time < p_date + 1) AS touched
    CROSS JOIN LATERAL (
        SELECT s.item_id, s.item_name
        FROM staging.user_order_log AS s
        WHERE s.item_id = touched.item_id
        ORDER BY s.date_time DESC, s.uniq_id DESC
        LIMIT 1) AS latest
    WHERE NOT EXISTS (SELECT FROM mart.d_item AS unchanged
                      WHERE unchanged.item_id = latest.item_id
                        AND unchanged.item_name IS NOT DISTINCT FROM latest.item_name)
    ORDER BY latest.item_id
    ON CONFLICT ON CONSTRAINT d_item_item_id_key DO UPDATE
    SET item_name = excluded.item_name;
END;
$$;

COMMENT ON PROCEDURE mart.load_d_item(date, integer[]) IS
    'Internal, called by mart.load_f_sales; a DBA calls that instead. Brings mart.d_item up to date '
    'for the day passed (p_replaced_items: see the source).';
