-- Brings mart.d_customer up to date (SCD1) for the customers of day p_date's
-- orders and of the f_sales rows about to be replaced: each takes the name
-- and city of their latest staging order (ties on a day: greatest uniq_id),
-- so the outcome does not depend on load order.
CREATE OR REPLACE PROCEDURE mart.load_d_customer(p_date date)
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO mart.d_customer AS d (customer_id, first_name, last_name, city_id)
    SELECT latest.customer_id, latest.first_name, latest.last_name, latest.city_id
    FROM (SELECT s.customer_id
          FROM staging.user_order_log AS s
          WHERE s.date_time >= p_date AND s.date_time < p_date + 1
          UNION
          SELECT f.customer_id
          FROM mart.f_sales AS f
          WHERE f.date_id = to_char(p_date, 'YYYYMMDD')::integer) AS touched
    CROSS JOIN LATERAL (
        SELECT s.customer_id, s.first_name, s.last_name, s.city_id
        FROM staging.user_order_log AS s
        WHERE s.customer_id = touched.customer_id
        ORDER BY s.date_time DESC, s.uniq_id DESC
        LIMIT 1) AS latest
    -- Key order keeps concurrent loads of different days from deadlocking
    -- on the customers they share.
    ORDER BY latest.customer_id
    ON CONFLICT ON CONSTRAINT d_customer_customer_id_key DO UPDATE
    SET first_name = excluded.first_name, last_name = excluded.last_name, city_id = excluded.city_id
    WHERE (d.first_name, d.last_name, d.city_id)
          IS DISTINCT FROM (excluded.first_name, excluded.last_name, excluded.city_id);
END;
$$;
