"""Failed Shopify imports: `/oms failed`, `/oms digest`, `/oms digest now`, and the digest
posted on the policy's `[[digests]]` schedules (HotWax's "Order Reconciliations").

Other families use only what is exported here: the reconciliation (handlers/reconcile) shows
a missing order's logged failure the way `/oms failed` does, offers the digest's per-order
Re-import button, refuses an unknown product store as the digest does (`check_store`), and
posts its scheduled form after the digest of the same slot.
"""

from handlers.digest.grouping import classify
from handlers.digest.report import FOLLOWUP_ACTION, UnknownStore, check_store, logged_failures
from handlers.digest.scheduled import post_slot

__all__ = [
    "FOLLOWUP_ACTION",
    "UnknownStore",
    "check_store",
    "classify",
    "logged_failures",
    "post_slot",
]
