-- The dated half of staging.merge_landing (docs/rules.md, "Deliveries"):
-- replaces the deliveries of the business days p_date_from..p_date_to by the
-- distinct rows of a file, which merge_landing prepared in
-- pg_temp.salesmart_delivered (each row delivered on its own date clamped
-- into the range), and keeps the current version of every key they touch: the
-- one from the latest delivery day that carries the key, or no row when none
-- does any more.
--
-- staging.<p_table> holds each key's current version with its delivery_day;
-- staging.<p_table>_superseded the versions of the other deliveries that
-- carry the key, all older. So a delivered key that staging does not hold,
-- and that no replaced delivery held, has no other version: it is simply
-- inserted, written once. That is most of a new day's rows. The other keys
-- (re-delivered, re-dated, out of date, and those of the replaced
-- deliveries) are recomputed from all their versions: the latest becomes or
-- stays current, the others are superseded. Only rows that change are
-- written. p_touched_days comes back with the old and new dates of the keys
-- whose current version changed, and every delivered day, added.
--
-- Every lookup in staging and the superseded versions is a probe: of a
-- primary key (one per key, in key order: LIMIT keeps a LATERAL a probe), of
-- a day's rows by the date index, or of a row address; no statement joins a
-- whole table by a method the planner would choose, a cost that would grow
-- with the history. A new day needs no lookup of its keys at all: it goes
-- in whole, and staging's primary key says whether it held any of them.
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
    v_staging       text := format('staging.%I', p_table);
    v_superseded    text := format('staging.%I', p_table || '_superseded');
    v_columns       text;
    v_h_columns     text;
    v_content       text[];
    v_keys          text;
    v_c_keys        text;
    v_n_keys        text;
    v_a_keys        text;
    v_p_keys        text;
    v_v_keys        text;
    v_h_keys        text;
    v_p_version     text;
    v_v_version     text;
    v_day           text;
    v_touched       date[];
    v_new_days      date[];
    v_affected      bigint;
    v_held          bigint;
    v_all_new       boolean := false;
    v_conflicts     boolean;
    v_current_again boolean;
    v_gone          text;
