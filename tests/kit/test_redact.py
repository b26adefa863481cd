"""Import errors quote the customer; the bot keeps the error without its contact details."""

from __future__ import annotations

import pytest

from bot.kit.redact import redact_contacts


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Customer riley@example.com has invalid phone +1 (555) 010-2233 on #1004",
            "Customer <email> has invalid phone <phone> on #1004",
        ),
        ("phone +15550102233 invalid; zip 10001", "phone <phone> invalid; zip 10001"),
        ("call 555-010-2233 or 020 7946 0958", "call <phone> or <phone>"),
        # Ids, order names, SKUs and times are how an operator finds the order: they stay.
        ("Shopify variant 44012345678901 (SKU MLS-BLU-M)", None),
        ("createOrderContactMech failed for 10004 at 2026-11-30 12:00:01.123", None),
        ("order #1004 (6100000000004) in store STORE", None),
    ],
)
def test_contacts_are_replaced_and_ids_stay(text: str, shown: str | None) -> None:
    assert redact_contacts(text) == (text if shown is None else shown)
