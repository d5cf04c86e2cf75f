"""The legacy warehouses salesmart really upgrades, not only the baseline's
layout. The store's warehouse was built from the course project's schema:
its date dimension is wider (epoch, day_suffix, week_of_year_iso, mmyyyy,
mmddyyyy, ... all NOT NULL) and holds only the years the old loader needed,
its constraints have names of their own (d_date_date_dim_id_pk,
user_order_log_pk, a second foreign key of f_sales on item_id), and some of
its columns are narrower than what the source sends (customer names
varchar(15), item and city names varchar(50), research amounts
numeric(10,2)).

- Columns of the tables the loads write that are narrower than the source's
  (the landing tables' columns of the same name, which is what the files
  may hold) are widened to it. Views over them are recreated as they were
  (PostgreSQL cannot change a column type under a view).
- mart.f_sales loses the foreign keys that 0010.reliable-loads did not find
  under the baseline's names: mart.load_f_sales keeps the integrity itself.
- The legacy date dimension's own columns get comments.
- mart.extend_calendar fills a new year by column names (the baseline's,
  the legacy dimension's, the ISO ones) and refuses a NOT NULL column it does
  not know, naming it; the dimension loads and mart.load_f_sales name their
  conflict keys by column, not by constraint name. The refusal of a day that
  holds legacy facts says how many orders staging holds for the day and how
  many of the legacy rows they match.

What the upgrade changed is recorded in staging.legacy_layout_change, so
the rollback restores the legacy types and foreign keys exactly; it refuses
to narrow a column back while values it now holds would not fit."""

from psycopg2 import sql
from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0017.landing-lock"}

RECORD = """
CREATE TABLE staging.legacy_layout_change (
    table_name        text NOT NULL,
    object_name       text NOT NULL,
    change_kind       text NOT NULL,
    legacy_definition text NOT NULL,
    CONSTRAINT legacy_layout_change_pkey PRIMARY KEY (table_name, object_name),
    CONSTRAINT legacy_layout_change_change_kind_check
        CHECK (change_kind IN ('column widened', 'foreign key dropped'))
);
ALTER TABLE staging.legacy_layout_change OWNER TO salesmart_owner;
COMMENT ON TABLE staging.legacy_layout_change IS
    'one row per change the upgrade of a legacy warehouse made to its layout (0018.legacy-layouts): a column '
    'widened to what the source sends, a foreign key dropped; rolling 0018 back restores what it was. '
    'Empty in a warehouse salesmart created';
COMMENT ON COLUMN staging.legacy_layout_change.table_name IS 'the table changed, e.g. mart.d_customer';
COMMENT ON COLUMN staging.legacy_layout_change.object_name IS 'the column widened or the foreign key dropped';
COMMENT ON COLUMN staging.legacy_layout_change.change_kind IS 'column widened, or foreign key dropped';
COMMENT ON COLUMN staging.legacy_layout_change.legacy_definition IS
    'what it was: the column''s legacy type, or the foreign key''s definition';
"""

# The tables the loads write, and the landing table whose same-named columns
# say what the source sends into them.
SOURCES = {
    "staging.user_order_log": "landing.user_order_log",
    "staging.user_order_log_delivery": "landing.user_order_log",
    "staging.user_activity_log": "landing.user_activity_log",
    "staging.user_activity_log_delivery": "landing.user_activity_log",
    "staging.customer_research": "landing.customer_research",
    "staging.customer_research_delivery": "landing.customer_research",
    "staging.price_log": "landing.price_log",
    "mart.d_city": "landing.user_order_log",
    "mart.d_item": "landing.user_order_log",
    "mart.d_customer": "landing.user_order_log",
    "mart.f_sales": "landing.user_order_log",
}

