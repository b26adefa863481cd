"""Failed Shopify imports: `/oms failed` (now), `/oms digest` (the schedules) and
`/oms digest now` (post the digest here), plus the digest's Re-import and Check buttons."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.actions import ActionSpec, Click, fmt_time
from bot.blocks import Block, Message, context, error_message, escape, header, section
from bot.commands import CommandSpec, Flag, Registry, UsageError
from bot.context import Invocation
from bot.digest_post import (
    FOLLOWUP_ACTION,
    audit_post,
    build_report,
    digest_title,
    post_digest,
    render_digest,
    slack_error,
)
from bot.dispatch import refused_message, run_handler
from bot.durations import describe_duration, parse_duration
from bot.logs import current_correlation_id
from bot.oms.loginsights import store_filter
from bot.schedules import digest_page_size, parse_schedules
from bot.store.slots import last_slots

if TYPE_CHECKING:
    from bot.services import Services

DEFAULT_SINCE = 24 * 3600.0


def _store(value: str) -> str:
    store_filter(value)  # raises ValueError naming what is wrong
    return value


SINCE = Flag("since", "how far back to look (default 24h)", metavar="24h", parse=parse_duration)
STORE = Flag("store", "only this shop (its name or domain, e.g. demo-shop)", "X", _store)


async def _report(inv: Invocation) -> tuple[float, float, str | None]:
    since_seconds = inv.command.flag("since") or DEFAULT_SINCE
    until = time.time()
    return until - since_seconds, until, inv.command.flag("store")


async def show_failed(inv: Invocation) -> None:
    since, until, store = await _report(inv)
    services = inv.services
    report = await build_report(
        services.oms,
        since=since,
        until=until,
        store=store,
        page_size=digest_page_size(services.policy.limits),
    )
    try:
        message = await render_digest(
            services, report, created_by=inv.user_id, channel_id=inv.channel_id,
            in_thread_csv=False,
        )  # fmt: skip
    finally:
        report.discard()
    await inv.reply.ephemeral(message, replace=True)


async def post_digest_now(inv: Invocation) -> None:
    since, until, store = await _report(inv)
    services = inv.services
    report = await build_report(
        services.oms,
        since=since,
        until=until,
        store=store,
        page_size=digest_page_size(services.policy.limits),
    )
    detail: dict[str, object] = {"schedule": None, "requested_by": inv.user_id}
    try:
        message = await render_digest(
            services, report, created_by=inv.user_id, channel_id=inv.channel_id
        )
        try:
            posted = await post_digest(inv.client, inv.channel_id, report, message)
        except Exception as exc:
            await audit_post(
                services, actor=inv.user_id, outcome="failed",
                summary=f"digest could not be posted: {slack_error(exc)}",
                channel=inv.channel_id, detail=detail,
            )  # fmt: skip
            if not isinstance(exc, SlackApiError):
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
    await audit_post(
        services, actor=inv.user_id, outcome="ok",
        summary=f"digest now: {report.total} failed imports", channel=inv.channel_id,
        ts=posted.ts, detail=detail | {"total": report.total, "csv": posted.csv_file_id},
    )  # fmt: skip
    await inv.reply.ephemeral(
        Message(
            text=f"Posted the digest here: {digest_title(report)} ({report.total} failures).",
            blocks=[
                section(
                    f":white_check_mark: Posted *{escape(digest_title(report))}* here "
                    f"({report.total} failures)."
                )
            ],
        ),
        replace=True,
    )


async def list_digests(inv: Invocation) -> None:
    services = inv.services
    schedules = parse_schedules(services.policy.digests, "policy")
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
        slots = await asyncio.to_thread(last_slots, services.store, schedule.id, 1)
        if slots:
            slot = slots[0]
            last = f"{fmt_time(slot.slot_time)} · {slot.state}"
            if slot.outcome:
                last += f" ({escape(slot.outcome)})"
        else:
            last = "never"
        upcoming = schedule.next_slot(now)
        lines = [
            f"*{escape(schedule.id)}* → <#{schedule.channel}>",
            f"`{escape(schedule.cron)}` ({escape(schedule.timezone)}) · window "
            f"{describe_duration(schedule.window)} · grace {describe_duration(schedule.grace)}"
            + (f" · store {escape(schedule.store)}" if schedule.store else ""),
            f"Last run: {last}",
            f"Next run: {fmt_time(upcoming) if upcoming else 'never'}",
        ]
        blocks.append(section("\n".join(lines)))
    await inv.reply.ephemeral(
        Message(text=f"{len(schedules)} digest schedule(s)", blocks=blocks), replace=True
    )


async def start_order_command(click: Click, command: str, order: str) -> None:
    """The hook the digest's buttons call: run `/oms <command> <order>` as the presser.

    When this bot has the command (the order runbooks), it runs with the presser's identity
    and role checks, exactly as if they had typed it. Without it, the presser is told the
    command to run, so the button is never a dead end.
    """
    services = click.services
    text = f"{command} {order}"
    spec = services.registry.get(command)
    if spec is None:
        await click.reply.ephemeral(
            Message(
                text=f"Run /oms {text}",
                blocks=[
                    section(f"To {command} this order, run `/oms {escape(text)}`."),
                    context("This bot does not run that command from a button yet."),
                ],
            )
        )
        return
    try:
        parsed = services.registry.parse(text)
    except UsageError as err:
        await click.reply.ephemeral(Message(text=err.problem, blocks=[section(err.problem)]))
        return
    refusal = await services.authorizer.check_command(click.user_id, parsed.spec)
    if refusal is not None:
        await click.reply.ephemeral(refused_message(refusal))
        return
    await run_handler(
        Invocation(
            command=parsed,
            user_id=click.user_id,
            channel_id=click.channel_id,
            team_id="",
            reply=click.reply,
            client=click.client,
            services=services,
            # The click's own id: a button token must never reach the logs or the audit.
            correlation_id=current_correlation_id() or uuid.uuid4().hex[:12],
        )
    )


async def on_followup(click: Click) -> None:
    await start_order_command(click, str(click.params["command"]), str(click.params["order"]))


def register(registry: Registry) -> None:
    registry.add(
        CommandSpec(
            name="failed",
            summary="Shopify orders that failed to import, grouped by cause, now.",
            handler=show_failed,
            flags=(SINCE, STORE),
            examples=("/oms failed", "/oms failed --since 7d", "/oms failed --store demo-shop"),
        )
    )
    registry.add(
        CommandSpec(
            name="digest",
            summary="The failed-import digest schedules, with their last and next runs.",
            handler=list_digests,
            examples=("/oms digest",),
        )
    )
    registry.add(
        CommandSpec(
            name="digest now",
            summary="Post the failed-import digest in this channel now.",
            handler=post_digest_now,
            flags=(SINCE, STORE),
            examples=("/oms digest now", "/oms digest now --since 7d"),
        )
    )


def setup(services: Services) -> None:
    services.actions.add(
        ActionSpec(
            FOLLOWUP_ACTION,
            on_followup,
            pressed_note=lambda c: (
                f"{'Re-import' if c.params.get('command') == 'import' else 'Check'} of "
                f"{c.params.get('order_name', 'the order')} requested by <@{c.user_id}>"
            ),
        )
    )
