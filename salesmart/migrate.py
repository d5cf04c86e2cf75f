"""Applies the yoyo migrations in migrations/ (what `yoyo apply` does)."""
import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

logger = logging.getLogger(__name__)


def apply_migrations(dsn: str) -> None:
    backend = get_backend(dsn)
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        for migration in pending:
            logger.info("applying migration %s", migration.id)
        backend.apply_migrations(pending)
