-- Loads day p_date into mart.f_sales (docs/rules.md, "Orders in the marts"):
-- one row per staging order of the day, refunds negated; rows of the day
-- whose order is gone are deleted, the others updated in place, so a reload
-- keeps row ids and repeats are no-ops. Dimensions are brought up to date
-- first (from the day's latest orders per member, mart.latest_order_by_day);
-- members that only the replaced rows had, and that no order has any more,
-- are removed after, so a corrected re-delivery leaves no trace of the
-- version it corrects. The day's row of mart.f_daily_sales follows its rows;
-- orders re-dated here from another day take that day's row, and the
-- retention of its ISO week and month when those are not this day's, with
-- them (the caller rebuilds this day's week and month, which its other days
-- share). A day the calendar lacks gets its year added to mart.d_calendar.
-- f_sales has no foreign keys (three trigger calls per row): the dimension
-- rows of every fact of the day are written first, in this transaction, and a
-- member is only removed when no fact has it. Its statements are short and
-- many: JIT compiling them costs more than it saves. The day's rows are
-- sorted by uniq_id before they go in (index order): that sort gets the
-- memory to run without spilling (work_mem, for this call only). When none of
-- the day's orders has an f_sales row yet (a day's first load), they are
-- simply inserted, with no lookup per order: an upsert (ON CONFLICT) costs a
-- third more per row.
CREATE OR REPLACE PROCEDURE mart.load_f_sales(p_date date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET work_mem = '256MB' SET jit = off
AS $$
DECLARE
    v_date_id            integer := to_char(p_date, 'YYYYMMDD')::integer;
    v_previous_customers integer[];
    v_previous_items     integer[];
    v_previous_cities    integer[];
    v_days_left          date[];
    v_day                date;
    v_gone_customers     integer[];
    v_gone_items         integer[];
    v_gone_cities        integer[];
    v_legacy_rows        bigint;
    v_staged_orders      bigint;
    v_matching_rows      bigint;
BEGIN
    IF p_date IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_sales: p_date must not be NULL';
    END IF;
    CALL staging.lock_warehouse();
    -- Legacy history (rows loaded before orders were keyed) may be the only
    -- copy of the day. Whether staging holds the same orders cannot be proved
    -- (the legacy rows have no uniq_id), so the load is refused; the refusal
    -- says what is known: how many orders staging holds for the day, and how
    -- many legacy rows one of them matches by content (each order matching
    -- one row).
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') <> 'on' THEN
        SELECT count(*) INTO v_legacy_rows
        FROM mart.f_sales AS f
        WHERE f.date_id = v_date_id AND f.uniq_id IS NULL;
        IF v_legacy_rows > 0 THEN
            SELECT count(*) INTO v_staged_orders
            FROM staging.user_order_log AS s
            WHERE s.date_time >= p_date AND s.date_time < p_date + 1;
            SELECT count(*) INTO v_matching_rows
            FROM (SELECT f.customer_id, f.item_id, f.city_id, f.quantity, f.payment_amount,
                         row_number() OVER (PARTITION BY f.customer_id, f.item_id, f.city_id, f.quantity,
                                                         f.payment_amount) AS copy
                  FROM mart.f_sales AS f
                  WHERE f.date_id = v_date_id AND f.uniq_id IS NULL) AS legacy
            JOIN (SELECT s.customer_id, s.item_id, s.city_id, signed.quantity, signed.payment_amount,
                         row_number() OVER (PARTITION BY s.customer_id, s.item_id, s.city_id, signed.quantity,
                                                         signed.payment_amount) AS copy
                  FROM staging.user_order_log AS s
                  CROSS JOIN LATERAL (
                      SELECT CASE s.status WHEN 'refunded' THEN -s.quantity ELSE s.quantity END AS quantity,
                             CASE s.status WHEN 'refunded' THEN -s.payment_amount ELSE s.payment_amount END
                                 AS payment_amount) AS signed
                  WHERE s.date_time >= p_date AND s.date_time < p_date + 1) AS staged
              USING (customer_id, item_id, city_id, quantity, payment_amount, copy);
            RAISE EXCEPTION 'mart.load_f_sales: % holds % rows of legacy history in mart.f_sales (uniq_id NULL, '
                            'loaded before this release), and loading the day would replace them by the orders '
                            'staging holds for it: % orders, which match % of the % legacy rows by customer, '
                            'item, city, quantity and amount. If staging holds the whole day, allow it for the '
                            'transaction: SET LOCAL salesmart.allow_data_loss = on (a loader command: '
                            'PGOPTIONS=''-c salesmart.allow_data_loss=on'')',
                            p_date, v_legacy_rows, v_staged_orders, v_matching_rows, v_legacy_rows;
        END IF;
    END IF;
    CALL mart.extend_calendar(p_date);

    -- A day's first load: f_sales holds no row of the day. Its orders then
    -- go in with a plain INSERT and no lookup per order: f_sales' uniq_id
    -- key checks each one anyway, and when one has a row of another day (an
    -- order re-dated to this day), the load is undone and done as below.
    IF NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.date_id = v_date_id) THEN
        BEGIN
            CALL mart.load_latest_order_by_day(p_date);
            CALL mart.load_d_city(p_date, '{}');
            CALL mart.load_d_item(p_date, '{}');
            CALL mart.load_d_customer(p_date, '{}');
            INSERT INTO mart.f_sales (
                uniq_id, date_id, item_id, customer_id, city_id, quantity, payment_amount, status)
            SELECT s.uniq_id, v_date_id, s.item_id, s.customer_id, s.city_id,
                   CASE s.status WHEN 'refunded' THEN -s.quantity ELSE s.quantity END,
                   CASE s.status WHEN 'refunded' THEN -s.payment_amount ELSE s.payment_amount END,
                   s.status
            FROM staging.user_order_log AS s
            WHERE s.date_time >= p_date AND s.date_time < p_date + 1
            ORDER BY s.uniq_id;
            CALL mart.load_f_daily_sales(p_date);
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            NULL;  -- an order of the day has a row of another day
        END;
    END IF;

    -- The f_sales rows this load replaces: the day's, and those of orders
    -- re-dated to this day from another, which leave their day, week and
    -- month; no load of this day covers those, so they are recomputed at the
    -- end. The re-dated ones are found by one probe of f_sales' uniq_id key
    -- per order of the day (LIMIT keeps the LATERAL a probe): a join could
    -- hash all of f_sales, a cost that grows with the history.
    SELECT array_agg(DISTINCT r.customer_id), array_agg(DISTINCT r.item_id), array_agg(DISTINCT r.city_id),
           array_agg(DISTINCT c.date_actual) FILTER (WHERE c.date_actual <> p_date)
    INTO v_previous_customers, v_previous_items, v_previous_cities, v_days_left
    FROM (SELECT f.customer_id, f.item_id, f.city_id, f.date_id
          FROM mart.f_sales AS f
          WHERE f.date_id = v_date_id
          UNION ALL
          SELECT f.customer_id, f.item_id, f.city_id, f.date_id
          FROM staging.user_order_log AS s
          CROSS JOIN LATERAL (SELECT f.customer_id, f.item_id, f.city_id, f.date_id
                              FROM mart.f_sales AS f
                              WHERE f.uniq_id = s.uniq_id AND f.date_id <> v_date_id
                              LIMIT 1) AS f
          WHERE s.date_time >= p_date AND s.date_time < p_date + 1) AS r
    JOIN mart.d_calendar AS c ON c.date_id = r.date_id;

    CALL mart.load_latest_order_by_day(p_date);
    CALL mart.load_d_city(p_date, coalesce(v_previous_cities, '{}'));
    CALL mart.load_d_item(p_date, coalesce(v_previous_items, '{}'));
    CALL mart.load_d_customer(p_date, coalesce(v_previous_customers, '{}'));

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
    ON CONFLICT (uniq_id) DO UPDATE
    SET date_id = excluded.date_id, item_id = excluded.item_id, customer_id = excluded.customer_id,
        city_id = excluded.city_id, quantity = excluded.quantity,
        payment_amount = excluded.payment_amount, status = excluded.status
    WHERE (f.date_id, f.item_id, f.customer_id, f.city_id, f.quantity, f.payment_amount, f.status)
          IS DISTINCT FROM
          (excluded.date_id, excluded.item_id, excluded.customer_id, excluded.city_id,
           excluded.quantity, excluded.payment_amount, excluded.status);

    -- A member of the replaced rows that no longer has a current latest
    -- order of a loaded day is rare (a corrected re-delivery): only for those
    -- are staging and f_sales searched (no index by member: a full scan).
    SELECT array_agg(r.member_id) FILTER (WHERE r.member_kind = 'customer'),
           array_agg(r.member_id) FILTER (WHERE r.member_kind = 'item'),
           array_agg(r.member_id) FILTER (WHERE r.member_kind = 'city')
    INTO v_gone_customers, v_gone_items, v_gone_cities
    FROM (SELECT 'customer', unnest(v_previous_customers)
          UNION ALL
          SELECT 'item', unnest(v_previous_items)
          UNION ALL
          SELECT 'city', unnest(v_previous_cities)) AS r(member_kind, member_id)
    WHERE NOT EXISTS (SELECT FROM mart.latest_order_by_day AS l
                      JOIN staging.user_order_log AS s
                        ON s.uniq_id = l.uniq_id AND s.date_time = l.date_time
                       AND l.member_id = CASE l.member_kind WHEN 'customer' THEN s.customer_id
                                                            WHEN 'item' THEN s.item_id
                                                            ELSE s.city_id END
                      WHERE l.member_kind = r.member_kind AND l.member_id = r.member_id);
    IF v_gone_customers IS NOT NULL THEN
        DELETE FROM mart.d_customer AS d
        WHERE d.customer_id = ANY (v_gone_customers)
          AND NOT EXISTS (SELECT FROM staging.user_order_log AS s WHERE s.customer_id = d.customer_id)
          AND NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.customer_id = d.customer_id);
    END IF;
    IF v_gone_items IS NOT NULL THEN
        DELETE FROM mart.d_item AS d
        WHERE d.item_id = ANY (v_gone_items)
          AND NOT EXISTS (SELECT FROM staging.user_order_log AS s WHERE s.item_id = d.item_id)
          AND NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.item_id = d.item_id);
    END IF;
    IF v_gone_cities IS NOT NULL THEN
        DELETE FROM mart.d_city AS d
        WHERE d.city_id = ANY (v_gone_cities)
          AND NOT EXISTS (SELECT FROM staging.user_order_log AS s WHERE s.city_id = d.city_id)
          AND NOT EXISTS (SELECT FROM mart.f_sales AS f WHERE f.city_id = d.city_id);
    END IF;

    CALL mart.load_f_daily_sales(p_date);
    FOREACH v_day IN ARRAY coalesce(v_days_left, '{}') LOOP
        CALL mart.load_f_daily_sales(v_day);
    END LOOP;
    FOR v_day IN
        SELECT DISTINCT date_trunc('week', d.day::timestamp)::date
        FROM unnest(v_days_left) AS d(day)
        WHERE date_trunc('week', d.day::timestamp) <> date_trunc('week', p_date::timestamp)
    LOOP
        CALL mart.load_f_customer_retention(v_day);
    END LOOP;
    FOR v_day IN
        SELECT DISTINCT date_trunc('month', d.day::timestamp)::date
        FROM unnest(v_days_left) AS d(day)
        WHERE date_trunc('month', d.day::timestamp) <> date_trunc('month', p_date::timestamp)
    LOOP
        CALL mart.load_f_customer_retention_monthly(v_day);
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE mart.load_f_sales(date) IS
    'Loads one day into mart.f_sales (dimensions first): pass any date, e.g. CALL '
    'mart.load_f_sales(''2022-12-05''). Replaces exactly that day''s rows; repeatable. Refuses a '
    'day that holds legacy rows (uniq_id NULL, loaded before this release) unless the transaction '
    'SETs LOCAL salesmart.allow_data_loss = on. Does not COMMIT.';
