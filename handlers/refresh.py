"""`/oms refresh <order>` (seed 001) and its recovery when it fails (seed 000).

HotWax's "Refresh order" button has no public endpoint (reference runbook 1, [NF]), so the
refresh is composed of documented calls (docs/oms-api.md, "Refresh, composed"):
  1. read the order in HotWax and in Shopify;
  2. cancel this version and mark it "Old Version" (changeOrderStatus with a changeReason):
     HotWax's import skips a Shopify order that is already in HotWax, so the old version must
     stop counting first;
  3. import the fresh version by replaying the shop's order-sync job around the order;
  4. verify the new version's status against Shopify.
When step 3 fails with the createOrderContactMech error (the Shopify order has no shipping
address), the run stops, says why, and offers the recovery: cancel, remove the order's items,
Shopify identification and header, re-import it, verify. The recovery only runs with a second
person's approval, after the whole order is saved in the audit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.actions import ActionSpec, ButtonSpec, Click
from bot.approvals import DangerousAction, Preview, PreviewLine, run_approved
from bot.blocks import (
    Block,
    Message,
    actions,
    confirm_dialog,
    context,
    escape,
    fields,
    header,
    section,
)
from bot.commands import Arg, CommandSpec, Registry
from bot.context import Invocation
from bot.oms import mdm, records
from bot.oms.models import Order
from bot.oms.refs import OrderRef, parse_order_ref
from bot.runs import Outcome, Runbook, RunContext, Step, StepFailed, StepSkipped
from bot.services import Services
from handlers.common import (
    live_version,
    order_sync,
    shopify,
    shopify_order_for,
    status_words,
    versions_line,
)
from handlers.imports import FOLLOW_SECONDS, describe_failure

NAME = "refresh"
RECOVERY = "recover"
ROLE = "operator"
CONFIRM_ACTION = "refresh.confirm"
RECOVER_ACTION = "refresh.recover"
CONTACT_MECH = "createOrderContactMech"
NOT_GENERAL = (
    "HotWax warns that a direct entity-deletion sequence is not a general POS recovery "
    "procedure: use it only for this createOrderContactMech refresh failure."
)


async def _order(ctx: RunContext, order_id: str) -> Order | None:
    found = await ctx.services.oms.find_orders(OrderRef("order_id", order_id, explicit=True))
    return found[0] if found else None


async def _versions(ctx: RunContext) -> list[Order]:
    return await ctx.services.oms.find_orders_by_shopify_id(ctx.params["shopify_id"])


def _new_version(ctx: RunContext, versions: list[Order]) -> Order | None:
    return next(
        (o for o in versions if o.order_id != ctx.params["order_id"] and not o.is_cancelled), None
    )


async def _import_fresh(ctx: RunContext) -> str:
    """Replay the order-sync window around the order; StepFailed with the OMS's error."""
    existing = _new_version(ctx, await _versions(ctx))
    if existing is not None:
        raise StepSkipped(f"the new version is already in HotWax: {existing.order_id}")
    order = await shopify(ctx.services).order_by_id(ctx.params["shopify_id"])
    if order is None or order.updated_at is None:
        raise StepFailed("the order is no longer in Shopify")
    sync = order_sync(ctx.services)
    run_id = await ctx.oms_write(
        "re-import a Shopify order (order-sync window replay)",
        {"shopifyOrderId": order.id, "job": sync.job_name},
        sync.replay(order.updated_at),
    )
    ctx.scratch["job_run_id"] = run_id
    result = await sync.follow(run_id, timeout=FOLLOW_SECONDS)
    if not result.finished:
        raise StepFailed(f"the import job run {run_id} is still running; check `/oms mdm`")
    if result.has_error:
        raise StepFailed(describe_failure(result.errors or "the import job failed"))
    found = _new_version(ctx, await _versions(ctx))
    if found is None:
        raise StepFailed("the import job finished but no new version is in HotWax")
    return f"imported as {found.order_id} ({status_words(found.status_id)})"


async def _verify_against_shopify(ctx: RunContext) -> str:
    found = _new_version(ctx, await _versions(ctx))
    order = await shopify(ctx.services).order_by_id(ctx.params["shopify_id"])
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


# ---- refresh ------------------------------------------------------------------------------


