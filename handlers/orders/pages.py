"""Where an order lives on the web: its HotWax page and its Shopify admin page.

Every order card links both (issue 15). The HotWax page is on the OMS's own host
(bot/oms/refs.py `hotwax_order_url`), or on a Moqui-only tenant, which has no OFBiz web app,
the Order Manager app's (`order_manager_url`). The Shopify admin page needs the shop's
myshopify host, which HotWax keeps on the shop (`ShopifyShop.myshopifyDomain`): the shop of
the order's product store whose connection is the one the order runbooks use (`[stores]
shopify_remote`), or the store's only shop with a host. Where neither settles it (several
shops, the shops unreadable) the card shows the HotWax link alone rather than a guess. The
shops are read once per store every few minutes: a card never waits on more than that one
read, and a failed read only drops the link.
"""

from __future__ import annotations

import time

from bot.engine import Toolbox
from bot.kit.blocks import Block, context, escape
from bot.oms import (
    OmsError,
    Order,
    ShopifyShop,
    hotwax_order_url,
    order_manager_url,
    shopify_admin_url,
    stores,
)

# How long the shops of a store are trusted (a new shop is rare; a card must stay cheap).
SHOPS_TTL_SECONDS = 300.0
_shops: dict[tuple[str, str | None], tuple[float, list[ShopifyShop]]] = {}


async def _store_shops(tools: Toolbox, store_id: str | None) -> list[ShopifyShop]:
    key = (tools.oms.base_url, store_id)
    cached = _shops.get(key)
    if cached is not None and time.monotonic() - cached[0] < SHOPS_TTL_SECONDS:
        return cached[1]
    found = await stores.list_shops(tools.oms, store_id)
    _shops[key] = (time.monotonic(), found)
    return found


def _pick(shops: list[ShopifyShop], remote_id: str | None) -> str | None:
    """The host of the shop whose default connection is `remote_id`, else the only host."""
    hosted = [s for s in shops if s.domain]
    linked = [s for s in hosted if remote_id and remote_id in s.default_app_links]
    if len(linked) == 1:
        return linked[0].domain
    hosts = {s.domain for s in hosted}
    return hosts.pop() if len(hosts) == 1 else None


async def shop_host(tools: Toolbox, store_id: str | None) -> str | None:
    """The myshopify host of the shop the order runbooks read for `store_id`'s orders (every
    store's shops when it is None), or None when it cannot be told."""
    try:
        shops = await _store_shops(tools, store_id)
    except OmsError:
        return None
    return _pick(shops, tools.policy.stores.shopify_remote)


async def known_shop_hosts(tools: Toolbox) -> set[str]:
    """The myshopify hosts of every shop this OMS has (empty when they cannot be read)."""
    try:
        shops = await _store_shops(tools, None)
    except OmsError:
        return set()
    return {s.domain for s in shops if s.domain}


async def hotwax_url(tools: Toolbox, order_id: str) -> str:
    """The order's HotWax page: the OFBiz web app's on a tenant that has it, else the Order
    Manager app's (a Moqui-only tenant's OMS URL is its Maarg, which serves no order page)."""
    try:
        has_ofbiz = (await tools.oms.profile()).has_ofbiz
    except OmsError:
        has_ofbiz = True  # the tenant is unknown: the page HotWax's own issues link
    if has_ofbiz:
        return hotwax_order_url(tools.oms.base_url, order_id)
    return order_manager_url(order_id)


async def admin_url(tools: Toolbox, store_id: str | None, shopify_id: str | None) -> str | None:
    if not shopify_id:
        return None
    return shopify_admin_url(await shop_host(tools, store_id), shopify_id)


async def page_links(
    tools: Toolbox,
    order: Order | None,
    *,
    shopify_id: str | None = None,
    store_id: str | None = None,
) -> str | None:
    """`HotWax order 10002 · Shopify admin`, each a link (mrkdwn), for a HotWax order or, when
    HotWax lacks it, a Shopify order id; None when there is nothing to link."""
    parts: list[str] = []
    if order is not None:
        page = await hotwax_url(tools, order.order_id)
        parts.append(f"<{page}|HotWax order {escape(order.order_id)}>")
        shopify_id = order.shopify_order_id or shopify_id
        store_id = order.product_store_id or store_id
    admin = await admin_url(tools, store_id, shopify_id)
    if admin:
        parts.append(f"<{admin}|Shopify admin>")
    return " · ".join(parts) or None


async def links_block(tools: Toolbox, order: Order | None, **kwargs: str | None) -> list[Block]:
    """The links as a context block (none when there is nothing to link)."""
    text = await page_links(tools, order, **kwargs)
    return [context(f":link: {text}")] if text else []
