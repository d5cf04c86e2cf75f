-- Refreshes day p_date's rows of mart.latest_order_by_day: for each customer,
-- item and city with orders dated p_date in staging, its latest order of the
-- day (greatest date_time, ties: greatest uniq_id). One pass over the day's
-- orders, hashed by member and time: orders of a day often share their time
-- (a file's dates may carry no time of day), and a sort of every order by
-- member, time and uniq_id would cost ten times as much. mart.load_f_sales
-- calls it before the dimension loads, which read it.
CREATE OR REPLACE PROCEDURE mart.load_latest_order_by_day(p_date date)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL staging.lock_warehouse();

    DELETE FROM mart.latest_order_by_day AS l
    WHERE l.order_date = p_date;

    INSERT INTO mart.latest_order_by_day (member_kind, member_id, order_date, date_time, uniq_id)
    SELECT DISTINCT ON (by_time.member_kind, by_time.member_id)
           by_time.member_kind, by_time.member_id, p_date, by_time.date_time, by_time.uniq_id
    FROM (SELECT CASE WHEN GROUPING(s.customer_id) = 0 THEN 'customer'
                      WHEN GROUPING(s.item_id) = 0 THEN 'item'
                      ELSE 'city' END AS member_kind,
                 coalesce(s.customer_id, s.item_id, s.city_id) AS member_id,
                 s.date_time,
                 max(s.uniq_id) AS uniq_id
          FROM staging.user_order_log AS s
          WHERE s.date_time >= p_date AND s.date_time < p_date + 1
          GROUP BY GROUPING SETS ((s.customer_id, s.date_time), (s.item_id, s.date_time),
                                  (s.city_id, s.date_time))) AS by_time
    ORDER BY by_time.member_kind, by_time.member_id, by_time.date_time DESC;
END;
$$;

COMMENT ON PROCEDURE mart.load_latest_order_by_day(date) IS
    'Internal, called by mart.load_f_sales (and the dimension loads called alone); a DBA calls '
    'mart.load_f_sales instead. Refreshes the day''s rows of mart.latest_order_by_day.';
