"""The reconciliation on a digest's schedule: a `[[digests]]` entry with `reconcile = true`.

Such a schedule is this family's (the digest leaves it): the engine claims each slot once
across replicas and calls `post_slot`, which posts the failed-imports digest exactly as the
digest's own slot would, then the reconciliation of the same window as its own message. The
slot is one claim, so neither is posted twice, and a digest that could not be posted (the
OMS unavailable past the grace, a bad store) ends the slot as the digest says.

The reconciliation takes long after the digest went out, so it is posted under its own mark
(the slot's, with part "reconcile"): a replica that takes the slot over (its holder drained,
crashed or killed in between) finds the digest, and `resume_slot` posts the reconciliation
only if its mark is not in the channel. A reconciliation that fails after the digest says so
in the channel and on the slot, not silently.
"""

from __future__ import annotations

import contextlib
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
from bot.kit.posting import (
    SlackClient,
    SlackError,
    find_marked_post,
    marked_posts,
    post_message,
    slack_error,
)
from bot.oms import OmsError
from handlers.digest import UnknownStore
from handlers.digest import post_slot as post_digest_slot
from handlers.reconcile import compare
from handlers.reconcile.publish import ChannelPoster, post_thread
from handlers.reconcile.render import final_message

log = logging.getLogger(__name__)

NAME = "reconcile"
PART = "reconcile"  # the reconciliation's post carries the slot's mark with this part


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


async def _reconcile_part(tools: Toolbox, client: SlackClient, slot: Slot) -> str:
    """The reconciliation under its own mark; how it went, a failure included (said in the
    channel too). A cancellation (a drain) goes through: the taker-over posts it."""
    try:
        with marked_posts(slot.mark(PART)):
            return await _reconcile(tools, client, slot)
    except (SlackError, OSError) as exc:
        log.warning("reconcile %s: not posted: %s", slot.schedule.id, slack_error(exc))
        return f"reconciliation not posted: {slack_error(exc)}"
    except Exception as exc:  # the digest is out: say the rest failed, never lose it silently
        log.exception("reconcile %s at %s failed", slot.schedule.id, fmt_time(slot.time))
        problem = f"it failed ({type(exc).__name__}); the details are in the bot's log."
        with contextlib.suppress(SlackError, OSError), marked_posts(slot.mark(PART)):
            await post_message(
                client,
                slot.schedule.channel,
                _note(slot, problem, "`/oms reconcile` runs it by hand."),
            )
        return f"reconciliation failed ({type(exc).__name__})"


async def post_slot(tools: Toolbox, client: SlackClient, slot: Slot) -> SlotResult:
    digest = await post_digest_slot(tools, client, slot)
    if digest.state != "posted":
        return digest
    outcome = await _reconcile_part(tools, client, slot)
    return SlotResult(digest.state, f"{digest.outcome}; {outcome}", digest.ts, digest.result)


async def resume_slot(
    tools: Toolbox, client: SlackClient, slot: Slot, digest_ts: str
) -> SlotResult:
    """A slot taken over after its digest went out: post the reconciliation unless its own
    mark is in the channel. When Slack cannot say, it is posted: a second reconciliation
    risks less than none."""
    try:
        found = await find_marked_post(client, slot.mark(PART), since=slot.time)
    except (SlackError, OSError) as exc:
        log.warning("cannot see whether %s was reconciled: %s", slot.schedule.id, slack_error(exc))
        found = None
    if found is not None:
        return SlotResult(
            "posted", "digest and reconciliation posted (found in the channel)", digest_ts,
            "found-posted",
        )  # fmt: skip
    outcome = await _reconcile_part(tools, client, slot)
    return SlotResult(
        "posted", f"digest posted (found in the channel); {outcome}", digest_ts, "resumed"
    )


PROVIDES = Provides(
    scheduled=(
        ScheduledPost(
            name=NAME,
            title="failed-imports digest and reconciliation",
            hint="`/oms digest now` and `/oms reconcile` post them here now.",
            schedules=_schedules,
            post=post_slot,
            resume=resume_slot,
        ),
    )
)
