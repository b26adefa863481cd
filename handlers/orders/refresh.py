"""`/oms refresh <order>`: refresh a POS order from Shopify (HotWax's order-sync
troubleshooting runbook).

HotWax's "Refresh order" button has no public endpoint ([NF]), so the refresh is composed of
documented calls (docs/oms-api.md, "Refresh, composed"):
  1. read the order in HotWax and in Shopify;
  2. cancel this version and mark it "Old Version" (changeOrderStatus with a changeReason):
     HotWax's import skips a Shopify order that is already in HotWax, so the old version must
     stop counting first;
  3. import the fresh version by replaying the shop's order-sync job around the order;
  4. verify the new version's status against Shopify.
When step 3 fails with the createOrderContactMech error (the Shopify order has no shipping
address), the run stops, says why, and offers the recovery (handlers/orders/recovery.py).
"""

from __future__ import annotations

from typing import Any

from bot.engine import (
    ActionSpec,
    Arg,
    ButtonSpec,
    Click,
    CommandSpec,
    Failure,
    Invocation,
    Outcome,
    Provides,
    Runbook,
    RunContext,
    Step,
    StepFailed,
    StepSkipped,
    Toolbox,
)
from bot.kit.blocks import (
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
from bot.oms import Order, OrderRef, parse_order_ref, records
from handlers.orders.lookup import (
    live_version,
    shopify,
    shopify_order_for,
    status_words,
    versions_line,
)
from handlers.orders.new_version import import_new_version, order_by_id, verify_new_version
from handlers.orders.recovery import recovery_button
from handlers.orders.reimport import CONTACT_MECH

NAME = "refresh"
ROLE = "operator"
CONFIRM_ACTION = "refresh.confirm"


async def _check_both(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
    if order is None:
        raise StepFailed(f"order {ctx.params['order_id']} is not in HotWax")
    shop = await shopify(ctx.tools).order_by_id(ctx.params["shopify_id"])
    if shop is None:
        raise StepFailed("the order is not in Shopify, so there is nothing to refresh from")
    return (
        f"HotWax {status_words(order.status_id)} ({order.sales_channel_label}); "
        f"Shopify {shop.fulfillment_status or 'unknown'}"
    )


async def _cancel_old(ctx: RunContext) -> str:
    order = await order_by_id(ctx, ctx.params["order_id"])
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
        records.cancel_order(ctx.tools.oms, order.order_id, reason=records.OLD_VERSION),
    )
    return f"{order.order_id} cancelled and marked {records.OLD_VERSION}"


async def _refresh_outcome(ctx: RunContext) -> Outcome:
    return Outcome(
        f"Refreshed: the new version is {ctx.scratch.get('new_order', '?')}; "
        f"{ctx.params['order_id']} is cancelled as the old version."
    )


async def _refresh_failed(ctx: RunContext, failure: Failure) -> Outcome | None:
    if CONTACT_MECH not in failure.codes:
        return None
    return Outcome(
        "The refresh failed because the Shopify order has no shipping address "
        f"(createOrderContactMech). {ctx.params['order_id']} is cancelled; the recovery "
        "removes it and imports the order afresh. It needs a second person's approval.",
        buttons=(recovery_button(ctx.params["order_id"], ctx.params["shopify_id"]),),
    )


REFRESH = Runbook(
    name=NAME,
    title=lambda p: f"Refresh order {p['order_id']} from Shopify",
    steps=lambda p: [
        Step("Read the order in HotWax and Shopify", _check_both),
        Step("Cancel this version and mark it Old Version", _cancel_old),
        Step("Import the fresh version from Shopify", import_new_version),
        Step("Verify the new version against Shopify", verify_new_version),
    ],
    order_keys=lambda p: [p["order_id"]],
    role=ROLE,
    outcome=_refresh_outcome,
    on_failure=_refresh_failed,
)


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
    tools = inv.tools
    ref: OrderRef = inv.command.arg("order")
    orders = await tools.oms.find_orders(ref)
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
    shop = await shopify_order_for(tools, ref, order)
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
            tools,
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
    tools: Toolbox,
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
    _, buttons = await tools.actions.buttons(
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
    await click.tools.runs.try_start(
        NAME,
        {"order_id": params["order_id"], "shopify_id": params["shopify_id"]},
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


async def _on_confirm(click: Click) -> None:
    await start_refresh(click, click.params)


PROVIDES = Provides(
    commands=(
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
        ),
    ),
    runbooks=(REFRESH,),
    actions=(
        ActionSpec(
            CONFIRM_ACTION, _on_confirm, pressed_note=lambda c: f"Refresh started by <@{c.user_id}>"
        ),
    ),
)
