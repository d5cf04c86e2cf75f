-- Brings mart.d_customer up to date (SCD1) for the customers of day p_date's
-- orders and of the f_sales rows about to be replaced (the day's, and those of
-- orders re-dated to it): each takes the name and city of their latest
-- staging order (ties on a day: greatest uniq_id), so the outcome does not
-- depend on load order. Unchanged rows are left alone, unlocked.
-- The latest order of a customer is found among its days' latest orders in
-- mart.latest_order_by_day (a few rows), not by an index over every order
-- by customer, which cost a big day more than all the rest of its dimension
-- work. An entry whose order has since moved to another day or customer is
-- passed over: the load of that day, in the same delivery, refreshes it.
-- p_replaced_customers: the customers of the f_sales rows about to be replaced,
-- when the caller (mart.load_f_sales) has them already, with the day's
-- rows of mart.latest_order_by_day refreshed; NULL: both done here.
CREATE OR REPLACE PROCEDURE mart.load_d_customer(p_date date, p_replaced_customers integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL staging.lock_warehouse();

    IF p_replaced_customers IS NULL THEN
        CALL mart.load_latest_order_by_day(p_date);
    END IF;

    INSERT INTO mart.d_customer (customer_id, first_name, last_name, city_id)
    SELECT latest.customer_id, latest.first_name, latest.last_name, latest.city_id
    FROM (SELECT l.member_id AS customer_id
          FROM mart.latest_order_by_day AS l
          WHERE l.member_kind = 'customer' AND l.order_date = p_date
          UNION
          SELECT r.customer_id
          FROM unnest(p_replaced_customers) AS r(customer_id)
          UNION
          SELECT f.customer_id
          FROM mart.f_sales AS f
          WHERE p_replaced_customers IS NULL AND f.date_id = to_char(p_date, 'YYYYMMDD')::integer
          UNION
          SELECT f.customer_id
          FROM staging.user_order_log AS s
          JOIN mart.f_sales AS f ON f.uniq_id = s.uniq_id
          WHERE p_replaced_customers IS NULL AND s.date_time >= p_date AND s.date_time < p_date + 1) AS touched
    CROSS JOIN LATERAL (
        SELECT s.customer_id, s.first_name, s.last_name, s.city_id
        FROM mart.latest_order_by_day AS l
        JOIN staging.user_order_log AS s
          ON s.uniq_id = l.uniq_id AND s.date_time = l.date_time AND s.customer_id = l.member_id
        WHERE l.member_kind = 'customer' AND l.member_id = touched.customer_id
        ORDER BY l.date_time DESC, l.uniq_id DESC
        LIMIT 1) AS latest
    WHERE NOT EXISTS (SELECT FROM mart.d_customer AS unchanged
                      WHERE unchanged.customer_id = latest.customer_id
                        AND (unchanged.first_name, unchanged.last_name, unchanged.city_id)
                            IS NOT DISTINCT FROM (latest.first_name, latest.last_name, latest.city_id))
    ORDER BY latest.customer_id
    -- the key by its column: an upgraded legacy warehouse names its constraints its own way
    ON CONFLICT (customer_id) DO UPDATE
    SET first_name = excluded.first_name, last_name = excluded.last_name, city_id = excluded.city_id;
END;
$$;

COMMENT ON PROCEDURE mart.load_d_customer(date, integer[]) IS
    'Internal, called by mart.load_f_sales; a DBA calls that instead. Brings mart.d_customer up to '
    'date for the day passed.';
