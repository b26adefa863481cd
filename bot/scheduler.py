"""Scheduled digests: APScheduler in every replica, each slot posted exactly once.

Every replica runs an AsyncIOScheduler with one cron job per `[[digests]]` entry. When a job
fires, the replica tries to claim (schedule id, slot time) in the database with a lease
(bot/store/slots.py): one wins and posts, the others wait for the lease and take over only if
the winner dies before finishing. The winner renews its lease while it works and retries an
unreachable OMS until the slot's grace time runs out, then posts once: the digest, or a note
that the source is unavailable.

APScheduler drops a run that starts more than `misfire_grace_time` late (one second by
default): each job gets the schedule's grace and coalescing, and `catch_up()` at start posts
the newest slot missed while every replica was down (late, within grace) or a short
"digest missed" note beyond it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Literal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from slack_sdk.errors import SlackApiError

from bot.actions import fmt_time
from bot.blocks import Message, context, escape, section
from bot.digest_post import (
    DigestReport,
    audit_post,
    build_report,
    post_digest,
    post_message,
    render_digest,
    slack_error,
)
from bot.durations import describe_duration
from bot.oms import OmsError
from bot.schedules import Schedule, digest_page_size, parse_schedules
from bot.store.slots import claim_slot, finish_slot, get_slot, last_slots, renew_slot

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

Final = Literal["posted", "failed", "missed"]

SYSTEM_ACTOR = "system"


class DigestScheduler:
    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
        lease: float = 60.0,
        retry_delay: float = 30.0,
        late_after: float = 300.0,
    ) -> None:
        self.services = services
        self.clock = clock
        self.owner = owner or f"replica-{uuid.uuid4().hex[:12]}"
        self.lease = lease
        self.retry_delay = retry_delay
        self.late_after = late_after
        self._scheduler: AsyncIOScheduler | None = None
        self._tasks: set[asyncio.Task[str]] = set()

    # -- wiring -----------------------------------------------------------------------------

    def schedules(self) -> list[Schedule]:
        return parse_schedules(self.services.policy.digests, "policy")

    def schedule(self, schedule_id: str) -> Schedule:
        for schedule in self.schedules():
            if schedule.id == schedule_id:
                return schedule
        raise KeyError(schedule_id)

    async def start(self, *, catch_up: bool = True) -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        for schedule in self.schedules():
            scheduler.add_job(
                self._on_cron,
                schedule.trigger(),
                args=[schedule.id],
                id=f"digest:{schedule.id}",
                # Never drop a late run silently: it may start up to the grace time late, and
                # several missed runs collapse into one (the slot claim dedupes anyway).
                misfire_grace_time=max(1, int(schedule.grace)),
                coalesce=True,
                max_instances=8,
            )
        scheduler.start()
        self._scheduler = scheduler
        if catch_up:
            self._spawn(self.catch_up(), "digest catch-up")

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[str] = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
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
        its grace, or a "digest missed" note beyond it (for schedules that ran before)."""
        outcomes: list[str] = []
        for schedule in self.schedules():
            now = self.clock()
            slot_time = schedule.last_slot(now)
            if slot_time is None:
                continue
            store = self.services.store
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
        store = self.services.store
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
                renew_slot, self.services.store, schedule.id, slot_time, owner=self.owner,
                now=self.clock(), lease=self.lease,
            )  # fmt: skip
            if not renewed:
                log.warning("lost the claim on digest %s at %s", schedule.id, slot_time)
                return

    async def _finish(
        self, schedule: Schedule, slot_time: float, state: Final, outcome: str, ts: str | None
    ) -> None:
        done = await asyncio.to_thread(
            finish_slot, self.services.store, schedule.id, slot_time, owner=self.owner,
            state=state, outcome=outcome[:300], message_ts=ts, now=self.clock(),
        )  # fmt: skip
        if not done:
            log.warning("digest %s at %s was taken over before it finished", schedule.id, slot_time)

    async def _post_slot(self, schedule: Schedule, slot_time: float, *, late: bool) -> str:
        services = self.services
        client = services.slack
        detail = {"schedule": schedule.id, "slot_time": slot_time, "slot": fmt_time(slot_time)}
        if client is None:
            raise RuntimeError("the scheduler needs the Slack client")
        if self.clock() > slot_time + schedule.grace:
            return await self._post_missed(schedule, slot_time, detail)
        page_size = digest_page_size(services.policy.limits)
        report: DigestReport | None = None
        last_error = ""
        while report is None:
            try:
                report = await build_report(
                    services.oms,
                    since=slot_time - schedule.window,
                    until=slot_time,
                    store=schedule.store,
                    page_size=page_size,
                )
            except OmsError as exc:
                last_error = str(exc)
                if self.clock() + self.retry_delay > slot_time + schedule.grace:
                    return await self._post_unavailable(schedule, slot_time, last_error, detail)
                log.warning("digest %s: %s; retrying in %.0fs", schedule.id, exc, self.retry_delay)
                await asyncio.sleep(self.retry_delay)
        try:
            lateness = self.clock() - slot_time
            note = None
            if late or lateness > self.late_after:
                note = (
                    f"Posted late: this digest was due at {fmt_time(slot_time)} "
                    f"({describe_duration(max(60.0, lateness - lateness % 60))} ago)."
                )
            message = await render_digest(
                services, report, created_by=SYSTEM_ACTOR, channel_id=schedule.channel,
                late_note=note,
            )  # fmt: skip
            try:
                posted = await post_digest(client, schedule.channel, report, message)
            except (SlackApiError, OSError) as exc:
                await audit_post(
                    services, actor=SYSTEM_ACTOR, outcome="failed",
                    summary=f"digest {schedule.id} could not be posted: {slack_error(exc)}",
                    channel=schedule.channel, detail=detail,
                )  # fmt: skip
                await self._finish(schedule, slot_time, "failed", slack_error(exc), None)
                return "failed"
        finally:
            report.discard()
        detail |= {"total": report.total, "previous": report.previous, "late": note is not None}
        await audit_post(
            services, actor=SYSTEM_ACTOR, outcome="ok",
            summary=f"digest {schedule.id}: {report.total} failed imports"
            + (" (late)" if note else ""),
            channel=schedule.channel, ts=posted.ts, detail=detail | {"csv": posted.csv_file_id},
        )  # fmt: skip
        await self._finish(schedule, slot_time, "posted", f"{report.total} failures", posted.ts)
        return "posted-late" if note else "posted"

    async def _post_simple(
        self, schedule: Schedule, slot_time: float, message: Message, outcome: str,
        state: Final, detail: dict[str, object],
    ) -> str:  # fmt: skip
        assert self.services.slack is not None
        try:
            ts = await post_message(self.services.slack, schedule.channel, message)
        except (SlackApiError, OSError) as exc:
            await audit_post(
                self.services, actor=SYSTEM_ACTOR, outcome="failed",
                summary=f"digest {schedule.id} note could not be posted: {slack_error(exc)}",
                channel=schedule.channel, detail=detail,
            )  # fmt: skip
            await self._finish(schedule, slot_time, "failed", slack_error(exc), None)
            return "failed"
        await audit_post(
            self.services, actor=SYSTEM_ACTOR, outcome=outcome, summary=message.text,
            channel=schedule.channel, ts=ts, detail=detail,
        )  # fmt: skip
        await self._finish(schedule, slot_time, state, outcome, ts)
        return outcome

    async def _post_unavailable(
        self, schedule: Schedule, slot_time: float, error: str, detail: dict[str, object]
    ) -> str:
        text = (
            f"Failed-imports digest for {fmt_time(slot_time)}: the source is unavailable. "
            f"The OMS did not answer within the {describe_duration(schedule.grace)} grace time."
        )
        message = Message(
            text=text,
            blocks=[
                section(f":warning: {escape(text)}"),
                context(
                    f"Last error: {escape(error[:500])} · `/oms digest now` tries again "
                    "once the OMS is back."
                ),
            ],
        )
        return await self._post_simple(
            schedule, slot_time, message, "unavailable", "failed", detail | {"error": error}
        )

    async def _post_missed(
        self, schedule: Schedule, slot_time: float, detail: dict[str, object]
    ) -> str:
        text = (
            f"Digest missed: the failed-imports digest due at {fmt_time(slot_time)} was not "
            f"posted (no replica was running within its {describe_duration(schedule.grace)} "
            "grace time)."
        )
        message = Message(
            text=text,
            blocks=[
                section(f":hourglass: {escape(text)}"),
                context("`/oms digest now` posts the current digest here."),
            ],
        )
        return await self._post_simple(schedule, slot_time, message, "missed", "missed", detail)
