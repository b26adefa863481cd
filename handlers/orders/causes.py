"""Known causes of Shopify order import failures, and their fixes: one table for the order
runbooks (/oms check, import, mdm) and the failed-import digest. From HotWax's runbooks "POS
Order Refresh Failure", order-sync troubleshooting and "Order Reconciliations", and its
order-import troubleshooting page."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownCause:
    key: str  # a stable id, used to group digest entries
    title: str  # a short name for the cause
    pattern: re.Pattern[str]
    cause: str
    fix: str  # for a list that mixes web and POS orders (the digest, `/oms mdm`)
    # Where a web order's fix and a POS order's differ: a web order's Shopify order can be
    # corrected; a POS sale has no address to add, and a refreshed POS order's old version
    # must go before a new import.
    web_fix: str | None = None
    pos_refresh_fix: str | None = None

    def fix_for(self, *, web: bool = False, pos_refresh: bool = False) -> str:
        """The fix for one order: a web order's, a POS order's refresh's, or the general one."""
        if pos_refresh and self.pos_refresh_fix:
            return self.pos_refresh_fix
        if web and self.web_fix:
            return self.web_fix
        return self.fix


CAUSES: tuple[KnownCause, ...] = (
    KnownCause(
        "missing-address-phone",
        "Customer address or phone missing",
        re.compile(
            r"address is missing|phone( number)? is missing|missing (customer )?(address|phone)"
            r"|createOrderContactMech.*contactMechId",
            re.IGNORECASE,
        ),
        "The customer's address or phone number is missing in Shopify.",
        "Fix the address or phone in Shopify, then re-import the order. A POS sale has none "
        "to add: when its refresh fails this way, the failed run offers the recovery with "
        "HotWax support.",
        web_fix="Fix the address or phone in Shopify, then re-import the order.",
        pos_refresh_fix=(
            "Nothing needs changing in Shopify (a POS sale has no shipping address): HotWax "
            "support removes this order's rows in HotWax, then `/oms import` brings the order "
            "back. The recovery button below prepares their request."
        ),
    ),
    KnownCause(
        "bad-email",
        "Badly formed customer e-mail",
        re.compile(r"e-?mail address not formatted correctly", re.IGNORECASE),
        "The customer's e-mail address is badly formed.",
        "Correct the e-mail in Shopify (it must look like name@domain), then re-import the order.",
    ),
    KnownCause(
        "emoji-in-note",
        "Emoji in the order note (entity-engine rollback)",
        re.compile(r"Rollback called in Entity Engine SQLProcessor", re.IGNORECASE),
        "The database refused a value, typically an emoji in the order note.",
        "Remove the emoji from the order note in Shopify, then re-import the order.",
    ),
    KnownCause(
        "create-shopify-order-null",
        "createShopifyOrder failed without a message (null)",
        re.compile(
            r"Service \[createShopifyOrder\] target threw an unexpected exception \(null\)",
            re.IGNORECASE,
        ),
        "HotWax's order import service crashed on this order without saying why.",
        "Open the Shopify Order MDM failed record for this order (`/oms mdm --failed`) and read "
        "its event message; fix that in Shopify and re-import. If it persists, send HotWax "
        "support the order id and this error.",
    ),
)


def explain(error: str) -> KnownCause | None:
    """The known cause of an import error text, or None."""
    for known in CAUSES:
        if known.pattern.search(error):
            return known
    return None
