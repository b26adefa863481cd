"""Links from a digest to each shown failed order in its shop's Shopify admin.

A link needs the shop's myshopify host and the Shopify order id; neither source always has
both. A logInsights document names its shop (the host of `site`, the customer's order-status
page, never linked: it carries the order's access token) but no order id; an MDM failed
record has the order id but names no shop. What is missing is asked of Shopify through the
shop's own connection (its SystemMessageRemote, `stores.shop_connection`): the order by name
in that shop, or, for an MDM record, the shop whose Shopify has the order. Only the failures a
digest shows are looked up, at most MAX_LOOKUPS Shopify calls per digest; a failure that
cannot be placed is shown by name only.

The link is `https://<shop>.myshopify.com/admin/orders/<id>`: Shopify's admin address of an
order, which the new admin (`admin.shopify.com/store/<handle>/orders/<id>`) redirects from, so
it needs nothing but the host the OMS records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.kit.blocks import escape
from bot.oms import FailedImport, OmsClient, OmsError, ShopifyProxy, ShopifyShop, stores

log = logging.getLogger(__name__)

MAX_LOOKUPS = 40
_SHOP_SUFFIX = ".myshopify.com"


def admin_url(shop: str | None, order_id: str | None) -> str | None:
    """The order's page in its shop's Shopify admin, when both are known and well formed."""
    host = stores.shop_host(shop)
    if not host or host != shop or not host.endswith(_SHOP_SUFFIX):
        return None
    if not order_id or not order_id.isdigit():
        return None
    return f"https://{host}/admin/orders/{order_id}"


def _key(failure: FailedImport) -> tuple[str, str]:
    return failure.source, failure.reference


@dataclass
class OrderLinks:
    """The admin links of a digest's shown failures, found once per digest."""

    urls: dict[tuple[str, str], str] = field(default_factory=dict)

    def link(self, failure: FailedImport) -> str:
        """The failure's Shopify order name, linked to the order in the Shopify admin where
        it could be placed (escaped mrkdwn)."""
        name = escape(failure.shopify_order_name)
        url = self.urls.get(_key(failure)) or admin_url(failure.shop, failure.shopify_order_id)
        return f"<{url}|{name}>" if url else name


class _Lookup:
    def __init__(self, oms: OmsClient, shops: list[ShopifyShop]) -> None:
        self.oms = oms
        self.shops = [s for s in shops if s.domain]
        self.calls = 0
        self._proxies: dict[str, ShopifyProxy | None] = {}

    async def proxy(self, shop: ShopifyShop) -> ShopifyProxy | None:
        """The Shopify proxy through the shop's own connection (None: it has none, or more
        than one, so the bot cannot tell which)."""
        if shop.shop_id not in self._proxies:
            connection = await stores.shop_connection(self.oms, shop)
            remote = connection.remote
            self._proxies[shop.shop_id] = (
                ShopifyProxy(self.oms, remote.system_message_remote_id) if remote else None
            )
        return self._proxies[shop.shop_id]

    def spend(self) -> bool:
        self.calls += 1
        return self.calls <= MAX_LOOKUPS

    async def order_id(self, host: str, name: str) -> str | None:
        """The Shopify id of order `name` in the shop at `host`."""
        shop = next((s for s in self.shops if s.domain == host), None)
        proxy = await self.proxy(shop) if shop else None
        # "(no order name)" and the like: nothing Shopify could find.
        if proxy is None or not name or name.startswith("(") or not self.spend():
            return None
        order = await proxy.order_by_name(name)
        return order.id if order else None

    async def shop_of(self, order_id: str) -> str | None:
        """The host of the shop whose Shopify has order `order_id`."""
        for shop in self.shops:
            proxy = await self.proxy(shop)
            if proxy is None or not self.spend():
                continue
            if await proxy.order_by_id(order_id) is not None:
                return shop.domain
        return None


async def find_links(oms: OmsClient, failures: Iterable[FailedImport]) -> OrderLinks:
    """Place each failure in its shop's Shopify admin (an MDM record of a single-shop OMS
    comes with its shop already: report.resolve_scope)."""
    links = OrderLinks()
    wanted = list({_key(f): f for f in failures}.values())
    if all(admin_url(f.shop, f.shopify_order_id) for f in wanted):
        return links  # everything is placed already: no need to read the shops
    try:
        lookup = _Lookup(oms, await stores.list_shops(oms))
    except OmsError as exc:
        log.info("digest links: the shops could not be read (%s)", exc.message)
        return links
    for failure in wanted:
        shop, order_id = failure.shop, failure.shopify_order_id
        if admin_url(shop, order_id):
            continue
        try:
            if shop and not order_id:
                order_id = await lookup.order_id(shop, failure.shopify_order_name)
            elif order_id and not shop:
                shop = await lookup.shop_of(order_id)
        except OmsError as exc:
            # A shop whose connection is blocked or unreadable: that order is shown by name.
            log.info("digest links: %s not placed (%s)", failure.reference, exc.message)
            continue
        url = admin_url(shop, order_id)
        if url:
            links.urls[_key(failure)] = url
    return links
