-- Recomputes the monthly rows of mart.f_customer_retention (period_name
-- 'monthly', period_id = year * 100 + month) for the calendar month
-- containing p_month, from the f_sales rows of that month loaded so far,
-- replacing the month's rows whole: the rules of the weekly rows over the
-- month (mart.rebuild_retention_period does the work for both).
CREATE OR REPLACE PROCEDURE mart.load_f_customer_retention_monthly(p_month date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_month_start date := date_trunc('month', p_month::timestamp)::date;
BEGIN
    IF p_month IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention_monthly: p_month must not be NULL';
    END IF;
    CALL mart.rebuild_retention_period('monthly', to_char(p_month, 'YYYYMM')::integer, v_month_start);
END;
$$;

COMMENT ON PROCEDURE mart.load_f_customer_retention_monthly(date) IS
    'Recomputes the monthly rows of mart.f_customer_retention for the calendar month containing the date '
    'passed (any day of it), e.g. CALL mart.load_f_customer_retention_monthly(''2024-12-05''). '
    'Repeatable. Does not COMMIT.';
