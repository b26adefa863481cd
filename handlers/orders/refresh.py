"""`/oms refresh <order>`: refresh a POS order from Shopify (HotWax's order-sync
troubleshooting runbook), and never leave it worse than it was.

HotWax's "Refresh order" button has no public endpoint ([NF]), so the refresh is composed of
documented calls (docs/oms-api.md, "Refresh, composed"), in an order that writes nothing
destructive before the bot knows it can finish:
  1. read the order in HotWax and in Shopify, and check the shop's order-sync job;
  2. import from Shopify: replay the order sync and wait for HotWax's MDM import
     (handlers/orders/reimport.py). HotWax may import a new version, update the order in place,
     or skip it as unchanged (which it does is not public: each is handled);
  3. only when a live new version exists, cancel the old one and mark it "Old Version", as
     HotWax's own refresh does; an order updated in place is left as it is;
  4. verify the live version against Shopify.
If no new version comes and the order was not updated (skipped, an MDM failure, a timeout), the
order is untouched and the run says what happened. When the import fails with the
createOrderContactMech error (no shipping address in Shopify), a POS order's run offers the
recovery (handlers/orders/recovery.py) and no Resume, which would fail the same way; a web
order's says to add the address in Shopify and Resume.
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
from bot.oms import (
    Order,
    OrderRef,
    ShopifyOrder,
    attempt,
    parse_order_ref,
    reads_together,
    records,
)
from handlers.orders.imports import import_button
from handlers.orders.lookup import (
    live_version,
    order_references,
    order_sync,
    shopify,
    shopify_order_for,
    status_words,
    versions_line,
)
from handlers.orders.pages import links_block
from handlers.orders.recovery import recovery_button
from handlers.orders.reimport import CONTACT_MECH, replay_and_wait, shopify_order
from handlers.orders.shop import shopify_setup, sync_job_keys

NAME = "refresh"
ROLE = "operator"
CONFIRM_ACTION = "refresh.confirm"
COMPLETED = "ORDER_COMPLETED"
POS_CHANNEL = "POS_SALES_CHANNEL"
# Failure codes of the first step: what the refresh needs is not there, so Resume cannot help.
NOT_REFRESHABLE = "not-refreshable"  # the order is not in HotWax, or not in Shopify
NO_LIVE_VERSION = "no-live-version"  # cancelled, with no version that replaced it


async def _order(ctx: RunContext, order_id: str) -> Order | None:
    found = await ctx.tools.oms.find_orders(OrderRef("order_id", order_id, explicit=True))
    return found[0] if found else None


async def _new_version(ctx: RunContext) -> Order | None:
    """A live version of the Shopify order other than the one being refreshed."""
    versions = await ctx.tools.oms.find_orders_by_shopify_id(ctx.params["shopify_id"])
    # The run's later audit events carry every version's id: `/oms history <new id>` finds
    # the refresh that made it.
    for version in versions:
        ctx.add_references(*order_references(version))
    return next(
        (o for o in versions if o.order_id != ctx.params["order_id"] and not o.is_cancelled), None
    )


def _expected(shop: ShopifyOrder | None) -> str | None:
    """The HotWax status a POS order should have for this Shopify order (None: any)."""
    return COMPLETED if shop is not None and shop.fulfilled else None


async def _shopify_side(ctx: RunContext) -> ShopifyOrder | None:
    return await shopify(ctx.tools).order_by_id(ctx.params["shopify_id"])


async def _sync_checked(ctx: RunContext) -> None:
    await order_sync(ctx.tools).check()


async def _check_both(ctx: RunContext) -> str:
    # The order in HotWax, the order in Shopify and the shop's order-sync job are
    # independent reads: together. The last two keep their failures until they are used,
    # so the step fails for what it would have met first when they were read in turn (an
    # order missing from HotWax before a Shopify or sync problem).
    order, shop_read, sync_read = await reads_together(
        _order(ctx, ctx.params["order_id"]),
        attempt(_shopify_side(ctx)),
        attempt(_sync_checked(ctx)),
    )
    if order is None:
        raise StepFailed(f"order {ctx.params['order_id']} is not in HotWax", code=NOT_REFRESHABLE)
    ctx.add_references(*order_references(order))
    if order.is_cancelled:
        newer = await _new_version(ctx)
        if newer is None:
            raise StepFailed(
                f"{order.order_id} is cancelled and no live version of it is in HotWax; "
                "re-import the Shopify order with `/oms import` instead",
                code=NO_LIVE_VERSION,
            )
        ctx.scratch["new_order"] = newer.order_id
    shop = shop_read.value()
    if shop is None:
        raise StepFailed(
            "the order is not in Shopify, so there is nothing to refresh from",
            code=NOT_REFRESHABLE,
        )
    sync_read.value()
    ctx.scratch["status_before"] = order.status_id
    return (
        f"HotWax {status_words(order.status_id)} ({order.sales_channel_label}); "
        f"Shopify {shop.fulfillment_status or 'unknown'}"
    )


async def _import_fresh(ctx: RunContext) -> str:
    existing = await _new_version(ctx)
    if existing is not None:
        ctx.scratch["new_order"] = existing.order_id
        raise StepSkipped(f"a new version is already in HotWax: {existing.order_id}")
    shop = await shopify_order(
        ctx, ctx.params["shopify_id"], "the order is no longer in Shopify; nothing was changed"
    )
    old = await _order(ctx, ctx.params["order_id"])
    pos = old is not None and old.sales_channel_enum_id == POS_CHANNEL
    if old is not None and not old.is_cancelled and _matches(old, shop):
        ctx.scratch["in_place"] = old.order_id
        raise StepSkipped(f"{old.order_id} already matches Shopify; nothing to import")

    async def arrived() -> str | None:
        new = await _new_version(ctx)
        if new is not None:
            ctx.scratch["new_order"] = new.order_id
            return f"imported as {new.order_id} ({status_words(new.status_id)})"
        current = await _order(ctx, ctx.params["order_id"])
        if (
            current is not None
            and not current.is_cancelled
            and current.status_id != ctx.scratch.get("status_before")
            and _matches(current, shop)
        ):
            ctx.scratch["in_place"] = current.order_id
            return (
                f"HotWax updated {current.order_id} in place from Shopify: it is now "
                f"{status_words(current.status_id)}; no new version was needed"
            )
        return None

    return await replay_and_wait(
        ctx,
        shop,
        arrived,
        nothing_came=(
            f"No new version came and {ctx.params['order_id']} was not updated, so nothing "
            "was cancelled: the order is as it was. HotWax's sync may skip an order it sees "
            "as unchanged; ask HotWax support to refresh it from the order page."
        ),
        pos_refresh=pos,
    )


def _matches(order: Order, shop: ShopifyOrder | None) -> bool:
    """Whether the HotWax order already says what Shopify says (a fulfilled POS order is
    Completed)."""
    expected = _expected(shop)
    return expected is not None and order.status_id == expected


async def _cancel_old(ctx: RunContext) -> str:
    order = await _order(ctx, ctx.params["order_id"])
    if order is None:
        raise StepFailed(f"order {ctx.params['order_id']} is no longer in HotWax")
    if order.is_cancelled:
        raise StepSkipped("already cancelled")
    newer = await _new_version(ctx)
    if newer is None:
        if _matches(order, await shopify(ctx.tools).order_by_id(ctx.params["shopify_id"])):
            ctx.scratch["in_place"] = order.order_id
            raise StepSkipped("updated in place: there is no old version to cancel")
        # Never cancel without a live replacement: that is how an order got lost.
        raise StepFailed(
            f"no live new version of {order.order_id} is in HotWax, so it was not cancelled"
        )
    await ctx.oms_write(
        f"cancel order {order.order_id} as the old version of {newer.order_id}",
        {
            "orderId": order.order_id,
            "statusId": "ORDER_CANCELLED",
            "changeReason": records.OLD_VERSION,
            "newVersion": newer.order_id,
        },
        records.cancel_order(ctx.tools.oms, order.order_id, reason=records.OLD_VERSION),
    )
    tagged = await records.cancelled_with(ctx.tools.oms, order.order_id, records.OLD_VERSION)
    if not tagged:
        return (
            f"{order.order_id} cancelled; this OMS did not keep the {records.OLD_VERSION} "
            f"reason on it (the audit links it to {newer.order_id})"
        )
    return f"{order.order_id} cancelled and marked {records.OLD_VERSION}"


async def _verify(ctx: RunContext) -> str:
    shop = await shopify(ctx.tools).order_by_id(ctx.params["shopify_id"])
    live_id = ctx.scratch.get("new_order") or ctx.scratch.get("in_place")
    if live_id is None:
        # A resumed run starts with nothing in scratch: ask the OMS which version is live.
        newer = await _new_version(ctx)
        if newer is not None:
            ctx.scratch["new_order"] = live_id = newer.order_id
        else:
            live_id = ctx.params["order_id"]
    live = await _order(ctx, str(live_id))
    if live is None or live.is_cancelled:
        raise StepFailed(f"no live version of the order is in HotWax ({live_id} is not live)")
    expected = _expected(shop)
    if expected and live.status_id != expected:
        raise StepFailed(
            f"{live.order_id} is {status_words(live.status_id)} but Shopify says fulfilled "
            "(expected Completed)"
        )
    ctx.scratch["live"] = live.order_id
    shown = shop.fulfillment_status if shop else "unknown"
    return f"{live.order_id} is {status_words(live.status_id)}; Shopify: {shown}"


async def _refresh_outcome(ctx: RunContext) -> Outcome:
    old = ctx.params["order_id"]
    if ctx.scratch.get("in_place"):
        return Outcome(
            f"Refreshed in place: {old} now matches Shopify "
            f"({ctx.scratch.get('live', old)} is live); nothing was cancelled."
        )
    return Outcome(
        f"Refreshed: the new version is {ctx.scratch.get('new_order', '?')}; "
        f"{old} is cancelled as the old version."
    )


async def _refresh_failed(ctx: RunContext, failure: Failure) -> Outcome | None:
    if NO_LIVE_VERSION in failure.codes:
        name = ctx.params.get("shopify_name") or ctx.params["shopify_id"]
        target = [{"id": ctx.params["shopify_id"], "name": name}]
        return Outcome(
            "Nothing was changed. There is no live version to refresh; importing the Shopify "
            "order brings one in.",
            buttons=(import_button(target, f"Import {name} from Shopify"),),
            resumable=False,
        )
    if NOT_REFRESHABLE in failure.codes:
        # The order or its Shopify side is gone: a retry would find the same.
        return Outcome(
            "Nothing was changed; `/oms check` says where the order is.", resumable=False
        )
    if CONTACT_MECH not in failure.codes:
        return None
    order_id = ctx.params["order_id"]
    order = await _order(ctx, order_id)
    unchanged = f"Nothing was cancelled: {order_id} is as it was."
    if order is not None and order.sales_channel_enum_id != POS_CHANNEL:
        # A web order's Shopify order can be given the address: then the import succeeds.
        return Outcome(
            "HotWax could not import the new version: the Shopify order has no shipping "
            f"address (createOrderContactMech). {unchanged} Add the shipping address to the "
            "order in Shopify, then press Resume: the import is tried again."
        )
    # A POS sale has no shipping address to add, so every import fails the same way until
    # HotWax support has removed the old order: Resume cannot help, the recovery can.
    return Outcome(
        "HotWax could not import the new version: the Shopify order has no shipping address, "
        f"as POS sales often do (createOrderContactMech). {unchanged} Trying again fails the "
        "same way, and nothing needs changing in Shopify. The recovery needs a second person, "
        "HotWax support: they remove the order's rows in HotWax, then "
        f"`/oms import {ctx.params['shopify_id']}` brings it back. The button lists every row "
        "to remove and prepares their request; it changes nothing itself.",
        buttons=(
            recovery_button(
                order_id,
                ctx.params["shopify_id"],
                failure.text[:500],
                shopify_name=ctx.params.get("shopify_name")
                or (order.shopify_order_name if order else None),
            ),
        ),
        resumable=False,
    )


REFRESH = Runbook(
    name=NAME,
    title=lambda p: f"Refresh order {p['order_id']} from Shopify",
    steps=lambda p: [
        Step("Read the order in HotWax and Shopify", _check_both),
        Step("Import the fresh version from Shopify", _import_fresh),
        Step("Cancel the old version and mark it Old Version", _cancel_old),
        Step("Verify the live version against Shopify", _verify),
    ],
    order_keys=lambda p: [
        *(k for k in (p["order_id"], p.get("shopify_id")) if k),
        *sync_job_keys(p),
    ],
    references=lambda p: [p["shopify_name"]] if p.get("shopify_name") else [],
    role=ROLE,
    outcome=_refresh_outcome,
    on_failure=_refresh_failed,
)


def _warnings(order: Order, shop_fulfilled: bool | None, has_address: bool | None) -> list[str]:
    warnings = []
    if order.sales_channel_enum_id != POS_CHANNEL:
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
        then = (
            "the run then offers the recovery with HotWax support."
            if order.sales_channel_enum_id == POS_CHANNEL
            else "add the address to the order in Shopify before refreshing."
        )
        warnings.append(
            "The Shopify order has no shipping address: the import of the new version is "
            f"likely to fail with the createOrderContactMech error; {then}"
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
            shop.has_shipping_address,
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
        "shopify_name": order.shopify_order_name,
        "order_keys": order_references(order),
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
                    f"The order is imported again from Shopify; {order.order_id} is cancelled "
                    "as the old version only once a new version is in HotWax.",
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
            "*What the refresh does:* imports the order from Shopify again and waits for "
            f"HotWax to take it in. Only when a live new version exists is `{order.order_id}` "
            "cancelled and marked as the old version (an order HotWax updates in place is "
            "kept); then the live version is checked against Shopify. If HotWax imports "
            "nothing, nothing is changed."
        ),
    ]
    blocks += await links_block(tools, order)
    versions = versions_line(orders)
    if versions:
        blocks.append(context(escape(versions)))
    blocks += [section(f":warning: {escape(w)}") for w in _warnings(order, fulfilled, has_address)]
    blocks.append(actions(buttons))
    return Message(text=f"Refresh order {order.order_id}?", blocks=blocks)


async def start_refresh(click: Click, params: dict[str, Any]) -> None:
    await click.tools.runs.try_start(
        NAME,
        {
            "order_id": params["order_id"],
            "shopify_id": params["shopify_id"],
            "shopify_name": params.get("shopify_name"),
            "sync_job": shopify_setup(click.tools).sync_job,
        },
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
            summary=(
                "Refresh a POS order from Shopify; the old version is cancelled only once a "
                "new one exists."
            ),
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
