"""yoyo's `env` database scheme: `env://NAME@/` connects to the database URL
held by the environment variable NAME (yoyo.ini: `database = env://DATABASE_URL@/`).

yoyo.ini could otherwise only name the variable through configparser
interpolation, which stops with a traceback when the variable is unset (and
the file cannot give it a default: its own values override the environment's).
Reading the variable when yoyo connects turns a missing one into one line,
`yoyo: error: DATABASE_URL is not set ...`, exit 1 (yoyo's own argument
error, InvalidArgument, would print its three usage lines first: they
have nothing to do with the problem).

NAME stands where a URL's user goes: the one part that keeps its case (a host
is lowercased) and that carries the password `yoyo --prompt-password` asks
for (yoyo rebuilds the URL with it, which needs the `/` of an empty path too).

A module of its own, outside the salesmart package: yoyo loads it before it
reads the migrations, and importing salesmart here would make the migrations
take their helpers (and the routines' sources) from wherever this module is
installed instead of from the checkout that holds them.
"""
import os

from yoyo.backends import get_backend_class
from yoyo.connections import BadConnectionURI, DatabaseURI, parse_uri

URL_FORM = "postgresql://user:password@host:port/db"


def backend_from_environment(uri: DatabaseURI, migration_table: str):
    """yoyo's own backend for the URL in the variable `uri` names."""
    name = uri.username
    url = os.environ.get(name)
    if not url:
        raise SystemExit(f"yoyo: error: {name} is not set: yoyo connects to the database URL it holds ({URL_FORM})")
    # The messages never quote the URL: it holds the password.
    try:
        database = parse_uri(url)
        backend_class = get_backend_class(database.scheme.lower())
    except (BadConnectionURI, KeyError):
        raise SystemExit(f"yoyo: error: {name} is not a database URL yoyo knows ({URL_FORM})") from None
    if uri.password is not None:
        database = database._replace(password=uri.password)
    return backend_class(database, migration_table)
