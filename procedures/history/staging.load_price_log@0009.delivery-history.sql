-- Replaces staging.price_log whole with the price_log file COPYed into
-- landing.price_log: an undated snapshot, one row per item_name. See
-- staging.merge_landing.
CREATE OR REPLACE PROCEDURE staging.load_price_log(
    p_load_kind   text DEFAULT 'increment',
    p_source      text DEFAULT 'manual',
    p_file_name   text DEFAULT 'price_log.csv',
    p_checksum    text DEFAULT NULL,
    p_allow_empty boolean DEFAULT false)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_touched_days date[];  -- a snapshot has no business days: stays NULL
BEGIN
    CALL staging.merge_landing(
        p_table => 'price_log', p_key_columns => ARRAY['item_name'],
        p_date_column => NULL, p_has_header => false,
        p_date_from => NULL, p_date_to => NULL,
        p_load_kind => p_load_kind, p_source => p_source, p_file_name => p_file_name, p_checksum => p_checksum,
        p_allow_empty => p_allow_empty, p_touched_days => v_touched_days);
END;
$$;

COMMENT ON PROCEDURE staging.load_price_log(text, text, text, text, boolean) IS
    'Replaces staging.price_log whole with the price_log file COPYed into landing.price_log (no '
    'dates). Pass p_load_kind, p_source, p_file_name and p_checksum for staging.load_log. An empty '
    'landing table is refused (a failed \copy) unless p_allow_empty => true: an empty file on '
    'purpose, which empties staging.price_log. Does not COMMIT.';
