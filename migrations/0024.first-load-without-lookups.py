"""A day's first load into mart.f_sales looks up none of its orders.

mart.load_f_sales probed f_sales' uniq_id key once per order of the day, to
find orders re-dated to it from another day, before a plain INSERT when
there were none. The INSERT checks that key for every row anyway: a day
that f_sales holds no row of now goes in directly, and only when the key
finds an order with a row of another day is that undone and the day loaded
with the lookups, as before."""
from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0023.superseded-versions"}

routines.deploy_routines(__file__, ["mart.load_f_sales"])
