-- Recomputes mart.f_customer_retention for the ISO week containing p_week
-- (new, returning and refunding customers per item, docs/rules.md) from the
-- f_sales rows of that week loaded so far, replacing the week's rows whole
-- (mart.rebuild_retention_period does the work, for months too).
CREATE OR REPLACE PROCEDURE mart.load_f_customer_retention(p_week date)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_week_start date := date_trunc('week', p_week::timestamp)::date;
BEGIN
    IF p_week IS NULL THEN
        RAISE EXCEPTION 'mart.load_f_customer_retention: p_week must not be NULL';
    END IF;
    -- ISO year, not calendar year: 2024-12-30 belongs to week 2025-01.
    CALL mart.rebuild_retention_period('weekly', to_char(p_week, 'IYYYIW')::integer, v_week_start,
                                       v_week_start + 6);
END;
$$;

COMMENT ON PROCEDURE mart.load_f_customer_retention(date) IS
    'Recomputes mart.f_customer_retention for the ISO week containing the date passed (any day of '
    'it), e.g. CALL mart.load_f_customer_retention(''2022-12-05''). Repeatable. Does not COMMIT.';
