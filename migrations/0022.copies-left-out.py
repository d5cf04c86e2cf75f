"""The loader leaves copies out of its COPY: a line identical to one it sent
from the same file a little earlier (the file's own line number aside) is not
sent again, so three of every four order lines of the real source never
cross the wire. The staging merges still collapse and check every copy they
get (a hand \\copy of a whole file loads exactly as before); the load
procedures take the loader's count (p_copies_dropped), which the load log
adds to the copies read and dropped."""
from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0021.one-dimension-load"}

routines.deploy_routines(__file__, [
    "staging.merge_landing",
    "staging.load_user_order_log",
    "staging.load_user_activity_log",
    "staging.load_customer_research",
    "staging.load_price_log",
])
