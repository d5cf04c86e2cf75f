-- Merges landing.<p_table> into staging as the delivery of the business days
-- p_date_from..p_date_to (docs/rules.md, "Deliveries"); a NULL range means
-- the file's own first..last date. Copies identical but for their line
-- collapse to one; copies that differ are an error. Every row belongs to the
-- delivery of its own date, clamped into the range: in an increment (one day)
-- that is the day, whatever the row's date; rows dated outside the range are
-- counted as out of date. A loader may leave copies of lines it sent out of
-- its COPY (transport: the rows are the same); p_copies_dropped says how
-- many, and they count as read and as dropped copies.
--
-- staging.merge_delivery then replaces the deliveries of the range and
-- recomputes the current version of the keys they hold; p_touched_days comes
-- back with the business days it may have changed added: the days whose
-- marts are to be rebuilt. An undated file (p_date_column NULL: price_log) is
-- a snapshot and replaces the table whole. Logs the load and empties
-- landing. The staging.load_* procedures call this with each file's key and
-- date. Its sorts and hashes run over a whole file at once: they get the
-- memory to do it without spilling (work_mem, for this call only); its
-- ANALYZEs need row counts and key statistics only, which a small sample
-- gives (default_statistics_target).
--
-- Landing is emptied by TRUNCATE, which leaves no dead rows behind (landing
-- has no autovacuum: a DELETE's dead rows would stay for good, and every
-- later scan of landing would read them). TRUNCATE needs landing to itself:
-- the lock is taken first, without waiting, so that no other session adds
-- rows while the file is merged. When another session holds landing (a
-- hand \copy in an open transaction), the merge goes on beside it and
-- empties landing by DELETE instead, so it never waits on landing and
-- cannot deadlock; the next load's TRUNCATE clears what DELETE left.
CREATE OR REPLACE PROCEDURE staging.merge_landing(
    p_table       text,
    p_key_columns text[],
    p_date_column text,
    p_has_header  boolean,
    p_date_from   date,
    p_date_to     date,
    p_load_kind   text,
    p_source      text,
    p_file_name   text,
    p_checksum    text,
    p_allow_empty boolean,
    p_copies_dropped bigint,
    INOUT p_touched_days date[] DEFAULT NULL)
LANGUAGE plpgsql
SET work_mem = '256MB' SET jit = off SET default_statistics_target = 10
AS $$
DECLARE
    v_landing         text := format('landing.%I', p_table);
    v_staging         text := format('staging.%I', p_table);
    v_columns         text;
    v_content         text[];
    v_keys            text;
    v_date_from       date := p_date_from;
    v_date_to         date := p_date_to;
    v_line_offset     bigint;
    v_has_conflicts   boolean;
    v_conflict_key    text;
    v_first_line      bigint;
    v_other_line      bigint;
    v_conflict_column text;
    v_rows_read       bigint;
    v_rows_loaded     bigint;
    v_out_of_date     bigint;
    v_landing_empty   boolean;
    v_landing_locked  boolean;
