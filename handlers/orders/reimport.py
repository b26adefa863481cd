"""Importing one Shopify order into HotWax, the step `/oms import`, the refresh and the
recovery share: replay the shop's order-sync job around the order (bot/oms/ordersync.py),
follow the job run, and fail with the OMS's error and its known fix.

An import that fails because the Shopify order has no shipping address (HotWax's
createOrderContactMech error) fails with the code `CONTACT_MECH`, which the refresh answers
with the recovery (handlers/orders/recovery.py).
"""

from __future__ import annotations

from bot.engine import RunContext, StepFailed
from bot.oms import ShopifyOrder
from handlers.orders.causes import explain
from handlers.orders.lookup import order_sync, shopify

FOLLOW_SECONDS = 120.0
# The failure code of an import that failed in createOrderContactMech (no shipping address).
CONTACT_MECH = "create-order-contact-mech"
CONTACT_MECH_SERVICE = "createOrderContactMech"


def describe_failure(error: str) -> str:
    """The OMS's error, followed by its known cause and fix when there is one."""
    known = explain(error)
    if known is None:
        return error
    return f"{error} (cause: {known.cause} Fix: {known.fix})"


def failure_code(error: str) -> str | None:
    """The code of an import error the runbooks answer with a fix of their own."""
    return CONTACT_MECH if CONTACT_MECH_SERVICE in error else None


async def shopify_order(ctx: RunContext, shopify_id: str, missing: str) -> ShopifyOrder:
    """The order in Shopify, which the import needs (its last change dates the replay);
    StepFailed saying `missing` when Shopify does not have it."""
    order = await shopify(ctx.tools).order_by_id(shopify_id)
    if order is None or order.updated_at is None:
        raise StepFailed(missing)
    return order


async def replay_and_follow(ctx: RunContext, order: ShopifyOrder) -> str:
    """Replay the order-sync job around `order` (an audited OMS write) and follow the job run
    until it finishes; StepFailed with the OMS's error otherwise. Returns the job run id."""
    assert order.updated_at is not None
    sync = order_sync(ctx.tools)
    run_id = await ctx.oms_write(
        "re-import a Shopify order (order-sync window replay)",
        {"shopifyOrderId": order.id, "job": sync.job_name},
        sync.replay(order.updated_at),
    )
    ctx.scratch["job_run_id"] = run_id
    result = await sync.follow(run_id, timeout=FOLLOW_SECONDS)
    if not result.finished:
        raise StepFailed(
            f"the import job run {run_id} is still running; check it later with `/oms mdm`"
        )
    if result.has_error:
        error = result.errors or "the import job failed"
        raise StepFailed(describe_failure(error), code=failure_code(error))
    return run_id
