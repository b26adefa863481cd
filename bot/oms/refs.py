"""Turn what a person typed ("#1004", "10002", "6178678210724") into an order reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OrderRefKind = Literal["order_id", "shopify_id", "shopify_name"]

MAX_REF_LENGTH = 40
# Shopify order ids are 64-bit integers; in practice 13 digits today. HotWax order ids are
# short ("10002", "M100234"), so ten or more digits almost certainly means a Shopify id.
_SHOPIFY_ID_MIN_DIGITS = 10
_ORDER_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_DIGITS_RE = re.compile(r"[0-9]{1,40}")

ACCEPTED_FORMS = (
    "an OMS order id (10002), a Shopify order id (6178678210724), a Shopify order name "
    "(#1004), or an explicit order:<id> / shopify:<id>"
)


@dataclass(frozen=True, slots=True)
class OrderRef:
    kind: OrderRefKind
    value: str
    # True when the user wrote "order:" themselves: then we must not reinterpret the value.
    explicit: bool = False

    def __str__(self) -> str:
        labels = {"order_id": "order", "shopify_id": "Shopify order id", "shopify_name": "order"}
        return f"{labels[self.kind]} {self.value}"


def _problem(text: str) -> str | None:
    """Name the first thing that makes `text` unusable, or None when its characters are fine."""
    if not text:
        return "it is empty"
    if len(text) > MAX_REF_LENGTH:
        return f"it is longer than {MAX_REF_LENGTH} characters"
    for char in text:
        if char.isspace():
            return "it contains a space"
        if not char.isprintable():
            return f"it contains a control character ({char!r})"
        if char in "'\"`":
            return "it contains a quote"
    bad = sorted({c for c in text if not (c.isascii() and (c.isalnum() or c in "-_#"))})
    if bad:
        return f"it contains the character(s) {' '.join(bad)}"
    return None


def _reject(text: str, why: str) -> ValueError:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return ValueError(f"Not an order reference: {shown!r} ({why}). Use {ACCEPTED_FORMS}.")


def parse_order_ref(text: str) -> OrderRef:
    """Parse one order reference; raise ValueError naming the problem and the accepted forms."""
    raw = text.strip()
    lowered = raw.lower()
    prefixes: tuple[tuple[str, OrderRefKind], ...] = (
        ("shopify:", "shopify_id"),
        ("order:", "order_id"),
    )
    for prefix, kind in prefixes:
        if lowered.startswith(prefix):
            value = raw[len(prefix) :]
            why = _problem(value)
            if why is None and kind == "shopify_id" and not _DIGITS_RE.fullmatch(value):
                why = "a Shopify order id is made of digits only"
            if why is None and kind == "order_id" and not _ORDER_ID_RE.fullmatch(value):
                why = "an order id uses letters, digits, - and _ only"
            if why is not None:
                raise _reject(text, f"after {prefix!r}: {why}")
            return OrderRef(kind, value, explicit=True)

    why = _problem(raw)
    if why is not None:
        raise _reject(text, why)
    if raw.startswith("#"):
        name = raw[1:]
        if not name or not _ORDER_ID_RE.fullmatch(name):
            raise _reject(text, "a Shopify order name is # followed by letters or digits")
        return OrderRef("shopify_name", raw)
    if _DIGITS_RE.fullmatch(raw) and len(raw) >= _SHOPIFY_ID_MIN_DIGITS:
        return OrderRef("shopify_id", raw)
    if _ORDER_ID_RE.fullmatch(raw):
        return OrderRef("order_id", raw)
    raise _reject(text, "# may only start a Shopify order name")


def button_ref(shopify_id: str | None, name: str | None) -> str | None:
    """The reference a button should carry for a Shopify order: `shopify:<id>` when the id is
    known (a name can be another shop's order, and bare digits could be a HotWax id), the
    `#name` when it alone parses, None when neither is usable (then offer no button)."""
    if shopify_id and _DIGITS_RE.fullmatch(shopify_id):
        return f"shopify:{shopify_id}"
    if name:
        try:
            if parse_order_ref(name).kind == "shopify_name":
                return name
        except ValueError:
            return None
    return None


_STORE_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")


def parse_store_id(value: str) -> str:
    """A product store id as typed (`/oms failed --store`, `/oms rollback`, the policy);
    ValueError naming the accepted form."""
    if not _STORE_ID_RE.match(value):
        raise ValueError(
            f"`{value[:40]}` is not a product store id (letters, digits, `_`, `.` or `-`, "
            "e.g. `STORE`)"
        )
    return value
