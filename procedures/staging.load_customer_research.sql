-- Merges landing.customer_research into staging.customer_research (SPEC 4.1):
-- rows dated p_date_from..p_date_to replace those days whole, rows dated on
-- other days are upserted by (date_id, category_id, geo_id), identical copies
-- collapse to one; copies that differ are an error. Logs the load and empties
-- landing. A NULL range means the file's own first..last date.
CREATE OR REPLACE PROCEDURE staging.load_customer_research(
    p_date_from date DEFAULT NULL,
    p_date_to   date DEFAULT NULL,
    p_load_kind text DEFAULT 'increment',
    p_source    text DEFAULT 'manual',
    p_file_name text DEFAULT 'customer_research.csv',
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
    PERFORM pg_advisory_xact_lock(hashtext('staging.customer_research'));

    IF (p_date_from IS NULL) <> (p_date_to IS NULL) THEN
        RAISE EXCEPTION 'staging.load_customer_research: give both p_date_from and p_date_to, or neither';
    END IF;
    IF v_date_from IS NULL THEN
        SELECT min(l.date_id)::date, max(l.date_id)::date
        INTO v_date_from, v_date_to
        FROM landing.customer_research AS l;
    END IF;

    -- Report lines as a person sees them in the file: the loader numbers rows
    -- by physical line, a hand \copy by the file's id or in arrival order;
    -- either way the first row is line 2 (after the header).
    SELECT 2 - min(l.line_no) INTO v_line_offset FROM landing.customer_research AS l;

    SELECT first_copy.date_id, first_copy.category_id, first_copy.geo_id,
           first_copy.line_no + v_line_offset AS first_line, other.line_no + v_line_offset AS other_line
    INTO v_conflict
    FROM (SELECT DISTINCT ON (l.date_id, l.category_id, l.geo_id) l.*
          FROM landing.customer_research AS l
          ORDER BY l.date_id, l.category_id, l.geo_id, l.line_no) AS first_copy
    JOIN landing.customer_research AS other
      ON (other.date_id, other.category_id, other.geo_id)
       = (first_copy.date_id, first_copy.category_id, first_copy.geo_id)
    WHERE (other.sales_qty, other.sales_amt) IS DISTINCT FROM (first_copy.sales_qty, first_copy.sales_amt)
    ORDER BY other.line_no
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%: (date_id %, category_id %, geo_id %) has copies that differ (lines % and %)',
            p_file_name, v_conflict.date_id, v_conflict.category_id, v_conflict.geo_id,
            v_conflict.first_line, v_conflict.other_line
            USING ERRCODE = 'unique_violation';
    END IF;

    SELECT count(*),
           count(DISTINCT (l.date_id, l.category_id, l.geo_id)),
           count(DISTINCT (l.date_id, l.category_id, l.geo_id))
               FILTER (WHERE l.date_id::date NOT BETWEEN v_date_from AND v_date_to)
    INTO v_rows_read, v_rows_loaded, v_out_of_date
    FROM landing.customer_research AS l;

    DELETE FROM staging.customer_research AS s
    WHERE s.date_id >= v_date_from AND s.date_id < v_date_to + 1;

    INSERT INTO staging.customer_research AS s (date_id, category_id, geo_id, sales_qty, sales_amt)
    SELECT DISTINCT ON (l.date_id, l.category_id, l.geo_id)
           l.date_id, l.category_id, l.geo_id, l.sales_qty, l.sales_amt
    FROM landing.customer_research AS l
    ORDER BY l.date_id, l.category_id, l.geo_id
    ON CONFLICT ON CONSTRAINT customer_research_pkey DO UPDATE
    SET sales_qty = excluded.sales_qty, sales_amt = excluded.sales_amt;

    DELETE FROM landing.customer_research;

    CALL staging.log_load(
        p_file_kind => 'customer_research', p_load_kind => p_load_kind, p_source => p_source,
        p_file_name => p_file_name, p_date_from => v_date_from, p_date_to => v_date_to,
        p_status => 'success', p_rows_read => v_rows_read, p_rows_loaded => v_rows_loaded,
        p_duplicates_dropped => v_rows_read - v_rows_loaded, p_out_of_date_rows => v_out_of_date,
        p_checksum => p_checksum);
END;
$$;
