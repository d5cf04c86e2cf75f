-- Brings mart.d_item up to date (SCD1) for the items of day p_date's orders
-- and of the f_sales rows about to be replaced (the day's, and those of
-- orders re-dated to it): each takes the name of its latest staging order
-- (ties on a day: greatest uniq_id), so the outcome does not depend on load
-- order. Unchanged rows are left alone, unlocked.
-- The latest order of an item is found among its days' latest orders in
-- mart.latest_order_by_day (a few rows), not by an index over every order
-- by item, which cost a big day more than all the rest of its dimension
-- work. An entry whose order has since moved to another day or item is
-- passed over: the load of that day, in the same delivery, refreshes it.
-- p_replaced_items: the items of the f_sales rows about to be replaced,
-- when the caller (mart.load_f_sales) has them already, with the day's
-- rows of mart.latest_order_by_day refreshed; NULL: both done here.
CREATE OR REPLACE PROCEDURE mart.load_d_item(p_date date, p_replaced_items integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL staging.lock_warehouse();

    IF p_replaced_items IS NULL THEN
        CALL mart.load_latest_order_by_day(p_date);
    END IF;

    INSERT INTO mart.d_item (item_id, item_name)
    SELECT latest.item_id, latest.item_name
    FROM (SELECT l.member_id AS item_id
          FROM mart.latest_order_by_day AS l
          WHERE l.member_kind = 'item' AND l.order_date = p_date
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
        FROM mart.latest_order_by_day AS l
        JOIN staging.user_order_log AS s
          ON s.uniq_id = l.uniq_id AND s.date_time = l.date_time AND s.item_id = l.member_id
        WHERE l.member_kind = 'item' AND l.member_id = touched.item_id
        ORDER BY l.date_time DESC, l.uniq_id DESC
        LIMIT 1) AS latest
    WHERE NOT EXISTS (SELECT FROM mart.d_item AS unchanged
                      WHERE unchanged.item_id = latest.item_id
                        AND unchanged.item_name IS NOT DISTINCT FROM latest.item_name)
    ORDER BY latest.item_id
    -- the key by its column: an upgraded legacy warehouse names its constraints its own way
    ON CONFLICT (item_id) DO UPDATE
    SET item_name = excluded.item_name;
END;
$$;

COMMENT ON PROCEDURE mart.load_d_item(date, integer[]) IS
    'Internal, called by mart.load_f_sales; a DBA calls that instead. Brings mart.d_item up to date '
    'for the day passed (p_replaced_items: see the source).';
