-- Brings mart.d_item up to date (SCD1) for the items of day p_date's orders
-- and of the f_sales rows about to be replaced: each takes the name of its
-- latest staging order, so the outcome does not depend on load order.
CREATE OR REPLACE PROCEDURE mart.load_d_item(p_date date)
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO mart.d_item AS d (item_id, item_name)
    SELECT latest.item_id, latest.item_name
    FROM (SELECT s.item_id
          FROM staging.user_order_log AS s
          WHERE s.date_time >= p_date AND s.date_time < p_date + 1
          UNION
          SELECT f.item_id
          FROM mart.f_sales AS f
          WHERE f.date_id = to_char(p_date, 'YYYYMMDD')::integer) AS touched
    CROSS JOIN LATERAL (
        SELECT s.item_id, s.item_name
        FROM staging.user_order_log AS s
        WHERE s.item_id = touched.item_id
        ORDER BY s.date_time DESC, s.uniq_id DESC
        LIMIT 1) AS latest
    ORDER BY latest.item_id
    ON CONFLICT ON CONSTRAINT d_item_item_id_key DO UPDATE
    SET item_name = excluded.item_name
    WHERE d.item_name IS DISTINCT FROM excluded.item_name;
END;
$$;
