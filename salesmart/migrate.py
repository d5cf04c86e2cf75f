"""Applies the yoyo migrations (what `yoyo apply` does), wherever salesmart runs from.

The migrations and the sources of the routines and views live at the top of
the repository (`migrations/`, `procedures/`, `views/`); an installed
salesmart carries them as package data, `salesmart/migrations`,
`salesmart/procedures` and `salesmart/views` (pyproject.toml maps them there),
so `python -m salesmart migrate` works from any folder.

It applies them through salesmart's yoyo backend (salesmart_yoyo_env), as
plain `yoyo apply` does: the same checks before anything is applied, the same
short message when a migration stops.
"""
from pathlib import Path

from yoyo import default_migration_table, read_migrations
from yoyo.connections import parse_uri

from salesmart.config import ConfigError
from salesmart_yoyo_env import WarehouseBackend

PACKAGE = Path(__file__).resolve().parent


def shipped_folder(name: str) -> Path:
    """`name` (migrations, procedures or views) in the installed package, else in the checkout."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name


def apply_migrations(dsn: str) -> None:
    folder = shipped_folder("migrations")
    migrations = read_migrations(str(folder))
    if not migrations:
        # Applying nothing and succeeding would pass for an up-to-date warehouse.
        raise ConfigError(f"no migrations found in {folder}: salesmart is installed without its package data")
    with WarehouseBackend(parse_uri(dsn), default_migration_table) as backend:
        backend.init_database()  # as yoyo's get_backend does: its lock table
        with backend.lock():
            # yoyo logs each migration and step as it applies it
            backend.apply_migrations(backend.to_apply(migrations))
