"""Recovering a POS order whose refresh failed for want of a shipping address (HotWax's
runbook "POS Order Refresh Failure").

When the refresh's import fails with HotWax's createOrderContactMech error, the old version is
already cancelled and no new version exists. The recovery, after a second person's approval
and with the whole order saved in the audit first, cancels the order, removes its items,
expires its Shopify identification (so the import no longer finds it in HotWax), removes its
header, imports the order again and verifies it in the Shopify Order MDM log and the order
lookup. HotWax warns that this is not a general POS recovery procedure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.engine import (
    ActionSpec,
    ButtonSpec,
    Click,
    DangerousAction,
    Outcome,
    Preview,
    PreviewLine,
    Provides,
    Runbook,
    RunContext,
    Step,
    StepFailed,
    StepSkipped,
    Toolbox,
    run_approved,
)
from bot.oms import OrderRef, mdm, records
from handlers.orders.new_version import import_new_version, order_by_id, verify_new_version

RECOVERY = "recover"
ROLE = "operator"
RECOVER_ACTION = "refresh.recover"
NOT_GENERAL = (
    "HotWax warns that a direct entity-deletion sequence is not a general POS recovery "
    "procedure: use it only for this createOrderContactMech refresh failure."
)


async def _snapshot(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
    if order is None:
        raise StepSkipped("the order is already gone; the earlier snapshot stands")
    history = await ctx.tools.oms.order_status_history(order.order_id)
    await ctx.audit_snapshot(
        f"order {order.order_id} before the recovery",
        {
            "order": order.model_dump(mode="json", by_alias=True),
            "status_history": [h.model_dump(mode="json", by_alias=True) for h in history],
        },
    )
    return f"order {order.order_id}: {len(order.items)} item(s), {len(history)} status rows"


async def _cancel(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
    if order is None or order.is_cancelled:
        raise StepSkipped("already cancelled" if order else "already removed")
    await ctx.oms_write(
        "cancel order",
        {"orderId": order.order_id},
        records.cancel_order(ctx.tools.oms, order.order_id, reason="POS refresh failure recovery"),
    )
    return "cancelled"


async def _remove_items(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
    if order is None or not order.items:
        raise StepSkipped("no items left")
    for item in order.items:
        await ctx.oms_write(
            "remove order item",
            {"orderId": order.order_id, "orderItemSeqId": item.order_item_seq_id},
            records.delete_item(ctx.tools.oms, order.order_id, item.order_item_seq_id),
        )
    return f"{len(order.items)} item(s) removed"


async def _expire_identifications(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
    active = [
        i
        for i in (order.identifications if order else [])
        if i.type_id.startswith("SHOPIFY_") and i.thru_date is None
    ]
    if order is None or not active:
        raise StepSkipped("no active Shopify identification")
    now = datetime.now(UTC)
    for ident in active:
        await ctx.oms_write(
            "expire order identification",
            {"orderId": order.order_id, "type": ident.type_id, "value": ident.value},
            records.expire_identification(ctx.tools.oms, order.order_id, ident, now),
        )
    return ", ".join(f"{i.type_id} {i.value}" for i in active) + " expired"


async def _remove_header(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
    if order is None:
        raise StepSkipped("already removed")
    await ctx.oms_write(
        "remove order header",
        {"orderId": order.order_id},
        records.delete_header(ctx.tools.oms, order.order_id),
    )
    return f"header of {order.order_id} removed"


async def _verify_recovery(ctx: RunContext) -> str:
    logs = await mdm.recent_logs(ctx.tools.oms, limit=5)
    run_id = ctx.scratch.get("job_run_id")
    log = next(
        (entry for entry in logs if run_id and entry.job_run_id == run_id),
        logs[0] if logs else None,
    )
    if log is not None and log.failed:
        raise StepFailed(
            f"the Shopify Order MDM run {log.log_id} reports "
            f"{log.failed_records or 'some'} failed record(s)"
        )
    detail = await verify_new_version(ctx)
    where = f"MDM run {log.log_id} {log.status}" if log else "no MDM run found"
    return f"{where}; {detail}"


async def _recovery_outcome(ctx: RunContext) -> Outcome:
    return Outcome(
        f"Recovered: {ctx.params['order_id']} was removed and the order is back as "
        f"{ctx.scratch.get('new_order', '?')}. The old order is saved in the audit."
    )


RECOVER = Runbook(
    name=RECOVERY,
    title=lambda p: f"Recover order {p['order_id']} (remove and re-import)",
    steps=lambda p: [
        Step("Save the whole order in the audit", _snapshot),
        Step("Cancel the order", _cancel),
        Step("Remove the order items", _remove_items),
        Step("Expire the Shopify identification", _expire_identifications),
        Step("Remove the order header", _remove_header),
        Step("Re-import by Shopify order id", import_new_version),
        Step("Verify in the Shopify Order MDM log and the order lookup", _verify_recovery),
    ],
    order_keys=lambda p: [p["order_id"]],
    role=ROLE,
    outcome=_recovery_outcome,
)


async def _preview(tools: Toolbox, params: dict[str, Any]) -> Preview:
    found = await tools.oms.find_orders(OrderRef("order_id", params["order_id"], explicit=True))
    order = found[0] if found else None
    if order is None:
        return Preview(
            (PreviewLine(f"order {params['order_id']}", "not in HotWax", "re-imported"),),
            (NOT_GENERAL,),
        )
    lines = []
    if not order.is_cancelled:
        lines.append(
            PreviewLine(f"order {order.order_id} status", order.status_id or "?", "ORDER_CANCELLED")
        )
    lines += [
        PreviewLine(
            f"OrderItem {order.order_id}/{i.order_item_seq_id} ({i.product_id or '?'})",
            i.status_id or "present",
            "removed",
        )
        for i in order.items
    ]
    lines += [
        PreviewLine(f"OrderIdentification {i.type_id} {i.value}", "active", "expired")
        for i in order.identifications
        if i.type_id.startswith("SHOPIFY_") and i.thru_date is None
    ]
    lines.append(PreviewLine(f"OrderHeader {order.order_id}", "present", "removed"))
    lines.append(
        PreviewLine(f"Shopify order {params['shopify_id']}", "not imported", "re-imported")
    )
    return Preview(
        tuple(lines),
        (NOT_GENERAL, "The whole order is saved in the audit before anything changes."),
    )


DANGEROUS = DangerousAction(
    name=RECOVERY,
    summary=lambda p: f"Recover order {p['order_id']}: remove it and re-import from Shopify",
    consequences=lambda p: (
        f"HotWax order {p['order_id']} is cancelled and its records removed; the Shopify "
        "order is imported again as a new HotWax order. Anything attached only to the old "
        "order id (notes, links from other systems) will point at nothing."
    ),
    preview=_preview,
    execute=run_approved(RECOVERY),
)


def recovery_button(order_id: str, shopify_id: str) -> ButtonSpec:
    """The button a failed refresh offers: it asks a second person to approve the recovery."""
    return ButtonSpec(
        "Request the recovery",
        RECOVER_ACTION,
        {"order_id": order_id, "shopify_id": shopify_id, "order_keys": [order_id]},
        style="danger",
        allowed_role=ROLE,
    )


async def _on_recover(click: Click) -> None:
    await click.tools.approvals.request(
        RECOVERY,
        {
            "order_id": click.params["order_id"],
            "shopify_id": click.params["shopify_id"],
            "order_keys": [click.params["order_id"]],
        },
        requester=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


PROVIDES = Provides(
    runbooks=(RECOVER,),
    dangerous=(DANGEROUS,),
    actions=(
        ActionSpec(
            RECOVER_ACTION,
            _on_recover,
            pressed_note=lambda c: f"Recovery requested by <@{c.user_id}>",
        ),
    ),
)
