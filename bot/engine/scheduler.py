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

Exactly once, across failures:
- The slot is marked "posting" before `post` may reach Slack, and every top-level post of
  the slot carries a metadata mark naming (schedule, slot time). A replica that takes over a
  slot left "posting" (its owner died after Slack took the post, before recording it) looks
  for that mark in the channel's history and records the post it finds instead of posting
  again. A post in parts (the digest, then its reconciliation) marks each later part with
  its own mark and provides `resume`: the taker-over posts only the parts not found.
- Stopping (a drain) lets a slot being posted finish, up to the shutdown timeout.
- A database that cannot be reached at the tick does not lose the slot: the claim is tried
  again every few seconds; the slot is posted if the database comes back within its grace,
  and gets its "missed" note when it comes back later.
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

from bot.engine.scheduled import (
    ScheduledPost,
    Slot,
    SlotEnd,
    SlotResult,
    post_note,
    slot_mark,
)
from bot.engine.schedules import Schedule
from bot.kit.blocks import Message, context, escape, section
from bot.kit.durations import describe_duration, fmt_time, slack_time
from bot.kit.posting import SEND_FAILURES, find_marked_post, marked_posts, slack_error
from bot.store.db import StoreUnavailable
from bot.store.slots import (
    LIVE_STATES,
    finish_slot,
    get_slot,
    last_slots,
    mark_posting,
    renew_slot,
    take_slot,
)

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)

