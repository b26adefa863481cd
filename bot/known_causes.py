"""Known causes of Shopify order import failures, and their fixes, from HotWax's runbooks
(shared/seeds/001, 003, 000 and the reference's runbook 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KnownCause:
    cause: str
    fix: str


_CAUSES: list[tuple[re.Pattern[str], KnownCause]] = [
    (
        # The refresh failure of seed 000, word for word (a fresh import's missing-address
        # error also names createOrderContactMech, but its fix is different).
        re.compile(r"required parameter is missing: \[createOrderContactMech\.contactMechId\]"),
        KnownCause(
            "The Shopify order has no shipping address, so HotWax cannot copy it to the new "
            "version.",
            "Use the recovery (cancel, remove and re-import the order) through `/oms refresh`; "
            "it needs a second person's approval.",
        ),
    ),
    (
        re.compile(r"address|phone", re.I),
        KnownCause(
            "The customer's address or phone number is missing in Shopify.",
            "Fix the address or phone in Shopify, then re-import the order.",
        ),
    ),
    (
        re.compile(r"e-?mail address not formatted correctly", re.I),
        KnownCause(
            "The customer's e-mail address is badly formed.",
            "Correct the e-mail in Shopify, then re-import the order.",
        ),
    ),
    (
        re.compile(r"Rollback called in Entity Engine SQLProcessor", re.I),
        KnownCause(
            "The database refused a value, typically an emoji in the order note.",
            "Remove the emoji from the order note in Shopify, then re-import the order.",
        ),
    ),
    (
        re.compile(r"createShopifyOrder\] target threw an unexpected exception \(null\)", re.I),
        KnownCause(
            "HotWax's order import service crashed on this order (a null value).",
            "Check the order's data in Shopify (customer, lines, shipping) and re-import; if it "
            "fails again, send HotWax support the order id and this error.",
        ),
    ),
]


def explain(error: str) -> KnownCause | None:
    """The known cause of an import error text, or None."""
    for pattern, cause in _CAUSES:
        if pattern.search(error):
            return cause
    return None
