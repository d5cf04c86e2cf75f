"""Versioned deployment of the routines in procedures/ and the views in views/ by yoyo migrations.

procedures/SCHEMA.NAME.sql holds a routine's current source, views/SCHEMA.NAME.sql
a view's. When a later migration reworks one, the version an earlier migration
M deployed is kept beside them as history/SCHEMA.NAME@M.sql (procedures/history/,
views/history/; as sqitch does with rework), so:

- applying M deploys history/NAME@M.sql if it exists, else NAME.sql;
- rolling M back restores the newest history version older than M, or drops
  the routine or view when M introduced it.

Every deployment of routine SCHEMA.NAME first drops all routines of that name, so a
rework that changes a signature is undone exactly rather than leaving an
overload behind. An overload kept beside it is a routine of its own, named
with its argument types: SCHEMA.NAME(TYPE,...) in procedures/SCHEMA.NAME(TYPE,...).sql
(as PostgreSQL spells the regprocedure, e.g. mart.load_f_sales(date,date));
its deployment replaces that signature only, and SCHEMA.NAME's leaves it be.

A migration deploys its views in one step, listed so that a view comes after
the views it reads: those that exist are dropped, the last listed first, then
each is created from its source, whose COMMENTs come with it. Dropping and
creating, rather than CREATE OR REPLACE, lets a rework (or its rollback) drop or
retype columns. A view that reads a redeployed view must be in the list too:
one outside it stops the migration (DROP VIEW without CASCADE), so no view is
ever dropped unnoticed.

A redeployment keeps what was given to the routine or view it replaces: its
owner and its grants (a revoked PUBLIC included). So roles and grants
(migration 0013.roles) are given once, not repeated by every migration that
reworks a routine or view. Its comment is part of its source.
"""
from pathlib import Path

from yoyo import step

from salesmart.migrate import shipped_folder

PROCEDURES = shipped_folder("procedures")
HISTORY = PROCEDURES / "history"
VIEWS = shipped_folder("views")
VIEW_HISTORY = VIEWS / "history"


def deploy_routines(migration_file: str, routines: list[str]) -> None:
    """Register one yoyo step per routine for the migration in migration_file."""
    migration_id = Path(migration_file).stem
    for routine in routines:
        step(_deployer(routine, source_for(routine, migration_id)),
             _deployer(routine, source_before(routine, migration_id)))


def deploy_views(migration_file: str, views: list[str]) -> None:
    """Register the yoyo step of the views of the migration in migration_file, each listed after the
    views it reads."""
    migration_id = Path(migration_file).stem
    step(_view_deployer([(view, source_for(view, migration_id, "view")) for view in views]),
         _view_deployer([(view, source_before(view, migration_id, "view")) for view in views]))


def _folders(kind: str) -> tuple[Path, Path]:
    """(current sources, history) of a "routine" or a "view"."""
    return {"routine": (PROCEDURES, HISTORY), "view": (VIEWS, VIEW_HISTORY)}[kind]


def source_for(name: str, migration_id: str, kind: str = "routine") -> Path:
    current, history = _folders(kind)
    reworked_later = history / f"{name}@{migration_id}.sql"
    return reworked_later if reworked_later.exists() else current / f"{name}.sql"


def source_before(name: str, migration_id: str, kind: str = "routine") -> Path | None:
    _, history = _folders(kind)
    older = sorted(
        path for path in history.glob(f"{name}@*.sql")
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
        belongs = ("NOT EXISTS (SELECT FROM unnest(%s::text[]) AS o(signature)"
                   " WHERE to_regprocedure(o.signature) = p.oid)")
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


def _view_deployer(sources: list[tuple[str, Path | None]]):
    def deploy(conn) -> None:
        cursor = conn.cursor()
        replaced = {}
        for view, _ in reversed(sources):
            rights = view_rights(cursor, view)
            if rights is not None:
                replaced[view] = rights
                cursor.execute(f"DROP VIEW {view}")
        for view, source in sources:
            if source is not None:
                cursor.execute(source.read_text(encoding="utf-8"))
                if view in replaced:
                    restore_view_rights(cursor, view, replaced[view])

    return deploy


# A grant's grantor is not kept: whoever grants on another's view, a superuser
# or a member of the owning role, grants as its owner.
VIEW_RIGHTS = """
SELECT quote_ident(pg_get_userbyid(c.relowner)), c.relacl IS NULL,
       ARRAY(SELECT format('GRANT %%s ON %%s TO %%s%%s', a.privilege_type, c.oid::regclass,
                           CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
             FROM aclexplode(c.relacl) AS a)
FROM pg_class AS c
WHERE c.oid = to_regclass(%s) AND c.relkind = 'v'
"""


def view_rights(cursor, view: str) -> tuple[str, bool, list[str]] | None:
    """(owner, default ACL?, the GRANTs that give its ACL) of `view`; None when there is no such view."""
    cursor.execute(VIEW_RIGHTS, (view,))
    return cursor.fetchone()


def restore_view_rights(cursor, view: str, rights: tuple[str, bool, list[str]]) -> None:
    """Give `view`, just created, the owner and grants view_rights found on the view it replaces."""
    owner, default_acl, grants = rights
    cursor.execute(f"ALTER VIEW {view} OWNER TO {owner}")
    if not default_acl:
        # the owner's own privileges are among the grants
        cursor.execute(f"REVOKE ALL ON {view} FROM {owner}")
        for grant in grants:
            cursor.execute(grant)
