"""The audit trail: every command, click, OMS write, approval and scheduled post.

Writes go to the store's append-only `audit_events` table. A write that fails (the database
is away) is logged in full instead, so the record survives in the log; it never breaks the
command that caused it.

`write` is the one way an OMS write is made and audited, inside a run or outside one (a
click that pauses a job): the write's operation, parameters and result or error are recorded
whatever the outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any, TypeVar

from bot.kit.durations import plain_dates
from bot.oms import OmsError
from bot.store import Store, StoreUnavailable
from bot.store.audit import AuditEvent, append, run_events, search

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


class Audit:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, event: AuditEvent) -> int | None:
        now = time.time()
        # Summaries are often the text a user was shown: a Slack date in it would be stored as
        # markup that /oms history then shows escaped, so keep its plain UTC fallback.
        event = replace(event, summary=plain_dates(event.summary))
        try:
            return await asyncio.to_thread(append, self.store, event, now)
        except StoreUnavailable as exc:
            log.error(
                "audit write failed (%s); event kept here: %s",
                exc,
                json.dumps(_as_log(event), default=str),
            )
            return None

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
        """Make an OMS write and audit it: operation, parameters, result or error; `fence`
        is the lease generation of the run making it (its fencing token)."""

        async def audit(outcome: str, extra: dict[str, Any]) -> None:
            await self.record(
                AuditEvent(
                    kind=EventKind.OMS_WRITE,
                    actor=actor,
                    outcome=outcome,
                    summary=operation,
                    run_id=run_id,
                    detail={"parameters": parameters, **extra},
                    order_keys=order_keys,
                    channel_id=channel_id,
                    fence=fence,
                )
            )

        try:
            result = await call
        except OmsError as exc:
            await audit("failed", {"error": exc.message})
            raise
        await audit("ok", {"result": _jsonable(result)})
        return result

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
