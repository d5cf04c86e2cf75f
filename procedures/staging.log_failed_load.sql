-- Writes the failed staging.load_log row of one file of a load that was
-- rolled back: what the Python loader records after the rollback. A loader
-- may write failures only; success rows come from the staging merges alone
-- (staging.log_load, which no loader may call), so the log cannot be made
-- to show a load that did not happen.
CREATE OR REPLACE PROCEDURE staging.log_failed_load(
    p_file_kind     text,
    p_load_kind     text,
    p_source        text,
    p_file_name     text,
    p_date_from     date,
    p_date_to       date,
    p_error_message text,
    p_started_at    timestamptz DEFAULT now())
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(p_error_message, '') = '' THEN
        RAISE EXCEPTION '%: a failed load needs its error message', p_file_name;
    END IF;
    CALL staging.log_load(
        p_file_kind => p_file_kind, p_load_kind => p_load_kind, p_source => p_source,
        p_file_name => p_file_name, p_date_from => p_date_from, p_date_to => p_date_to,
        p_status => 'failed', p_error_message => p_error_message, p_started_at => p_started_at);
END;
$$;

COMMENT ON PROCEDURE staging.log_failed_load(text, text, text, text, date, date, text, timestamptz) IS
    'Writes a failed staging.load_log row for one file of a rolled-back load, with its error message: '
    'how a loader records a failure (success rows come from the staging merges only).';
