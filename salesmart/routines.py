"""Versioned deployment of the routines in procedures/ by yoyo migrations.

procedures/SCHEMA.NAME.sql holds a routine's current source. When a later
migration reworks a routine, the version an earlier migration M deployed is
kept as procedures/history/SCHEMA.NAME@M.sql (as sqitch does with rework), so:

- applying M deploys history/NAME@M.sql if it exists, else NAME.sql;
- rolling M back restores the newest history version older than M, or drops
  the routine when M introduced it.

Every deployment first drops all routines of that name, so a rework that
changes a signature is undone exactly rather than leaving an overload behind.
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
    schema, name = routine.split(".", 1)

    def deploy(conn) -> None:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT format('DROP %%s %%s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,"
            " p.oid::regprocedure)"
            " FROM pg_proc AS p WHERE p.pronamespace = to_regnamespace(%s) AND p.proname = %s",
            (schema, name),
        )
        for (drop,) in cursor.fetchall():
            cursor.execute(drop)
        if source is not None:
            cursor.execute(source.read_text(encoding="utf-8"))

    return deploy
