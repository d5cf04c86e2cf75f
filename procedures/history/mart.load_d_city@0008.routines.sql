-- Brings mart.d_city up to date (SCD1) for the cities of day p_date's orders
-- and of the f_sales rows about to be replaced: each takes the name of its
-- latest staging order, so the outcome does not depend on load order.
CREATE OR REPLACE PROCEDURE mart.load_d_city(p_date date)
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO mart.d_city AS d (city_id, city_name)
    SELECT latest.city_id, latest.city_name
    FROM (SELECT s.city_id
          FROM staging.user_order_log AS s
          WHERE s.date_time >= p_date AND s.date_time < p_date + 1
          UNION
          SELECT f.city_id
          FROM mart.f_sales AS f
          WHERE f.date_id = to_char(p_date, 'YYYYMMDD')::integer) AS touched
    CROSS JOIN LATERAL (
        SELECT s.city_id, s.city_name
        FROM staging.user_order_log AS s
        WHERE s.city_id = touched.city_id
        ORDER BY s.date_time DESC, s.uniq_id DESC
        LIMIT 1) AS latest
    ORDER BY latest.city_id
    ON CONFLICT ON CONSTRAINT d_city_city_id_key DO UPDATE
    SET city_name = excluded.city_name
    WHERE d.city_name IS DISTINCT FROM excluded.city_name;
END;
$$;
