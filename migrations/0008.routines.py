"""The routines of this release: staging merges, dimensions, marts (docs/dba.md)."""
import sys
from pathlib import Path

# yoyo imports a migration by its path; take the helper from this same
# checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from salesmart.routines import deploy_routines  # noqa: E402

__depends__ = {"0007.landing"}

deploy_routines(__file__, [
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
