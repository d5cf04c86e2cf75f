-- Brings mart.d_item up to date (SCD1) for day p_date: its items take the
-- attributes of their latest order. mart.load_dimension does the work, as it
-- does for the other dimensions; p_replaced_items: its p_replaced_members.
CREATE OR REPLACE PROCEDURE mart.load_d_item(p_date date, p_replaced_items integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL mart.load_dimension('item', p_date, p_replaced_items);
END;
$$;

COMMENT ON PROCEDURE mart.load_d_item(date, integer[]) IS
    'Internal, called by mart.load_f_sales; a DBA calls that instead. Brings mart.d_item up to date '
    'for the day passed (p_replaced_items: see the source).';
