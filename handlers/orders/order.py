"""Order lookups: `/oms order <order>` shows every version of an order and its history, and
for each cancelled version when and by whom it was removed: HotWax's status row (when, which
OMS user, the reason) and, when oms-bot did it, the audit's write (the Slack user, the run).
An order HotWax no longer has (removed for a recovery) is looked up in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine import Arg, AuditEvent, CommandSpec, EventKind, Invocation, Provides, Toolbox
from bot.kit.blocks import Block, Message, context, divider, escape, fields, header, section
from bot.kit.durations import plural, slack_time
from bot.oms import Order, OrderRef, StatusChange, parse_order_ref, read_each, reads_together
from handlers.orders.lookup import live_version, references_of, status_words, when
from handlers.orders.pages import page_links

MAX_VERSIONS_SHOWN = 5
MAX_HISTORY_SHOWN = 15
AUDIT_READ = 50  # the newest audit events about a cancelled version that are searched
ORDER_CANCELLED = "ORDER_CANCELLED"


@dataclass(frozen=True)
class Removal:
    """How a version left: HotWax's cancel status row and oms-bot's audited write of it."""

    order_id: str
    change: StatusChange | None  # the ORDER_CANCELLED row of the order header
    write: AuditEvent | None  # oms-bot's cancel of it, when oms-bot did it
    run: AuditEvent | None  # the run that wrote it (its title and message)
    link: str | None  # the run's Slack message


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


def removal_line(removal: Removal, live: Order) -> str:
    """`10002` was cancelled <when> by <OMS user> (reason) through oms-bot by <@U…>."""
    change, write = removal.change, removal.write
    text = f":wastebasket: `{escape(removal.order_id)}` was cancelled"
    if change is not None:
        text += f" {when(change.status_datetime)}"
        if change.user_login:
            text += f" by {escape(change.user_login)} in HotWax"
        if change.change_reason:
            text += f" (reason: {escape(change.change_reason)})"
    if write is not None:
        title = f": {escape(removal.run.command)}" if removal.run and removal.run.command else ""
        link = f" (<{removal.link}|message>)" if removal.link else ""
        text += f", through oms-bot by <@{write.actor}> at {slack_time(write.at)}{title}{link}"
    if change is None and write is None:
        text += "; neither HotWax's status history nor oms-bot's audit says when or by whom"
    if live.order_id != removal.order_id and not live.is_cancelled:
        text += f". The live version is `{escape(live.order_id)}`"
    return text + "."


def render_orders(
    ref: OrderRef,
    orders: list[Order],
    history: list[StatusChange],
    removals: list[Removal] | None = None,
    audit_note: str | None = None,
    links: dict[str, str] | None = None,
) -> Message:
    """Every version, the live one first, with the live version's status history and how
    each cancelled version was removed."""
    if not orders:
        blocks: list[Block] = [
            section(f":mag: No order found in HotWax for *{escape(describe_ref(ref))}*."),
        ]
        blocks.append(
            section(audit_note)
            if audit_note
            else context("Check the reference; `/oms help order` shows the accepted forms.")
        )
        return Message(text=f"No order found in HotWax for {describe_ref(ref)}.", blocks=blocks)
    live = live_version(orders) or orders[0]
    title = live.shopify_order_name or live.order_name or live.order_id
    blocks = [header(f"Order {title}")]
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
        if links and order.order_id in links:
            blocks.append(context(f":link: {links[order.order_id]}"))
    blocks += [section(removal_line(r, live)) for r in removals or []]
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
    tools = inv.tools
    oms = tools.oms
    orders = await oms.find_orders(ref)
    shopify_ids = {o.shopify_order_id for o in orders if o.shopify_order_id}
    if orders and all(o.is_cancelled for o in orders) and len(shopify_ids) == 1:
        # A removed version asked for by its own id: show what replaced it too.
        known = {o.order_id for o in orders}
        siblings = await oms.find_orders_by_shopify_id(shopify_ids.pop())
        orders = sorted(
            [*orders, *(o for o in siblings if o.order_id not in known)],
            key=lambda o: o.is_cancelled,
        )
    history: list[StatusChange] = []
    removals: list[Removal] = []
    audit_note = None
    if orders:
        live = live_version(orders) or orders[0]
        cancelled = [o for o in orders if o.is_cancelled][: MAX_VERSIONS_SHOWN - 1]
        # The live version's history and each other cancelled version's own are independent
        # reads: together. A cancelled live version's removal is in the history just read.
        history, others = await reads_together(
            oms.order_status_history(live.order_id),
            read_each(removal_of(tools, o) for o in cancelled if o is not live),
        )
        removed = {r.order_id: r for r in others}
        removals = [
            removed[o.order_id] if o is not live else await removal_of(tools, o, history)
            for o in cancelled
        ]
    else:
        audit_note = await _audit_note(tools, ref)
    links = {o.order_id: await page_links(tools, o) for o in orders[:MAX_VERSIONS_SHOWN]}
    shown = {k: v for k, v in links.items() if v}
    await inv.reply.ephemeral(
        render_orders(ref, orders, history, removals, audit_note, shown), replace=True
    )


async def removal_of(
    tools: Toolbox, order: Order, history: list[StatusChange] | None = None
) -> Removal:
    """When and by whom `order` was cancelled: its ORDER_CANCELLED status row in HotWax, and
    oms-bot's audited write of that status with the run that made it."""
    if history is None:
        history = await tools.oms.order_status_history(order.order_id)
    change = next(
        (
            c
            for c in reversed(history)
            if c.status_id == ORDER_CANCELLED and not c.order_item_seq_id
        ),
        None,
    )
    events = await tools.audit.search_if_readable(order_keys=[order.order_id], limit=AUDIT_READ)
    events = events or []
    write = next((e for e in events if _cancels(e, order.order_id)), None)
    run = None
    if write is not None and write.run_id:
        run = next(
            (e for e in events if e.run_id == write.run_id and e.kind == EventKind.RUN), None
        )
    link = await tools.message_link(run.message_channel, run.message_ts) if run else None
    return Removal(order.order_id, change, write, run, link)


def _cancels(event: AuditEvent, order_id: str) -> bool:
    """Whether the event is oms-bot's successful write cancelling the order."""
    parameters = (event.detail or {}).get("parameters") or {}
    return (
        event.kind == EventKind.OMS_WRITE
        and event.outcome == "ok"
        and parameters.get("orderId") == order_id
        and parameters.get("statusId") == ORDER_CANCELLED
    )


async def _audit_note(tools: Toolbox, ref: OrderRef) -> str | None:
    """What oms-bot's audit knows of an order HotWax does not have (any more)."""
    keys = await references_of(tools, ref)
    events = await tools.audit.search_if_readable(order_keys=keys, limit=AUDIT_READ)
    if not events:
        return None
    newest = events[0]
    who = f"<@{newest.actor}>" if newest.actor != "system" else "oms-bot"
    what = escape(newest.summary or newest.command or newest.kind)
    count = (
        f"{len(events)}+ entries"
        if len(events) >= AUDIT_READ
        else plural(len(events), "entry", "entries")
    )
    return (
        f"HotWax does not have it now, but oms-bot's audit trail has {count} about it; "
        f"the newest: {what} ({who}, {slack_time(newest.at)}). `/oms history {escape(ref.value)}` "
        "lists them."
    )


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
