"""The reconciliation on a digest's schedule: a `[[digests]]` entry with `reconcile = true`.

Such a schedule is this family's (the digest leaves it): the engine claims each slot once
across replicas and calls `post_slot`, which posts the failed-imports digest exactly as the
digest's own slot would, then the reconciliation of the same window as its own message. The
slot is one claim, so neither is posted twice, and a digest that could not be posted (the
OMS unavailable past the grace, a bad store) ends the slot as the digest says.
"""

from __future__ import annotations

import logging

from bot.engine import (
    SYSTEM_ACTOR,
    NotConfigured,
    Policy,
    Provides,
    Schedule,
    ScheduledPost,
    Slot,
    SlotResult,
    Toolbox,
    record_post,
)
from bot.kit.blocks import Message, context, escape, section
from bot.kit.durations import describe_duration, fmt_time, slack_time
from bot.kit.posting import SlackClient, SlackError, slack_error
from bot.oms import OmsError
from handlers.digest import UnknownStore
from handlers.digest import post_slot as post_digest_slot
from handlers.reconcile import compare
from handlers.reconcile.publish import ChannelPoster, post_thread
from handlers.reconcile.render import final_message

log = logging.getLogger(__name__)

NAME = "reconcile"


def _schedules(policy: Policy) -> tuple[Schedule, ...]:
    return tuple(schedule for schedule in policy.digests if schedule.reconcile)


async def _nothing(result: compare.Reconciliation) -> None:
    """A scheduled reconciliation posts once, at the end: no progress to show."""


def _note(slot: Slot, problem: str, hint: str) -> Message:
    text = f"Reconciliation for {slack_time(slot.time)} not run: {escape(problem)}"
    return Message(text=text, blocks=[section(f":warning: {text}"), context(hint)])


async def _reconcile(tools: Toolbox, client: SlackClient, slot: Slot) -> str:
    """Post the slot's reconciliation; say in a few words how it went."""
    schedule = slot.schedule
    poster = ChannelPoster(client, schedule.channel)
    limit = tools.policy.limits.reconcile_max_days * 86400
    if schedule.window > limit:
        await poster.post(
            _note(
                slot,
                f"the window ({describe_duration(schedule.window)}) is longer than the "
                f"reconciliation's limit ({describe_duration(limit)}).",
                f"Shorten `window` of the `{escape(schedule.id)}` schedule or raise "
                "`reconcile_max_days` under `[limits]` in the policy file.",
            )
        )
        return "window over the limit"
    try:
        shops = await compare.resolve_shops(tools, schedule.store)
    except (UnknownStore, compare.NoShops, NotConfigured, OmsError) as exc:
        await poster.post(
            _note(slot, str(exc), "`/oms reconcile` runs it by hand once this is fixed.")
        )
        return "not run"
    result = await compare.run(
        tools,
        since=slot.time - schedule.window,
        until=slot.time,
        store=schedule.store,
        shops=shops,
        progress=_nothing,
    )
    message = await final_message(
        tools, result, created_by=SYSTEM_ACTOR, channel_id=schedule.channel
    )
    ts = await poster.post(message)
    file_id = await post_thread(
        tools, poster, result, ts, created_by=SYSTEM_ACTOR, channel_id=schedule.channel
    )
    await record_post(
        tools, actor=SYSTEM_ACTOR, outcome="failed" if result.stopped else "ok",
        summary=f"reconcile {schedule.id}: {len(result.missing)} missing",
        channel=schedule.channel, ts=ts,
        detail={"schedule": schedule.id, "slot": fmt_time(slot.time),
                "missing": len(result.missing), "csv": file_id},
    )  # fmt: skip
    return f"{len(result.missing)} missing" + (" (stopped halfway)" if result.stopped else "")


async def post_slot(tools: Toolbox, client: SlackClient, slot: Slot) -> SlotResult:
    digest = await post_digest_slot(tools, client, slot)
    if digest.state != "posted":
        return digest
    try:
        outcome = await _reconcile(tools, client, slot)
    except (SlackError, OSError) as exc:
        log.warning("reconcile %s: not posted: %s", slot.schedule.id, slack_error(exc))
        outcome = f"reconciliation not posted: {slack_error(exc)}"
    return SlotResult(digest.state, f"{digest.outcome}; {outcome}", digest.ts, digest.result)


PROVIDES = Provides(
    scheduled=(
        ScheduledPost(
            name=NAME,
            title="failed-imports digest and reconciliation",
            hint="`/oms digest now` and `/oms reconcile` post them here now.",
            schedules=_schedules,
            post=post_slot,
        ),
    )
)
