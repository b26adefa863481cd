"""The audit trail: every command, click, OMS write, approval and scheduled post.

Events go to the store's `audit_events` table. An event that cannot reach the database (it
is away) goes to the local spool (bot/store/spool.py: a durable file, fsynced) and is
replayed, once, when the database answers again (`replay`, run after the next event recorded
and by every sweep). Each event has its own id, so a replay never records it twice. It never
breaks the command that caused it.

`write` is the one way an OMS write is made and audited, inside a run or outside one (a
click that pauses a job): one row per write, recorded "started" before the call and closed
after it: "ok", "failed" (the OMS refused it, or it never reached the OMS) or "unknown" (a
timeout or a 5xx after it was sent: the OMS may have applied it). An unknown write is
checked at once by reading the OMS back when its operation has a `ReadBack`, and again by
every sweep while it stays unknown (for a day, and only while the same write was not made
again since, by a Resume: the read-back would then tell about that one); the row then says
"ok" or "failed" with what the read-back found. A row still "started" means the process
stopped during the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

from bot.kit.durations import plain_dates
from bot.oms import OmsBadResponse, OmsClient, OmsError, OmsUnavailable
from bot.store import Store, StoreUnavailable
from bot.store.audit import (
    AuditEvent,
    append,
    close_write,
    open_writes,
    run_events,
    search,
    written_again,
)
from bot.store.spool import AuditSpool, SpoolOp

log = logging.getLogger(__name__)

T = TypeVar("T")


class EventKind(StrEnum):
    """What an audit event records; `/oms history` and the rollback's undo read these."""

    COMMAND = "command"  # a slash command, answered or run
    REFUSED = "refused"  # a command the policy refused
    CLICK = "click"  # a button press, valid or not
    RUN = "run"  # a run started, resumed, finished, interrupted
    OMS_WRITE = "oms_write"  # one write to the OMS, with its parameters and result
    OMS_READ = "oms_read"  # a read-back that verifies writes
    OMS_SNAPSHOT = "oms_read_snapshot"  # what the OMS held before a change
    APPROVAL_REQUEST = "approval_request"
    APPROVAL_DECISION = "approval_decision"
    SCHEDULED_POST = "scheduled_post"  # a digest (or a note about one) posted in a channel


RUN_ENDS = ("ok", "failed", "interrupted")  # the outcomes of a run's last audit event
# A write still unknown this long after it was recorded is read back by the sweep (the call
# itself read it back at once; the sweep is for an OMS that was down then).
SETTLE_AFTER_SECONDS = 5.0
# ... for a day: an older one is left for a person (the OMS has moved on since).
SETTLE_WITHIN_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class ReadBack:
    """How to tell, by reading the OMS, whether a write of `operation` (the name given to
    `Audit.write`) took effect: `check(oms, parameters)` answers True (applied), False (not
    applied) or None (cannot tell). A runbook module declares them in its `Provides`."""

    operation: str
    check: Callable[[OmsClient, dict[str, Any]], Awaitable[bool | None]]


def _unknown_outcome(exc: Exception) -> bool:
    """Whether a failed write may still have been applied by the OMS."""
    if isinstance(exc, OmsUnavailable):
        return exc.sent
    if isinstance(exc, OmsBadResponse):
        return True  # something answered, not in the OMS's shape (a proxy's page)
    return not isinstance(exc, OmsError)  # OMS refusals are sure; anything else is not


