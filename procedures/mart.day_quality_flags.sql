-- What reporting.day_quality flags for business day p_day (empty when
-- nothing is unusual, or the day is not loaded). The loader role reads no
-- view: this is how a load (Airflow's upload_inc_data) learns whether the
-- day it loaded needs a warning.
CREATE OR REPLACE FUNCTION mart.day_quality_flags(p_day date)
RETURNS text[]
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN coalesce((SELECT q.flags FROM reporting.day_quality AS q WHERE q.business_day = p_day), '{}');
END;
$$;

COMMENT ON FUNCTION mart.day_quality_flags(date) IS
    'The flags of reporting.day_quality for one business day, e.g. SELECT mart.day_quality_flags(''2025-01-07''): '
    'empty when nothing is unusual or the day is not loaded. For loads, which may not read the view.';
