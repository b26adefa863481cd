"""`/oms approve <order> [...]`: approve created orders now instead of waiting for the job.

The Approve orders job (JOB_APR_ORD) approves created orders whose payment is authorised or
settled (HotWax's order-sync troubleshooting runbook). When an order is stuck in created with a
good payment, an operator can approve it here: the bot checks each order, shows what will
happen, and on confirmation runs `changeOrderStatus` to ORDER_APPROVED for each, then reads
them back. Orders without an authorised payment are refused: approving them would release
unpaid orders.

The policy can make this a two-person action (`[approvals.actions] approve = ["approver"]`).
"""

from __future__ import annotations

from typing import Any

from bot.engine import (
    ActionSpec,
    Arg,
    ButtonSpec,
    Click,
    CommandSpec,
    DangerousAction,
    Invocation,
    Outcome,
    Preview,
    PreviewLine,
    Provides,
    ReadBack,
    Runbook,
    RunContext,
    Step,
    StepFailed,
    StepSkipped,
    Toolbox,
    run_approved,
)
from bot.kit.blocks import (
    Block,
    Message,
    actions,
    confirm_dialog,
    header,
    refusal_message,
    section,
)
from bot.kit.durations import plural
from bot.kit.posting import SlackClient
from bot.kit.reply import Replier
from bot.oms import OmsClient, Order, OrderRef, parse_order_ref
from handlers.orders.lookup import live_order, order_references, status_words

NAME = "approve"
ROLE = "operator"
CONFIRM_ACTION = "approve.confirm"
CANCEL_ACTION = "approve.cancel"
CHECK_APPROVE_ACTION = "approve.from_check"
MAX_ORDERS = 20
GOOD_PAYMENTS = ("PAYMENT_AUTHORIZED", "PAYMENT_SETTLED", "PAYMENT_RECEIVED")
TARGET = "ORDER_APPROVED"


def why_not_approvable(order: Order) -> str | None:
    """The reason an order must not be approved now, or None."""
    if order.status_id != "ORDER_CREATED":
        return f"order {order.order_id} is {status_words(order.status_id)}, not Created"
    payments = [p.status_id for p in order.payment_preferences]
    if not any(p in GOOD_PAYMENTS for p in payments):
        shown = ", ".join(p or "none" for p in payments) or "no payment"
        return (
            f"order {order.order_id} has no authorised or settled payment ({shown}); "
            "approving it would release an unpaid order. Fix the payment first."
        )
    return None


# ---- the runbook ---------------------------------------------------------------------------


def _approve_step(order_id: str) -> Step:
    async def run(ctx: RunContext) -> str:
        order = await live_order(ctx.tools.oms, OrderRef("order_id", order_id, explicit=True))
        if order is None:
            raise StepFailed(f"order {order_id} was not found in the OMS")
        ctx.add_references(*order_references(order))  # audited under its Shopify id and name
        if order.status_id == TARGET:
            raise StepSkipped("already approved; nothing to do")
        reason = why_not_approvable(order)
        if reason:
            raise StepFailed(reason)
        await ctx.oms_write(
            WRITE,
            {"orderId": order_id, "statusId": TARGET, "from": order.status_id},
            ctx.tools.oms.change_order_status(order_id, TARGET),
        )
        return f"approved (was {status_words(order.status_id)})"

    return Step(f"Approve order {order_id}", run)


WRITE = "change order status"  # the audited operation of `_approve_step`'s write


async def _status_read_back(oms: OmsClient, parameters: dict[str, Any]) -> bool | None:
    """Whether a status change whose answer was lost took effect: the order's status now is
    the target (applied), still the one it had (not applied), or something else (cannot
    tell: another change came in between)."""
    order_id = str(parameters.get("orderId") or "")
    if not order_id:
        return None
    order = await live_order(oms, OrderRef("order_id", order_id, explicit=True))
    if order is None:
        return None
    if order.status_id == parameters.get("statusId"):
        return True
    if order.status_id == parameters.get("from"):
        return False
    return None


async def _verify(ctx: RunContext) -> str:
    still = []
    for order_id in ctx.params["orders"]:
        order = await live_order(ctx.tools.oms, OrderRef("order_id", order_id, explicit=True))
        if order is None or order.status_id != TARGET:
            still.append(f"{order_id} is {status_words(order.status_id if order else None)}")
    if still:
        raise StepFailed("not approved in the OMS: " + "; ".join(still))
    return f"all {len(ctx.params['orders'])} read back as Approved"


async def _outcome(ctx: RunContext) -> Outcome:
    orders = ctx.params["orders"]
    return Outcome(f"Approved {plural(len(orders), 'order')}: {', '.join(orders)}.")


RUNBOOK = Runbook(
    name=NAME,
    title=lambda p: f"Approve order{'s' if len(p['orders']) > 1 else ''} " + ", ".join(p["orders"]),
    steps=lambda p: [*(_approve_step(o) for o in p["orders"]), Step("Verify in the OMS", _verify)],
    order_keys=lambda p: list(p["orders"]),
    role=ROLE,
    outcome=_outcome,
)


# ---- the two-person rule, when the policy asks for it --------------------------------------


