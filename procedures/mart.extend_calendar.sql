-- Adds to mart.d_calendar the whole calendar year of p_day when it lacks
-- p_day, so f_sales can take an order of any valid date (years 0001 to
-- 9999) rather than refuse it; the baseline's years 2000..2099 need nothing.
--
-- The calendar keeps the columns the warehouse has: the baseline's, or those
-- of an upgraded legacy warehouse, whose date dimension may be wider (epoch,
-- day_suffix, week_of_year_iso, mmyyyy, mmddyyyy, ...) and hold only the
-- years its old loader needed. Every column is filled by its name, never by
-- its position; generated columns (iso_year, iso_week) fill themselves; a
-- column this procedure does not know is left to its default or NULL, and a
-- NOT NULL one without a default stops the call, named, rather than guessed.
-- Names of days, months and quarters and day suffixes are spelled as the
-- calendar already spells them (the baseline writes Q1, the legacy date
-- dimension First): taken from a day with the same weekday, month, quarter or
-- day of the month, and computed only when the calendar has none.
CREATE OR REPLACE PROCEDURE mart.extend_calendar(p_day date)
LANGUAGE plpgsql
AS $$
DECLARE
    v_columns   text;
    v_values    text;
    v_spellings text;
    v_unknown   text;
BEGIN
    IF EXISTS (SELECT FROM mart.d_calendar AS c WHERE c.date_actual = p_day) THEN
        RETURN;
    END IF;
    CALL staging.lock_warehouse();

    -- known.computed: the value for the new day d; known.spelled_by: for a
    -- name, the key (%s: a date) of the days that share its spelling.
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) FILTER (WHERE known.computed IS NOT NULL),
           string_agg(CASE WHEN known.spelled_by IS NULL THEN known.computed
                           ELSE format('coalesce((SELECT s.spelling FROM %I AS s WHERE s.key = %s), %s)',
                                       a.attname || '_spelling', format(known.spelled_by, 'new_day.d'),
                                       known.computed) END,
                      ', ' ORDER BY a.attnum) FILTER (WHERE known.computed IS NOT NULL),
           string_agg(format('%1$I AS MATERIALIZED (SELECT DISTINCT ON (1) %2$s AS key, c.%3$I AS spelling'
                             ' FROM mart.d_calendar AS c ORDER BY 1, c.date_actual DESC)',
                             a.attname || '_spelling', format(known.spelled_by, 'c.date_actual'), a.attname),
                      ', ') FILTER (WHERE known.spelled_by IS NOT NULL),
           min(a.attname) FILTER (WHERE known.computed IS NULL AND a.attnotnull AND NOT a.atthasdef
                                    AND a.attidentity = '')
    INTO v_columns, v_values, v_spellings, v_unknown
    FROM pg_catalog.pg_attribute AS a
    LEFT JOIN (VALUES
        ('date_id', 'to_char(new_day.d, ''YYYYMMDD'')::integer', NULL),
        ('date_actual', 'new_day.d', NULL),
        ('epoch', 'extract(epoch FROM new_day.d)', NULL),
        ('day_suffix', 'to_char(new_day.d, ''fmDDth'')', 'extract(day FROM %s)'),
        ('day_name', 'trim(to_char(new_day.d, ''Day''))', 'extract(isodow FROM %s)'),
        ('day_of_week', 'extract(isodow FROM new_day.d)', NULL),
        ('day_of_month', 'extract(day FROM new_day.d)', NULL),
        ('day_of_quarter', 'new_day.d - date_trunc(''quarter'', new_day.d)::date + 1', NULL),
        ('day_of_year', 'extract(doy FROM new_day.d)', NULL),
        ('week_of_month', 'to_char(new_day.d, ''W'')::integer', NULL),
        ('week_of_year', 'extract(week FROM new_day.d)', NULL),
        ('week_of_year_iso', 'to_char(new_day.d, ''IYYY"-W"IW-ID'')', NULL),
        ('month_actual', 'extract(month FROM new_day.d)', NULL),
        ('month_name', 'trim(to_char(new_day.d, ''Month''))', 'extract(month FROM %s)'),
        ('month_name_abbreviated', 'to_char(new_day.d, ''Mon'')', 'extract(month FROM %s)'),
        ('quarter_actual', 'extract(quarter FROM new_day.d)', NULL),
        ('quarter_name', '''Q'' || extract(quarter FROM new_day.d)', 'extract(quarter FROM %s)'),
        ('year_actual', 'extract(year FROM new_day.d)', NULL),
        ('iso_year', 'extract(isoyear FROM new_day.d)', NULL),
        ('iso_week', 'extract(week FROM new_day.d)', NULL),
        ('first_day_of_week', 'date_trunc(''week'', new_day.d)::date', NULL),
        ('last_day_of_week', 'date_trunc(''week'', new_day.d)::date + 6', NULL),
        ('first_day_of_month', 'date_trunc(''month'', new_day.d)::date', NULL),
        ('last_day_of_month', '(date_trunc(''month'', new_day.d) + interval ''1 month - 1 day'')::date', NULL),
        ('first_day_of_quarter', 'date_trunc(''quarter'', new_day.d)::date', NULL),
        ('last_day_of_quarter', '(date_trunc(''quarter'', new_day.d) + interval ''3 months - 1 day'')::date', NULL),
        ('first_day_of_year', 'date_trunc(''year'', new_day.d)::date', NULL),
        ('last_day_of_year', '(date_trunc(''year'', new_day.d) + interval ''1 year - 1 day'')::date', NULL),
        ('mmyyyy', 'to_char(new_day.d, ''MMYYYY'')', NULL),
        ('mmddyyyy', 'to_char(new_day.d, ''MMDDYYYY'')', NULL),
        ('weekend_indr', 'extract(isodow FROM new_day.d) IN (6, 7)', NULL)
    ) AS known(column_name, computed, spelled_by) ON known.column_name = a.attname
    WHERE a.attrelid = 'mart.d_calendar'::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';

    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'mart.extend_calendar: cannot add year % to mart.d_calendar: its column "%" is NOT NULL, '
                        'has no default and is not one this procedure knows how to compute; give it a default, '
                        'or add the year''s days yourself', extract(year FROM p_day), v_unknown;
    END IF;

    -- The whole year, whatever days of it the calendar holds already (any
    -- unique key of the table, whatever its name, says which).
    EXECUTE format(
        '%sINSERT INTO mart.d_calendar (%s)
         SELECT %s
         FROM generate_series(date_trunc(''year'', $1), date_trunc(''year'', $1) + interval ''1 year - 1 day'',
                              interval ''1 day'') AS g(day),
              LATERAL (SELECT g.day::date) AS new_day(d)
         ON CONFLICT DO NOTHING',
        CASE WHEN v_spellings IS NOT NULL THEN 'WITH ' || v_spellings || ' ' ELSE '' END, v_columns, v_values)
    USING p_day;
END;
$$;

COMMENT ON PROCEDURE mart.extend_calendar(date) IS
    'Internal, called by mart.load_f_sales: adds the calendar year of the day passed when '
    'mart.d_calendar lacks that day (a DBA may CALL it to add a year ahead). Fills every column it '
    'knows by name and refuses, naming it, a NOT NULL column without a default that it does not know.';