# (table, column, its type, the source's type it widens to) for every column
# narrower than the source's: a shorter varchar or char, a numeric with
# fewer integer digits or decimals, a smaller integer.
NARROWER_COLUMNS = """
SELECT pair.target, t.attname::text, format_type(t.atttypid, t.atttypmod),
       CASE
           WHEN t.atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND s.atttypid = t.atttypid
                AND t.atttypmod <> -1 AND (s.atttypmod = -1 OR s.atttypmod > t.atttypmod)
               THEN format_type(s.atttypid, s.atttypmod)
           WHEN t.atttypid = 'numeric'::regtype AND s.atttypid = t.atttypid AND t.atttypmod <> -1
                AND s.atttypmod = -1
               THEN 'numeric'
           WHEN t.atttypid = 'numeric'::regtype AND s.atttypid = t.atttypid AND t.atttypmod <> -1
                AND (sd.digits > td.digits OR sd.scale > td.scale)
               THEN format('numeric(%%s,%%s)', greatest(sd.digits, td.digits) + greatest(sd.scale, td.scale),
                           greatest(sd.scale, td.scale))
           WHEN t.atttypid IN ('int2'::regtype, 'int4'::regtype) AND s.atttypid IN ('int4'::regtype, 'int8'::regtype)
                AND (SELECT y.typlen FROM pg_type AS y WHERE y.oid = s.atttypid)
                    > (SELECT y.typlen FROM pg_type AS y WHERE y.oid = t.atttypid)
               THEN format_type(s.atttypid, NULL)
       END AS wider
FROM unnest(%s::text[], %s::text[]) AS pair(target, source)
JOIN pg_attribute AS t ON t.attrelid = pair.target::regclass AND t.attnum > 0 AND NOT t.attisdropped
JOIN pg_attribute AS s ON s.attrelid = pair.source::regclass AND s.attname = t.attname
-- numeric's typmod: precision << 16 | scale, plus 4; digits: those before the point
CROSS JOIN LATERAL (SELECT ((t.atttypmod - 4) >> 16) - ((t.atttypmod - 4) & 65535) AS digits,
                           (t.atttypmod - 4) & 65535 AS scale) AS td
CROSS JOIN LATERAL (SELECT ((s.atttypmod - 4) >> 16) - ((s.atttypmod - 4) & 65535) AS digits,
                           (s.atttypmod - 4) & 65535 AS scale) AS sd
ORDER BY 1, t.attnum
"""

# The views that read the tables, directly or through other views, each with
# how deep it stands (a view over a view comes after it).
DEPENDENT_VIEWS = """
WITH RECURSIVE dependent(view_oid, depth) AS (
    SELECT r.ev_class, 1
    FROM pg_depend AS d
    JOIN pg_rewrite AS r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = ANY (%s::regclass[]) AND r.ev_class <> d.refobjid
    UNION
    SELECT r.ev_class, dependent.depth + 1
    FROM dependent
    JOIN pg_depend AS d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = dependent.view_oid
    JOIN pg_rewrite AS r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> d.refobjid
)
SELECT c.oid::regclass::text, pg_get_viewdef(c.oid), c.reloptions, obj_description(c.oid, 'pg_class'),
       ARRAY(SELECT ARRAY[a.attname::text, col_description(c.oid, a.attnum)]
             FROM pg_attribute AS a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NOT NULL)
FROM (SELECT view_oid, max(depth) AS depth FROM dependent GROUP BY view_oid) AS v
JOIN pg_class AS c ON c.oid = v.view_oid
WHERE c.relkind = 'v'
ORDER BY v.depth, c.oid
"""


def _altering_under_views(cursor, tables: list[str], alter) -> None:
    """alter(cursor) with the views over `tables` dropped, then recreated as they were: definition,
    options, owner, grants and comments."""
    cursor.execute(DEPENDENT_VIEWS, (tables,))
    views = [(*view, routines.view_rights(cursor, view[0])) for view in cursor.fetchall()]
    for name, *_ in reversed(views):
        cursor.execute(f"DROP VIEW {name}")
    alter(cursor)
    for name, definition, options, comment, column_comments, rights in views:
        with_options = f" WITH ({', '.join(options)})" if options else ""
        cursor.execute(f"CREATE VIEW {name}{with_options} AS {definition}")
        routines.restore_view_rights(cursor, name, rights)
        cursor.execute(f"COMMENT ON VIEW {name} IS %s", (comment,))
        for column, column_comment in column_comments:
            cursor.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS %s").format(sql.SQL(name), sql.Identifier(column)),
                           (column_comment,))


def _set_types(changes: list[tuple[str, str, str]], using_cast: bool):
    """alter(cursor) giving each (table, column, type) its type; using_cast: by an explicit cast, which
    cuts a text longer than the type takes."""
    def alter(cursor) -> None:
        for table, column, type_name in changes:
            using = sql.SQL(" USING {}::{}").format(sql.Identifier(column), sql.SQL(type_name)) if using_cast \
                else sql.SQL("")
            cursor.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}{}").format(
                sql.SQL(table), sql.Identifier(column), sql.SQL(type_name), using))
    return alter


def widen(conn) -> None:
    cursor = conn.cursor()
    cursor.execute(NARROWER_COLUMNS, (list(SOURCES), list(SOURCES.values())))
    narrower = [row for row in cursor.fetchall() if row[3] is not None]
    if not narrower:
        return
    for table, column, legacy_type, _ in narrower:
        cursor.execute("INSERT INTO staging.legacy_layout_change VALUES (%s, %s, 'column widened', %s)",
                       (table, column, legacy_type))
    _altering_under_views(cursor, sorted({table for table, *_ in narrower}),
                          _set_types([(table, column, wider) for table, column, _, wider in narrower], False))


