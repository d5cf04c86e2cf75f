-- Backfill of mart.f_sales: CALLs mart.load_f_sales(day) for every day of
-- p_from..p_to in date order, in the caller's transaction, so the range is
-- applied whole or not at all. Each day takes its own locks, as a single
-- day's call does.
CREATE OR REPLACE PROCEDURE mart.load_f_sales(p_from date, p_to date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_day date;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_sales: p_from and p_to must not be NULL';
    END IF;
    IF p_to < p_from THEN
        RAISE EXCEPTION 'mart.load_f_sales: p_to (%) is before p_from (%)', p_to, p_from;
    END IF;
    FOR v_day IN
        SELECT g.day::date FROM generate_series(p_from::timestamp, p_to::timestamp, interval '1 day') AS g(day)
    LOOP
        CALL mart.load_f_sales(v_day);
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE mart.load_f_sales(date, date) IS
    'Backfill: loads every day of p_from..p_to into mart.f_sales, as mart.load_f_sales(day) does per day. '
    'Pass the first and last day, e.g. CALL mart.load_f_sales(''2022-11-01'', ''2022-11-30''); '
    'then CALL mart.load_f_customer_retention with the same range. Refuses, as the day''s call does, '
    'a day holding legacy rows unless salesmart.allow_data_loss = on. Does not COMMIT.';
