-- Merges a customer_research file COPYed into landing.customer_research into staging as the
-- delivery of the business days p_date_from..p_date_to (NULL, NULL: the
-- file's own first..last date), one row per (date_id, category_id, geo_id). p_touched_days comes
-- back with the days whose marts are to be rebuilt. See staging.merge_landing.
CREATE OR REPLACE PROCEDURE staging.load_customer_research(
    p_date_from   date DEFAULT NULL,
    p_date_to     date DEFAULT NULL,
    p_load_kind   text DEFAULT 'increment',
    p_source      text DEFAULT 'manual',
    p_file_name   text DEFAULT 'customer_research.csv',
    p_checksum    text DEFAULT NULL,
    p_allow_empty boolean DEFAULT false,
    INOUT p_touched_days date[] DEFAULT NULL)
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CALL staging.merge_landing(
        p_table => 'customer_research', p_key_columns => ARRAY['date_id', 'category_id', 'geo_id'],
        p_date_column => 'date_id', p_has_header => true,
        p_date_from => p_date_from, p_date_to => p_date_to,
        p_load_kind => p_load_kind, p_source => p_source, p_file_name => p_file_name, p_checksum => p_checksum,
        p_allow_empty => p_allow_empty, p_touched_days => p_touched_days);
END;
$$;

COMMENT ON PROCEDURE staging.load_customer_research(date, date, text, text, text, text, boolean, date[]) IS
    'Merges the customer_research file COPYed into landing.customer_research into staging; '
    'parameters as staging.load_user_order_log. Does not COMMIT.';
