-- Backfill of mart.f_customer_retention: CALLs
-- mart.load_f_customer_retention(monday) for every ISO week that has a day in
-- p_from..p_to, in week order, in the caller's transaction.
CREATE OR REPLACE PROCEDURE mart.load_f_customer_retention(p_from date, p_to date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_week date;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention: p_from and p_to must not be NULL';
    END IF;
    IF p_to < p_from THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention: p_to (%) is before p_from (%)', p_to, p_from;
    END IF;
    FOR v_week IN
        SELECT g.monday::date
        FROM generate_series(date_trunc('week', p_from::timestamp), p_to::timestamp, interval '7 days') AS g(monday)
    LOOP
        CALL mart.load_f_customer_retention(v_week);
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE mart.load_f_customer_retention(date, date) IS
    'Backfill: recomputes mart.f_customer_retention for every ISO week that has a day in p_from..p_to, '
    'as mart.load_f_customer_retention(day) does per week. Pass the first and last day, e.g. '
    'CALL mart.load_f_customer_retention(''2022-11-01'', ''2022-11-30''), after loading f_sales for them. '
    'Does not COMMIT.';
