"""Failed Shopify imports: `/oms failed` (now), `/oms digest` (the schedules) and
`/oms digest now` (post the digest here), plus the digest's Re-import and Check buttons."""

from __future__ import annotations

import time

from bot.engine import ActionSpec, Click, CommandSpec, Flag, Invocation, Provides, record_post
from bot.kit.blocks import Block, Message, context, error_message, escape, header, section
from bot.kit.durations import describe_duration, parse_duration, plural, slack_time
from bot.kit.posting import SlackError, slack_error
from bot.oms import parse_store_id
from handlers.digest.report import (
    DEFAULT_WINDOW,
    FOLLOWUP_ACTION,
    DigestReport,
    UnknownStore,
    build_report,
    digest_title,
    post_digest,
    render_digest,
)

DEFAULT_SINCE = DEFAULT_WINDOW


SINCE = Flag("since", "how far back to look (default 24h)", metavar="24h", parse=parse_duration)
STORE = Flag("store", "only this product store's shops (its id, e.g. STORE)", "X", parse_store_id)


async def _report(inv: Invocation) -> tuple[float, float, str | None]:
    since_seconds = inv.command.flag("since") or DEFAULT_SINCE
    until = time.time()
    return until - since_seconds, until, inv.command.flag("store")


async def _build(inv: Invocation) -> DigestReport | None:
    """The report, or None after telling the user the store does not exist."""
    since, until, store = await _report(inv)
    try:
        return await build_report(
            inv.tools.oms,
            since=since,
            until=until,
            store=store,
            page_size=inv.tools.policy.limits.digest_page_size,
        )
    except UnknownStore as exc:
        await inv.reply.ephemeral(
            error_message(
                "No such product store",
                str(exc),
                "Give a product store id with `--store` (e.g. `--store STORE`), or leave it "
                "out for every shop.",
            ),
            replace=True,
        )
        return None


async def show_failed(inv: Invocation) -> None:
    tools = inv.tools
    report = await _build(inv)
    if report is None:
        return
    try:
        message = await render_digest(
            tools, report, created_by=inv.user_id, channel_id=inv.channel_id,
            in_thread_csv=False,
        )  # fmt: skip
    finally:
        report.discard()
    await inv.reply.ephemeral(message, replace=True)


async def post_digest_now(inv: Invocation) -> None:
    tools = inv.tools
    report = await _build(inv)
    if report is None:
        return
    detail: dict[str, object] = {"schedule": None, "requested_by": inv.user_id}
    try:
        message = await render_digest(
            tools, report, created_by=inv.user_id, channel_id=inv.channel_id
        )
        try:
            posted = await post_digest(inv.client, inv.channel_id, report, message)
        except Exception as exc:
            await record_post(
                tools, actor=inv.user_id, outcome="failed",
                summary=f"digest could not be posted: {slack_error(exc)}",
                channel=inv.channel_id, detail=detail,
            )  # fmt: skip
            if not isinstance(exc, SlackError):
                raise
            # Slack refused the post (most often: the bot is not in this channel). That is
            # the user's to fix, not an internal error.
            await inv.reply.ephemeral(
                error_message(
                    "The digest could not be posted here",
                    f"Slack answered `{slack_error(exc)}`.",
                    "Invite me to this channel (`/invite @oms-bot`) and try again, or run "
                    "`/oms failed` to see the failed imports just for you.",
                ),
                replace=True,
            )
            return
    finally:
        report.discard()
    await record_post(
        tools, actor=inv.user_id, outcome="ok",
        summary=f"digest now: {report.total} failed imports", channel=inv.channel_id,
        ts=posted.ts, detail=detail | {"total": report.total, "csv": posted.csv_file_id},
    )  # fmt: skip
    await inv.reply.ephemeral(
        Message(
            text=f"Posted the digest here: {digest_title(report)} "
            f"({plural(report.total, 'failure')}).",
            blocks=[
                section(
                    f":white_check_mark: Posted *{escape(digest_title(report))}* here "
                    f"({plural(report.total, 'failure')})."
                )
            ],
        ),
        replace=True,
    )


async def list_digests(inv: Invocation) -> None:
    tools = inv.tools
    schedules = tools.policy.digests
    if not schedules:
        await inv.reply.ephemeral(
            Message(
                text="No digest schedules are configured.",
                blocks=[
                    section(":calendar: No digest schedules are configured."),
                    context(
                        "Add `[[digests]]` entries (id, channel, cron, timezone, window) to "
                        "the policy file; `/oms digest now` posts one here at any time."
                    ),
                ],
            ),
            replace=True,
        )
        return
    now = time.time()
    blocks: list[Block] = [header("Failed-import digest schedules")]
    for schedule in schedules:
        slots = await tools.slot_history(schedule.id, 1)
        if slots:
            slot = slots[0]
            last = f"{slack_time(slot.slot_time)} · {escape(slot.state)}"
            if slot.outcome:
                last += f" ({escape(slot.outcome)})"
        else:
            last = "never"
        upcoming = schedule.next_slot(now)
        lines = [
            f"*{escape(schedule.id)}* → <#{schedule.channel}>",
            f"`{escape(schedule.cron)}` ({escape(schedule.timezone)}) · window "
            f"{describe_duration(schedule.window)} · grace {describe_duration(schedule.grace)}"
            + (f" · store {escape(schedule.store)}" if schedule.store else "")
            + (" · with the reconciliation" if schedule.reconcile else ""),
            f"Last run: {last}",
            f"Next run: {slack_time(upcoming) if upcoming else 'never'}",
        ]
        blocks.append(section("\n".join(lines)))
    await inv.reply.ephemeral(
        Message(text=plural(len(schedules), "digest schedule"), blocks=blocks), replace=True
    )


async def on_followup(click: Click) -> None:
    """A digest's Re-import or Check: run `/oms import|check <order>` as the presser."""
    await click.tools.run_command(click, f"{click.params['command']} {click.params['order']}")


PROVIDES = Provides(
    commands=(
        CommandSpec(
            name="failed",
            summary="Shopify orders that failed to import, grouped by cause, now.",
            handler=show_failed,
            flags=(SINCE, STORE),
            examples=("/oms failed", "/oms failed --since 7d", "/oms failed --store STORE"),
        ),
        CommandSpec(
            name="digest",
            summary="The failed-import digest schedules, with their last and next runs.",
            handler=list_digests,
            examples=("/oms digest",),
        ),
        CommandSpec(
            name="digest now",
            summary="Post the failed-import digest in this channel now.",
            handler=post_digest_now,
            flags=(SINCE, STORE),
            examples=("/oms digest now", "/oms digest now --since 7d"),
        ),
    ),
    actions=(
        ActionSpec(
            FOLLOWUP_ACTION,
            on_followup,
            pressed_note=lambda c: (
                f"{'Re-import' if c.params.get('command') == 'import' else 'Check'} of "
                f"{c.params.get('order_name', 'the order')} requested by <@{c.user_id}>"
            ),
        ),
    ),
)
