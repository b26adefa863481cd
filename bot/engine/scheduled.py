"""What a runbook family schedules: posts due at cron slots, each posted once across replicas.

A family provides a `ScheduledPost`: which schedules of the policy it serves, a title for the
notes the engine posts itself ("… missed"), and `post`, which does the slot's work and says
how it ended. The engine's scheduler (bot/engine/scheduler.py) claims every slot in the
database first, so only one replica calls `post` for it.

A slot whose post comes in parts (the digest, then the reconciliation of the same window)
posts each later part under its own mark (`Slot.mark(part)`) and provides `resume`: a replica
that takes over a slot whose first post is already in the channel calls it with that post's
ts, and it posts only the parts whose marks are not there yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.contract import Toolbox
from bot.engine.policy import Policy
from bot.engine.schedules import Schedule
from bot.kit.blocks import Message
from bot.kit.posting import PostMark, post_message, slack_error
from bot.store.audit import AuditEvent

SYSTEM_ACTOR = "system"
SlotEnd = Literal["posted", "failed", "missed"]
# The metadata event type of a scheduled post (Slack: letters, digits and underscores).
SLOT_EVENT = "oms_bot_scheduled_slot"


def slot_mark(schedule: Schedule, slot_time: float, part: str | None = None) -> PostMark:
    """The metadata a slot's posts carry (bot/engine/scheduler.py): its first post without a
    part, each later part of it with its own, so a taker-over sees which parts went out."""
    payload = {"schedule": schedule.id, "slot": f"{slot_time:.0f}"}
    if part is not None:
        payload["part"] = part
    return PostMark(schedule.channel, SLOT_EVENT, payload)


@dataclass(frozen=True)
class Slot:
    """One due slot of a schedule, as `ScheduledPost.post` gets it."""

    schedule: Schedule
    time: float  # when it was due (epoch seconds)
    late: bool  # posted by the catch-up at start, after every replica was down
    clock: Callable[[], float]
    retry_delay: float  # how long to wait before asking an unavailable OMS again
    late_after: float  # a post this long after `time` says it is late

    @property
    def deadline(self) -> float:
        """After this the slot is missed: its schedule's grace has run out."""
        return self.time + self.schedule.grace

    def mark(self, part: str | None = None) -> PostMark:
        """The mark of this slot's post, or of one later `part` of it."""
        return slot_mark(self.schedule, self.time, part)


@dataclass(frozen=True)
class SlotResult:
    """How a slot ended: recorded on the slot (`state`, `outcome`, `ts`); `result` is what
    this replica did (posted, posted-late, failed, unavailable), for logs and tests."""

    state: SlotEnd
    outcome: str
    ts: str | None
    result: str


@dataclass(frozen=True)
class ScheduledPost:
    name: str  # "digest": names it in logs and audit summaries
    title: str  # "failed-imports digest": names it in the notes the engine posts
    hint: str  # what a reader of a "missed" note can do, e.g. "`/oms digest now` posts ..."
    schedules: Callable[[Policy], Sequence[Schedule]]
    post: Callable[[Toolbox, AsyncWebClient, Slot], Awaitable[SlotResult]]
    # For a post in parts: finish a slot taken over after its first post (whose ts it gets)
    # went out. Without it, that first post found in the channel ends the slot.
    resume: Callable[[Toolbox, AsyncWebClient, Slot, str], Awaitable[SlotResult]] | None = None


async def record_post(
    tools: Toolbox,
    *,
    actor: str,
    outcome: str,
    summary: str,
    channel: str,
    ts: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a post in a channel (scheduled or asked for) and count it."""
    tools.metrics.digest_posted(outcome)
    await tools.audit.record(
        AuditEvent(
            kind=EventKind.SCHEDULED_POST,
            actor=actor,
            outcome=outcome,
            summary=summary[:300],
            channel_id=channel,
            detail=detail,
            message_channel=channel if ts else None,
            message_ts=ts,
        )
    )


async def post_note(
    tools: Toolbox,
    client: AsyncWebClient,
    name: str,
    slot: Slot,
    message: Message,
    *,
    outcome: str,
    state: SlotEnd,
    detail: dict[str, object],
) -> SlotResult:
    """Post a short note in place of a slot's post (missed, source unavailable) and audit it."""
    schedule = slot.schedule
    try:
        ts = await post_message(client, schedule.channel, message)
    except (SlackApiError, OSError) as exc:
        await record_post(
            tools, actor=SYSTEM_ACTOR, outcome="failed",
            summary=f"{name} {schedule.id} note could not be posted: {slack_error(exc)}",
            channel=schedule.channel, detail=detail,
        )  # fmt: skip
        return SlotResult("failed", slack_error(exc), None, "failed")
    await record_post(
        tools, actor=SYSTEM_ACTOR, outcome=outcome, summary=message.text,
        channel=schedule.channel, ts=ts, detail=detail,
    )  # fmt: skip
    return SlotResult(state, outcome, ts, outcome)