BEGIN
    CALL staging.lock_warehouse();
    BEGIN
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', v_landing);
        v_landing_locked := true;
    EXCEPTION WHEN lock_not_available THEN
        v_landing_locked := false;
    END;

    IF (p_date_from IS NULL) <> (p_date_to IS NULL) THEN
        RAISE EXCEPTION '%: give both p_date_from and p_date_to, or neither', p_file_name;
    END IF;
    IF p_date_from > p_date_to THEN
        RAISE EXCEPTION '%: p_date_from % is after p_date_to %', p_file_name, p_date_from, p_date_to;
    END IF;
    IF p_copies_dropped IS NULL OR p_copies_dropped < 0 THEN
        RAISE EXCEPTION '%: p_copies_dropped must be 0 or more, not %',
            p_file_name, coalesce(p_copies_dropped::text, 'NULL');
    END IF;
    -- A \copy that failed outside a transaction leaves landing empty, and
    -- merging nothing would wipe the delivered days and log a success.
    IF NOT p_allow_empty THEN
        EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s)', v_landing) INTO STRICT v_landing_empty;
        IF v_landing_empty THEN
            RAISE EXCEPTION '%: % is empty: did the \copy fail? Nothing was loaded', p_file_name, v_landing
                USING HINT = 'to deliver a file without rows on purpose, CALL with p_allow_empty => true';
        END IF;
    END IF;

    -- Statistics of what this transaction COPYed, whatever an ANALYZE that
    -- ran while the file was being copied left (reltuples 0, pages > 0): the
    -- plans below must not take a million rows for none.
    EXECUTE format('ANALYZE %s', v_landing);

    -- The file's columns: all of staging's but the delivery day a dated staging table keeps.
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
           array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname <> ALL (p_key_columns))
    INTO v_columns, v_content
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_staging::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname <> 'delivery_day';
    SELECT string_agg(format('%I', k), ', ') INTO v_keys FROM unnest(p_key_columns) AS k;

    -- One pass over the file: its distinct rows, with the line of their
    -- first copy and their number of copies; kept in key order, the order
    -- in which staging.merge_delivery looks them up and writes them (its
    -- sorts then find them sorted).
    EXECUTE format(
        'CREATE TEMP TABLE salesmart_delivered ON COMMIT DROP AS
         SELECT %1$s, min(line_no) AS line_no, count(*) AS copies FROM %2$s GROUP BY %1$s ORDER BY %3$s',
        v_columns, v_landing, v_keys);
    ANALYZE pg_temp.salesmart_delivered;

    IF p_date_column IS NOT NULL AND v_date_from IS NULL THEN
        EXECUTE format('SELECT min(%1$I)::date, max(%1$I)::date FROM pg_temp.salesmart_delivered', p_date_column)
        INTO v_date_from, v_date_to;
    END IF;
    EXECUTE format(
        'SELECT coalesce(sum(copies), 0) + $3, count(*), count(*) FILTER (WHERE %s) FROM pg_temp.salesmart_delivered',
        CASE WHEN p_date_column IS NULL THEN 'false'
             ELSE format('%I::date NOT BETWEEN $1 AND $2', p_date_column) END)
    INTO v_rows_read, v_rows_loaded, v_out_of_date
    USING v_date_from, v_date_to, p_copies_dropped;

    -- Copies of a key that differ are an error. A day's delivery (and an
    -- undated snapshot) keeps one row per key, so the primary key of the
    -- table written refuses them below, at no cost; a delivery of several
    -- days, whose copies may belong to different days, is checked here first.
    BEGIN
        IF p_date_column IS NOT NULL AND v_date_from < v_date_to THEN
            EXECUTE format('SELECT EXISTS (SELECT FROM pg_temp.salesmart_delivered GROUP BY %s HAVING count(*) > 1)',
                           v_keys)
            INTO STRICT v_has_conflicts;
            IF v_has_conflicts THEN
                RAISE unique_violation;
            END IF;
        END IF;

        IF p_date_column IS NULL THEN
            EXECUTE format('DELETE FROM %s', v_staging);
            EXECUTE format('INSERT INTO %1$s (%2$s) SELECT %2$s FROM pg_temp.salesmart_delivered ORDER BY %3$s',
                           v_staging, v_columns, v_keys);
        ELSIF v_date_from IS NOT NULL THEN
            CALL staging.merge_delivery(
                p_table => p_table, p_key_columns => p_key_columns, p_date_column => p_date_column,
                p_date_from => v_date_from, p_date_to => v_date_to, p_touched_days => p_touched_days);
        END IF;
    EXCEPTION WHEN unique_violation THEN
        -- Report lines as a person sees them in the file: the loader numbers
        -- rows by physical line, a hand \copy by the file's id or in arrival
        -- order; either way the first row is the line after the header, if any.
        EXECUTE format('SELECT %s - min(line_no) FROM pg_temp.salesmart_delivered',
                       CASE WHEN p_has_header THEN 2 ELSE 1 END)
        INTO v_line_offset;
        -- The first line whose content differs from the first copy of its
        -- key, and the first column in which it does.
        EXECUTE format(
            'SELECT %1$s, first_line + $1, line_no + $1, CASE %2$s END
             FROM (SELECT d.*, first_value(line_no) OVER first_copy AS first_line, %3$s
                   FROM pg_temp.salesmart_delivered AS d
                   WINDOW first_copy AS (PARTITION BY %4$s ORDER BY line_no)) AS versions
             WHERE line_no <> first_line
             ORDER BY line_no
             LIMIT 1',
            (SELECT string_agg(format('%L || '' '' || %I', k, k), ' || '', '' || ') FROM unnest(p_key_columns) AS k),
            (SELECT string_agg(format('WHEN %1$I IS DISTINCT FROM %2$I THEN %1$L', c, 'first_' || c), ' ')
             FROM unnest(v_content) AS c),
            (SELECT string_agg(format('first_value(%1$I) OVER first_copy AS %2$I', c, 'first_' || c), ', ')
             FROM unnest(v_content) AS c),
            v_keys)
        INTO v_conflict_key, v_first_line, v_other_line, v_conflict_column
        USING v_line_offset;
        IF v_conflict_key IS NOT NULL THEN
            RAISE EXCEPTION '%: % has copies that differ (lines % and %, column %)',
                p_file_name, v_conflict_key, v_first_line, v_other_line, v_conflict_column
                USING ERRCODE = 'unique_violation';
        END IF;
        RAISE;  -- a violation of another cause
    END;
    DROP TABLE pg_temp.salesmart_delivered;

    IF v_landing_locked THEN
        EXECUTE format('TRUNCATE %s', v_landing);
    ELSE
        EXECUTE format('DELETE FROM %s', v_landing);
    END IF;

    CALL staging.log_load(
        p_file_kind => p_table, p_load_kind => p_load_kind, p_source => p_source,
        p_file_name => p_file_name, p_date_from => v_date_from, p_date_to => v_date_to,
        p_status => 'success', p_rows_read => v_rows_read, p_rows_loaded => v_rows_loaded,
        p_duplicates_dropped => v_rows_read - v_rows_loaded, p_out_of_date_rows => v_out_of_date,
        p_checksum => p_checksum);
END;
$$;

COMMENT ON PROCEDURE staging.merge_landing(text, text[], text, boolean, date, date, text, text, text, text, boolean, bigint, date[]) IS
    'Internal, the rules behind every staging.load_* procedure (delivery replace, copy dedup, '
    'conflicting copies refused, an empty landing table refused unless p_allow_empty, counts '
    'logged); call those instead.';
