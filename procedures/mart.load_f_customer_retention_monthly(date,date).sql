-- Backfill of the monthly rows of mart.f_customer_retention: CALLs
-- mart.load_f_customer_retention_monthly(first day) for every calendar month
-- that has a day in p_from..p_to, in month order, in the caller's transaction.
CREATE OR REPLACE PROCEDURE mart.load_f_customer_retention_monthly(p_from date, p_to date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_month date;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention_monthly: p_from and p_to must not be NULL';
    END IF;
    IF p_to < p_from THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention_monthly: p_to (%) is before p_from (%)', p_to, p_from;
    END IF;
    FOR v_month IN
        SELECT g.first_day::date
        FROM generate_series(date_trunc('month', p_from::timestamp), p_to::timestamp, interval '1 month')
             AS g(first_day)
    LOOP
        CALL mart.load_f_customer_retention_monthly(v_month);
    END LOOP;
END;
$$;
COMMENT ON PROCEDURE mart.load_f_customer_retention_monthly(date, date) IS
    'Backfill: recomputes the monthly rows of mart.f_customer_retention for every calendar month that has a '
    'day in p_from..p_to, as mart.load_f_customer_retention_monthly(day) does per month. Pass the first and '
    'last day, e.g. CALL mart.load_f_customer_retention_monthly(''2024-11-01'', ''2025-01-31''), after '
    'loading f_sales for them. Does not COMMIT.';
