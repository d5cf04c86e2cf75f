-- Loads day p_date into mart.f_sales (SPEC 4.2): one row per staging order of
-- the day, refunds negated; rows of the day whose order is gone are deleted,
-- the others updated in place, so a reload keeps row ids and repeats are
-- no-ops. Dimensions are brought up to date first; members that only the
-- replaced rows had, and that no order has any more, are removed after, so a
-- corrected re-delivery leaves no trace of the version it corrects. Orders
-- re-dated here from another week get that week's retention recomputed.
CREATE OR REPLACE PROCEDURE mart.load_f_sales(p_date date)
LANGUAGE plpgsql
AS $$
DECLARE
    v_date_id            integer := to_char(p_date, 'YYYYMMDD')::integer;
    v_previous_customers integer[];
    v_previous_items     integer[];
    v_previous_cities    integer[];
    v_weeks_left         date[];
    v_week               date;
BEGIN
    IF p_date IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_sales: p_date must not be NULL';
    END IF;
    -- Each statement below reads staging afresh: wait out a staging load of
    -- the orders, and hold it off, so they all read the same orders. Taken
    -- before the day's lock, as a staging load followed by this call in one
    -- transaction takes them, so the two orders never cross.
    PERFORM pg_advisory_xact_lock_shared(hashtext('staging.user_order_log'));
    PERFORM pg_advisory_xact_lock(hashtext('mart.f_sales'), v_date_id);
    IF NOT EXISTS (SELECT FROM mart.d_calendar AS c WHERE c.date_id = v_date_id) THEN
        RAISE EXCEPTION 'mart.load_f_sales: mart.d_calendar has no day %', p_date
            USING HINT = 'extend mart.d_calendar to cover the data';
    END IF;

    SELECT array_agg(DISTINCT f.customer_id), array_agg(DISTINCT f.item_id), array_agg(DISTINCT f.city_id)
    INTO v_previous_customers, v_previous_items, v_previous_cities
    FROM mart.f_sales AS f
    WHERE f.date_id = v_date_id;

    CALL mart.load_d_city(p_date);
    CALL mart.load_d_item(p_date);
    CALL mart.load_d_customer(p_date);

    -- Orders re-dated to this day from another week leave that week; no load
    -- of this day's week covers it, so its retention is recomputed at the end.
    SELECT array_agg(DISTINCT c.first_day_of_week)
    INTO v_weeks_left
    FROM staging.user_order_log AS s
    JOIN mart.f_sales AS f ON f.uniq_id = s.uniq_id
    JOIN mart.d_calendar AS c ON c.date_id = f.date_id
    WHERE s.date_time >= p_date AND s.date_time < p_date + 1
      AND c.first_day_of_week <> date_trunc('week', p_date)::date;

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

    -- A member with no staging order left is rare (a corrected re-delivery):
    -- only then does the f_sales check below get to read f_sales.
    DELETE FROM mart.d_customer AS d
    WHERE d.customer_id = ANY (v_previous_customers)
      AND NOT EXISTS (SELECT FROM staging.user_order_log AS s WHERE s.customer_id = d.customer_id)
      AND NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.customer_id = d.customer_id);
    DELETE FROM mart.d_item AS d
    WHERE d.item_id = ANY (v_previous_items)
      AND NOT EXISTS (SELECT FROM staging.user_order_log AS s WHERE s.item_id = d.item_id)
      AND NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.item_id = d.item_id);
    DELETE FROM mart.d_city AS d
    WHERE d.city_id = ANY (v_previous_cities)
      AND NOT EXISTS (SELECT FROM staging.user_order_log AS s WHERE s.city_id = d.city_id)
      AND NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.city_id = d.city_id);

    FOREACH v_week IN ARRAY coalesce(v_weeks_left, '{}') LOOP
        CALL mart.load_f_customer_retention(v_week);
    END LOOP;
END;
$$;
