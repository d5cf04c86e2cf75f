-- Brings a dimension up to date (SCD1), mart.d_city, mart.d_item or
-- mart.d_customer as p_member_kind says (city, item, customer), for the
-- members of day p_date's orders and of the f_sales rows about to be
-- replaced (the day's, and those of orders re-dated to it): each takes the
-- attributes of its latest staging order (ties on a day: greatest uniq_id),
-- so the outcome does not depend on load order. A city and an item take
-- their name, a customer their first and last name and city. Unchanged rows
-- are left alone, unlocked.
-- The latest order of a member is found among its days' latest orders in
-- mart.latest_order_by_day (a few rows), not by an index over every order
-- by member, which cost a big day more than all the rest of its dimension
-- work. An entry whose order has since moved to another day or member is
-- passed over: the load of that day, in the same delivery, refreshes it.
-- p_replaced_members: the members of the f_sales rows about to be replaced,
-- when the caller (mart.load_f_sales) has them already, with the day's
-- rows of mart.latest_order_by_day refreshed; NULL: both done here.
-- The three dimensions differ only in their table, key and attributes: one
-- statement, given those by format(), serves them all.
CREATE OR REPLACE PROCEDURE mart.load_dimension(p_member_kind text, p_date date,
                                                p_replaced_members integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_attributes text[] := CASE p_member_kind
        WHEN 'city' THEN ARRAY['city_name']
        WHEN 'item' THEN ARRAY['item_name']
        WHEN 'customer' THEN ARRAY['first_name', 'last_name', 'city_id']
    END;
    v_key        text := p_member_kind || '_id';
    v_columns    text;
    v_latest     text;
    v_staged     text;
    v_unchanged  text;
    v_updates    text;
BEGIN
    IF v_attributes IS NULL THEN
        RAISE EXCEPTION 'mart.load_dimension: p_member_kind must be city, item or customer, not %', p_member_kind;
    END IF;

    CALL staging.lock_warehouse();

    IF p_replaced_members IS NULL THEN
        CALL mart.load_latest_order_by_day(p_date);
    END IF;

    SELECT string_agg(format('%I', a.attribute), ', ' ORDER BY a.position),
           string_agg(format('latest.%I', a.attribute), ', ' ORDER BY a.position),
           string_agg(format('s.%I', a.attribute), ', ' ORDER BY a.position),
           string_agg(format('unchanged.%I', a.attribute), ', ' ORDER BY a.position),
           string_agg(format('%1$I = excluded.%1$I', a.attribute), ', ' ORDER BY a.position)
    INTO v_columns, v_latest, v_staged, v_unchanged, v_updates
    FROM unnest(v_attributes) WITH ORDINALITY AS a(attribute, position);

    EXECUTE format($sql$
        INSERT INTO mart.%1$I (%2$I, %3$s)
        SELECT latest.%2$I, %4$s
        FROM (SELECT l.member_id
              FROM mart.latest_order_by_day AS l
              WHERE l.member_kind = $1 AND l.order_date = $2
              UNION
              SELECT r.member_id
              FROM unnest($3) AS r(member_id)
              UNION
              SELECT f.%2$I
              FROM mart.f_sales AS f
              WHERE $3 IS NULL AND f.date_id = to_char($2, 'YYYYMMDD')::integer
              UNION
              SELECT f.%2$I
              FROM staging.user_order_log AS s
              JOIN mart.f_sales AS f ON f.uniq_id = s.uniq_id
              WHERE $3 IS NULL AND s.date_time >= $2 AND s.date_time < $2 + 1) AS touched
        CROSS JOIN LATERAL (
            SELECT s.%2$I, %5$s
            FROM mart.latest_order_by_day AS l
            JOIN staging.user_order_log AS s
              ON s.uniq_id = l.uniq_id AND s.date_time = l.date_time AND s.%2$I = l.member_id
            WHERE l.member_kind = $1 AND l.member_id = touched.member_id
            ORDER BY l.date_time DESC, l.uniq_id DESC
            LIMIT 1) AS latest
        WHERE NOT EXISTS (SELECT FROM mart.%1$I AS unchanged
                          WHERE unchanged.%2$I = latest.%2$I
                            AND (%6$s) IS NOT DISTINCT FROM (%4$s))
        ORDER BY latest.%2$I
        -- the key by its column: an upgraded legacy warehouse names its constraints its own way
        ON CONFLICT (%2$I) DO UPDATE
        SET %7$s
        $sql$, 'd_' || p_member_kind, v_key, v_columns, v_latest, v_staged, v_unchanged, v_updates)
    USING p_member_kind, p_date, p_replaced_members;
END;
$$;

COMMENT ON PROCEDURE mart.load_dimension(text, date, integer[]) IS
    'Internal, called by mart.load_d_city, mart.load_d_item and mart.load_d_customer, which mart.load_f_sales '
    'calls; a DBA calls that instead. Brings the dimension of the member kind passed (city, item, customer) up '
    'to date for the day passed.';
