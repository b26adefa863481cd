"""`/oms history [<order>] [--mine] [--failed] [--since 7d]`: the audit trail, from Slack.

An order is searched by every reference it has (handlers.orders.references_of: each
version's HotWax id, the Shopify order id and name, from HotWax or else Shopify), since the
audit records each event under the references known when it happened."""

from __future__ import annotations

import time

from bot.engine import Arg, AuditEvent, CommandSpec, Flag, Invocation, Provides
from bot.kit.blocks import (
    Block,
    Message,
    chunk_lines,
    context,
    escape,
    escape_keeping_mentions,
    header,
    section,
)
from bot.kit.durations import describe_duration, parse_duration, plural, slack_time
from bot.oms import OrderRef, parse_order_ref
from handlers.orders import references_of

LIMIT = 20
OUTCOME_ICONS = {
    "ok": ":white_check_mark:",
    "started": ":arrow_forward:",
    "resumed": ":arrow_forward:",
    "pending": ":raised_hand:",
    "approved": ":ballot_box_with_check:",
    "failed": ":x:",
    "refused": ":no_entry:",
    "rejected": ":no_entry:",
    "denied": ":no_entry:",
    "expired": ":hourglass:",
    "stale": ":warning:",
    "interrupted": ":warning:",
    "unknown": ":grey_question:",
}
# What an OMS write's outcome means, said plainly (bot/engine/audit.py: one row per write).
WRITE_STATES = {
    "started": "started, no outcome recorded: oms-bot stopped during the call, or it is "
    "still in flight; check the OMS",
    "unknown": "outcome unknown: sent, but the OMS gave no clear answer, so it may have been "
    "applied; oms-bot reads it back when it can",
}


async def _line(inv: Invocation, event: AuditEvent) -> str:
    icon = OUTCOME_ICONS.get(event.outcome, "•")
    who = f"<@{event.actor}>" if event.actor != "system" else "oms-bot"
    what = escape_keeping_mentions(event.summary or event.command or event.kind)
    line = f"{icon} {slack_time(event.at)} · {who} · {what} · _{escape(_outcome(event))}_"
    link = await inv.tools.message_link(event.message_channel, event.message_ts)
    if link:
        line += f" · <{link}|message>"
    return line


def _outcome(event: AuditEvent) -> str:
    """The outcome as shown: an OMS write's open states and read-backs in words."""
    if event.kind != "oms_write":
        return event.outcome
    detail = event.detail or {}
    read_back = detail.get("read_back")
    if event.outcome in WRITE_STATES:
        return WRITE_STATES[event.outcome]
    if isinstance(read_back, str):
        # Settled by a read-back after an unclear answer: say both.
        return f"{event.outcome}: outcome was unknown; {read_back}"
    return event.outcome


async def show_history(inv: Invocation) -> None:
    ref: OrderRef | None = inv.command.arg("order")
    since_seconds: float | None = inv.command.flag("since")
    mine = bool(inv.command.flag("mine"))
    failed = bool(inv.command.flag("failed"))
    since = time.time() - since_seconds if since_seconds else None
    # Every reference of the order (each version's HotWax id, the Shopify id and name): the
    # audit has each event under the references known when it was recorded.
    keys = await references_of(inv.tools, ref) if ref else []
    newest = await inv.tools.audit.search(
        order_keys=keys,
        actor=inv.user_id if mine else None,
        failed_only=failed,
        since=since,
        limit=LIMIT,
    )
    filters = [
        f"order {ref.value}" if ref else None,
        "mine" if mine else None,
        "failed" if failed else None,
        f"last {describe_duration(since_seconds)}" if since_seconds else None,
    ]
    described = ", ".join(f for f in filters if f) or "everything"
    if not newest:
        await inv.reply.ephemeral(
            Message(
                text=f"No audit entries match ({described}).",
                blocks=[section(f":mag: No audit entries match ({escape(described)}).")],
            ),
            replace=True,
        )
        return
    lines = [await _line(inv, e) for e in newest]
    blocks: list[Block] = [header("Audit history")]
    blocks += [section(chunk) for chunk in chunk_lines(lines)]
    searched = f" · searched by {escape(', '.join(keys))}" if len(keys) > 1 else ""
    blocks.append(
        context(
            f"Newest {plural(len(newest), 'entry', 'entries')}, newest first · "
            f"{escape(described)}{searched}"
        )
    )
    await inv.reply.ephemeral(
        Message(
            text=f"Audit history ({described}): {plural(len(newest), 'entry', 'entries')}",
            blocks=blocks,
        ),
        replace=True,
    )


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="history",
            summary="Who did what: the newest 20 audit entries, filtered.",
            handler=show_history,
            args=(
                Arg(
                    "order", "only entries about this order", required=False, parse=parse_order_ref
                ),
            ),
            flags=(
                Flag("mine", "only what you did"),
                Flag("failed", "only failures, refusals, denials and expiries"),
                Flag("since", "only entries newer than this", metavar="7d", parse=parse_duration),
            ),
            examples=(
                "/oms history 10002",
                "/oms history --mine --since 24h",
                "/oms history --failed",
            ),
        ),
    )
)
