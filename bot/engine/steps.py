"""A runbook as the engine runs it: named steps, each reading the OMS before it writes.

A `Runbook` is a title, a list of `Step`s built from the run's parameters, the order keys it
leases, and what to say at the end (`outcome`) or after a failure (`on_failure`). A step
returns the detail shown beside it in the progress message, raises `StepSkipped` when its
work is already done in the OMS, or `StepFailed` when the OMS is in a state it must not act
on. A failure may carry a `code`, so a runbook can offer a fix for one cause (the refresh's
recovery) without reading the words of a message built elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.engine.audit import EventKind
from bot.engine.contract import ButtonSpec, Toolbox
from bot.engine.lease import LeaseLost, RunLease
from bot.kit.blocks import Message, escape, section
from bot.kit.durations import slack_time
from bot.store import obligations as obligation_store
from bot.store.audit import AuditEvent
from bot.store.locks import LockHolder
from bot.store.obligations import NotHeld, Obligation
from bot.store.runs import RunRecord

T = TypeVar("T")


class StepSkipped(Exception):
    """Raised by a step whose work is already done in the OMS (the detail says so)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StepFailed(Exception):
    """A step found the OMS in a state it must not act on; the message says why.

    `code` names the cause for the runbook's `on_failure` (e.g. the refresh's import failing
    for want of a shipping address); the message stays for people."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Failure:
    """Why a run stopped: the failed steps' texts, and the codes of those that named one."""

    text: str
    codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[RunContext], Awaitable[str]]  # returns the detail shown beside the step
    # A step of a batch (one order of several): its failure is reported, the rest still run.
    stop_on_failure: bool = True


@dataclass(frozen=True)
class Outcome:
    """How a finished run ends: the result in words and the next-step buttons."""

    summary: str
    buttons: tuple[ButtonSpec, ...] = ()
    # False when running the failed steps again cannot help (the OMS would refuse the same
    # way): the message then offers no Resume, only the outcome's own buttons.
    resumable: bool = True


@dataclass(frozen=True)
class Runbook:
    name: str
    title: Callable[[dict[str, Any]], str]
    steps: Callable[[dict[str, Any]], list[Step]]
    order_keys: Callable[[dict[str, Any]], list[str]]
    role: str | None  # the role that may resume it
    outcome: Callable[[RunContext], Awaitable[Outcome]] | None = None
    # What to say and offer when a step failed (e.g. the recovery after a failed refresh).
    on_failure: Callable[[RunContext, Failure], Awaitable[Outcome | None]] | None = None
    # More references of the orders, for the audit only (not leased): the Shopify order name
    # and id next to the HotWax id, so `/oms history` finds the run by any of them.
    references: Callable[[dict[str, Any]], list[str]] | None = None

    def audit_keys(self, params: dict[str, Any], leased: list[str]) -> list[str]:
        """What the run's audit events are found by: its leased keys and its references."""
        extra = self.references(params) if self.references is not None else []
        return unique_keys([*leased, *extra])


def unique_keys(keys: list[str | None]) -> list[str]:
    """The keys without blanks or repeats, in their first order."""
    return list(dict.fromkeys(k for k in keys if k))


JOB_KEY_PREFIX = "job:"


def job_lock_key(job: str) -> str:
    """The lease key of an OMS job (an OFBiz enum id or a Moqui job name): one bot run at a
    time may run it or change its parameters, across replicas. A runbook lists it among its
    `order_keys` next to the orders it leases."""
    return f"{JOB_KEY_PREFIX}{job}"


# Puts an obligation's original back: gets the run's context (its lease, its audit) and the
# recorded original, makes the write through `ctx.oms_write`, returns what it did in words.
Restorer = Callable[["RunContext", dict[str, Any]], Awaitable[str]]
_RESTORERS: dict[str, Restorer] = {}


def restorer(kind: str) -> Callable[[Restorer], Restorer]:
    """Register how an obligation of `kind` is put back. By kind, not by runbook: the sweep
    repairs a run another process left, knowing only what its database row says."""

    def register(fn: Restorer) -> Restorer:
        if _RESTORERS.get(kind, fn) is not fn:
            raise ValueError(f"two restorers for {kind!r}")
        _RESTORERS[kind] = fn
        return fn

    return register


def restorer_for(kind: str) -> Restorer | None:
    return _RESTORERS.get(kind)


def _close(call: Awaitable[Any]) -> None:
    """Close a write's coroutine that will not be awaited (no "never awaited" warning)."""
    close = getattr(call, "close", None)
    if callable(close):
        close()


class OrderBusy(Exception):
    """A run could not start: one of its orders (or the job it uses) is leased by another run."""

    def __init__(self, holder: LockHolder) -> None:
        super().__init__(holder.order_key)
        self.holder = holder

    def reason(self) -> str:
        """Why the run could not start, as mrkdwn: the holder is a real mention (escaping it
        would show Slack's raw `<@U…>`), the run's title is escaped."""
        h = self.holder
        key = h.order_key
        what = (
            f"The OMS job {key.removeprefix(JOB_KEY_PREFIX)}"
            if key.startswith(JOB_KEY_PREFIX)
            else f"Order {key}"
        )
        return (
            f"{escape(what)} is busy: <@{h.holder}> is running “{escape(h.what)}” since "
            f"{slack_time(h.acquired_at)}"
        )

    def message(self) -> Message:
        text = f"{self.reason()}. Try again when it has finished."
        return Message(text=text, blocks=[section(f":lock: {text}")])


