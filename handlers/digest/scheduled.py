"""The failed-imports digest on its schedules (`[[digests]]` in the policy).

The engine's scheduler claims each slot once across replicas and calls `post_slot`: it reads
the window's failures, retrying an unavailable OMS until the slot's grace runs out (then it
posts a short "source unavailable" note instead), and posts the digest, marked late when it
comes late.
"""

from __future__ import annotations

import asyncio
import logging

from bot.engine import (
    SYSTEM_ACTOR,
    Policy,
    Provides,
    Schedule,
    ScheduledPost,
    Slot,
    SlotResult,
    Toolbox,
    post_note,
    record_post,
)
from bot.kit.blocks import Message, context, escape, section
from bot.kit.durations import describe_duration, fmt_time, plural, slack_time
from bot.kit.posting import SlackClient, SlackError, slack_error
from bot.oms import OmsError
from handlers.digest.report import (
    DigestReport,
    UnknownStore,
    build_report,
    post_digest,
    render_digest,
)

log = logging.getLogger(__name__)

NAME = "digest"


def _schedules(policy: Policy) -> tuple[Schedule, ...]:
    # A schedule that asks for the reconciliation too is the reconcile family's: it posts
    # this digest first, then the reconciliation, under the same slot claim.
    return tuple(schedule for schedule in policy.digests if not schedule.reconcile)


async def post_slot(tools: Toolbox, client: SlackClient, slot: Slot) -> SlotResult:
    """Post the digest of one slot; say how it ended."""
    schedule = slot.schedule
    detail: dict[str, object] = {
        "schedule": schedule.id,
        "slot_time": slot.time,
        "slot": fmt_time(slot.time),
    }
    report: DigestReport | None = None
    while report is None:
        try:
            report = await build_report(
                tools.oms,
                since=slot.time - schedule.window,
                until=slot.time,
                store=schedule.store,
                page_size=tools.policy.limits.digest_page_size,
            )
        except UnknownStore as exc:
            return await _bad_store(tools, client, slot, str(exc), detail)
        except OmsError as exc:
            if slot.clock() + slot.retry_delay > slot.deadline:
                return await _unavailable(tools, client, slot, str(exc), detail)
            log.warning("digest %s: %s; retrying in %.0fs", schedule.id, exc, slot.retry_delay)
            await asyncio.sleep(slot.retry_delay)
    try:
        lateness = slot.clock() - slot.time
        note = None
        if slot.late or lateness > slot.late_after:
            note = (
                f"Posted late: this digest was due at {slack_time(slot.time)} "
                f"({describe_duration(max(60.0, lateness - lateness % 60))} ago)."
            )
        message = await render_digest(
            tools, report, created_by=SYSTEM_ACTOR, channel_id=schedule.channel, late_note=note
        )
        try:
            posted = await post_digest(client, schedule.channel, report, message)
        except (SlackError, OSError) as exc:
            await record_post(
                tools, actor=SYSTEM_ACTOR, outcome="failed",
                summary=f"digest {schedule.id} could not be posted: {slack_error(exc)}",
                channel=schedule.channel, detail=detail,
            )  # fmt: skip
            return SlotResult("failed", slack_error(exc), None, "failed")
    finally:
        report.discard()
    detail |= {"total": report.total, "previous": report.previous, "late": note is not None}
    await record_post(
        tools, actor=SYSTEM_ACTOR, outcome="ok",
        summary=f"digest {schedule.id}: {report.total} failed imports"
        + (" (late)" if note else ""),
        channel=schedule.channel, ts=posted.ts, detail=detail | {"csv": posted.csv_file_id},
    )  # fmt: skip
    return SlotResult(
        "posted", plural(report.total, "failure"), posted.ts, "posted-late" if note else "posted"
    )


async def _unavailable(
    tools: Toolbox, client: SlackClient, slot: Slot, error: str, detail: dict[str, object]
) -> SlotResult:
    text = (
        f"Failed-imports digest for {slack_time(slot.time)}: the source is unavailable. "
        "The OMS did not answer within the grace time "
        f"({describe_duration(slot.schedule.grace)})."
    )
    message = Message(
        text=text,
        blocks=[
            section(f":warning: {text}"),
            context(
                f"Last error: {escape(error[:500])} · `/oms digest now` tries again "
                "once the OMS is back."
            ),
        ],
    )
    return await post_note(
        tools, client, NAME, slot, message, outcome="unavailable", state="failed",
        detail=detail | {"error": error},
    )  # fmt: skip


async def _bad_store(
    tools: Toolbox, client: SlackClient, slot: Slot, error: str, detail: dict[str, object]
) -> SlotResult:
    text = f"Failed-imports digest for {slack_time(slot.time)}: {escape(error)}"
    message = Message(
        text=text,
        blocks=[
            section(f":warning: {text}"),
            context(
                f"Fix `store` of the `{escape(slot.schedule.id)}` schedule in the policy file "
                "(a product store id), or remove it for every shop."
            ),
        ],
    )
    return await post_note(
        tools, client, NAME, slot, message, outcome="unknown-store", state="failed",
        detail=detail | {"error": error},
    )  # fmt: skip


PROVIDES = Provides(
    scheduled=(
        ScheduledPost(
            name=NAME,
            title="failed-imports digest",
            hint="`/oms digest now` posts the current digest here.",
            schedules=_schedules,
            post=post_slot,
        ),
    )
)
