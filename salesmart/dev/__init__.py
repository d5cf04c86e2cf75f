"""salesmart's tools for development and showing, not for loading the
warehouse: the demo, the PostgreSQL server it (and the tests) start, the
local report API and the sample generator. The command line imports them
only for the commands that use them (demo, serve-api, generate); the loader,
the DAGs and the migrations never do."""
