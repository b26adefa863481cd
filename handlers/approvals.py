"""`/oms approvals`: the requests waiting for a second person."""

from __future__ import annotations

from bot.engine import CommandSpec, Invocation, Provides
from bot.kit.blocks import Block, Message, chunk_lines, context, escape, header, section
from bot.kit.durations import plural, slack_time


async def list_approvals(inv: Invocation) -> None:
    tools = inv.tools
    pending = await tools.approvals.pending()
    if not pending:
        await inv.reply.ephemeral(
            Message(
                text="No approval requests are pending.",
                blocks=[section(":ballot_box_with_check: No approval requests are pending.")],
            ),
            replace=True,
        )
        return
    lines = []
    for approval in pending:
        what = tools.approvals.summary(approval)
        link = await tools.message_link(approval.approvals_channel, approval.request_message_ts)
        line = (
            f"• *{escape(what)}* · asked by <@{approval.requested_by}> at "
            f"{slack_time(approval.created_at)} · expires {slack_time(approval.expires_at)} · "
            f"approver: {' or '.join(approval.approver_role.split('|'))}"
        )
        if link:
            line += f" · <{link}|request>"
        lines.append(line)
    blocks: list[Block] = [header(f"Pending approvals ({len(pending)})")]
    blocks += [section(chunk) for chunk in chunk_lines(lines)]
    blocks.append(context("Approve or deny from the request message in the approvals channel."))
    await inv.reply.ephemeral(
        Message(text=f"{plural(len(pending), 'approval request')} pending", blocks=blocks),
        replace=True,
    )


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="approvals",
            summary="List the approval requests waiting for a second person.",
            handler=list_approvals,
            examples=("/oms approvals",),
        ),
    )
)
