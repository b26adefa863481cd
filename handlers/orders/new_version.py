"""The new version of a refreshed order: imported from Shopify and checked against it.

Both the refresh (handlers/orders/refresh.py) and its recovery (handlers/orders/recovery.py)
end this way. Their run parameters name the HotWax order being replaced (`order_id`) and its
Shopify order (`shopify_id`); the new version is the one that shares the Shopify id, is not
that order, and is not cancelled.
"""

from __future__ import annotations

from bot.engine import RunContext, StepFailed, StepSkipped
from bot.oms import Order, OrderRef
from handlers.orders.lookup import shopify, status_words
from handlers.orders.reimport import replay_and_follow, shopify_order


async def order_by_id(ctx: RunContext, order_id: str) -> Order | None:
    found = await ctx.tools.oms.find_orders(OrderRef("order_id", order_id, explicit=True))
    return found[0] if found else None


async def _new_version(ctx: RunContext) -> Order | None:
    versions = await ctx.tools.oms.find_orders_by_shopify_id(ctx.params["shopify_id"])
    return next(
        (o for o in versions if o.order_id != ctx.params["order_id"] and not o.is_cancelled), None
    )


async def import_new_version(ctx: RunContext) -> str:
    """Replay the order-sync window around the order; StepFailed with the OMS's error."""
    existing = await _new_version(ctx)
    if existing is not None:
        raise StepSkipped(f"the new version is already in HotWax: {existing.order_id}")
    order = await shopify_order(ctx, ctx.params["shopify_id"], "the order is no longer in Shopify")
    await replay_and_follow(ctx, order)
    found = await _new_version(ctx)
    if found is None:
        raise StepFailed("the import job finished but no new version is in HotWax")
    return f"imported as {found.order_id} ({status_words(found.status_id)})"


async def verify_new_version(ctx: RunContext) -> str:
    """The new version's status matches Shopify (fulfilled there: Completed in HotWax)."""
    found = await _new_version(ctx)
    order = await shopify(ctx.tools).order_by_id(ctx.params["shopify_id"])
    if found is None:
        raise StepFailed("no live version of the order is in HotWax")
    expected = "ORDER_COMPLETED" if order is not None and order.fulfilled else None
    if expected and found.status_id != expected:
        raise StepFailed(
            f"{found.order_id} is {status_words(found.status_id)} but Shopify "
            "says fulfilled (expected Completed)"
        )
    ctx.scratch["new_order"] = found.order_id
    shown = order.fulfillment_status if order else "unknown"
    return f"{found.order_id} is {status_words(found.status_id)}; Shopify: {shown}"
