"""A day's first load into mart.f_sales is a plain INSERT.

mart.load_f_sales upserted every order of the day (INSERT ... ON CONFLICT
DO UPDATE), which costs a third more per row than an INSERT: a probe of the
uniq_id key and a confirmation record per row. When none of the day's
orders has an f_sales row yet, which the procedure's first query already
finds out, nothing can conflict, and the rows go in by a plain INSERT. A
re-run or a correction takes the upsert as before."""

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0015.staging-speed"}

routines.deploy_routines(__file__, ["mart.load_f_sales"])
