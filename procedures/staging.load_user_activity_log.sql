-- Merges landing.user_activity_log into staging.user_activity_log (SPEC 4.1):
-- rows dated p_date_from..p_date_to replace those days whole, rows dated on
-- other days are upserted by uniq_id, copies identical but for the line
-- collapse to one; copies that differ are an error. Logs the load and empties
-- landing. A NULL range means the file's own first..last date.
CREATE OR REPLACE PROCEDURE staging.load_user_activity_log(
    p_date_from date DEFAULT NULL,
    p_date_to   date DEFAULT NULL,
    p_load_kind text DEFAULT 'increment',
    p_source    text DEFAULT 'manual',
    p_file_name text DEFAULT 'user_activity_log.csv',
    p_checksum  text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_date_from   date := p_date_from;
    v_date_to     date := p_date_to;
    v_conflict    record;
    v_line_offset bigint;
    v_rows_read   bigint;
    v_rows_loaded bigint;
    v_out_of_date bigint;
BEGIN
    -- Out-of-date rows may land on any day, so loads of this file serialize
    -- on the table rather than on a day.
    PERFORM pg_advisory_xact_lock(hashtext('staging.user_activity_log'));

    IF (p_date_from IS NULL) <> (p_date_to IS NULL) THEN
        RAISE EXCEPTION 'staging.load_user_activity_log: give both p_date_from and p_date_to, or neither';
    END IF;
    IF v_date_from IS NULL THEN
        SELECT min(l.date_time)::date, max(l.date_time)::date
        INTO v_date_from, v_date_to
        FROM landing.user_activity_log AS l;
    END IF;

    -- Report lines as a person sees them in the file: the loader numbers rows
    -- by physical line, a hand \copy by the file's id or in arrival order;
    -- either way the first row is line 2 (after the header).
    SELECT 2 - min(l.line_no) INTO v_line_offset FROM landing.user_activity_log AS l;

    SELECT first_copy.uniq_id,
           first_copy.line_no + v_line_offset AS first_line, other.line_no + v_line_offset AS other_line
    INTO v_conflict
    FROM (SELECT DISTINCT ON (l.uniq_id) l.*
          FROM landing.user_activity_log AS l
          ORDER BY l.uniq_id, l.line_no) AS first_copy
    JOIN landing.user_activity_log AS other ON other.uniq_id = first_copy.uniq_id
    WHERE (other.date_time, other.action_id, other.customer_id, other.quantity)
          IS DISTINCT FROM
          (first_copy.date_time, first_copy.action_id, first_copy.customer_id, first_copy.quantity)
    ORDER BY other.line_no
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%: uniq_id % has copies that differ (lines % and %)',
            p_file_name, v_conflict.uniq_id, v_conflict.first_line, v_conflict.other_line
            USING ERRCODE = 'unique_violation';
    END IF;

    SELECT count(*),
           count(DISTINCT l.uniq_id),
           count(DISTINCT l.uniq_id) FILTER (WHERE l.date_time::date NOT BETWEEN v_date_from AND v_date_to)
    INTO v_rows_read, v_rows_loaded, v_out_of_date
    FROM landing.user_activity_log AS l;

    DELETE FROM staging.user_activity_log AS s
    WHERE s.date_time >= v_date_from AND s.date_time < v_date_to + 1;

    INSERT INTO staging.user_activity_log AS s (uniq_id, date_time, action_id, customer_id, quantity)
    SELECT DISTINCT ON (l.uniq_id) l.uniq_id, l.date_time, l.action_id, l.customer_id, l.quantity
    FROM landing.user_activity_log AS l
    ORDER BY l.uniq_id
    ON CONFLICT ON CONSTRAINT user_activity_log_pkey DO UPDATE
    SET date_time = excluded.date_time, action_id = excluded.action_id,
        customer_id = excluded.customer_id, quantity = excluded.quantity;

    DELETE FROM landing.user_activity_log;

    CALL staging.log_load(
        p_file_kind => 'user_activity_log', p_load_kind => p_load_kind, p_source => p_source,
        p_file_name => p_file_name, p_date_from => v_date_from, p_date_to => v_date_to,
        p_status => 'success', p_rows_read => v_rows_read, p_rows_loaded => v_rows_loaded,
        p_duplicates_dropped => v_rows_read - v_rows_loaded, p_out_of_date_rows => v_out_of_date,
        p_checksum => p_checksum);
END;
$$;
