-- Loads day p_date into mart.f_sales (SPEC 4.2): one row per staging order of
-- the day, refunds negated; rows of the day whose order is gone are deleted,
-- the others updated in place, so a reload keeps row ids and repeats are
-- no-ops. Dimensions are brought up to date first.
CREATE OR REPLACE PROCEDURE mart.load_f_sales(p_date date)
LANGUAGE plpgsql
AS $$
DECLARE
    v_date_id integer := to_char(p_date, 'YYYYMMDD')::integer;
BEGIN
    IF p_date IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_sales: p_date must not be NULL';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('mart.f_sales'), v_date_id);
    IF NOT EXISTS (SELECT FROM mart.d_calendar AS c WHERE c.date_id = v_date_id) THEN
        RAISE EXCEPTION 'mart.load_f_sales: mart.d_calendar has no day %', p_date
            USING HINT = 'extend mart.d_calendar to cover the data';
    END IF;

    CALL mart.load_d_city(p_date);
    CALL mart.load_d_item(p_date);
    CALL mart.load_d_customer(p_date);

    DELETE FROM mart.f_sales AS f
    WHERE f.date_id = v_date_id
      AND NOT EXISTS (SELECT FROM staging.user_order_log AS s
                      WHERE s.uniq_id = f.uniq_id
                        AND s.date_time >= p_date AND s.date_time < p_date + 1);

    INSERT INTO mart.f_sales AS f (
        uniq_id, date_id, item_id, customer_id, city_id, quantity, payment_amount, status)
    SELECT s.uniq_id, v_date_id, s.item_id, s.customer_id, s.city_id,
           CASE s.status WHEN 'refunded' THEN -s.quantity ELSE s.quantity END,
           CASE s.status WHEN 'refunded' THEN -s.payment_amount ELSE s.payment_amount END,
           s.status
    FROM staging.user_order_log AS s
    WHERE s.date_time >= p_date AND s.date_time < p_date + 1
    ORDER BY s.uniq_id
    ON CONFLICT ON CONSTRAINT f_sales_uniq_id_key DO UPDATE
    SET date_id = excluded.date_id, item_id = excluded.item_id, customer_id = excluded.customer_id,
        city_id = excluded.city_id, quantity = excluded.quantity,
        payment_amount = excluded.payment_amount, status = excluded.status
    WHERE (f.date_id, f.item_id, f.customer_id, f.city_id, f.quantity, f.payment_amount, f.status)
          IS DISTINCT FROM
          (excluded.date_id, excluded.item_id, excluded.customer_id, excluded.city_id,
           excluded.quantity, excluded.payment_amount, excluded.status);
END;
$$;
