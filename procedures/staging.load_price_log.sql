-- Replaces staging.price_log whole with landing.price_log (SPEC 4.1: the price
-- log is an undated snapshot); identical lines collapse to one, two prices
-- for one item are an error. Logs the load and empties landing.
CREATE OR REPLACE PROCEDURE staging.load_price_log(
    p_load_kind text DEFAULT 'increment',
    p_source    text DEFAULT 'manual',
    p_file_name text DEFAULT 'price_log.csv',
    p_checksum  text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_conflict    record;
    v_line_offset bigint;
    v_rows_read   bigint;
    v_rows_loaded bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('staging.price_log'));

    -- Report lines as a person sees them in the file: the loader numbers rows
    -- by physical line, a hand \copy by the file's id or in arrival order;
    -- either way the first row is line 1 (as the file has no header).
    SELECT 1 - min(l.line_no) INTO v_line_offset FROM landing.price_log AS l;

    SELECT first_copy.item_name,
           first_copy.line_no + v_line_offset AS first_line, other.line_no + v_line_offset AS other_line
    INTO v_conflict
    FROM (SELECT DISTINCT ON (l.item_name) l.*
          FROM landing.price_log AS l
          ORDER BY l.item_name, l.line_no) AS first_copy
    JOIN landing.price_log AS other ON other.item_name = first_copy.item_name
    WHERE other.price IS DISTINCT FROM first_copy.price
    ORDER BY other.line_no
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%: item % has two prices (lines % and %)',
            p_file_name, v_conflict.item_name, v_conflict.first_line, v_conflict.other_line
            USING ERRCODE = 'unique_violation';
    END IF;

    SELECT count(*), count(DISTINCT l.item_name)
    INTO v_rows_read, v_rows_loaded
    FROM landing.price_log AS l;

    DELETE FROM staging.price_log;

    INSERT INTO staging.price_log (item_name, price)
    SELECT DISTINCT ON (l.item_name) l.item_name, l.price
    FROM landing.price_log AS l
    ORDER BY l.item_name;

    DELETE FROM landing.price_log;

    CALL staging.log_load(
        p_file_kind => 'price_log', p_load_kind => p_load_kind, p_source => p_source,
        p_file_name => p_file_name, p_date_from => NULL, p_date_to => NULL,
        p_status => 'success', p_rows_read => v_rows_read, p_rows_loaded => v_rows_loaded,
        p_duplicates_dropped => v_rows_read - v_rows_loaded, p_out_of_date_rows => 0,
        p_checksum => p_checksum);
END;
$$;