class Audit:
    def __init__(
        self, store: Store, *, spool: AuditSpool | None = None, oms: OmsClient | None = None
    ) -> None:
        self.store = store
        self.spool = spool
        self.oms = oms
        self.read_backs: dict[str, ReadBack] = {}

    def add_read_back(self, read_back: ReadBack) -> None:
        if read_back.operation in self.read_backs:
            raise ValueError(f"read-back of {read_back.operation!r} registered twice")
        self.read_backs[read_back.operation] = read_back

    async def record(self, event: AuditEvent) -> int | None:
        """Record an event; None when it went to the spool (the database is away)."""
        # Summaries are often the text a user was shown: a Slack date in it would be stored as
        # markup that /oms history then shows escaped, so keep its plain UTC fallback.
        event = replace(
            event,
            summary=plain_dates(event.summary),
            uid=event.uid or uuid.uuid4().hex,
            at=event.at or time.time(),
        )
        return await self._keep("append", event)

    async def _keep(self, op: SpoolOp, event: AuditEvent) -> int | None:
        """Give `event` to the database, or else to the spool; then replay what waits."""
        apply = close_write if op == "close" else append
        try:
            found = await asyncio.to_thread(apply, self.store, event, time.time())
        except StoreUnavailable as exc:
            await self._spool(op, event, exc)
            return None
        if self.spool is not None and self.spool.path.exists():
            await self.replay()
        return found

    async def _spool(self, op: SpoolOp, event: AuditEvent, exc: StoreUnavailable) -> None:
        if self.spool is not None:
            try:
                await asyncio.to_thread(self.spool.keep, op, event)
                log.warning(
                    "audit event %s (%s %s) kept in the spool %s: %s",
                    event.uid,
                    event.kind,
                    event.outcome,
                    self.spool.path,
                    exc,
                )
                return
            except OSError as disk:
                log.error("audit spool %s unwritable: %s", self.spool.path, disk)
        # Nowhere durable left: the log is the last record.
        log.error(
            "audit write failed (%s); event kept here: %s",
            exc,
            json.dumps(_as_log(event), default=str),
        )

    async def replay(self) -> int:
        """Record every spooled event (oldest first) while the database answers; returns how
        many. An event already recorded (a replay cut short) is not recorded again."""
        spool = self.spool
        if spool is None:
            return 0

        def apply(op: SpoolOp, event: AuditEvent) -> None:
            (close_write if op == "close" else append)(self.store, event, time.time())

        try:
            done = await asyncio.to_thread(spool.replay, apply)
        except StoreUnavailable as exc:
            log.info("audit spool not replayed yet: %s", exc)
            return 0
        except OSError as exc:
            # The spool's disk: the events stay where they are; never break the caller.
            log.error("audit spool %s not replayed: %s", spool.path, exc)
            return 0
        if done:
            log.info("replayed %d audit event(s) from the spool %s", done, spool.path)
        return done

    async def write(
        self,
        call: Awaitable[T],
        *,
        operation: str,
        parameters: dict[str, Any],
        actor: str,
        channel_id: str | None,
        order_keys: tuple[str, ...] = (),
        run_id: str | None = None,
        fence: int | None = None,
    ) -> T:
        """Make an OMS write and audit it: "started" before the call, then its outcome (ok,
        failed, or unknown and read back), with its parameters and result or error; `fence`
        is the lease generation of the run making it (its fencing token)."""
        now = time.time()
        started = AuditEvent(
            kind=EventKind.OMS_WRITE,
            actor=actor,
            outcome="started",
            summary=operation,
            run_id=run_id,
            detail={"parameters": parameters, "states": [["started", now]]},
            order_keys=order_keys,
            channel_id=channel_id,
            uid=uuid.uuid4().hex,
            at=now,
            fence=fence,
        )
        await self._keep("append", started)
        try:
            result = await call
        except asyncio.CancelledError:
            # Stopped while the call was out (a shutdown's drain ran out): it may have reached
            # the OMS. Said so now, the close shielded from the cancellation, rather than left
            # "started" with no one to settle it.
            unknown = {"error": "cancelled", "unknown": "oms-bot stopped while it was sent"}
            await asyncio.shield(self._close(started, "unknown", unknown))
            raise
        except Exception as exc:
            error = exc.message if isinstance(exc, OmsError) else type(exc).__name__
            if not _unknown_outcome(exc):
                await self._close(started, "failed", {"error": error})
                raise
            closed = await self._close(
                started,
                "unknown",
                {"error": error, "unknown": "the OMS may have applied it: sent, no clear answer"},
            )
            await self._settle(closed)
            raise
        await self._close(started, "ok", {"result": _jsonable(result)})
        return result

    async def _close(self, write: AuditEvent, outcome: str, extra: dict[str, Any]) -> AuditEvent:
        detail = dict(write.detail or {})
        detail.update(extra)
        detail["states"] = [*detail.get("states", []), [outcome, time.time()]]
        closed = replace(write, outcome=outcome, detail=detail)
        await self._keep("close", closed)
        return closed

    async def _settle(self, write: AuditEvent) -> AuditEvent:
        """Read an unknown write back, when its operation has a read-back, and close it with
        what the OMS holds; it stays unknown when nothing can tell."""
        read_back = self.read_backs.get(write.summary)
        if read_back is None or self.oms is None:
            return write
        parameters = dict((write.detail or {}).get("parameters") or {})
        try:
            applied = await read_back.check(self.oms, parameters)
        except OmsError as exc:
            log.info("read-back of %s not possible yet: %s", write.summary, exc.message)
            return write
        if applied is None:
            return write
        found = "applied" if applied else "not applied"
        return await self._close(
            write, "ok" if applied else "failed", {"read_back": f"the OMS read back: {found}"}
        )

    async def settle_unknown(self) -> int:
        """Read back every write still unknown (the sweep); returns how many it settled."""
        now = time.time()
        try:
            unknown = await asyncio.to_thread(
                open_writes,
                self.store,
                outcome="unknown",
                before=now - SETTLE_AFTER_SECONDS,
                after=now - SETTLE_WITHIN_SECONDS,
            )
            unknown = [
                w
                for w in unknown
                if w.summary in self.read_backs
                and not await asyncio.to_thread(written_again, self.store, w)
            ]
        except StoreUnavailable as exc:
            log.info("unknown writes not read back yet: %s", exc)
            return 0
        settled = 0
        for write in unknown:
            after = await self._settle(write)
            settled += after.outcome != "unknown"
        return settled

    async def search(
        self,
        *,
        order_key: str | None = None,
        actor: str | None = None,
        failed_only: bool = False,
        since: float | None = None,
        limit: int = 20,
        order_keys: Sequence[str] = (),
    ) -> list[AuditEvent]:
        """The newest events matching every filter; `order_keys`: about any of them."""
        return await asyncio.to_thread(
            search,
            self.store,
            order_key=order_key,
            order_keys=tuple(order_keys),
            actor=actor,
            failed_only=failed_only,
            since=since,
            limit=limit,
        )

    async def search_if_readable(
        self, *, order_keys: Sequence[str], limit: int = 20
    ) -> list[AuditEvent] | None:
        """`search` by order keys, or None (logged) when the database cannot be read: for an
        answer the audit only adds to (`/oms order`), which must not fail with it."""
        try:
            return await self.search(order_keys=order_keys, limit=limit)
        except StoreUnavailable as exc:
            log.warning("audit not read: %s", exc)
            return None

    async def run_end(self, run_id: str) -> AuditEvent | None:
        """The event of a run's end (its outcome ok, failed or interrupted, with its summary);
        None while it runs, or when the database cannot be read (logged): a caller waiting for
        the end keeps waiting."""
        try:
            events = await self.run_events(run_id, EventKind.RUN)
        except StoreUnavailable as exc:
            log.warning("audit not read: %s", exc)
            return None
        return next((e for e in events if e.outcome in RUN_ENDS), None)

    async def run_events(self, run_id: str, kind: EventKind) -> list[AuditEvent]:
        """Every event of `kind` a run recorded, oldest first (its snapshot, its writes)."""
        return await asyncio.to_thread(run_events, self.store, run_id, kind)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
        return value
    return str(value)


def _as_log(event: AuditEvent) -> dict[str, Any]:
    return {k: v for k, v in event.__dict__.items() if v not in (None, (), {})}
