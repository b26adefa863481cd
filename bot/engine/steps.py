"""A runbook as the engine runs it: named steps, each reading the OMS before it writes.

A `Runbook` is a title, a list of `Step`s built from the run's parameters, the order keys it
leases, and what to say at the end (`outcome`) or after a failure (`on_failure`). A step
returns the detail shown beside it in the progress message, raises `StepSkipped` when its
work is already done in the OMS, or `StepFailed` when the OMS is in a state it must not act
on. A failure may carry a `code`, so a runbook can offer a fix for one cause (the refresh's
recovery) without reading the words of a message built elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.engine.audit import EventKind
from bot.engine.contract import ButtonSpec, Toolbox
from bot.kit.blocks import Message, escape, section
from bot.kit.durations import slack_time
from bot.store.audit import AuditEvent
from bot.store.locks import LockHolder
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
            await self.progress_hook(detail)

    @property
    def params(self) -> dict[str, Any]:
        return self.run.params

    async def oms_write(self, operation: str, parameters: dict[str, Any], call: Awaitable[T]) -> T:
        """Make an OMS write and audit it: operation, parameters, result or error."""
        return await self.tools.audit.write(
            call,
            operation=operation,
            parameters=parameters,
            actor=self.actor,
            channel_id=self.run.channel_id,
            order_keys=self.audit_keys,
            run_id=self.run.id,
        )

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
