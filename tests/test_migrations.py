"""Migrations apply and roll back exactly (the yoyo
command line, and per migration against a catalog snapshot), the routine
history mechanism, and the upgrade of a legacy warehouse keeping its data."""
from __future__ import annotations

import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from yoyo import get_backend, read_migrations

from salesmart import routines

REPO = Path(__file__).resolve().parents[1]
MIGRATIONS = REPO / "migrations"
YOYO = REPO / ".venv" / "bin" / "yoyo"

# yoyo's own bookkeeping tables are not part of the schema under test.
NOT_YOYO = "NOT (n.nspname = 'public' AND (c.relname LIKE '\\_yoyo%%' OR c.relname LIKE 'yoyo\\_lock%%'))"
USER_SCHEMA = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'"

# An ACL as the privileges it gives: NULL means the owner's defaults, and the
# order of its items means nothing.
def acl(column: str, kind: str, owner: str) -> str:
    return (f"(SELECT array_agg(a::text ORDER BY a::text)"
            f" FROM unnest(coalesce({column}, acldefault({kind}, {owner}))) AS a), pg_get_userbyid({owner})")

SEQUENCE_OR_TABLE = "CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\""

CATALOG_QUERIES = {
    "schemas": f"""
        SELECT n.nspname, obj_description(n.oid, 'pg_namespace'), {acl("n.nspacl", "'n'", "n.nspowner")}
        FROM pg_namespace AS n WHERE {USER_SCHEMA}""",
    "relations": f"""
        SELECT n.nspname, c.relname, c.relkind, c.relpersistence, obj_description(c.oid, 'pg_class'),
               {acl("c.relacl", SEQUENCE_OR_TABLE, "c.relowner")}
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMA} AND {NOT_YOYO} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')""",
    "columns": f"""
        SELECT n.nspname, c.relname, a.attname,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
               format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
               a.attidentity, a.attgenerated, col_description(c.oid, a.attnum), a.attcollation::regcollation::text
        FROM pg_attribute AS a
        JOIN pg_class AS c ON c.oid = a.attrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE {USER_SCHEMA} AND {NOT_YOYO} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": f"""
        SELECT n.nspname, c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid),
               obj_description(k.oid, 'pg_constraint')
        FROM pg_constraint AS k
        JOIN pg_class AS c ON c.oid = k.conrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMA} AND {NOT_YOYO}""",
    "indexes": f"""
        SELECT n.nspname, c.relname, pg_get_indexdef(c.oid)
        FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
        JOIN pg_class AS t ON t.oid = i.indrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMA} AND NOT (n.nspname = 'public' AND (t.relname LIKE '\\_yoyo%%'
                                                              OR t.relname LIKE 'yoyo\\_lock%%'))""",
    "routines": f"""
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END,
               obj_description(p.oid, 'pg_proc'), {acl("p.proacl", "'f'", "p.proowner")}
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
        WHERE {USER_SCHEMA}""",
    "sequences": """
        SELECT schemaname, sequencename, data_type::text, start_value, min_value, max_value,
               increment_by, cycle, cache_size
        FROM pg_sequences
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
          AND NOT (schemaname = 'public' AND sequencename LIKE '%%yoyo%%')""",
    "triggers": f"""
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMA} AND NOT t.tgisinternal""",
    "views": f"""
        SELECT n.nspname, c.relname, pg_get_viewdef(c.oid)
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE {USER_SCHEMA} AND c.relkind IN ('v', 'm')""",
    "types": f"""
        SELECT n.nspname, t.typname, t.typtype, format_type(t.oid, NULL)
        FROM pg_type AS t JOIN pg_namespace AS n ON n.oid = t.typnamespace
        WHERE {USER_SCHEMA} AND t.typtype IN ('e', 'd', 'r', 'm')
           OR ({USER_SCHEMA} AND t.typtype = 'c'
               AND (SELECT c.relkind FROM pg_class AS c WHERE c.oid = t.typrelid) = 'c')""",
    "extensions": "SELECT extname, extversion FROM pg_extension",
}


def catalog(url: str) -> dict[str, list[tuple]]:
    """The user-visible schema of a database, as sorted rows per kind of object."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        snapshot = {}
        for kind, query in CATALOG_QUERIES.items():
            cur.execute(query)
            snapshot[kind] = sorted(cur.fetchall(), key=repr)
    conn.close()
    return snapshot