# How long after its grace a slot whose claim cannot reach the database is still tried: it
# then gets its "missed" note as soon as the database answers.
GIVE_UP_AFTER = 24 * 3600.0


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
        store_retry: float | None = None,
    ) -> None:
        self.host = host
        self.posts = list(posts)
        self.clock = clock
        self.owner = owner or f"replica-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.retry_delay = retry_delay
        self.late_after = late_after
        # How often a claim (or the slot's record) is tried again while the database is down.
        self.store_retry = store_retry if store_retry is not None else min(5.0, lease / 3)
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._firing: set[tuple[str, float]] = set()
        # The tasks posting a slot now (APScheduler's and the catch-up's): `stop` lets them
        # finish, up to its drain time, before it cancels them.
        self._in_flight: set[asyncio.Task[Any]] = set()

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

    async def stop(self, *, drain: float = 0.0) -> None:
        """Stop firing; let the slots being posted finish for up to `drain` seconds (a slot
        cancelled halfway is taken over by another replica after its lease), then cancel."""
        if self._scheduler is not None:
            self._scheduler.pause()  # no new fires; shutdown would cancel the running ones
        if drain > 0 and self._in_flight:
            log.info("finishing %d scheduled post(s), up to %.0fs", len(self._in_flight), drain)
            await asyncio.wait(list(self._in_flight), timeout=drain)
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
        its grace, or a "… missed" note beyond it (for schedules that ran before). A slot
        another replica holds is waited on, and taken over if that replica dies."""
        due: list[tuple[Schedule, float]] = []
        for schedule in self.schedules():
            now = self.clock()
            slot_time = schedule.last_slot(now)
            if slot_time is None:
                continue
            store = self.host.store
            slot = await asyncio.to_thread(get_slot, store, schedule.id, slot_time)
            if slot is not None and slot.state not in LIVE_STATES:
                continue  # finished
            if slot is not None or now - slot_time <= schedule.grace:
                due.append((schedule, slot_time))
                continue
            earlier = await asyncio.to_thread(last_slots, store, schedule.id, 1)
            if earlier:
                due.append((schedule, slot_time))
        # Together: one schedule's wait for another replica's lease holds up no other.
        return list(await asyncio.gather(*(self.fire_slot(s, t, late=True) for s, t in due)))

    # -- one slot ----------------------------------------------------------------------------

    async def fire_slot(self, schedule: Schedule, slot_time: float, *, late: bool = False) -> str:
        """Post the slot once across replicas; returns what this replica did."""
        key = (schedule.id, slot_time)
        if key in self._firing:
            # The catch-up and the cron can name the same slot: the database lets an owner
            # claim its own slot again, so this process must not post it twice itself.
            return "in-hand-here"
        self._firing.add(key)
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            return await self._fire_slot(schedule, slot_time, late=late)
        finally:
            self._firing.discard(key)
            self._in_flight.discard(task)

    async def _fire_slot(self, schedule: Schedule, slot_time: float, *, late: bool) -> str:
        store = self.host.store
        deadline = slot_time + schedule.grace
        database_down = False
        while True:
            now = self.clock()
            try:
                state = await asyncio.to_thread(
                    take_slot, store, schedule.id, slot_time, owner=self.owner, now=now,
                    lease=self.lease,
                )  # fmt: skip
                if state is not None:
                    break
                slot = await asyncio.to_thread(get_slot, store, schedule.id, slot_time)
            except StoreUnavailable as exc:
                # Every replica fails alike: keep trying; past the grace the slot is still
                # claimed, to post its "missed" note once the database is back.
                if now > deadline + GIVE_UP_AFTER:
                    log.error("slot %s at %s lost: %s", schedule.id, fmt_time(slot_time), exc)
                    return "lost"
                database_down = True
                log.warning(
                    "cannot claim slot %s at %s (%s); trying again in %.0fs",
                    schedule.id, fmt_time(slot_time), exc, self.store_retry,
                )  # fmt: skip
                await asyncio.sleep(self.store_retry)
                continue
            if slot is None or slot.state not in LIVE_STATES:
                return "done-elsewhere"
            if now > deadline + 2 * self.lease:
                return "abandoned"
            # Another replica holds it: wait for its lease, take over if it died.
            await asyncio.sleep(min(max(slot.lease_until - now, 0.0) + 0.05, self.lease))
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(schedule, slot_time))
        try:
            if state == "posting":
                found = await self._find_post(schedule, slot_time)
                post, _ = self._find(schedule.id)
                if found is not None and post.resume is not None:
                    return await self._resume_slot(post, schedule, slot_time, found, late=late)
                if found is not None:
                    await self._finish(
                        schedule, slot_time, "posted", "posted (found in the channel)", found
                    )
                    return "found-posted"
            why = (
                "the bot's database could not be reached"
                if database_down
                else "no replica was running"
            )
            return await self._post_slot(schedule, slot_time, late=late, missed_because=why)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _find_post(self, schedule: Schedule, slot_time: float) -> str | None:
        """The ts of this slot's post, if the replica that held it got it to Slack. When
        Slack cannot say, None: posting again risks a second post, not posting risks none."""
        client = self.host.slack
        if client is None:
            return None
        try:
            ts = await find_marked_post(client, slot_mark(schedule, slot_time), since=slot_time)
        except SEND_FAILURES as exc:
            log.warning(
                "cannot read %s to see whether slot %s at %s was posted (%s); posting it",
                schedule.channel, schedule.id, fmt_time(slot_time), slack_error(exc),
            )  # fmt: skip
            return None
        if ts is not None:
            log.info("slot %s at %s was already posted (%s)", schedule.id, fmt_time(slot_time), ts)
        return ts

    async def _heartbeat(self, schedule: Schedule, slot_time: float) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                renewed = await asyncio.to_thread(
                    renew_slot, self.host.store, schedule.id, slot_time, owner=self.owner,
                    now=self.clock(), lease=self.lease,
                )  # fmt: skip
            except StoreUnavailable as exc:
                # The post goes on: a taker-over finds it by its mark, not twice.
                log.warning("cannot renew the claim on %s: %s", schedule.id, exc)
                continue
            if not renewed:
                log.warning("lost the claim on %s at %s", schedule.id, slot_time)
                return

    async def _finish(
        self, schedule: Schedule, slot_time: float, state: SlotEnd, outcome: str, ts: str | None
    ) -> None:
        """Record how the slot ended, trying again while the database is down (up to a
        lease: after that a replica taking the slot over finds the post by its mark)."""
        give_up = self.clock() + max(self.lease, self.store_retry)
        while True:
            try:
                done = await asyncio.to_thread(
                    finish_slot, self.host.store, schedule.id, slot_time, owner=self.owner,
                    state=state, outcome=outcome[:300], message_ts=ts, now=self.clock(),
                )  # fmt: skip
                break
            except StoreUnavailable as exc:
                if self.clock() > give_up:
                    log.error("slot %s at %s not recorded: %s", schedule.id, slot_time, exc)
                    return
                await asyncio.sleep(self.store_retry)
        if not done:
            log.warning("slot %s at %s was taken over before it finished", schedule.id, slot_time)

    async def _post_slot(
        self, schedule: Schedule, slot_time: float, *, late: bool, missed_because: str
    ) -> str:
        client = self.host.slack
        if client is None:
            raise RuntimeError("the scheduler needs the Slack client")
        post, _ = self._find(schedule.id)
        slot = Slot(schedule, slot_time, late, self.clock, self.retry_delay, self.late_after)
        while True:
            try:
                marked = await asyncio.to_thread(
                    mark_posting, self.host.store, schedule.id, slot_time, owner=self.owner,
                    now=self.clock(), lease=self.lease,
                )  # fmt: skip
                break
            except StoreUnavailable as exc:
                # Nothing was posted yet: wait for the database (past the grace, the post
                # becomes the "missed" note).
                log.warning("cannot mark slot %s as posting: %s", schedule.id, exc)
                await asyncio.sleep(self.store_retry)
        if not marked:
            log.warning("slot %s at %s was taken over before it was posted", schedule.id, slot_time)
            return "taken-over"
        with marked_posts(slot_mark(schedule, slot_time)):
            if self.clock() > slot.deadline:
                result = await self._post_missed(post, client, slot, missed_because)
            else:
                result = await post.post(self.host, client, slot)
        await self._finish(schedule, slot_time, result.state, result.outcome, result.ts)
        self.host.changes.digest()
        return result.result

    async def _resume_slot(
        self, post: ScheduledPost, schedule: Schedule, slot_time: float, found: str, *, late: bool
    ) -> str:
        """The slot's first post is in the channel: the family posts the parts still missing
        (each found by its own mark), and the slot is recorded as it says."""
        assert post.resume is not None and self.host.slack is not None  # found through it
        slot = Slot(schedule, slot_time, late, self.clock, self.retry_delay, self.late_after)
        with marked_posts(slot_mark(schedule, slot_time)):
            result = await post.resume(self.host, self.host.slack, slot, found)
        await self._finish(schedule, slot_time, result.state, result.outcome, result.ts)
        self.host.changes.digest()
        return result.result

    async def _post_missed(
        self, post: ScheduledPost, client: AsyncWebClient, slot: Slot, because: str
    ) -> SlotResult:
        schedule = slot.schedule
        text = (
            f"{escape(post.name.capitalize())} missed: the {escape(post.title)} due at "
            f"{slack_time(slot.time)} was not posted ({because} within its grace "
            f"time of {describe_duration(schedule.grace)})."
        )
        message = Message(text=text, blocks=[section(f":hourglass: {text}"), context(post.hint)])
        detail = {"schedule": schedule.id, "slot_time": slot.time, "slot": fmt_time(slot.time)}
        return await post_note(
            self.host, client, post.name, slot, message, outcome="missed", state="missed",
            detail=detail,
        )  # fmt: skip
