"""salesmart's tools for development and showing, not for loading the
warehouse: the demo, the PostgreSQL server it starts, the local report API.
The command line imports them only for the commands that use them (demo,
serve-api); the loader, the DAGs and the migrations never do."""
