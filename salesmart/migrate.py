"""Applies the yoyo migrations (what `yoyo apply` does), wherever salesmart runs from.

The migrations and the routines' sources live at the top of the repository
(`migrations/`, `procedures/`); an installed salesmart carries them as package
data, `salesmart/migrations` and `salesmart/procedures` (pyproject.toml maps
them there), so `python -m salesmart migrate` works from any folder.
"""
import logging
from pathlib import Path

from yoyo import get_backend, read_migrations

from salesmart.config import ConfigError

PACKAGE = Path(__file__).resolve().parent

logger = logging.getLogger(__name__)


def shipped_folder(name: str) -> Path:
    """`name` (migrations or procedures) in the installed package, else in the checkout."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name


def apply_migrations(dsn: str) -> None:
    folder = shipped_folder("migrations")
    migrations = read_migrations(str(folder))
    if not migrations:
        # Applying nothing and succeeding would pass for an up-to-date warehouse.
        raise ConfigError(f"no migrations found in {folder}: salesmart is installed without its package data")
    backend = get_backend(dsn)
    with backend.lock():
        pending = backend.to_apply(migrations)
        for migration in pending:
            logger.info("applying migration %s", migration.id)
        backend.apply_migrations(pending)