def catalog_diff(expected: dict, actual: dict) -> str:
    lines = []
    for kind, expected_rows in expected.items():
        a, b = set(map(repr, expected_rows)), set(map(repr, actual[kind]))
        for row in sorted(a - b):
            lines.append(f"  {kind}: only in expected: {row}")
        for row in sorted(b - a):
            lines.append(f"  {kind}: only in actual:   {row}")
    return "\n".join(lines)


def yoyo_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run([str(YOYO), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def migration_ids() -> list[str]:
    return [m.id for m in read_migrations(str(MIGRATIONS))]


# ----------------------------------------------------- apply and roll back ----

def test_yoyo_command_line_apply_rollback_all_apply_list(empty_database, dsn):
    url = empty_database("yoyo_cli")
    empty = catalog(url)
    ids = migration_ids()
    assert ids[0] == "0001.legacy-baseline" and len(ids) >= 8

    for args in (("apply",), ("list",), ("rollback", "--all"), ("list",), ("apply",), ("list",)):
        result = yoyo_cli(url, *args)
        assert result.returncode == 0, f"yoyo {' '.join(args)}: {result.stdout}\n{result.stderr}"
        listing = result.stdout
        if args == ("rollback", "--all"):
            after_rollback = catalog(url)
            assert after_rollback == empty, \
                "rollback --all left objects behind:\n" + catalog_diff(empty, after_rollback)
        if args == ("list",):
            status = {mid: st for st, mid in re.findall(r"^([AU])\s+(\S+)", listing, re.MULTILINE)}
            assert set(status) == set(ids), listing
    # The last `yoyo list` ran after the second apply: everything applied.
    assert set(status.values()) == {"A"}, listing
    # And the second apply rebuilt exactly the schema a fresh migration gives.
    fresh = catalog(dsn)
    reapplied = catalog(url)
    assert reapplied == fresh, catalog_diff(fresh, reapplied)


@pytest.mark.parametrize("database_url, message", [
    (None, "DATABASE_URL is not set"),
    # a libpq keyword string is no URL: said so, without quoting its password
    ("host=127.0.0.1 password=not-to-be-printed", "DATABASE_URL is not a database URL"),
])
def test_yoyo_without_a_usable_database_url_says_so_without_a_traceback(database_url, message):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    result = subprocess.run([str(YOYO), "list"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert "not-to-be-printed" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"yoyo: error: {message}"), result.stderr


def test_every_migration_rolls_back_to_the_catalog_before_it(empty_database, dsn):
    url = empty_database("roll_each")
    backend = get_backend(url)
    migrations = read_migrations(str(MIGRATIONS))
    try:
        for n, migration in enumerate(migrations):
            one = migrations[n:n + 1]
            before = catalog(url)
            backend.apply_migrations(one)
            applied = catalog(url)
            assert applied != before, f"{migration.id} changed nothing in the catalog"
            backend.rollback_migrations(one)
            rolled_back = catalog(url)
            assert rolled_back == before, (
                f"apply + rollback of {migration.id} differs from the catalog before it:\n"
                + catalog_diff(before, rolled_back))
            backend.apply_migrations(one)
            again = catalog(url)
            assert again == applied, f"re-applying {migration.id} after its rollback:\n" + catalog_diff(applied, again)
        assert not backend.to_apply(migrations)
    finally:
        backend.connection.close()
    fresh = catalog(dsn)
    assert catalog(url) == fresh, catalog_diff(fresh, catalog(url))


def test_migrated_routines_are_the_sources_in_procedures(db):
    """procedures/ stays the readable source: each file's body is what the database runs,
    and every routine in staging and mart has a file."""
    cur = db.cursor()
    cur.execute("SELECT n.nspname || '.' || p.proname, p.oid::regprocedure::text, p.prosrc FROM pg_proc AS p"
                " JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname IN ('staging', 'mart')")
    files = {p.stem: p.read_text(encoding="utf-8") for p in (REPO / "procedures").glob("*.sql")}
    # an overload with a file of its own (SCHEMA.NAME(TYPE,...).sql) is named by its signature
    deployed = {signature if signature in files else name: body for name, signature, body in cur.fetchall()}
    assert set(deployed) == set(files)
    for name, body in deployed.items():
        assert body in files[name], name
    cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
                " WHERE n.nspname IN ('staging', 'mart') AND obj_description(p.oid, 'pg_proc') IS NULL")
    assert cur.fetchall() == [], "routines without a COMMENT (every routine carries one)"


# The migration that has the server check every session of the warehouse database for a dead client.
DEAD_CLIENT_MIGRATION = "0020.hardening"


def _database_setting(url: str) -> tuple[list[tuple], str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT s.setconfig FROM pg_db_role_setting AS s JOIN pg_database AS d ON d.oid = s.setdatabase"
                    " WHERE d.datname = current_database() AND s.setrole = 0")
        found = cur.fetchall()
        cur.execute("SHOW client_connection_check_interval")
        shown = cur.fetchone()[0]
    conn.close()
    return found, shown


@pytest.mark.parametrize("dba_value", [None, "5s"], ids=["none before", "a DBA's before"])
def test_the_dead_client_check_is_a_database_default_rolled_back_exactly(empty_database, dba_value):
    """A database default reaches every session of the warehouse, a DBA's psql too (a role's setting
    reaches only sessions that log in as that very role, never its members). One a DBA set is kept;
    rolling the migration back leaves the database as the migration found it."""
    url = empty_database("dead_client_" + ("dba" if dba_value else "none"))
    migrations = read_migrations(str(MIGRATIONS))
    mine = [m.id for m in migrations].index(DEAD_CLIENT_MIGRATION)
    backend = get_backend(url)
    try:
        backend.apply_migrations(migrations[:mine])
        if dba_value:
            with psycopg2.connect(url) as conn, conn.cursor() as cur:
                cur.execute(f"ALTER DATABASE {conn.info.dbname} SET client_connection_check_interval = '{dba_value}'")
            conn.close()
        before = _database_setting(url)
        backend.apply_migrations(migrations[mine:mine + 1])
        assert _database_setting(url)[1] == (dba_value or "2s")
        backend.rollback_migrations(migrations[mine:mine + 1])
        assert _database_setting(url) == before
    finally:
        backend.connection.close()


# ----------------------------------------------------- routine versioning ----

@pytest.fixture
def fake_procedures(tmp_path, monkeypatch):
    procedures = tmp_path / "procedures"
    history = procedures / "history"
    history.mkdir(parents=True)
    for name in ("mart.f.sql", "mart.g.sql", "mart.f_sales.sql"):
        (procedures / name).write_text(f"-- current {name}\n")
    for name in ("mart.f@0008.routines.sql", "mart.f@0012.rework.sql", "mart.f_sales@0010.x.sql"):
        (history / name).write_text(f"-- {name}\n")
    monkeypatch.setattr(routines, "PROCEDURES", procedures)
    monkeypatch.setattr(routines, "HISTORY", history)
    return procedures, history


def test_source_for_takes_the_history_version_of_that_migration(fake_procedures):
    procedures, history = fake_procedures
    assert routines.source_for("mart.f", "0008.routines") == history / "mart.f@0008.routines.sql"
    assert routines.source_for("mart.f", "0012.rework") == history / "mart.f@0012.rework.sql"
    # the latest rework has no history file yet: the readable source
    assert routines.source_for("mart.f", "0015.again") == procedures / "mart.f.sql"
    assert routines.source_for("mart.g", "0008.routines") == procedures / "mart.g.sql"
    # a longer name sharing the prefix is another routine
    assert routines.source_for("mart.f_sales", "0008.routines") == procedures / "mart.f_sales.sql"


def test_source_before_is_the_newest_older_version_or_none(fake_procedures):
    _, history = fake_procedures
    assert routines.source_before("mart.f", "0008.routines") is None          # introduced: drop
    assert routines.source_before("mart.f", "0012.rework") == history / "mart.f@0008.routines.sql"
    assert routines.source_before("mart.f", "0015.again") == history / "mart.f@0012.rework.sql"
    assert routines.source_before("mart.g", "0008.routines") is None
    assert routines.source_before("mart.f_sales", "0009.y") is None            # mart.f's files don't count
    assert routines.source_before("mart.f_sales", "0011.z") == history / "mart.f_sales@0010.x.sql"


def test_deployer_drops_every_overload_before_deploying(db, tmp_path):
    cur = db.cursor()
    # an overload left by some other version of the routine
    cur.execute("CREATE PROCEDURE mart.load_d_city(p_date date, p_extra int) LANGUAGE sql AS 'SELECT 1'")
    source = tmp_path / "mart.load_d_city.sql"
    source.write_text("CREATE PROCEDURE mart.load_d_city(p_day text) LANGUAGE sql AS 'SELECT 2';\n")
    signatures = ("SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc AS p"
                  " WHERE p.oid::regproc::text = 'mart.load_d_city' ORDER BY 1")
    routines._deployer("mart.load_d_city", source)(db)
    cur.execute(signatures)
    assert cur.fetchall() == [("IN p_day text",)]
    routines._deployer("mart.load_d_city", None)(db)
    cur.execute(signatures)
    assert cur.fetchall() == []


# ----------------------------------------------------------- view versioning ----

def _dependency_order(sources: dict[str, str]) -> list[str]:
    """The views of `sources` (name: source), each after those its source reads."""
    order, pending = [], dict(sources)
    while pending:
        ready = [name for name, text in pending.items()
                 if not any(re.search(rf"\b{re.escape(other)}\b", text) for other in pending if other != name)]
        assert ready, f"views that read each other: {sorted(pending)}"
        order += ready
        for name in ready:
            del pending[name]
    return order


def test_migrated_views_are_the_sources_in_views(db):
    """views/ stays the readable source: every reporting view has a file, and creating the views again
    from their files gives the definitions and comments the migrations left."""
    cur = db.cursor()
    described = """
        SELECT c.oid::regclass::text, pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class'),
               ARRAY(SELECT ARRAY[a.attname::text, col_description(c.oid, a.attnum)] FROM pg_attribute AS a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 ORDER BY a.attnum)
        FROM pg_class AS c WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind = 'v' ORDER BY 1"""
    cur.execute(described)
    migrated = cur.fetchall()
    files = {path.stem: path.read_text(encoding="utf-8") for path in (REPO / "views").glob("*.sql")}
    assert [name for name, *_ in migrated] == sorted(files)
    cur.execute(f"DROP VIEW {', '.join(files)}")
    for name in _dependency_order(files):
        cur.execute(files[name])
    cur.execute(described)
    assert cur.fetchall() == migrated


def test_view_deployer_redeploys_listed_views_in_order_keeping_owner_and_grants(db, tmp_path):
    cur = db.cursor()
    read, reading = tmp_path / "reporting.read.sql", tmp_path / "reporting.reading.sql"
    listed = [("reporting.read", read), ("reporting.reading", reading)]
    read.write_text("CREATE VIEW reporting.read AS SELECT 1 AS a; COMMENT ON VIEW reporting.read IS 'one';")
    reading.write_text("CREATE VIEW reporting.reading AS SELECT a FROM reporting.read;")
    routines._view_deployer(listed)(db)
    cur.execute("GRANT SELECT ON reporting.read TO salesmart_reader WITH GRANT OPTION;"
                " GRANT SELECT ON reporting.read TO salesmart_owner;"
                " REVOKE TRUNCATE ON reporting.read FROM CURRENT_USER;"
                " ALTER VIEW reporting.reading OWNER TO salesmart_owner")
    rights = ("SELECT c.relname, pg_get_userbyid(c.relowner), c.relacl::text, obj_description(c.oid, 'pg_class')"
              " FROM pg_class AS c WHERE c.relnamespace = 'reporting'::regnamespace AND c.relname LIKE 'read%%'"
              " ORDER BY 1")
    before = rows_of(cur, rights)
    # a rework that drops the column the other view reads: both go, the reading one first
    read.write_text("CREATE VIEW reporting.read AS SELECT 2 AS b; COMMENT ON VIEW reporting.read IS 'two';")
    reading.write_text("CREATE VIEW reporting.reading AS SELECT b FROM reporting.read;")
    routines._view_deployer(listed)(db)
    assert rows_of(cur, rights) == [(*before[0][:3], "two"), before[1]]
    assert rows_of(cur, "SELECT b FROM reporting.reading") == [(2,)]
    # a view that reads a redeployed one but is not listed stops it: nothing is dropped in silence
    with pytest.raises(psycopg2.errors.DependentObjectsStillExist, match="reporting.reading depends on"):
        routines._view_deployer(listed[:1])(db)
    # no earlier version: both dropped
    routines._view_deployer([(view, None) for view, _ in listed])(db)
    assert rows_of(cur, rights) == []


def rows_of(cur, query: str) -> list[tuple]:
    cur.execute(query)
    return cur.fetchall()


# ---------------------------------------------------------- legacy upgrade ----

LEGACY = {
    "staging.user_order_log (uniq_id, date_time, city_id, city_name, customer_id, first_name, last_name,"
    " item_id, item_name, quantity, payment_amount)": [
        ("a1", "2022-11-09", 1, "Ростов", 10, "Анна", "Ли", 3, "Хлеб", 2, Decimal("120.00")),
        ("a2", "2022-11-09", 2, "Москва", 11, "Иван", "Ким", 4, "Молоко", 1, Decimal("100.50")),
        ("a3", "2022-11-09", 1, "Ростов", 10, "Анна", "Ли", 4, "Молоко", 3, Decimal("301.50")),
        ("b1", "2022-11-10", 2, "Москва", 11, "Иван", "Ким", 3, "Хлеб", 1, Decimal("60.00")),
    ],
    "staging.user_activity_log (uniq_id, date_time, action_id, customer_id, quantity)": [
        ("x1", "2022-11-09", 1, 10, 5), ("x2", "2022-11-10", 2, 11, 7),
        ("x2", "2022-11-10", 2, 11, 7),  # an exact duplicate the old loader left behind
    ],
    "staging.customer_research (date_id, category_id, geo_id, sales_qty, sales_amt)": [
        ("2022-11-09", 1001, 1, 7, Decimal("5467.00")), ("2022-11-09", 1001, 2, 0, Decimal("0.00")),
    ],
    "staging.price_log (item_name, price)": [("Хлеб", Decimal("60.00")), ("Молоко", Decimal("100.50"))],
    "mart.d_city (city_id, city_name)": [(1, "Ростов"), (2, "Москва")],
    "mart.d_item (item_id, item_name)": [(3, "Хлеб"), (4, "Молоко")],
    "mart.d_customer (customer_id, first_name, last_name, city_id)": [(10, "Анна", "Ли", 1), (11, "Иван", "Ким", 2)],
    # the legacy loader's facts: no uniq_id, no status
    "mart.f_sales (date_id, item_id, customer_id, city_id, quantity, payment_amount)": [
        (20221109, 3, 10, 1, 2, Decimal("120.00")), (20221109, 4, 11, 2, 1, Decimal("100.50")),
        (20221109, 4, 10, 1, 3, Decimal("301.50")), (20221110, 3, 11, 2, 1, Decimal("60.00")),
    ],
}
LEGACY_SELECT = {
    "staging.user_order_log": "uniq_id, date_time::date::text, city_id, city_name, customer_id, first_name,"
                              " last_name, item_id, item_name, quantity, payment_amount",
    "staging.user_activity_log": "uniq_id, date_time::date::text, action_id, customer_id, quantity",
    "staging.customer_research": "date_id::date::text, category_id, geo_id, sales_qty, sales_amt",
    "staging.price_log": "item_name, price",
    "mart.d_city": "id, city_id, city_name",
    "mart.d_item": "id, item_id, item_name",
    "mart.d_customer": "id, customer_id, first_name, last_name, city_id",
    "mart.f_sales": "id, date_id, item_id, customer_id, city_id, quantity, payment_amount",
}


def _legacy_rows(cur) -> dict[str, list[tuple]]:
    out = {}
    for name, columns in LEGACY_SELECT.items():
        cur.execute(f"SELECT {columns} FROM {name}")
        out[name] = sorted(cur.fetchall(), key=repr)
    return out


@pytest.mark.parametrize("baseline", ["apply", "mark"])
def test_legacy_warehouse_upgrade_keeps_every_row(empty_database, baseline):
    url = empty_database(f"legacy_{baseline}")
    migrations = read_migrations(str(MIGRATIONS))
    assert migrations[0].id == "0001.legacy-baseline"
    backend = get_backend(url)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    try:
        if baseline == "apply":
            backend.apply_migrations(migrations[:1])
        else:  # an existing warehouse has the schema already; the baseline is marked
            cur.execute((MIGRATIONS / "0001.legacy-baseline.sql").read_text(encoding="utf-8"))
            backend.mark_migrations(migrations[:1])
        for target, values in LEGACY.items():
            for row in values:
                cur.execute(f"INSERT INTO {target} VALUES ({', '.join(['%s'] * len(row))})", row)
        before = _legacy_rows(cur)

        backend.apply_migrations(backend.to_apply(migrations))
        assert not backend.to_apply(migrations)

        after = _legacy_rows(cur)
        for name in LEGACY_SELECT:
            # exact duplicates (user_activity_log x2) collapse to one row per key (migration 0004)
            expected = sorted(set(before[name]), key=repr)
            assert after[name] == expected, name
        cur.execute("SELECT DISTINCT status FROM staging.user_order_log")
        assert cur.fetchall() == [("shipped",)]
        # Each staging row is the delivery of its own date (0009), so a later delivery of its day replaces it.
        cur.execute("SELECT delivery_day::text, uniq_id FROM staging.user_order_log_delivery ORDER BY 2")
        assert cur.fetchall() == [(r[1], r[0]) for r in before["staging.user_order_log"]]
        cur.execute("SELECT count(*) FROM staging.user_activity_log_delivery")
        assert cur.fetchall() == [(2,)]
        cur.execute("SELECT DISTINCT status, uniq_id FROM mart.f_sales")
        assert cur.fetchall() == [("shipped", None)]
        sums = ("SELECT (SELECT (sum(quantity), sum(payment_amount))::text FROM staging.user_order_log),"
                " (SELECT (sum(quantity), sum(payment_amount))::text FROM mart.f_sales)")
        cur.execute(sums)
        assert cur.fetchone() == ("(7,582.00)", "(7,582.00)")

        # The legacy facts may be the only copy of their day: a reload is refused unless allowed
        # (docs/dba.md, legacy days), and the refusal changes nothing.
        upgraded = _legacy_rows(cur)
        with pytest.raises(psycopg2.errors.RaiseException,
                           match=r"2022-11-09 holds 3 rows of legacy history .* salesmart\.allow_data_loss = on"):
            cur.execute("CALL mart.load_f_sales('2022-11-09')")
        assert _legacy_rows(cur) == upgraded

        # Allowed, reloading a legacy day replaces its uniq_id-less facts by one row per order.
        cur.execute("BEGIN; SET LOCAL salesmart.allow_data_loss = on; CALL mart.load_f_sales('2022-11-09'); COMMIT")
        cur.execute("SELECT uniq_id, date_id, item_id, customer_id, city_id, quantity, payment_amount, status"
                    " FROM mart.f_sales ORDER BY uniq_id NULLS LAST")
        assert cur.fetchall() == [
            ("a1", 20221109, 3, 10, 1, 2, Decimal("120.00"), "shipped"),
            ("a2", 20221109, 4, 11, 2, 1, Decimal("100.50"), "shipped"),
            ("a3", 20221109, 4, 10, 1, 3, Decimal("301.50"), "shipped"),
            (None, 20221110, 3, 11, 2, 1, Decimal("60.00"), "shipped"),   # other days untouched
        ]
        cur.execute("SELECT id FROM mart.f_sales WHERE date_id = 20221110")
        assert cur.fetchall() == [r[:1] for r in before["mart.f_sales"] if r[1] == 20221110]
        cur.execute(sums)
        assert cur.fetchone() == ("(7,582.00)", "(7,582.00)")
    finally:
        conn.close()
        backend.connection.close()
