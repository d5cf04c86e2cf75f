"""A day's first load into mart.f_sales is a plain INSERT.

mart.load_f_sales upserted every order of the day (INSERT ... ON CONFLICT
DO UPDATE), which costs a third more per row than an INSERT: a probe of the
uniq_id key and a confirmation record per row. When none of the day's
orders has an f_sales row yet, which the procedure's first query already
finds out, nothing can conflict, and the rows go in by a plain INSERT. A
re-run or a correction takes the upsert as before."""
import sys
from pathlib import Path

# yoyo imports a migration by its path; take the helper from this same
# checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salesmart.routines import deploy_routines  # noqa: E402

__depends__ = {"0015.staging-speed"}

deploy_routines(__file__, ["mart.load_f_sales"])
