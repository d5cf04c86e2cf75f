"""Versioned deployment of the routines in procedures/ by yoyo migrations.

procedures/SCHEMA.NAME.sql holds a routine's current source. When a later
migration reworks a routine, the version an earlier migration M deployed is
kept as procedures/history/SCHEMA.NAME@M.sql (as sqitch does with rework), so:

- applying M deploys history/NAME@M.sql if it exists, else NAME.sql;
- rolling M back restores the newest history version older than M, or drops
  the routine when M introduced it.

Every deployment of SCHEMA.NAME first drops all routines of that name, so a
rework that changes a signature is undone exactly rather than leaving an
overload behind. An overload kept beside it is a routine of its own, named
with its argument types: SCHEMA.NAME(TYPE,...) in procedures/SCHEMA.NAME(TYPE,...).sql
(as PostgreSQL spells the regprocedure, e.g. mart.load_f_sales(date,date));
its deployment replaces that signature only, and SCHEMA.NAME's leaves it be.

A redeployment keeps what was given to the routine it replaces: its owner
and its EXECUTE grants (a revoked PUBLIC included). So roles and grants
(migration 0013.roles) are given once, not repeated by every migration that
reworks a routine. Its comment is part of its source.
"""
from pathlib import Path

from yoyo import step

from salesmart.migrate import shipped_folder

PROCEDURES = shipped_folder("procedures")
HISTORY = PROCEDURES / "history"


def deploy_routines(migration_file: str, routines: list[str]) -> None:
    """Register one yoyo step per routine for the migration in migration_file."""
    migration_id = Path(migration_file).stem
    for routine in routines:
        step(_deployer(routine, source_for(routine, migration_id)),
             _deployer(routine, source_before(routine, migration_id)))


def source_for(routine: str, migration_id: str) -> Path:
    reworked_later = HISTORY / f"{routine}@{migration_id}.sql"
    return reworked_later if reworked_later.exists() else PROCEDURES / f"{routine}.sql"


def source_before(routine: str, migration_id: str) -> Path | None:
    older = sorted(
        path for path in HISTORY.glob(f"{routine}@*.sql")
        if path.stem.split("@", 1)[1] < migration_id
    )
    return older[-1] if older else None


def _deployer(routine: str, source: Path | None):
    schema, name = routine.split("(", 1)[0].split(".", 1)

    def deploy(conn) -> None:
        cursor = conn.cursor()
        replaced = _deployed(cursor, routine, schema, name)
        for signature, kind, _, _, _ in replaced:
            cursor.execute(f"DROP {kind} {signature}")
        if source is not None:
            cursor.execute(source.read_text(encoding="utf-8"))
            if replaced:
                _keep_grants(cursor, _deployed(cursor, routine, schema, name), replaced[0])

    return deploy


def _deployed(cursor, routine: str, schema: str, name: str) -> list[tuple]:
    """(signature, PROCEDURE|FUNCTION, owner, default ACL?, EXECUTE grantees)
    of the routines deployed under this routine's name in the database."""
    if "(" in routine:
        belongs = "p.oid = to_regprocedure(%s)"
        argument = routine
    else:  # the overloads that have their own files are not this routine's
        belongs = "NOT EXISTS (SELECT FROM unnest(%s::text[]) AS o(signature) WHERE to_regprocedure(o.signature) = p.oid)"
        argument = [path.stem for path in PROCEDURES.glob(f"{schema}.{name}(*).sql")]
    cursor.execute(
        "SELECT p.oid::regprocedure::text, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,"
        " quote_ident(pg_get_userbyid(p.proowner)), p.proacl IS NULL,"
        " ARRAY(SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END"
        "       FROM aclexplode(p.proacl) AS a WHERE a.privilege_type = 'EXECUTE' ORDER BY a.grantee)"
        " FROM pg_proc AS p WHERE p.pronamespace = to_regnamespace(%s) AND p.proname = %s AND " + belongs
        + " ORDER BY p.oid",
        (schema, name, argument),
    )
    return cursor.fetchall()


def _keep_grants(cursor, deployed: list[tuple], replaced: tuple) -> None:
    _, _, owner, default_acl, grantees = replaced
    for signature, kind, _, _, _ in deployed:
        cursor.execute(f"ALTER {kind} {signature} OWNER TO {owner}")
        if not default_acl:
            cursor.execute(f"REVOKE ALL ON {kind} {signature} FROM PUBLIC")
            for grantee in grantees:
                cursor.execute(f"GRANT EXECUTE ON {kind} {signature} TO {grantee}")