@dataclass
class RunContext:
    """What a step gets: the run's parameters, the toolbox, and a way to record OMS writes."""

    run: RunRecord
    tools: Toolbox
    actor: str
    scratch: dict[str, Any] = field(default_factory=dict)  # shared by steps, this process only
    # Set by the engine while a step runs: shows a new detail beside the running step.
    progress_hook: Callable[[str], Awaitable[None]] | None = None
    # Every reference of the run's orders its audit events carry: the leased keys, the
    # runbook's references, and what the steps learn (a new version's id).
    references: list[str] = field(default_factory=list)
    # The execution's hold on the run's lease (set by the engine): every OMS write checks it
    # first and carries its generation as the fencing token.
    lease: RunLease | None = None
    # Set by the engine while a step runs: the recording of the step's start, which goes on
    # while the step's first reads are out. Whatever the step writes (to the OMS or to the
    # bot's database) waits for it, so nothing of a step is written before the step is; its
    # failure (the lease lost, the database away) is then the step's.
    step_recorded: asyncio.Future[None] | None = None

    async def _step_recorded(self) -> None:
        if self.step_recorded is not None:
            # Shielded: one writer given up on (cancelled) must not cancel the recording.
            await asyncio.shield(self.step_recorded)

    def add_references(self, *keys: str | None) -> None:
        """Audit this run's later events under these references of its orders too (a new
        version's HotWax id, the Shopify order name), so `/oms history` finds them by each."""
        self.references = unique_keys([*self.references, *keys])

    @property
    def audit_keys(self) -> tuple[str, ...]:
        return tuple(unique_keys([*self.run.order_keys, *self.references]))

    async def progress(self, detail: str) -> None:
        """Update the running step's detail in the progress message (long steps use it)."""
        if self.progress_hook is not None:
            await self._step_recorded()
            await self.progress_hook(detail)

    @property
    def params(self) -> dict[str, Any]:
        return self.run.params

    async def oms_write(self, operation: str, parameters: dict[str, Any], call: Awaitable[T]) -> T:
        """Make an OMS write and audit it: operation, parameters, result or error.

        Only while the run's lease is held (the database confirms it): LeaseLost otherwise,
        and the write is not made. The audit row carries the lease generation (`fence`)."""
        try:
            await self._step_recorded()
            if self.lease is not None:
                await self.lease.check()
        except BaseException:
            _close(call)  # never sent
            raise
        return await self.tools.audit.write(
            call,
            operation=operation,
            parameters=parameters,
            actor=self.actor,
            channel_id=self.run.channel_id,
            order_keys=self.audit_keys,
            run_id=self.run.id,
            fence=self.lease.generation if self.lease is not None else None,
        )

    async def still_held(self) -> None:
        """LeaseLost unless the run's lease is still held: for a step between two writes of one
        call (the order-sync replay checks it between the window and the run)."""
        await self._step_recorded()
        if self.lease is not None:
            await self.lease.check()

    async def owe(self, *, kind: str, key: str, what: str, original: dict[str, Any]) -> Obligation:
        """Record, before the write that changes it, the original state a step will put back
        (`kind` names its `restorer`). An obligation already open under `key` is kept and
        returned: its original is from before this run's first write, not what a crash left.
        LeaseLost when the run is no longer this execution's."""
        await self._step_recorded()
        lease = self._held_lease()
        try:
            return await asyncio.to_thread(
                obligation_store.owe,
                lease.store,
                self.run.id,
                generation=lease.generation,
                key=key,
                kind=kind,
                what=what,
                payload=original,
                now=time.time(),
            )
        except NotHeld as exc:
            lease.lose("the run was taken over by another execution")
            raise LeaseLost(lease.lost or "") from exc

    async def settle(self, key: str, note: str) -> None:
        """The original is back: the obligation under `key` is kept."""
        await self._step_recorded()
        lease = self._held_lease()
        await asyncio.to_thread(
            obligation_store.settle, lease.store, self.run.id, key, note=note, now=time.time()
        )

    def _held_lease(self) -> RunLease:
        if self.lease is None:
            raise RuntimeError("a restore obligation needs a run executed by the engine")
        self.lease.ensure()
        return self.lease

    async def audit_snapshot(self, what: str, snapshot: dict[str, Any]) -> None:
        """Save what the OMS held before a change, so nothing is lost."""
        await self._audit(EventKind.OMS_SNAPSHOT, "ok", what, snapshot)

    async def audit_read_back(self, what: str, ok: bool, detail: dict[str, Any]) -> None:
        """Record a read-back that verifies the run's writes, and whether it matched."""
        await self._audit(EventKind.OMS_READ, "ok" if ok else "failed", what, detail)

    async def saved_snapshot(self) -> dict[str, Any] | None:
        """What this run's snapshot saved (read from the audit, so it survives a restart)."""
        events = await self.tools.audit.run_events(self.run.id, EventKind.OMS_SNAPSHOT)
        return dict(events[0].detail or {}) if events else None

    async def _audit(
        self, kind: EventKind, outcome: str, what: str, detail: dict[str, Any]
    ) -> None:
        await self._step_recorded()
        await self.tools.audit.record(
            AuditEvent(
                kind=kind,
                actor=self.actor,
                outcome=outcome,
                summary=what,
                run_id=self.run.id,
                detail=detail,
                order_keys=self.audit_keys,
                channel_id=self.run.channel_id,
            )
        )