BEGIN
    CALL staging.lock_warehouse();

    -- The file's columns (staging's own delivery_day aside), and the key.
    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
           string_agg(format('h.%I', a.attname), ', ' ORDER BY a.attnum),
           array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname <> ALL (p_key_columns))
    INTO v_columns, v_h_columns, v_content
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = v_staging::regclass AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attname <> 'delivery_day';
    SELECT string_agg(format('%I', k), ', '), string_agg(format('c.%I', k), ', '),
           string_agg(format('n.%I', k), ', '), string_agg(format('a.%I', k), ', '),
           string_agg(format('p.%I', k), ', '), string_agg(format('v.%I', k), ', '),
           string_agg(format('h.%I', k), ', ')
    INTO v_keys, v_c_keys, v_n_keys, v_a_keys, v_p_keys, v_v_keys, v_h_keys
    FROM unnest(p_key_columns) AS k;
    -- A version: its delivery day and content.
    SELECT 'p.delivery_day, ' || string_agg(format('p.%I', col), ', '),
           'v.delivery_day, ' || string_agg(format('v.%I', col), ', ')
    INTO v_p_version, v_v_version
    FROM unnest(v_content) AS col;
    v_day := format('least(greatest(n.%I::date, $1), $2)', p_date_column);

    -- The keys whose current version may change otherwise than by an
    -- insert: those of the replaced deliveries (their superseded versions
    -- go now; their current rows are found through the date index, or,
    -- delivered on another day than their date, the delivery-day index),
    -- and the delivered keys that staging holds already (below).
    EXECUTE format('CREATE TEMP TABLE salesmart_affected ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA',
                   v_keys, v_staging);
    EXECUTE format(
        'WITH gone AS (DELETE FROM %1$s WHERE delivery_day BETWEEN $1 AND $2 RETURNING %2$s)
         INSERT INTO pg_temp.salesmart_affected
         SELECT %2$s FROM gone
         UNION
         SELECT %2$s FROM %3$s AS c
         WHERE c.%4$I >= $1 AND c.%4$I < $2 + 1 AND c.delivery_day = c.%4$I::date
         UNION
         SELECT %2$s FROM %3$s AS c
         WHERE c.delivery_day BETWEEN $1 AND $2 AND c.delivery_day <> c.%4$I::date',
        v_superseded, v_keys, v_staging, p_date_column)
    USING p_date_from, p_date_to;
    GET DIAGNOSTICS v_affected = ROW_COUNT;

    -- A new day replaces nothing, and its keys are new to staging: its rows
    -- simply go in, and the primary key, which checks each one anyway, says
    -- whether staging held any (a re-dated key). Only then is each key
    -- looked up. The rows go in key order, as merge_landing wrote them, so
    -- that the primary key's pages are visited in order.
    IF v_affected = 0 THEN
        BEGIN
            EXECUTE format(
                'WITH inserted AS (
                     INSERT INTO %1$s (%2$s, delivery_day)
                     SELECT %2$s, %3$s FROM pg_temp.salesmart_delivered AS n
                     RETURNING %4$I::date AS day)
                 SELECT array_agg(day) FROM (SELECT DISTINCT day FROM inserted) AS days',
                v_staging, v_columns, v_day, p_date_column)
            INTO v_new_days
            USING p_date_from, p_date_to;
            v_all_new := true;
        EXCEPTION WHEN unique_violation THEN
            v_all_new := false;  -- (or copies that differ: the lookups below find them too)
        END;
    END IF;

    IF NOT v_all_new THEN
        -- Each delivered key that staging holds: a probe of its primary key.
        EXECUTE format(
            'INSERT INTO pg_temp.salesmart_affected
             SELECT %1$s FROM pg_temp.salesmart_delivered AS n
             CROSS JOIN LATERAL (SELECT FROM %2$s AS c WHERE (%3$s) = (%1$s) LIMIT 1) AS held
             EXCEPT
             SELECT %4$s FROM pg_temp.salesmart_affected',
            v_n_keys, v_staging, v_c_keys, v_keys);
        GET DIAGNOSTICS v_held = ROW_COUNT;
        v_affected := v_affected + v_held;
        ANALYZE pg_temp.salesmart_affected;

        -- The other delivered keys are new: their delivered row is current.
        -- In key order, as above: an anti-join with the affected keys by hash
        -- keeps it, where an ORDER BY here would sort them all again.
        EXECUTE format(
            'WITH inserted AS (
                 INSERT INTO %1$s (%2$s, delivery_day)
                 SELECT %2$s, %3$s FROM pg_temp.salesmart_delivered AS n
                 WHERE NOT EXISTS (SELECT FROM pg_temp.salesmart_affected AS a WHERE (%4$s) = (%5$s))
                 RETURNING %6$I::date AS day)
             SELECT array_agg(day) FROM (SELECT DISTINCT day FROM inserted) AS days',
            v_staging, v_columns, v_day, v_a_keys, v_n_keys, p_date_column)
        INTO v_new_days
        USING p_date_from, p_date_to;
    END IF;

    IF v_affected > 0 THEN
        -- The affected keys' current rows, before they change, with their row
        -- address (salesmart_row): the addresses hold to the end of the merge,
        -- as no one else writes staging under the writer lock and nothing
        -- below moves a row before the DELETE that uses them.
        EXECUTE format(
            'CREATE TEMP TABLE salesmart_previous ON COMMIT DROP AS
             SELECT c.*
             FROM (SELECT %1$s FROM pg_temp.salesmart_affected ORDER BY %1$s) AS a
             CROSS JOIN LATERAL (SELECT c.ctid AS salesmart_row, c.* FROM %2$s AS c
                                 WHERE (%3$s) = (%4$s) LIMIT 1) AS c',
            v_keys, v_staging, v_c_keys, v_a_keys);
        ANALYZE pg_temp.salesmart_previous;

        -- Every version of the affected keys that a delivery still carries,
        -- ranked by delivery day, the latest (1) current: the delivered one,
        -- the current one unless its delivery is replaced (or it has none),
        -- and the superseded ones left.
        EXECUTE format(
            'CREATE TEMP TABLE salesmart_versions ON COMMIT DROP AS
             SELECT v.*, row_number() OVER (PARTITION BY %1$s ORDER BY v.delivery_day DESC, v.salesmart_source)
                         AS salesmart_rank
             FROM (SELECT ''delivered'' AS salesmart_source, NULL::tid AS salesmart_row, %2$s AS delivery_day, %3$s
                   FROM pg_temp.salesmart_delivered AS n
                   WHERE EXISTS (SELECT FROM pg_temp.salesmart_affected AS a WHERE (%4$s) = (%5$s))
                   UNION ALL
                   SELECT ''current'', NULL, delivery_day, %3$s FROM pg_temp.salesmart_previous
                   WHERE delivery_day NOT BETWEEN $1 AND $2
                   UNION ALL
                   SELECT ''superseded'', h.salesmart_row, h.delivery_day, %6$s
                   FROM (SELECT %1$s FROM pg_temp.salesmart_affected ORDER BY %1$s) AS a
                   CROSS JOIN LATERAL (SELECT h.ctid AS salesmart_row, h.* FROM %7$s AS h
                                       WHERE (%8$s) = (%4$s)) AS h) AS v',
            v_keys, v_day, v_columns, v_a_keys, v_n_keys, v_h_columns, v_superseded, v_h_keys)
        USING p_date_from, p_date_to;
        ANALYZE pg_temp.salesmart_versions;

        -- Copies of a key that differ: in a day's delivery the primary key of
        -- staging refuses them for new keys, and here for the others. And
        -- whether a superseded version becomes current again (a correction
        -- took its key out of a later delivery: rare).
        EXECUTE format(
            'SELECT EXISTS (SELECT FROM pg_temp.salesmart_versions WHERE salesmart_source = ''delivered''
                            GROUP BY %s HAVING count(*) > 1),
                    EXISTS (SELECT FROM pg_temp.salesmart_versions
                            WHERE salesmart_source = ''superseded'' AND salesmart_rank = 1)', v_keys)
        INTO STRICT v_conflicts, v_current_again;
        IF v_conflicts THEN
            RAISE unique_violation;
        END IF;

        -- A superseded version that is current again leaves the superseded
        -- ones, found by its row address; the current ones that are not
        -- current any more, and the delivered ones that are not, join them.
        IF v_current_again THEN
            EXECUTE format(
                'DELETE FROM %s
                 WHERE ctid = ANY (ARRAY(SELECT salesmart_row FROM pg_temp.salesmart_versions
                                         WHERE salesmart_source = ''superseded'' AND salesmart_rank = 1))',
                v_superseded);
        END IF;
        EXECUTE format(
            'INSERT INTO %1$s (delivery_day, %2$s)
             SELECT delivery_day, %2$s FROM pg_temp.salesmart_versions
             WHERE salesmart_source <> ''superseded'' AND salesmart_rank > 1
             ORDER BY %3$s, delivery_day',
            v_superseded, v_columns, v_keys);

        -- A staging row goes when its key has no current version any more,
        -- or one that differs (in content or delivery day): found by its row
        -- address (a TID scan, one fetch per row); then the new current
        -- versions go in. Rows that stay as they are are not written. The
        -- dates of both are the days touched.
        v_gone := format('NOT EXISTS (SELECT FROM pg_temp.salesmart_versions AS v
                                      WHERE v.salesmart_rank = 1 AND (%s) = (%s)
                                        AND (%s) IS NOT DISTINCT FROM (%s))',
                         v_v_keys, v_p_keys, v_v_version, v_p_version);
        EXECUTE format('SELECT array_agg(DISTINCT p.%I::date) FROM pg_temp.salesmart_previous AS p WHERE %s',
                       p_date_column, v_gone)
        INTO v_touched;
        EXECUTE format(
            'DELETE FROM %s
             WHERE ctid = ANY (ARRAY(SELECT p.salesmart_row FROM pg_temp.salesmart_previous AS p WHERE %s))',
            v_staging, v_gone);
        EXECUTE format(
            'WITH came AS (
                 INSERT INTO %1$s (%2$s, delivery_day)
                 SELECT %2$s, delivery_day FROM pg_temp.salesmart_versions AS v
                 WHERE v.salesmart_rank = 1
                   AND NOT EXISTS (SELECT FROM pg_temp.salesmart_previous AS p
                                   WHERE (%3$s) = (%4$s) AND (%5$s) IS NOT DISTINCT FROM (%6$s))
                 ORDER BY %7$s
                 RETURNING %8$I::date AS day)
             SELECT $1 || array_agg(DISTINCT day) FROM came',
            v_staging, v_columns, v_p_keys, v_v_keys, v_p_version, v_v_version, v_keys, p_date_column)
        INTO v_touched
        USING v_touched;
        DROP TABLE pg_temp.salesmart_versions, pg_temp.salesmart_previous;
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
