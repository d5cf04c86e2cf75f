"""One load for the three dimensions.

mart.load_d_city, mart.load_d_item and mart.load_d_customer were the same
statement three times over another table, key and attributes.
mart.load_dimension holds it once, given the member kind (city, item,
customer); the three keep their names, arguments, comments and results as
calls of it, for mart.load_f_sales and a DBA alike."""
from yoyo import step

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0020.hardening"}

routines.deploy_routines(__file__, [
    "mart.load_dimension",
    "mart.load_d_city",
    "mart.load_d_item",
    "mart.load_d_customer",
])

# The new routine: owned as 0013.roles left the others; internal, so no
# EXECUTE for anyone else.
step("ALTER PROCEDURE mart.load_dimension(text, date, integer[]) OWNER TO salesmart_owner;\n"
     "REVOKE EXECUTE ON PROCEDURE mart.load_dimension(text, date, integer[]) FROM PUBLIC;")
