"""Customer contact details taken out of text the OMS wrote (import errors quote the order).

An import error can quote the customer's e-mail address or phone number; the bot shows and
logs only the error, so those are replaced before the text goes anywhere. Order names, ids and
Shopify ids stay (they are how an operator finds the order).
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A phone number as people write one: an optional +, then digit groups joined by spaces,
# dashes, dots or parentheses (at least 7 digits). Bare digit runs (ids) are left alone.
_GROUP = r"(?:\(\d{1,4}\)|\d{1,4})"  # digits, or digits in parentheses
_PHONE = re.compile(rf"(?<![\w+])\+?{_GROUP}(?:[ .-]{_GROUP}){{2,5}}(?!\w)")
_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{7,15}(?!\w)")


def redact_contacts(text: str) -> str:
    """`text` with e-mail addresses and phone numbers replaced by placeholders."""
    text = _EMAIL.sub("<email>", text)
    text = _INTERNATIONAL.sub("<phone>", text)
    return _PHONE.sub(lambda m: "<phone>" if _is_phone(m.group()) else m.group(), text)


def _is_phone(text: str) -> bool:
    # A date and time ("2026-11-30 12:00") has the shape too: it stays.
    return sum(c.isdigit() for c in text) >= 7 and not _DATE.match(text)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