# Narrowing a column back would cut or refuse the values it holds now that
# its legacy type cannot take: refused while there are any.
NARROWING_FITS = """
DO $$
DECLARE
    v_change  record;
    v_misfits text;
BEGIN
    IF coalesce(current_setting('salesmart.allow_data_loss', true), 'off') = 'on' THEN
        RETURN;
    END IF;
    FOR v_change IN
        SELECT l.table_name, l.object_name, l.legacy_definition
        FROM staging.legacy_layout_change AS l
        WHERE l.change_kind = 'column widened'
        ORDER BY l.table_name, l.object_name
    LOOP
        BEGIN
            EXECUTE format('SELECT count(*) FROM %s WHERE %I IS DISTINCT FROM %I::%s',
                           v_change.table_name, v_change.object_name, v_change.object_name,
                           v_change.legacy_definition)
            INTO v_misfits;
        EXCEPTION WHEN numeric_value_out_of_range THEN
            v_misfits := 'some';
        END;
        IF v_misfits <> '0' THEN
            RAISE EXCEPTION 'rolling back 0018.legacy-layouts would narrow %.% back to its legacy type %, '
                            'which % of its values do not fit', v_change.table_name, v_change.object_name,
                            v_change.legacy_definition, v_misfits
                USING HINT = 'shorten them first, or to cut them anyway: '
                             'PGOPTIONS=''-c salesmart.allow_data_loss=on'' yoyo rollback ...';
        END IF;
    END LOOP;
END;
$$;
"""


def narrow_back(conn) -> None:
    cursor = conn.cursor()
    cursor.execute(NARROWING_FITS)
    cursor.execute("SELECT table_name, object_name, legacy_definition FROM staging.legacy_layout_change"
                   " WHERE change_kind = 'column widened' ORDER BY table_name, object_name")
    narrowed = cursor.fetchall()
    if narrowed:
        _altering_under_views(cursor, sorted({table for table, *_ in narrowed}), _set_types(narrowed, True))


FOREIGN_KEYS = """
DO $$
DECLARE
    v_key record;
BEGIN
    FOR v_key IN
        SELECT k.conname, pg_get_constraintdef(k.oid) AS definition
        FROM pg_constraint AS k
        WHERE k.conrelid = 'mart.f_sales'::regclass AND k.contype = 'f'
        ORDER BY k.conname
    LOOP
        INSERT INTO staging.legacy_layout_change VALUES ('mart.f_sales', v_key.conname, 'foreign key dropped',
                                                         v_key.definition);
        EXECUTE format('ALTER TABLE mart.f_sales DROP CONSTRAINT %I', v_key.conname);
    END LOOP;
END;
$$;
""", """
DO $$
DECLARE
    v_key record;
BEGIN
    FOR v_key IN
        SELECT l.object_name, l.legacy_definition
        FROM staging.legacy_layout_change AS l
        WHERE l.change_kind = 'foreign key dropped'
        ORDER BY l.object_name
    LOOP
        EXECUTE format('ALTER TABLE mart.f_sales ADD CONSTRAINT %I %s', v_key.object_name, v_key.legacy_definition);
    END LOOP;
END;
$$;
"""

# The legacy date dimension's columns that the baseline's lacks; a column
# commented already keeps its comment.
LEGACY_CALENDAR_COMMENTS = {
    "epoch": "the day's midnight in seconds since 1970-01-01",
    "day_suffix": "day of the month with its ordinal suffix, e.g. 1st, 22nd",
    "week_of_year_iso": "ISO week date of the day, e.g. 2022-W49-1 (ISO year, week, day of the week)",
    "mmyyyy": "month and year as MMYYYY",
    "mmddyyyy": "the day as MMDDYYYY",
}


def _comment_legacy_calendar(replace_comment, with_comment):
    """COMMENT ON the legacy calendar's own columns that exist and whose comment is replace_comment(text)."""
    def comment(conn) -> None:
        cursor = conn.cursor()
        for column, text in LEGACY_CALENDAR_COMMENTS.items():
            cursor.execute("SELECT col_description(a.attrelid, a.attnum) IS NOT DISTINCT FROM %s FROM pg_attribute AS a"
                           " WHERE a.attrelid = 'mart.d_calendar'::regclass AND a.attname = %s AND NOT a.attisdropped",
                           (replace_comment(text), column))
            found = cursor.fetchone()
            if found and found[0]:
                cursor.execute(sql.SQL("COMMENT ON COLUMN mart.d_calendar.{} IS %s").format(sql.Identifier(column)),
                               (with_comment(text),))
    return comment


step(RECORD, "DROP TABLE staging.legacy_layout_change")
step(widen, narrow_back)
step(*FOREIGN_KEYS)
step(_comment_legacy_calendar(lambda text: None, lambda text: text),
     _comment_legacy_calendar(lambda text: text, lambda text: None))

routines.deploy_routines(__file__, [
    "mart.extend_calendar",
    "mart.load_d_city",
    "mart.load_d_item",
    "mart.load_d_customer",
    "mart.load_f_sales",
])
