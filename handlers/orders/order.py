"""Order lookups: `/oms order <order>` shows every version of an order and its history."""

from __future__ import annotations

from bot.engine import Arg, CommandSpec, Invocation, Provides
from bot.kit.blocks import Block, Message, context, divider, escape, fields, header, section
from bot.kit.durations import plural
from bot.oms import Order, OrderRef, StatusChange, parse_order_ref
from handlers.orders.lookup import status_words, when

MAX_VERSIONS_SHOWN = 5
MAX_HISTORY_SHOWN = 15


def describe_ref(ref: OrderRef) -> str:
    labels = {"order_id": "HotWax order", "shopify_id": "Shopify order id"}
    return f"{labels.get(ref.kind, 'Shopify order')} {ref.value}"


def order_fields(order: Order) -> Block:
    return fields(
        [
            ("HotWax order", f"`{escape(order.order_id)}`"),
            ("Status", status_words(order.status_id)),
            ("Channel", escape(order.sales_channel_label)),
            ("Store", escape(order.product_store_id or "none")),
            ("Order date", when(order.order_date)),
            (
                "Shopify",
                escape(f"{order.shopify_order_name or '-'} / {order.shopify_order_id or '-'}"),
            ),
        ]
    )


def history_lines(history: list[StatusChange]) -> list[str]:
    shown = history[-MAX_HISTORY_SHOWN:]
    lines = [
        f"• {when(change.status_datetime)}  {status_words(change.status_id)}"
        + (f" by {escape(change.user_login)}" if change.user_login else "")
        + (f" (item {escape(change.order_item_seq_id)})" if change.order_item_seq_id else "")
        for change in shown
    ]
    if len(history) > len(shown):
        lines.insert(0, f"… {plural(len(history) - len(shown), 'earlier change')} not shown")
    return lines


def render_orders(ref: OrderRef, orders: list[Order], history: list[StatusChange]) -> Message:
    """Every version, the live one first, with the live version's status history."""
    if not orders:
        return Message(
            text=f"No order found in HotWax for {describe_ref(ref)}.",
            blocks=[
                section(f":mag: No order found in HotWax for *{escape(describe_ref(ref))}*."),
                context("Check the reference; `/oms help order` shows the accepted forms."),
            ],
        )
    live = next((o for o in orders if not o.is_cancelled), orders[0])
    title = live.shopify_order_name or live.order_name or live.order_id
    blocks: list[Block] = [header(f"Order {title}")]
    if len(orders) > 1:
        versions = ", ".join(
            f"`{escape(o.order_id)}` ({status_words(o.status_id)})"
            for o in orders[:MAX_VERSIONS_SHOWN]
        )
        blocks.append(
            section(
                f"{len(orders)} versions share this Shopify order: {versions}. "
                f"The live one is `{escape(live.order_id)}`."
            )
        )
    others = [o for o in orders if o is not live][: MAX_VERSIONS_SHOWN - 1]
    for order in [live, *others]:
        blocks.append(order_fields(order))
    if history:
        blocks += [
            divider(),
            section("*Status history* (live version)\n" + "\n".join(history_lines(history))),
        ]
    status = status_words(live.status_id)
    text = f"Order {title}: {status} ({live.sales_channel_label}), HotWax {live.order_id}"
    return Message(text=text, blocks=blocks)


async def show_order(inv: Invocation) -> None:
    ref: OrderRef = inv.command.arg("order")
    oms = inv.tools.oms
    orders = await oms.find_orders(ref)
    history: list[StatusChange] = []
    if orders:
        live = next((o for o in orders if not o.is_cancelled), orders[0])
        history = await oms.order_status_history(live.order_id)
    await inv.reply.ephemeral(render_orders(ref, orders, history), replace=True)


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="order",
            summary="Show an order's versions, status, channel, store and status history.",
            handler=show_order,
            args=(
                Arg(
                    "order",
                    "a HotWax order id (10002), a Shopify order id (6178678210724) "
                    "or a Shopify order name (#1004)",
                    parse=parse_order_ref,
                ),
            ),
            examples=("/oms order 10002", "/oms order #1004", "/oms order 6100000000002"),
        ),
    )
)
