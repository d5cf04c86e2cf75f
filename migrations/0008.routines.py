"""The routines of this release: staging merges, dimensions, marts (docs/dba.md)."""

from salesmart_yoyo_env import salesmart_routines

routines = salesmart_routines(__file__)

__depends__ = {"0007.landing"}

routines.deploy_routines(__file__, [
    "staging.log_load",
    "staging.merge_landing",
    "staging.load_user_order_log",
    "staging.load_user_activity_log",
    "staging.load_customer_research",
    "staging.load_price_log",
    "mart.load_d_city",
    "mart.load_d_item",
    "mart.load_d_customer",
    "mart.load_f_sales",
    "mart.load_f_customer_retention",
])