async def _preview(tools: Toolbox, params: dict[str, Any]) -> Preview:
    lines, notes = [], []
    for order_id in params["orders"]:
        order = await live_order(tools.oms, OrderRef("order_id", order_id, explicit=True))
        current = order.status_id if order else "not found"
        lines.append(PreviewLine(f"order {order_id} status", current or "unknown", TARGET))
        if order is not None:
            pays = ", ".join(p.status_id or "?" for p in order.payment_preferences) or "none"
            notes.append(f"Order {order_id}: payment {pays}")
    return Preview(tuple(lines), tuple(notes))


def _summary(params: dict[str, Any]) -> str:
    return RUNBOOK.title(params)


DANGEROUS = DangerousAction(
    name=NAME,
    summary=_summary,
    consequences=lambda p: (
        "The orders leave Created and become eligible for brokering and fulfilment right away, "
        "without waiting for the Approve orders job."
    ),
    preview=_preview,
    execute=run_approved(NAME),
    default_roles=None,  # dangerous only when the policy lists it
)


# ---- the command ---------------------------------------------------------------------------


async def approve_command(inv: Invocation) -> None:
    tools = inv.tools
    refs: list[OrderRef] = inv.command.arg("order")
    limit = tools.policy.limits.max_orders
    if len(refs) > limit:
        await inv.reply.ephemeral(
            Message(text=f"At most {limit} orders in one command; you gave {len(refs)}."),
            replace=True,
        )
        return
    ids: list[str] = []
    problems: list[str] = []
    for ref in refs:
        order = await live_order(tools.oms, ref)
        if order is None:
            problems.append(f"{ref.value}: not found in HotWax")
        elif (reason := why_not_approvable(order)) is not None:
            problems.append(f"{ref.value}: {reason}")
        elif order.order_id not in ids:
            ids.append(order.order_id)
    if problems:
        await inv.reply.ephemeral(
            refusal_message("Nothing was approved", problems, "Remove these orders and try again."),
            replace=True,
        )
        return
    await begin(
        tools, ids, user=inv.user_id, channel=inv.channel_id, client=inv.client, reply=inv.reply
    )


async def begin(
    tools: Toolbox,
    ids: list[str],
    *,
    user: str,
    channel: str,
    client: SlackClient,
    reply: Replier,
) -> None:
    """Ask for a second person's approval when the policy wants one, else show the card."""
    if tools.approvals.roles_for(NAME) is not None:
        await tools.approvals.request(
            NAME, {"orders": ids}, requester=user, channel_id=channel, client=client, reply=reply
        )
        return
    await reply.ephemeral(await _confirm_card(tools, user, channel, ids), replace=True)


async def _on_from_check(click: Click) -> None:
    ids = [str(i) for i in click.params["orders"]]
    await begin(
        click.tools,
        ids,
        user=click.user_id,
        channel=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


async def _confirm_card(tools: Toolbox, user: str, channel: str, ids: list[str]) -> Message:
    title = RUNBOOK.title({"orders": ids})
    _, buttons = await tools.actions.buttons(
        [
            ButtonSpec(
                f"Approve {len(ids)} order{'s' if len(ids) > 1 else ''}",
                CONFIRM_ACTION,
                {"orders": ids, "order_keys": ids},
                style="primary",
                allowed_users=(user,),
                confirm=confirm_dialog(
                    "Approve now?",
                    f"{title}: they become eligible for brokering and fulfilment at once.",
                    "Approve",
                ),
            ),
            ButtonSpec("Cancel", CANCEL_ACTION, {"order_keys": ids}, allowed_users=(user,)),
        ],
        created_by=user,
        channel_id=channel,
        ttl=15 * 60,
    )
    lines = "\n".join(f"• Order `{i}`: Created → *Approved*" for i in ids)
    blocks: list[Block] = [
        header(title),
        section(
            f"{lines}\nEach order is checked again just before it is approved, then read "
            "back from the OMS."
        ),
        actions(buttons),
    ]
    return Message(text=f"{title}?", blocks=blocks)


async def _on_confirm(click: Click) -> None:
    await click.tools.runs.try_start(
        NAME,
        {"orders": list(click.params["orders"])},
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


async def _on_cancel(click: Click) -> None:
    return None  # the buttons are gone already; nothing else to undo


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name=NAME,
            summary="Approve created orders that have an authorised payment, now.",
            handler=approve_command,
            args=(
                Arg(
                    "order",
                    "orders to approve: HotWax id, Shopify id or #name",
                    repeat=True,
                    parse=parse_order_ref,
                    max_count=MAX_ORDERS,
                ),
            ),
            examples=("/oms approve 10014", "/oms approve #1014 #1015"),
            role=ROLE,
            changes_oms=True,
        ),
    ),
    runbooks=(RUNBOOK,),
    dangerous=(DANGEROUS,),
    read_backs=(ReadBack(WRITE, _status_read_back),),
    actions=(
        ActionSpec(
            CONFIRM_ACTION, _on_confirm, pressed_note=lambda c: f"Confirmed by <@{c.user_id}>"
        ),
        ActionSpec(
            CANCEL_ACTION, _on_cancel, pressed_note=lambda c: f"Cancelled by <@{c.user_id}>"
        ),
        ActionSpec(
            CHECK_APPROVE_ACTION,
            _on_from_check,
            pressed_note=lambda c: f"Approval started by <@{c.user_id}>",
        ),
    ),
)
