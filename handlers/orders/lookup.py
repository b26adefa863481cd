"""What the order runbooks share: the live version of an order, status words, Shopify access."""

from __future__ import annotations

from datetime import datetime

from bot.engine import Toolbox
from bot.kit.durations import slack_time_or
from bot.oms import OmsClient, Order, OrderRef, OrderSync, ShopifyOrder, ShopifyProxy
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
