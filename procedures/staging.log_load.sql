-- Writes one staging.load_log row: the staging merges log their success
-- with it, and staging.log_failed_load a failed load. No loader may call it
-- (a success row it wrote would record a load that never happened). A
-- success is also reported as a NOTICE, for whoever called.
CREATE OR REPLACE PROCEDURE staging.log_load(
    p_file_kind          text,
    p_load_kind          text,
    p_source             text,
    p_file_name          text,
    p_date_from          date,
    p_date_to            date,
    p_status             text,
    p_rows_read          bigint      DEFAULT NULL,
    p_rows_loaded        bigint      DEFAULT NULL,
    p_duplicates_dropped bigint      DEFAULT NULL,
    p_out_of_date_rows   bigint      DEFAULT NULL,
    p_checksum           text        DEFAULT NULL,
    p_error_message      text        DEFAULT NULL,
    p_started_at         timestamptz DEFAULT now())
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO staging.load_log (
        source, file_name, file_kind, load_kind, date_from, date_to,
        rows_read, rows_loaded, duplicates_dropped, out_of_date_rows,
        checksum, status, error_message, started_at, finished_at)
    VALUES (
        p_source, p_file_name, p_file_kind, p_load_kind, p_date_from, p_date_to,
        p_rows_read, p_rows_loaded, p_duplicates_dropped, p_out_of_date_rows,
        p_checksum, p_status, p_error_message, p_started_at, clock_timestamp());
    IF p_status = 'success' THEN
        RAISE NOTICE '%: % rows read, % loaded, % duplicate copies dropped, % out of date (days % .. %)',
            p_file_name, p_rows_read, p_rows_loaded, p_duplicates_dropped, p_out_of_date_rows,
            coalesce(p_date_from::text, '-'), coalesce(p_date_to::text, '-');
    END IF;
END;
$$;

COMMENT ON PROCEDURE staging.log_load(text, text, text, text, date, date, text, bigint, bigint, bigint, bigint, text,
                                      text, timestamptz) IS
    'Internal: writes a staging.load_log row. The staging merges log their successes with it, '
    'staging.log_failed_load the failures a loader records.';
