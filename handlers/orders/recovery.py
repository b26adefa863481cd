"""The recovery of a POS order whose refresh failed for want of a shipping address (HotWax's
runbook "POS Order Refresh Failure").

HotWax's procedure removes the order's rows in webtools (OrderItem, OrderHeader,
OrderIdentification) and imports the order again. The recovery first reads every row the
removal means (bot/oms/records.py `removal_plan`: the items from the ship groups, and every
row that references the header, since Moqui's deletes do not cascade) with the route that
would remove each. Only if every row has a route could the removal run without stopping
halfway; HotWax's public API has none for most of them (status rows, roles, contact mechs, ship
groups), so the recovery refuses before any write, says why, and prepares what HotWax support
needs to do it (the order's identifiers, the failing service, the error without customer data,
what oms-bot changed, every row to remove) as a file in the thread. Once HotWax has removed the
order, `/oms import <Shopify id>` brings it back and verifies it.
"""

from __future__ import annotations

import logging
from collections import Counter

from bot.engine import ActionSpec, ButtonSpec, Click, Provides
from bot.kit.blocks import Message, chunk_lines, context, escape, header, section
from bot.kit.durations import plural
from bot.kit.posting import SlackError, Upload, slack_error
from bot.oms import Order, OrderRef, records
from handlers.orders.lookup import status_words

log = logging.getLogger(__name__)

ROLE = "operator"
RECOVER_ACTION = "refresh.recover"
FAILING_SERVICE = "createOrderContactMech"
ERROR_MAX = 500


RECOVER_LABEL = "Plan the recovery: HotWax support removes the order"


def recovery_button(
    order_id: str, shopify_id: str, error: str, *, shopify_name: str | None = None
) -> ButtonSpec:
    """The button a failed POS refresh offers. It reads what the recovery would remove and
    prepares HotWax support's request: the removal itself needs them (a second person with
    webtools access), so the label says so. It writes nothing, hence no confirm dialog."""
    return ButtonSpec(
        RECOVER_LABEL,
        RECOVER_ACTION,
        {
            "order_id": order_id,
            "shopify_id": shopify_id,
            "error": error[:ERROR_MAX],
            "order_keys": [k for k in (order_id, shopify_id, shopify_name) if k],
        },
        style="primary",
        allowed_role=ROLE,
    )


def _plan_lines(plan: list[records.RemovalRow]) -> list[str]:
    counts = Counter(row.entity for row in plan)
    routed = {row.entity: row.route for row in plan}
    return [
        f"• {entity} × {count}: "
        + (f"`{escape(route)}`" if (route := routed[entity]) else "*no route in HotWax's API*")
        for entity, count in counts.items()
    ]


def support_file(order: Order, plan: list[records.RemovalRow], error: str) -> str:
    """What HotWax support needs to remove the order (markdown; no customer data)."""
    lines = [
        f"# Remove HotWax order {order.order_id} so it can be imported again",
        "",
        "The refresh of this POS order failed because its Shopify order has no shipping "
        'address. HotWax\'s runbook "POS Order Refresh Failure" resolves it by removing the '
        "order's rows and importing the order again; oms-bot cannot remove them through the "
        "API.",
        "",
        f"- HotWax order: {order.order_id} ({status_words(order.status_id)}, "
        f"{order.sales_channel_label}, store {order.product_store_id or '-'})",
        f"- Shopify order: {order.shopify_order_name or '-'} / {order.shopify_order_id or '-'}",
        f"- Failing service: {FAILING_SERVICE}",
        f"- Error: {' '.join(error.split())[:ERROR_MAX]}",
        "- What oms-bot changed: no order row. The refresh's re-import set the shop's "
        "order-sync job's fromDate for one run and put it back, read back as before.",
        "",
        "## Rows to remove",
        "",
        "| Entity | Row | Route in the public API |",
        "|---|---|---|",
    ]
    lines += [f"| {r.entity} | {r.keys} | {r.route or 'none'} |" for r in plan]
    lines += [
        "",
        f"When the order is removed, run `/oms import {order.shopify_order_id}` in Slack: "
        "oms-bot imports it again and checks it in HotWax.",
    ]
    return "\n".join(lines) + "\n"


async def _on_recover(click: Click) -> None:
    params = click.params
    order_id = str(params["order_id"])
    found = await click.tools.oms.find_orders(OrderRef("order_id", order_id, explicit=True))
    order = found[0] if found else None
    if order is None:
        text = f"Order {order_id} is no longer in HotWax: there is nothing to remove."
        await click.reply.safe_ephemeral(Message(text=text, blocks=[section(escape(text))]))
        return
    plan = records.removal_plan(order)
    missing = [row for row in plan if row.route is None]
    # Every imported order has rows without a route (its status rows, its identifications),
    # so the removal cannot be done through the API without stopping halfway.
    why = (
        f"{len(missing)} of them have no route in HotWax's API (a Moqui delete does not "
        "cascade), so oms-bot would stop halfway"
        if missing
        else "oms-bot does not remove order rows itself"
    )
    title = f"Recovery of order {order_id}: HotWax support must remove it"
    text = (
        f"Removing order {order_id} means removing {plural(len(plan), 'row')}, and {why}. "
        "Nothing was written. The file in this thread has what HotWax support needs; once they "
        f"have removed the order, run `/oms import {params['shopify_id']}`."
    )
    blocks = [
        header(title),
        section(escape(text)),
        *[section(chunk) for chunk in chunk_lines(["*Rows to remove*", *_plan_lines(plan)])],
    ]
    message = Message(text=title, blocks=blocks)
    thread = click.message_ts if not click.is_ephemeral else None
    content = support_file(order, plan, str(params.get("error") or ""))
    try:
        ts = await click.reply.post(message, thread_ts=thread)
    except SlackError as exc:
        error = slack_error(exc)
        log.warning("could not post the recovery plan of %s: %s", order_id, error)
        await click.reply.safe_ephemeral(
            Message(
                text=title,
                blocks=[
                    *blocks[:40],
                    context(
                        f"I could not post the support file here (Slack answered `{error}`); "
                        "invite me to the channel, or send HotWax support the rows above."
                    ),
                ],
            )
        )
        return
    # The plan is posted: a file Slack refuses is said in the thread, not an error.
    await click.reply.upload(
        Upload(
            filename=f"hotwax-support-order-{order_id}.md",
            title=f"HotWax support request: remove order {order_id}",
            content=content,
            what=f"The HotWax support file of order {order_id}",
        ),
        thread_ts=thread or ts,
    )


PROVIDES = Provides(
    actions=(
        ActionSpec(
            RECOVER_ACTION,
            _on_recover,
            pressed_note=lambda c: f"Recovery planned by <@{c.user_id}>",
        ),
    ),
)