async def _check_both(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None:
        raise StepFailed(f"order {ctx.params['order_id']} is not in HotWax")
    shop = await shopify(ctx.services).order_by_id(ctx.params["shopify_id"])
    if shop is None:
        raise StepFailed("the order is not in Shopify, so there is nothing to refresh from")
    return (
        f"HotWax {status_words(order.status_id)} ({order.sales_channel_label}); "
        f"Shopify {shop.fulfillment_status or 'unknown'}"
    )


async def _cancel_old(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None:
        raise StepFailed(f"order {ctx.params['order_id']} is no longer in HotWax")
    if order.is_cancelled:
        raise StepSkipped("already cancelled")
    await ctx.oms_write(
        "cancel order (old version)",
        {
            "orderId": order.order_id,
            "statusId": "ORDER_CANCELLED",
            "changeReason": records.OLD_VERSION,
        },
        records.cancel_order(ctx.services.oms, order.order_id, reason=records.OLD_VERSION),
    )
    return f"{order.order_id} cancelled and marked {records.OLD_VERSION}"


async def _refresh_outcome(ctx: RunContext) -> Outcome:
    return Outcome(
        f"Refreshed: the new version is {ctx.scratch.get('new_order', '?')}; "
        f"{ctx.params['order_id']} is cancelled as the old version."
    )


async def _refresh_failed(ctx: RunContext, failure: str) -> Outcome | None:
    if CONTACT_MECH not in failure:
        return None
    return Outcome(
        "The refresh failed because the Shopify order has no shipping address "
        f"(createOrderContactMech). {ctx.params['order_id']} is cancelled; the recovery "
        "removes it and imports the order afresh. It needs a second person's approval.",
        buttons=(
            ButtonSpec(
                "Request the recovery",
                RECOVER_ACTION,
                {
                    "order_id": ctx.params["order_id"],
                    "shopify_id": ctx.params["shopify_id"],
                    "order_keys": [ctx.params["order_id"]],
                },
                style="danger",
                allowed_role=ROLE,
            ),
        ),
    )


REFRESH = Runbook(
    name=NAME,
    title=lambda p: f"Refresh order {p['order_id']} from Shopify",
    steps=lambda p: [
        Step("Read the order in HotWax and Shopify", _check_both),
        Step("Cancel this version and mark it Old Version", _cancel_old),
        Step("Import the fresh version from Shopify", _import_fresh),
        Step("Verify the new version against Shopify", _verify_against_shopify),
    ],
    order_keys=lambda p: [p["order_id"]],
    role=ROLE,
    outcome=_refresh_outcome,
    on_failure=_refresh_failed,
)


# ---- recovery ---------------------------------------------------------------------------


async def _snapshot(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None:
        raise StepSkipped("the order is already gone; the earlier snapshot stands")
    history = await ctx.services.oms.order_status_history(order.order_id)
    await ctx.audit_snapshot(
        f"order {order.order_id} before the recovery",
        {
            "order": order.model_dump(mode="json", by_alias=True),
            "status_history": [h.model_dump(mode="json", by_alias=True) for h in history],
        },
    )
    return f"order {order.order_id}: {len(order.items)} item(s), {len(history)} status rows"


async def _cancel(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None or order.is_cancelled:
        raise StepSkipped("already cancelled" if order else "already removed")
    await ctx.oms_write(
        "cancel order",
        {"orderId": order.order_id},
        records.cancel_order(
            ctx.services.oms, order.order_id, reason="POS refresh failure recovery"
        ),
    )
    return "cancelled"


async def _remove_items(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None or not order.items:
        raise StepSkipped("no items left")
    for item in order.items:
        await ctx.oms_write(
            "remove order item",
            {"orderId": order.order_id, "orderItemSeqId": item.order_item_seq_id},
            records.delete_item(ctx.services.oms, order.order_id, item.order_item_seq_id),
        )
    return f"{len(order.items)} item(s) removed"


async def _expire_identifications(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
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
            records.expire_identification(ctx.services.oms, order.order_id, ident, now),
        )
    return ", ".join(f"{i.type_id} {i.value}" for i in active) + " expired"


async def _remove_header(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None:
        raise StepSkipped("already removed")
    await ctx.oms_write(
        "remove order header",
        {"orderId": order.order_id},
        records.delete_header(ctx.services.oms, order.order_id),
    )
    return f"header of {order.order_id} removed"


async def _verify_recovery(ctx: RunContext) -> str:
    logs = await mdm.recent_logs(ctx.services.oms, limit=5)
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
    detail = await _verify_against_shopify(ctx)
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
        Step("Remove the Shopify identification", _expire_identifications),
        Step("Remove the order header", _remove_header),
        Step("Re-import by Shopify order id", _import_fresh),
        Step("Verify in the Shopify Order MDM log and the order lookup", _verify_recovery),
    ],
    order_keys=lambda p: [p["order_id"]],
    role=ROLE,
    outcome=_recovery_outcome,
)


async def _preview(services: Services, params: dict[str, Any]) -> Preview:
    found = await services.oms.find_orders(OrderRef("order_id", params["order_id"], explicit=True))
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


# ---- the command and its buttons -----------------------------------------------------------


def _warnings(order: Order, shop_fulfilled: bool | None, has_address: bool | None) -> list[str]:
    warnings = []
    if order.sales_channel_enum_id != "POS_SALES_CHANNEL":
        warnings.append(
            f"This is not a POS order ({order.sales_channel_label}); refresh is "
            "meant for POS orders downloaded before Shopify marked them fulfilled."
        )
    if order.status_id == "ORDER_COMPLETED":
        warnings.append("The order is already Completed in HotWax.")
    if shop_fulfilled is False:
        warnings.append(
            "Shopify does not show the order fulfilled; the new version will still be Created."
        )
    if has_address is False:
        warnings.append(
            "The Shopify order has no shipping address: the import of the new "
            "version is likely to fail with the createOrderContactMech error; the "
            "run then offers the recovery."
        )
    return warnings


async def refresh_command(inv: Invocation) -> None:
    services = inv.services
    ref: OrderRef = inv.command.arg("order")
    orders = await services.oms.find_orders(ref)
    order = live_version(orders)
    if order is None:
        await inv.reply.ephemeral(
            Message(text=f"No order {ref.value} in HotWax; try `/oms check {ref.value}`."),
            replace=True,
        )
        return
    if not order.shopify_order_id:
        await inv.reply.ephemeral(
            Message(
                text=f"Order {order.order_id} has no Shopify order id; there is nothing to refresh "
                "it from."
            ),
            replace=True,
        )
        return
    shop = await shopify_order_for(services, ref, order)
    if shop is None:
        await inv.reply.ephemeral(
            Message(
                text=f"The Shopify order {order.shopify_order_id} was not found in Shopify; "
                "nothing to refresh from."
            ),
            replace=True,
        )
        return
    await inv.reply.ephemeral(
        await refresh_card(
            services,
            inv.user_id,
            inv.channel_id,
            order,
            orders,
            shop.fulfilled,
            shop.shipping_address is not None,
        ),
        replace=True,
    )


async def refresh_card(
    services: Services,
    user: str,
    channel: str,
    order: Order,
    orders: list[Order],
    fulfilled: bool,
    has_address: bool,
) -> Message:
    params = {
        "order_id": order.order_id,
        "shopify_id": order.shopify_order_id,
        "order_keys": [order.order_id],
    }
    _, buttons = await services.actions.buttons(
        [
            ButtonSpec(
                "Refresh from Shopify",
                CONFIRM_ACTION,
                params,
                style="primary",
                allowed_users=(user,),
                confirm=confirm_dialog(
                    "Refresh this order?",
                    f"Order {order.order_id} is cancelled as the old "
                    "version and imported again from Shopify.",
                    "Refresh",
                ),
            )
        ],
        created_by=user,
        channel_id=channel,
        ttl=15 * 60,
    )
    blocks: list[Block] = [
        header(f"Refresh order {order.order_id} ({order.shopify_order_name or ''})"),
        fields(
            [
                ("HotWax", f"{status_words(order.status_id)} · {order.sales_channel_label}"),
                ("Shopify", "Fulfilled" if fulfilled else "Not fulfilled"),
                ("Shopify order", f"{order.shopify_order_name or '-'} / {order.shopify_order_id}"),
                ("Store", order.product_store_id or "-"),
            ]
        ),
        section(
            "*What the refresh does:* imports a new version of the order from Shopify "
            f"and cancels `{order.order_id}`, marking it as the old version; then checks "
            "the new version's status against Shopify."
        ),
    ]
    versions = versions_line(orders)
    if versions:
        blocks.append(context(escape(versions)))
    blocks += [section(f":warning: {escape(w)}") for w in _warnings(order, fulfilled, has_address)]
    blocks.append(actions(buttons))
    return Message(text=f"Refresh order {order.order_id}?", blocks=blocks)


async def start_refresh(click: Click, params: dict[str, Any]) -> None:
    await click.services.engine.try_start(
        NAME,
        {"order_id": params["order_id"], "shopify_id": params["shopify_id"]},
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


async def _on_confirm(click: Click) -> None:
    await start_refresh(click, click.params)


async def _on_recover(click: Click) -> None:
    await click.services.approvals.request(
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


def register(registry: Registry) -> None:
    registry.add(
        CommandSpec(
            name=NAME,
            summary="Refresh a POS order from Shopify (new version, old one cancelled).",
            handler=refresh_command,
            args=(
                Arg("order", "a HotWax order id, Shopify order id or #name", parse=parse_order_ref),
            ),
            examples=("/oms refresh 10002", "/oms refresh #1004"),
            role=ROLE,
            changes_oms=True,
        )
    )


def setup(services: Services) -> None:
    services.engine.add(REFRESH)
    services.engine.add(RECOVER)
    services.approvals.add(DANGEROUS)
    services.actions.add(
        ActionSpec(
            CONFIRM_ACTION, _on_confirm, pressed_note=lambda c: f"Refresh started by <@{c.user_id}>"
        )
    )
    services.actions.add(
        ActionSpec(
            RECOVER_ACTION,
            _on_recover,
            pressed_note=lambda c: f"Recovery requested by <@{c.user_id}>",
        )
    )
