-- Brings mart.d_customer up to date (SCD1) for day p_date: its customers take the
-- attributes of their latest order. mart.load_dimension does the work, as it
-- does for the other dimensions; p_replaced_customers: its p_replaced_members.
CREATE OR REPLACE PROCEDURE mart.load_d_customer(p_date date, p_replaced_customers integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL mart.load_dimension('customer', p_date, p_replaced_customers);
END;
$$;

COMMENT ON PROCEDURE mart.load_d_customer(date, integer[]) IS
    'Internal, called by mart.load_f_sales; a DBA calls that instead. Brings mart.d_customer up to '
    'date for the day passed.';
