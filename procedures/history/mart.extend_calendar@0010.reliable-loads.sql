-- Adds to mart.d_calendar the whole calendar year of p_day when it lacks
-- p_day, so f_sales can take an order of any valid date (years 0001 to
-- 9999) rather than refuse it; the baseline's years 2000..2099 need nothing.
CREATE OR REPLACE PROCEDURE mart.extend_calendar(p_day date)
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT FROM mart.d_calendar AS c WHERE c.date_actual = p_day) THEN
        RETURN;
    END IF;
    CALL staging.lock_warehouse();
    INSERT INTO mart.d_calendar
    SELECT to_char(d, 'YYYYMMDD')::integer,
           d,
           trim(to_char(d, 'Day')),
           extract(isodow FROM d),
           extract(day FROM d),
           d - date_trunc('quarter', d)::date + 1,
           extract(doy FROM d),
           to_char(d, 'W')::smallint,
           extract(week FROM d),
           extract(month FROM d),
           trim(to_char(d, 'Month')),
           to_char(d, 'Mon'),
           extract(quarter FROM d),
           'Q' || extract(quarter FROM d),
           extract(year FROM d),
           date_trunc('week', d)::date,
           date_trunc('week', d)::date + 6,
           date_trunc('month', d)::date,
           (date_trunc('month', d) + interval '1 month - 1 day')::date,
           date_trunc('quarter', d)::date,
           (date_trunc('quarter', d) + interval '3 months - 1 day')::date,
           date_trunc('year', d)::date,
           (date_trunc('year', d) + interval '1 year - 1 day')::date,
           extract(isodow FROM d) IN (6, 7)
    FROM generate_series(date_trunc('year', p_day), date_trunc('year', p_day) + interval '1 year - 1 day',
                         interval '1 day') AS g(day),
         LATERAL (SELECT g.day::date) AS c(d)
    ON CONFLICT ON CONSTRAINT d_calendar_pkey DO NOTHING;
END;
$$;

COMMENT ON PROCEDURE mart.extend_calendar(date) IS
    'Internal, called by mart.load_f_sales: adds the calendar year of the day passed when '
    'mart.d_calendar lacks that day (a DBA may CALL it to add a year ahead).';
