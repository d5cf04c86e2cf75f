-- The dated half of staging.merge_landing (SPEC 4.1): replaces the
-- deliveries of the business days p_date_from..p_date_to in
-- staging.<p_table>_delivery by the distinct rows of a file, which
-- merge_landing prepared in pg_temp.salesmart_delivered (each row delivered
-- on its own date clamped into the range). Then brings staging.<p_table>,
-- the current version of each key, up to date for the keys the replaced and
-- the new deliveries hold: the version from the latest delivery day that
-- carries the key, or no row when none does any more. Only rows that change
-- are written. p_touched_days comes back with the old and new dates of those
-- keys and every delivered day added.
--
-- Staging holds a row for every key that some delivery carries (this
-- procedure keeps it so). So a delivered key that staging does not hold and
-- that no replaced delivery held has no other delivery: its current version
-- is the delivered row, and it is simply inserted. That is most of a new
-- day's orders; only the other keys (re-delivered, re-dated, out of date)
-- take the full recomputation from the history.
--
-- Every lookup in staging and the history is a probe, of a primary key (one
-- per key, in key order) or of a row address: no statement joins the whole
-- staging table by a method the planner would choose.
CREATE OR REPLACE PROCEDURE staging.merge_delivery(
    p_table       text,
    p_key_columns text[],
    p_date_column text,
    p_date_from   date,
    p_date_to     date,
    INOUT p_touched_days date[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_staging   text := format('staging.%I', p_table);
    v_history   text := format('staging.%I', p_table || '_delivery');
    v_columns   text;
    v_content   text[];
    v_keys      text;
    v_c_keys    text;
    v_n_keys    text;
    v_a_keys    text;
    v_p_keys    text;
    v_h_keys    text;
    v_n_content text;
    v_p_content text;
    v_touched   date[];
    v_new_days  date[];
    v_affected  bigint;
BEGIN
    CALL staging.lock_warehouse();

    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
           array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname <> ALL (p_key_columns))
    INTO v_columns, v_content
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_staging::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT string_agg(format('%I', k), ', '), string_agg(format('c.%I', k), ', '),
           string_agg(format('n.%I', k), ', '), string_agg(format('a.%I', k), ', '),
           string_agg(format('p.%I', k), ', '), string_agg(format('h.%I', k), ', ')
    INTO v_keys, v_c_keys, v_n_keys, v_a_keys, v_p_keys, v_h_keys
    FROM unnest(p_key_columns) AS k;
    SELECT string_agg(format('n.%I', col), ', '), string_agg(format('p.%I', col), ', ')
    INTO v_n_content, v_p_content
    FROM unnest(v_content) AS col;

    -- The keys whose current version may change otherwise than by an insert:
    -- those the replaced deliveries held, and the delivered keys that
    -- staging holds already. The lookups of keys in staging and the history
    -- here are one primary-key probe per key, in key order (LIMIT keeps a
    -- LATERAL a probe): a join could hash the whole table instead, a cost
    -- that grows with the history and that stale statistics invite.
    EXECUTE format('CREATE TEMP TABLE salesmart_affected ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA',
                   v_keys, v_staging);
    EXECUTE format(
        'WITH replaced AS (DELETE FROM %1$s WHERE delivery_day BETWEEN $1 AND $2 RETURNING %2$s)
         INSERT INTO pg_temp.salesmart_affected
         SELECT %2$s FROM replaced
         UNION
         SELECT %4$s FROM pg_temp.salesmart_delivered AS n
         CROSS JOIN LATERAL (SELECT FROM %3$s AS c WHERE (%5$s) = (%4$s) LIMIT 1) AS held',
        v_history, v_keys, v_staging, v_n_keys, v_c_keys)
    USING p_date_from, p_date_to;
    GET DIAGNOSTICS v_affected = ROW_COUNT;
    ANALYZE pg_temp.salesmart_affected;

    -- In key order: the primary key's pages are visited in order, not at random.
    EXECUTE format(
        'INSERT INTO %1$s (delivery_day, %2$s)
         SELECT least(greatest(%3$I::date, $1), $2), %2$s FROM pg_temp.salesmart_delivered ORDER BY %4$s',
        v_history, v_columns, p_date_column, v_keys)
    USING p_date_from, p_date_to;

    -- The other delivered keys are new: their delivered row is current.
    EXECUTE format(
        'WITH inserted AS (
             INSERT INTO %1$s (%2$s)
             SELECT %2$s FROM pg_temp.salesmart_delivered AS n
             WHERE NOT EXISTS (SELECT FROM pg_temp.salesmart_affected AS a WHERE (%3$s) = (%4$s))
             ORDER BY %5$s
             RETURNING %6$I::date AS day)
         SELECT array_agg(day) FROM (SELECT DISTINCT day FROM inserted) AS days',
        v_staging, v_columns, v_a_keys, v_n_keys, v_keys, p_date_column)
    INTO v_new_days;

    IF v_affected > 0 THEN
        EXECUTE format(
            'CREATE TEMP TABLE salesmart_current ON COMMIT DROP AS
             SELECT h.*
             FROM (SELECT %1$s FROM pg_temp.salesmart_affected ORDER BY %1$s) AS a
             CROSS JOIN LATERAL (SELECT %2$s FROM %3$s AS h WHERE (%4$s) = (%5$s)
                                 ORDER BY h.delivery_day DESC LIMIT 1) AS h',
            v_keys, v_columns, v_history, v_h_keys, v_a_keys);
        ANALYZE pg_temp.salesmart_current;

        -- The current rows of the affected keys, before they change, with their
        -- row address in staging (salesmart_row): read from staging once, so
        -- that their old dates, and which rows are to be replaced or deleted,
        -- come from this small table instead of a join with the whole staging
        -- table each. The addresses hold to the end of the merge: no one else
        -- writes staging under the writer lock, and nothing below moves a row
        -- before the DELETE that uses them.
        EXECUTE format(
            'CREATE TEMP TABLE salesmart_previous ON COMMIT DROP AS
             SELECT c.*
             FROM (SELECT %4$s FROM pg_temp.salesmart_affected ORDER BY %4$s) AS a
             CROSS JOIN LATERAL (SELECT c.ctid AS salesmart_row, c.* FROM %1$s AS c
                                 WHERE (%2$s) = (%3$s) LIMIT 1) AS c',
            v_staging, v_c_keys, v_a_keys, v_keys);
        ANALYZE pg_temp.salesmart_previous;

        EXECUTE format(
            'SELECT array_agg(DISTINCT day)
             FROM (SELECT %1$I::date FROM pg_temp.salesmart_previous
                   UNION ALL
                   SELECT %1$I::date FROM pg_temp.salesmart_current) AS touched(day)',
            p_date_column)
        INTO v_touched;

        -- A staging row goes when its key has no current version any more, or
        -- one that differs: found by its row address (a TID scan, one fetch per
        -- row), then the keys' new versions are inserted (a primary-key probe
        -- each). Rows that stay as they are are not written.
        EXECUTE format(
            'DELETE FROM %1$s
             WHERE ctid = ANY (ARRAY(
                 SELECT p.salesmart_row FROM pg_temp.salesmart_previous AS p
                 WHERE NOT EXISTS (SELECT FROM pg_temp.salesmart_current AS n
                                   WHERE (%2$s) = (%3$s) AND (%4$s) IS NOT DISTINCT FROM (%5$s))))',
            v_staging, v_n_keys, v_p_keys, v_n_content, v_p_content);
        EXECUTE format(
            'INSERT INTO %1$s (%2$s)
             SELECT %2$s FROM pg_temp.salesmart_current AS n
             WHERE NOT EXISTS (SELECT FROM pg_temp.salesmart_previous AS p
                               WHERE (%3$s) = (%4$s) AND (%5$s) IS NOT DISTINCT FROM (%6$s))
             ORDER BY %7$s',
            v_staging, v_columns, v_p_keys, v_n_keys, v_p_content, v_n_content, v_keys);
        DROP TABLE pg_temp.salesmart_current, pg_temp.salesmart_previous;
    END IF;
    DROP TABLE pg_temp.salesmart_affected;

    SELECT array_agg(DISTINCT day ORDER BY day)
    INTO p_touched_days
    FROM unnest(p_touched_days || v_touched || v_new_days
                || ARRAY(SELECT generate_series(p_date_from, p_date_to, interval '1 day')::date)) AS day;
END;
$$;

COMMENT ON PROCEDURE staging.merge_delivery(text, text[], text, date, date, date[]) IS
    'Internal, the dated half of staging.merge_landing: replaces the deliveries of a range of days '
    'and recomputes the current version of their keys; call the staging.load_* procedures instead.';
