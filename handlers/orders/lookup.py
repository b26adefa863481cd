"""What the order runbooks share: the live version of an order, status words, Shopify access."""

from __future__ import annotations

import contextlib
from datetime import datetime

from bot.engine import NotConfigured, Toolbox
from bot.kit.durations import slack_time_or
from bot.oms import (
    OmsClient,
    OmsError,
    Order,
    OrderRef,
    OrderSync,
    ShopifyOrder,
    ShopifyProxy,
    read_each,
)
from handlers.orders.shop import shopify_setup


def status_words(status_id: str | None) -> str:
    """ORDER_CREATED / ITEM_COMPLETED as people say them: Created, Completed."""
    if not status_id:
        return "Unknown"
    return status_id.removeprefix("ORDER_").removeprefix("ITEM_").replace("_", " ").title()


def when(value: datetime | None) -> str:
    """A moment of the order in mrkdwn (each reader's own time zone)."""
    return slack_time_or(value)


def live_version(orders: list[Order]) -> Order | None:
    """The version that is not cancelled (a refreshed order has two); else the newest."""
    return next((o for o in orders if not o.is_cancelled), orders[0] if orders else None)


async def live_order(oms: OmsClient, ref: OrderRef) -> Order | None:
    return live_version(await oms.find_orders(ref))


def versions_line(orders: list[Order]) -> str | None:
    """Names every version when a Shopify order has several in HotWax."""
    if len(orders) < 2:
        return None
    live = live_version(orders)
    shown = ", ".join(f"`{o.order_id}` ({status_words(o.status_id)})" for o in orders)
    acting = live.order_id if live else "?"
    return f"{len(orders)} versions in HotWax: {shown}; acting on `{acting}`."


def shopify(tools: Toolbox) -> ShopifyProxy:
    return ShopifyProxy(tools.oms, shopify_setup(tools).remote_id)


def order_sync(tools: Toolbox) -> OrderSync:
    setup = shopify_setup(tools)
    poll = tools.policy.limits.sync_poll_seconds
    return OrderSync(tools.oms, setup.sync_job, setup.remote_id, poll_seconds=poll)


async def shopify_order_for(
    tools: Toolbox, ref: OrderRef, order: Order | None
) -> ShopifyOrder | None:
    """The Shopify side of an order: by the HotWax order's Shopify id, or the reference."""
    proxy = shopify(tools)
    shopify_id = order.shopify_order_id if order else None
    if shopify_id:
        return await proxy.order_by_id(shopify_id)
    if ref.kind == "shopify_name":
        return await proxy.order_by_name(ref.value)
    if ref.kind == "shopify_id" or ref.value.isdigit():
        return await proxy.order_by_id(ref.value)
    return None


def order_references(order: Order) -> list[str]:
    """Every reference of one HotWax version: its id, its Shopify order id and name. The
    audit carries them all, so `/oms history` finds an event by whichever the user has."""
    return [r for r in (order.order_id, order.shopify_order_id, order.shopify_order_name) if r]


async def references_of(tools: Toolbox, ref: OrderRef) -> list[str]:
    """Every reference of the order `ref` names, as far as HotWax and Shopify know it: the
    text as given, the HotWax id of every version, the Shopify order id and name. An order
    HotWax no longer has (removed for a recovery, never imported) is found in Shopify."""
    found: list[str] = [ref.value]
    # If the OMS or Shopify is away, the audit is still searched by what it could learn.
    with contextlib.suppress(OmsError):
        orders = await tools.oms.find_orders(ref)
        shopify_ids = {o.shopify_order_id for o in orders if o.shopify_order_id}
        # Every version of each Shopify order: one read per id, together.
        for versions in await read_each(
            tools.oms.find_orders_by_shopify_id(shopify_id) for shopify_id in sorted(shopify_ids)
        ):
            orders += versions
        for order in orders:
            found += order_references(order)
        if not orders and ref.kind != "order_id":
            with contextlib.suppress(NotConfigured):
                shop = await shopify_order_for(tools, ref, None)
                found += [shop.id, shop.name] if shop else []
    return list(dict.fromkeys(found))
