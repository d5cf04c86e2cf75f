-- Merges landing.<p_table> into staging.<p_table> (SPEC 4.1): rows dated
-- p_date_from..p_date_to replace those days whole, rows dated on other days
-- are upserted by p_key_columns, copies identical but for their line collapse
-- to one; copies that differ are an error. An undated file (p_date_column
-- NULL) is a snapshot and replaces the table whole. Logs the load and empties
-- landing. A NULL range means the file's own first..last date.
-- The staging.load_* procedures call this with each file's key and date.
CREATE OR REPLACE PROCEDURE staging.merge_landing(
    p_table       text,
    p_key_columns text[],
    p_date_column text,
    p_has_header  boolean,
    p_date_from   date,
    p_date_to     date,
    p_load_kind   text,
    p_source      text,
    p_file_name   text,
    p_checksum    text)
LANGUAGE plpgsql
AS $$
DECLARE
    v_landing       text := format('landing.%I', p_table);
    v_staging       text := format('staging.%I', p_table);
    v_content       text[];
    v_keys          text;
    v_date_from     date := p_date_from;
    v_date_to       date := p_date_to;
    v_line_offset   bigint;
    v_conflict_key  text;
    v_first_line    bigint;
    v_other_line    bigint;
    v_conflict_column text;
    v_rows_read     bigint;
    v_rows_loaded   bigint;
    v_out_of_date   bigint;
BEGIN
    -- Out-of-date rows may land on any day, so loads of a file serialize on
    -- its table rather than on a day.
    PERFORM pg_advisory_xact_lock(hashtext(v_staging));

    IF (p_date_from IS NULL) <> (p_date_to IS NULL) THEN
        RAISE EXCEPTION '%: give both p_date_from and p_date_to, or neither', p_file_name;
    END IF;
    IF p_date_column IS NOT NULL AND v_date_from IS NULL THEN
        EXECUTE format('SELECT min(%1$I)::date, max(%1$I)::date FROM %2$s', p_date_column, v_landing)
        INTO v_date_from, v_date_to;
    END IF;

    SELECT array_agg(a.attname::text ORDER BY a.attnum)
    INTO v_content
    FROM pg_attribute AS a
    WHERE a.attrelid = v_staging::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname <> ALL (p_key_columns);
    SELECT string_agg(format('%I', k), ', ') INTO v_keys FROM unnest(p_key_columns) AS k;

    -- Report lines as a person sees them in the file: the loader numbers rows
    -- by physical line, a hand \copy by the file's id or in arrival order;
    -- either way the first row is the line after the header, if any.
    EXECUTE format('SELECT %s - min(line_no) FROM %s', CASE WHEN p_has_header THEN 2 ELSE 1 END, v_landing)
    INTO v_line_offset;

    -- The first line whose content differs from the first copy of its key,
    -- and the first column in which it does.
    EXECUTE format(
        'SELECT %1$s, first_copy.line_no + $1, other.line_no + $1, CASE %6$s END
         FROM (SELECT DISTINCT ON (%2$s) * FROM %3$s ORDER BY %2$s, line_no) AS first_copy
         JOIN %3$s AS other USING (%2$s)
         WHERE (%4$s) IS DISTINCT FROM (%5$s)
         ORDER BY other.line_no
         LIMIT 1',
        (SELECT string_agg(format('%L || '' '' || first_copy.%I', k, k), ' || '', '' || ') FROM unnest(p_key_columns) AS k),
        v_keys, v_landing,
        (SELECT string_agg(format('other.%I', c), ', ') FROM unnest(v_content) AS c),
        (SELECT string_agg(format('first_copy.%I', c), ', ') FROM unnest(v_content) AS c),
        (SELECT string_agg(format('WHEN other.%1$I IS DISTINCT FROM first_copy.%1$I THEN %1$L', c), ' ')
         FROM unnest(v_content) AS c))
    INTO v_conflict_key, v_first_line, v_other_line, v_conflict_column
    USING v_line_offset;
    IF v_conflict_key IS NOT NULL THEN
        RAISE EXCEPTION '%: % has copies that differ (lines % and %, column %)',
            p_file_name, v_conflict_key, v_first_line, v_other_line, v_conflict_column
            USING ERRCODE = 'unique_violation';
    END IF;

    EXECUTE format(
        'SELECT count(*), count(DISTINCT (%1$s)), count(DISTINCT (%1$s)) FILTER (WHERE %2$s) FROM %3$s',
        v_keys,
        CASE WHEN p_date_column IS NULL THEN 'false'
             ELSE format('%I::date NOT BETWEEN $1 AND $2', p_date_column) END,
        v_landing)
    INTO v_rows_read, v_rows_loaded, v_out_of_date
    USING v_date_from, v_date_to;

    IF p_date_column IS NULL THEN
        EXECUTE format('DELETE FROM %s', v_staging);
    ELSE
        EXECUTE format('DELETE FROM %s WHERE %2$I >= $1 AND %2$I < $2 + 1', v_staging, p_date_column)
        USING v_date_from, v_date_to;
    END IF;

    EXECUTE format(
        'INSERT INTO %1$s (%2$s, %3$s)
         SELECT DISTINCT ON (%2$s) %2$s, %3$s FROM %4$s ORDER BY %2$s
         ON CONFLICT (%2$s) DO UPDATE SET %5$s',
        v_staging, v_keys,
        (SELECT string_agg(format('%I', c), ', ') FROM unnest(v_content) AS c),
        v_landing,
        (SELECT string_agg(format('%1$I = excluded.%1$I', c), ', ') FROM unnest(v_content) AS c));

    EXECUTE format('DELETE FROM %s', v_landing);

    CALL staging.log_load(
        p_file_kind => p_table, p_load_kind => p_load_kind, p_source => p_source,
        p_file_name => p_file_name, p_date_from => v_date_from, p_date_to => v_date_to,
        p_status => 'success', p_rows_read => v_rows_read, p_rows_loaded => v_rows_loaded,
        p_duplicates_dropped => v_rows_read - v_rows_loaded, p_out_of_date_rows => v_out_of_date,
        p_checksum => p_checksum);
END;
$$;
