-- Brings mart.d_city up to date (SCD1) for day p_date: its cities take the
-- attributes of their latest order. mart.load_dimension does the work, as it
-- does for the other dimensions; p_replaced_cities: its p_replaced_members.
CREATE OR REPLACE PROCEDURE mart.load_d_city(p_date date, p_replaced_cities integer[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    CALL mart.load_dimension('city', p_date, p_replaced_cities);
END;
$$;

COMMENT ON PROCEDURE mart.load_d_city(date, integer[]) IS
    'Internal, called by mart.load_f_sales; a DBA calls that instead. Brings mart.d_city up to date '
    'for the day passed (p_replaced_cities: see the source).';
