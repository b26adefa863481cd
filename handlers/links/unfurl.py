"""Order links unfurled: a one-line order card under each HotWax or Shopify admin order link.

Slack sends the links posted on the manifest's unfurl domains (`link_shared`); the surface
hands them here and sends what comes back with `chat.unfurl`. A link that is no order page of
this OMS (another HotWax host, a page that is not an order) is left alone: Slack then shows
nothing of it, which is what a link the bot cannot speak for deserves. An order page of this
OMS always gets a card: the order's status, channel, store and versions, or "not found in
HotWax". The card shows nothing of a customer (no name, address or total): only what every
order card of the bot shows, since everyone in the channel sees it. Its Check button runs
`/oms check` as whoever presses it, with their roles.
"""

from __future__ import annotations

from bot.engine import Provides, SharedLinks, Toolbox, UnfurlSpec, command_button
from bot.kit.blocks import Block, Message, context, escape, mrkdwn
from bot.oms import OmsError, Order, OrderLink, parse_order_link
from handlers.orders import known_shop_hosts, live_version, page_links, status_words

# The most links of one message unfurled (each is one OMS read, or two).
MAX_UNFURLS = 5


def _check_argument(link: OrderLink) -> str:
    prefix = "order:" if link.ref.kind == "order_id" else "shopify:"
    return f"{prefix}{link.ref.value}"


def _card(text: str, link: OrderLink | None, note: str | None = None) -> Message:
    line: Block = {"type": "section", "text": mrkdwn(text)}
    if link is not None:
        line["accessory"] = command_button("Check", "check", _check_argument(link))
    blocks = [line] + ([context(note)] if note else [])
    return Message(text=text, blocks=blocks)


def _described(link: OrderLink) -> str:
    if link.ref.kind == "order_id":
        return f"HotWax order `{escape(link.ref.value)}`"
    return f"Shopify order `{escape(link.ref.value)}`"


def _foreign_shop(link: OrderLink, hosts: set[str]) -> str | None:
    """The shop of a Shopify admin link when it is none of this OMS's shops (None: it is one,
    or the shops could not be read and the order is looked up anyway)."""
    # A new admin's store handle need not be the myshopify subdomain: its order is looked up
    # by the Shopify id, which is unique across shops.
    if not link.shop or link.shop_is_handle or not hosts:
        return None
    return None if link.shop in hosts else link.shop


def _versions(orders: list[Order], live: Order) -> str:
    if len(orders) < 2:
        return "1 version"
    others = ", ".join(
        f"`{escape(o.order_id)}` {status_words(o.status_id)}" for o in orders if o is not live
    )
    return f"{len(orders)} versions (live `{escape(live.order_id)}`; {others})"


async def _versions_of(tools: Toolbox, link: OrderLink) -> list[Order]:
    """Every version of the order the link names: a HotWax page shows one version, whose
    Shopify id finds the others (a refreshed order has two)."""
    orders = await tools.oms.find_orders(link.ref)
    shopify_id = orders[0].shopify_order_id if orders else None
    if link.ref.kind == "order_id" and shopify_id:
        siblings = await tools.oms.find_orders_by_shopify_id(shopify_id)
        known = {o.order_id for o in orders}
        orders += [o for o in siblings if o.order_id not in known]
    return orders


async def order_card(tools: Toolbox, link: OrderLink, hosts: set[str]) -> Message:
    foreign = _foreign_shop(link, hosts)
    if foreign is not None:
        return _card(
            f":mag: {_described(link)}: not found in HotWax. The shop `{escape(foreign)}` is "
            "not one of this HotWax OMS's shops.",
            None,
        )
    try:
        orders = await _versions_of(tools, link)
    except OmsError as exc:
        return _card(
            f":warning: {_described(link)}: HotWax could not be read just now "
            f"({escape(exc.operation)}).",
            link,
            "Press Check to try again.",
        )
    live = live_version(orders)
    if live is None:
        return _card(f":mag: {_described(link)}: not found in HotWax.", link)
    name = live.shopify_order_name or live.order_id
    pages = await page_links(tools, live)
    text = " · ".join(
        [
            f"*Order {escape(name)}*",
            status_words(live.status_id),
            escape(live.sales_channel_label),
            f"store {escape(live.product_store_id or '-')}",
            _versions(orders, live),
        ]
    )
    return _card(text, link, pages)


async def unfurl_orders(shared: SharedLinks) -> dict[str, Message]:
    tools = shared.tools
    links = [
        (url, link)
        for url in dict.fromkeys(shared.urls)
        if (link := parse_order_link(url, tools.oms.base_url)) is not None
    ][:MAX_UNFURLS]
    if not links:
        return {}
    hosts = await known_shop_hosts(tools) if any(link.shop for _, link in links) else set()
    return {url: await order_card(tools, link, hosts) for url, link in links}


PROVIDES = Provides(unfurls=(UnfurlSpec("orders", unfurl_orders),))
