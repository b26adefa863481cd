"""Turn what a person typed ("#1004", "10002", "6178678210724") into an order reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

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


# ---- order pages: HotWax's and the Shopify admin's (links on cards, unfurls, the shortcut) ----

# HotWax's order page on the OMS web host (hotwax/hotwax-oms#215 links orders so,
# `https://<tenant>-oms.hotwax.io/commerce/control/ViewOrder?orderId=...`); the host is the OMS
# URL without its `/api`, as HotWax's apps derive it (hotwax/accxui
# common/utils/commonUtil.ts:31). docs/oms-api.md, "Order pages".
HOTWAX_ORDER_PATH = "/commerce/control/ViewOrder"
# The current Order Manager app's order route (hotwax/order-manager src/router/index.ts:61-63)
# on its production host (hotwax/accxui common/utils/fastTravelRegistry.ts:45).
ORDER_MANAGER_HOST = "order-manager.hotwax.io"
SHOPIFY_ADMIN_HOST = "admin.shopify.com"
_MYSHOPIFY = ".myshopify.com"
_URL_RE = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>|(https?://[^\s<>|]+)")
_SLACK_ESCAPE_RE = re.compile(r"<[^>]*>")
_ID_TOKEN_RE = re.compile(
    r"(?<![\w#:/.-])("
    r"(?:order|shopify):[A-Za-z0-9_-]{1,40}"  # explicit forms
    r"|#[A-Za-z]{0,10}[0-9][A-Za-z0-9_-]{0,30}"  # a Shopify name: # and at least one digit
    r"|[0-9]{5,40}"  # a HotWax id (10002) or a Shopify id (6178678210724)
    r"|[A-Z]{1,6}[0-9]{4,34}"  # a prefixed HotWax id (M100234)
    r")(?![\w-])"
)


@dataclass(frozen=True, slots=True)
class OrderLink:
    """An order named by a link: its reference, and for a Shopify admin link, the shop."""

    ref: OrderRef
    url: str
    shop: str | None = None  # the myshopify host, or the admin's store handle
    shop_is_handle: bool = False


def hotwax_web_root(base_url: str) -> str:
    """The OMS web root of an OMS URL: `https://x-oms.hotwax.io/api/` → `https://x-oms...`."""
    root = base_url.strip().rstrip("/")
    return root.removesuffix("/api").rstrip("/")


def hotwax_order_url(base_url: str, order_id: str) -> str:
    """HotWax's page of one order (an OrderHeader version)."""
    return f"{hotwax_web_root(base_url)}{HOTWAX_ORDER_PATH}?{urlencode({'orderId': order_id})}"


def order_manager_url(order_id: str) -> str:
    """The order's page in HotWax's Order Manager app (a tenant without the OFBiz web app)."""
    return f"https://{ORDER_MANAGER_HOST}/orders/{quote(order_id, safe='')}"


def shopify_admin_url(shop_host: str | None, shopify_order_id: str | None) -> str | None:
    """The order's page in its shop's Shopify admin, when the shop's myshopify host and the
    numeric order id are known (handlers/digest/links.py uses the same address)."""
    host = (shop_host or "").lower()
    if not host.endswith(_MYSHOPIFY) or not _HOSTNAME_RE.fullmatch(host):
        return None
    if not shopify_order_id or not _DIGITS_RE.fullmatch(shopify_order_id):
        return None
    return f"https://{host}/admin/orders/{shopify_order_id}"


_HOSTNAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+")


def parse_order_link(url: str, hotwax_base_url: str | None) -> OrderLink | None:
    """The order an order-page link names, or None when it is no order page this bot knows:
    HotWax's ViewOrder page on this OMS's host, the Order Manager app's `/orders/<id>`, a
    shop's `https://<shop>.myshopify.com/admin/orders/<id>` or the new admin's
    `https://admin.shopify.com/store/<handle>/orders/<id>`."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        # `.port` parses lazily and raises on `:99999` or `:abc`: such a link is no order page.
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    path = parts.path.rstrip("/")
    if hotwax_base_url:
        ours = urlsplit(hotwax_web_root(hotwax_base_url))
        same_host = host == (ours.hostname or "").lower() and port == ours.port
        if same_host and path.lower() == HOTWAX_ORDER_PATH.lower():
            values = parse_qs(parts.query).get("orderId") or []
            order_id = values[0] if len(values) == 1 else ""
            if _ORDER_ID_RE.fullmatch(order_id):
                return OrderLink(OrderRef("order_id", order_id, explicit=True), url)
            return None
    segments = [s for s in path.split("/") if s]
    if host == ORDER_MANAGER_HOST and len(segments) == 2 and segments[0] == "orders":
        if _ORDER_ID_RE.fullmatch(segments[1]):
            return OrderLink(OrderRef("order_id", segments[1], explicit=True), url)
        return None
    if host.endswith(_MYSHOPIFY) and segments[:2] == ["admin", "orders"] and len(segments) == 3:
        if _DIGITS_RE.fullmatch(segments[2]):
            return OrderLink(OrderRef("shopify_id", segments[2], explicit=True), url, host)
        return None
    if (
        host == SHOPIFY_ADMIN_HOST
        and len(segments) == 4
        and segments[0] == "store"
        and segments[2] == "orders"
        and _DIGITS_RE.fullmatch(segments[3])
    ):
        shop = segments[1].lower()
        return OrderLink(OrderRef("shopify_id", segments[3], explicit=True), url, shop, True)
    return None


@dataclass(frozen=True, slots=True)
class FoundRefs:
    """The order references found in a message's text, each once, in the order written."""

    refs: list[OrderRef]
    links: list[OrderLink]


def find_order_refs(text: str, hotwax_base_url: str | None) -> FoundRefs:
    """Every order reference in a Slack message's text: order-page links (HotWax's and the
    Shopify admin's), HotWax ids, Shopify ids and names (`#1004`). Other links, mentions and
    channel names are skipped, so the digits inside them are never taken for orders."""
    refs: list[OrderRef] = []
    links: list[OrderLink] = []
    for match in _URL_RE.finditer(text):
        url = (match.group(1) or match.group(2)).replace("&amp;", "&")
        link = parse_order_link(url, hotwax_base_url)
        if link is not None:
            links.append(link)
            refs.append(link.ref)
    # What is left once links and Slack's <...> sequences (mentions, channels) are removed.
    rest = _SLACK_ESCAPE_RE.sub(" ", _URL_RE.sub(" ", text))
    for match in _ID_TOKEN_RE.finditer(rest):
        try:
            refs.append(parse_order_ref(match.group(1)))
        except ValueError:
            continue
    seen: set[tuple[str, str]] = set()
    ordered = []
    for ref in refs:
        if (ref.kind, ref.value) in seen:
            continue
        seen.add((ref.kind, ref.value))
        ordered.append(ref)
    return FoundRefs(ordered, links)
