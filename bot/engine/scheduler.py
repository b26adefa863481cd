"""Scheduled posts: APScheduler in every replica, each slot posted exactly once.

Every replica runs an AsyncIOScheduler with one cron job per schedule of each
`ScheduledPost` a runbook family provides (the failed-imports digest's `[[digests]]`). When
a job fires, the replica tries to claim (schedule id, slot time) in the database with a lease
(bot/store/slots.py): one wins and posts, the others wait for the lease and take over only if
the winner dies before finishing. The winner renews its lease while it works; the family's
`post` does the slot's work (retrying an unreachable OMS until the grace runs out) and says
how it ended, which is recorded on the slot.

APScheduler drops a run that starts more than `misfire_grace_time` late (one second by
default): each job gets the schedule's grace and coalescing, and `catch_up()` at start posts
the newest slot missed while every replica was down (late, within grace) or a short
"… missed" note beyond it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.scheduled import ScheduledPost, Slot, SlotEnd, SlotResult, post_note
from bot.engine.schedules import Schedule
from bot.kit.blocks import Message, context, escape, section
from bot.kit.durations import describe_duration, fmt_time, slack_time
from bot.store.slots import claim_slot, finish_slot, get_slot, last_slots, renew_slot

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)


class SlotScheduler:
    def __init__(
        self,
        host: Host,
        posts: Sequence[ScheduledPost],
        *,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease: float = 60.0,
        retry_delay: float = 30.0,
        late_after: float = 300.0,
    ) -> None:
        self.host = host
        self.posts = list(posts)
        self.clock = clock
        self.owner = owner or f"replica-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.retry_delay = retry_delay
        self.late_after = late_after
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- wiring -----------------------------------------------------------------------------

    def _scheduled(self) -> list[tuple[ScheduledPost, Schedule]]:
        policy = self.host.policy
        return [(post, schedule) for post in self.posts for schedule in post.schedules(policy)]

    def schedules(self) -> list[Schedule]:
        return [schedule for _, schedule in self._scheduled()]

    def schedule(self, schedule_id: str) -> Schedule:
        return self._find(schedule_id)[1]

    def _find(self, schedule_id: str) -> tuple[ScheduledPost, Schedule]:
        for post, schedule in self._scheduled():
            if schedule.id == schedule_id:
                return post, schedule
        raise KeyError(schedule_id)

    async def start(self, *, catch_up: bool = True) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        for post, schedule in self._scheduled():
            scheduler.add_job(
                self._on_cron,
                schedule.trigger(),
                args=[schedule.id],
                id=f"{post.name}:{schedule.id}",
                # Never drop a late run silently: it may start up to the grace time late, and
                # several missed runs collapse into one (the slot claim dedupes anyway).
                misfire_grace_time=max(1, int(schedule.grace)),
                coalesce=True,
                max_instances=8,
            )
        scheduler.start()
        self._scheduler = scheduler
        if catch_up:
            self._spawn(self.catch_up(), "scheduled posts catch-up")

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_cron(self, schedule_id: str) -> None:
        # APScheduler does not pass the scheduled time; the slot is the newest cron time.
        schedule = self.schedule(schedule_id)
        slot = schedule.last_slot(self.clock() + 1.0)
        if slot is not None:
            await self.fire_slot(schedule, slot)

    # -- catch-up at start -----------------------------------------------------------------

    async def catch_up(self) -> list[str]:
        """The newest slot of each schedule missed while no replica ran: posted late within
        its grace, or a "… missed" note beyond it (for schedules that ran before)."""
        outcomes: list[str] = []
        for schedule in self.schedules():
            now = self.clock()
            slot_time = schedule.last_slot(now)
            if slot_time is None:
                continue
            store = self.host.store
            slot = await asyncio.to_thread(get_slot, store, schedule.id, slot_time)
            if slot is not None and (slot.state != "claimed" or slot.lease_until > now):
                continue  # finished, or in hand elsewhere
            if now - slot_time <= schedule.grace:
                outcomes.append(await self.fire_slot(schedule, slot_time, late=True))
                continue
            earlier = await asyncio.to_thread(last_slots, store, schedule.id, 1)
            if earlier or slot is not None:
                outcomes.append(await self.fire_slot(schedule, slot_time, late=True))
        return outcomes

    # -- one slot ----------------------------------------------------------------------------

    async def fire_slot(self, schedule: Schedule, slot_time: float, *, late: bool = False) -> str:
        """Post the slot once across replicas; returns what this replica did."""
        store = self.host.store
        deadline = slot_time + schedule.grace
        while True:
            now = self.clock()
            claimed = await asyncio.to_thread(
                claim_slot, store, schedule.id, slot_time, owner=self.owner, now=now,
                lease=self.lease,
            )  # fmt: skip
            if claimed:
                break
            slot = await asyncio.to_thread(get_slot, store, schedule.id, slot_time)
            if slot is None or slot.state != "claimed":
                return "done-elsewhere"
            if now > deadline + 2 * self.lease:
                return "abandoned"
            # Another replica holds it: wait for its lease, take over if it died.
            await asyncio.sleep(min(max(slot.lease_until - now, 0.0) + 0.05, self.lease))
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(schedule, slot_time))
        try:
            return await self._post_slot(schedule, slot_time, late=late)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, schedule: Schedule, slot_time: float) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            renewed = await asyncio.to_thread(
                renew_slot, self.host.store, schedule.id, slot_time, owner=self.owner,
                now=self.clock(), lease=self.lease,
            )  # fmt: skip
            if not renewed:
                log.warning("lost the claim on %s at %s", schedule.id, slot_time)
                return

    async def _finish(
        self, schedule: Schedule, slot_time: float, state: SlotEnd, outcome: str, ts: str | None
    ) -> None:
        done = await asyncio.to_thread(
            finish_slot, self.host.store, schedule.id, slot_time, owner=self.owner,
            state=state, outcome=outcome[:300], message_ts=ts, now=self.clock(),
        )  # fmt: skip
        if not done:
            log.warning("slot %s at %s was taken over before it finished", schedule.id, slot_time)

    async def _post_slot(self, schedule: Schedule, slot_time: float, *, late: bool) -> str:
        client = self.host.slack
        if client is None:
            raise RuntimeError("the scheduler needs the Slack client")
        post, _ = self._find(schedule.id)
        slot = Slot(schedule, slot_time, late, self.clock, self.retry_delay, self.late_after)
        if self.clock() > slot.deadline:
            result = await self._post_missed(post, client, slot)
        else:
            result = await post.post(self.host, client, slot)
        await self._finish(schedule, slot_time, result.state, result.outcome, result.ts)
        self.host.changes.digest()
        return result.result

    async def _post_missed(
        self, post: ScheduledPost, client: AsyncWebClient, slot: Slot
    ) -> SlotResult:
        schedule = slot.schedule
        text = (
            f"{escape(post.name.capitalize())} missed: the {escape(post.title)} due at "
            f"{slack_time(slot.time)} was not posted (no replica was running within its grace "
            f"time of {describe_duration(schedule.grace)})."
        )
        message = Message(text=text, blocks=[section(f":hourglass: {text}"), context(post.hint)])
        detail = {"schedule": schedule.id, "slot_time": slot.time, "slot": fmt_time(slot.time)}
        return await post_note(
            self.host, client, post.name, slot, message, outcome="missed", state="missed",
            detail=detail,
        )  # fmt: skip
