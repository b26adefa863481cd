"""The run engine: a runbook is a named list of steps, run with one live progress message.

A run is recorded before its first step, takes a lease on each order it touches (so a second
run on a busy order is refused with who holds it), posts a checklist message and updates it
as steps finish, and closes with the result and any next-step buttons. A heartbeat keeps the
run's and the locks' leases alive; a run whose heartbeat stops (the process died) is marked
interrupted by the next sweep, and its message gets a Resume button that continues from the
first unfinished step. Steps read the OMS before they write, so resuming never repeats a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import ActionSpec, ButtonSpec, Click, fmt_time
from bot.blocks import Block, Message, actions, context, error_message, escape, header, section
from bot.oms import OmsError
from bot.reply import Replier
from bot.shopify_setup import NotConfigured
from bot.store import StoreUnavailable
from bot.store import locks as lock_store
from bot.store import runs as run_store
from bot.store.audit import AuditEvent
from bot.store.runs import RunRecord, StepRecord

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

T = TypeVar("T")
StepState = Literal["pending", "running", "done", "failed", "skipped"]
RunEnd = Literal["done", "failed"]

STEP_ICONS = {
    "pending": ":white_circle:",
    "running": ":hourglass_flowing_sand:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "skipped": ":fast_forward:",
}
RESUME_ACTION = "run.resume"
NOTIFY_KEY = "_notify"  # run parameter: where else to post the result (an approval thread)


class StepSkipped(Exception):
    """Raised by a step whose work is already done in the OMS (the detail says so)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StepFailed(Exception):
    """A step found the OMS in a state it must not act on; the message says why."""


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


@dataclass(frozen=True)
class Runbook:
    name: str
    title: Callable[[dict[str, Any]], str]
    steps: Callable[[dict[str, Any]], list[Step]]
    order_keys: Callable[[dict[str, Any]], list[str]]
    role: str | None  # the role that may resume it
    outcome: Callable[[RunContext], Awaitable[Outcome]] | None = None
    # What to say and offer when a step failed (e.g. the recovery after a failed refresh).
    on_failure: Callable[[RunContext, str], Awaitable[Outcome | None]] | None = None


class OrderBusy(Exception):
    def __init__(self, holder: lock_store.LockHolder) -> None:
        super().__init__(holder.order_key)
        self.holder = holder

    def message(self) -> Message:
        h = self.holder
        text = (
            f"Order {h.order_key} is busy: <@{h.holder}> is running “{h.what}” since "
            f"{fmt_time(h.acquired_at)}. Try again when it has finished."
        )
        return Message(text=text, blocks=[section(f":lock: {escape(text)}")])


@dataclass
class RunContext:
    """What a step gets: the run's parameters, the OMS, and a way to record OMS writes."""

    run: RunRecord
    services: Services
    actor: str
    scratch: dict[str, Any] = field(default_factory=dict)  # shared by steps, this process only
    # Set by the engine while a step runs: shows a new detail beside the running step.
    progress_hook: Callable[[str], Awaitable[None]] | None = None

    async def progress(self, detail: str) -> None:
        """Update the running step's detail in the progress message (long steps use it)."""
        if self.progress_hook is not None:
            await self.progress_hook(detail)

    @property
    def params(self) -> dict[str, Any]:
        return self.run.params

    async def oms_write(self, operation: str, parameters: dict[str, Any], call: Awaitable[T]) -> T:
        """Make an OMS write and audit it: operation, parameters, result or error."""
        try:
            result = await call
        except OmsError as exc:
            await self._audit_write(operation, parameters, "failed", {"error": exc.message})
            raise
        await self._audit_write(operation, parameters, "ok", {"result": _jsonable(result)})
        return result

    async def audit_snapshot(self, what: str, snapshot: dict[str, Any]) -> None:
        """Save what the OMS held before a change, so nothing is lost."""
        await self.services.audit.record(
            AuditEvent(
                kind="oms_read_snapshot",
                actor=self.actor,
                outcome="ok",
                summary=what,
                run_id=self.run.id,
                detail=snapshot,
                order_keys=tuple(self.run.order_keys),
                channel_id=self.run.channel_id,
            )
        )

    async def _audit_write(
        self, operation: str, parameters: dict[str, Any], outcome: str, extra: dict[str, Any]
    ) -> None:
        await self.services.audit.record(
            AuditEvent(
                kind="oms_write",
                actor=self.actor,
                outcome=outcome,
                summary=operation,
                run_id=self.run.id,
                detail={"parameters": parameters, **extra},
                order_keys=tuple(self.run.order_keys),
                channel_id=self.run.channel_id,
            )
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
        return value
    return str(value)


class RunEngine:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.instance_id = uuid.uuid4().hex[:12]
        self.runbooks: dict[str, Runbook] = {}

    @property
    def lease(self) -> float:
        return self.services.settings.omsbot_run_lease

    def add(self, runbook: Runbook) -> None:
        if runbook.name in self.runbooks:
            raise ValueError(f"runbook {runbook.name!r} registered twice")
        self.runbooks[runbook.name] = runbook

    def action_specs(self) -> list[ActionSpec]:
        return [
            ActionSpec(
                name=RESUME_ACTION,
                handler=self._on_resume,
                pressed_note=lambda c: f"Resumed by <@{c.user_id}>",
            )
        ]

    # ---- starting and resuming ----------------------------------------------------------

    async def start(
        self,
        runbook_name: str,
        params: dict[str, Any],
        *,
        actor: str,
        channel_id: str,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]] | None = None,
    ) -> RunRecord:
        """Record the run, take its order leases, post the checklist, run it in a task."""
        runbook = self.runbooks[runbook_name]
        run_id = uuid.uuid4().hex
        keys = runbook.order_keys(params)
        now = time.time()
        title = runbook.title(params)
        holder = await asyncio.to_thread(
            lock_store.acquire,
            self.services.store,
            keys,
            run_id=run_id,
            holder=actor,
            what=title,
            now=now,
            lease=self.lease,
        )
        if holder is not None:
            raise OrderBusy(holder)
        steps = runbook.steps(params)
        if notify:
            # Kept with the run, so a resumed run still reports where the first one would.
            params = {**params, NOTIFY_KEY: [list(target) for target in notify]}
        try:
            run = await asyncio.to_thread(
                run_store.create_run,
                self.services.store,
                run_id=run_id,
                runbook=runbook.name,
                title=title,
                params=params,
                order_keys=keys,
                requested_by=actor,
                channel_id=channel_id,
                response_url=reply.response_url,
                owner=self.instance_id,
                step_names=[s.name for s in steps],
                now=now,
            )
        except StoreUnavailable:
            await asyncio.to_thread(lock_store.release, self.services.store, run_id)
            raise
        await self._audit_run(run, actor, "started", f"started {title}")
        ts = await self._post(run, await self._steps(run.id), client, reply)
        if ts:
            await asyncio.to_thread(run_store.set_message, self.services.store, run.id, ts)
        self.services.tasks.spawn(
            self._execute(run.id, actor, client, reply, notify or []), name=f"run {title}"
        )
        return run

    async def try_start(
        self,
        runbook_name: str,
        params: dict[str, Any],
        *,
        actor: str,
        channel_id: str,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]] | None = None,
    ) -> RunRecord | None:
        """`start`, telling the user who holds the order instead when it is busy."""
        try:
            return await self.start(
                runbook_name,
                params,
                actor=actor,
                channel_id=channel_id,
                client=client,
                reply=reply,
                notify=notify,
            )
        except OrderBusy as busy:
            await reply.safe_ephemeral(busy.message())
            return None

    async def _on_resume(self, click: Click) -> None:
        await self.resume(
            click.params["run_id"], actor=click.user_id, client=click.client, reply=click.reply
        )

    async def resume(
        self, run_id: str, *, actor: str, client: AsyncWebClient, reply: Replier
    ) -> None:
        run = await asyncio.to_thread(run_store.get_run, self.services.store, run_id)
        if run is None:
            await reply.safe_ephemeral(Message(text=f"Run {run_id} no longer exists."))
            return
        holder = await asyncio.to_thread(
            lock_store.acquire,
            self.services.store,
            list(run.order_keys),
            run_id=run.id,
            holder=actor,
            what=run.title,
            now=time.time(),
            lease=self.lease,
        )
        if holder is not None:
            await reply.safe_ephemeral(OrderBusy(holder).message())
            return
        won = await asyncio.to_thread(
            run_store.claim_for_resume, self.services.store, run.id, self.instance_id, time.time()
        )
        if not won:
            await reply.safe_ephemeral(
                Message(text=f"“{run.title}” is not waiting to be resumed (it is {run.state}).")
            )
            return
        await self._audit_run(run, actor, "resumed", f"resumed {run.title}")
        notify = [(str(c), str(t) if t else None) for c, t in run.params.get(NOTIFY_KEY, [])]
        self.services.tasks.spawn(
            self._execute(run.id, actor, client, reply, notify), name=f"resume {run.title}"
        )

    # ---- running ------------------------------------------------------------------------

    async def _execute(
        self,
        run_id: str,
        actor: str,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]],
    ) -> None:
        store = self.services.store
        beat = asyncio.get_running_loop().create_task(self._heartbeat(run_id))
        run: RunRecord | None = None
        started = time.monotonic()
        try:
            run = await asyncio.to_thread(run_store.get_run, store, run_id)
            assert run is not None
            runbook = self.runbooks[run.runbook]
            # The correlation id comes with the context of the command or click that started it.
            log.info(
                "run %s (%s) executing",
                run_id,
                run.runbook,
                extra={"run_id": run_id, "runbook": run.runbook},
            )
            ctx = RunContext(run=run, services=self.services, actor=actor)
            steps = runbook.steps(run.params)
            records = await asyncio.to_thread(run_store.get_steps, store, run_id)
            failures: list[str] = []
            for idx, step in enumerate(steps):
                if records[idx].state in ("done", "skipped"):
                    continue
                failed = await self._run_step(ctx, idx, step, client, reply)
                if failed is not None:
                    failures.append(failed)
                    if step.stop_on_failure:
                        break
            failure = "; ".join(failures) if failures else None
            outcome = None
            if failure is None and runbook.outcome is not None:
                outcome = await runbook.outcome(ctx)
            elif failure is not None and runbook.on_failure is not None:
                outcome = await runbook.on_failure(ctx, failure)
            state: RunEnd = "failed" if failure else "done"
            await asyncio.to_thread(
                run_store.finish_run,
                store,
                run_id,
                state=state,
                result={"summary": outcome.summary} if outcome else None,
                error=failure,
                now=time.time(),
            )
            await asyncio.to_thread(lock_store.release, store, run_id)
            final = await asyncio.to_thread(run_store.get_run, store, run_id)
            assert final is not None
            await self._finish_message(final, runbook, outcome, client, reply, notify)
            await self._audit_run(
                final,
                actor,
                "ok" if state == "done" else "failed",
                outcome.summary if outcome else (failure or state),
            )
            self._finished(final, state, time.monotonic() - started)
        except StoreUnavailable as exc:
            # The run's state cannot be written; stop here. Once the database is back the
            # sweep marks it interrupted and its message offers Resume.
            log.error("run %s stopped: %s", run_id, exc)
            await reply.safe_ephemeral(
                error_message(
                    "The run stopped: the bot's database is unavailable",
                    str(exc),
                    "Nothing more will be changed. When the database is back, the run's "
                    "message shows it as interrupted with a Resume button.",
                )
            )
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _run_step(
        self, ctx: RunContext, idx: int, step: Step, client: AsyncWebClient, reply: Replier
    ) -> str | None:
        """Run one step; return the failure text, or None when it succeeded or was skipped."""
        store = self.services.store
        run_id = ctx.run.id
        await asyncio.to_thread(
            run_store.set_step, store, run_id, idx, state="running", now=time.time()
        )
        await self._update(run_id, client, reply)
        failure: str | None = None
        state: StepState
        ctx.progress_hook = lambda note: self._step_progress(run_id, idx, note, client, reply)
        try:
            detail = await step.run(ctx)
            state = "done"
        except StepSkipped as skip:
            detail, state = skip.detail, "skipped"
        except (StepFailed, NotConfigured) as exc:
            detail, state, failure = str(exc), "failed", str(exc)
        except OmsError as exc:
            detail = f"The OMS call “{exc.operation}” failed: {exc.message}"
            state, failure = "failed", detail
        except Exception:
            log.exception("step %r of run %s crashed", step.name, run_id)
            detail = "oms-bot hit an internal error in this step; the details are logged."
            state, failure = "failed", detail
        await asyncio.to_thread(
            run_store.set_step, store, run_id, idx, state=state, detail=detail, now=time.time()
        )
        await self._update(run_id, client, reply)
        return failure

    async def _heartbeat(self, run_id: str) -> None:
        store = self.services.store
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                now = time.time()
                alive = await asyncio.to_thread(
                    run_store.heartbeat, store, run_id, self.instance_id, now
                )
                if alive:
                    await asyncio.to_thread(
                        lock_store.renew, store, run_id, now=now, lease=self.lease
                    )
            except StoreUnavailable as exc:
                log.warning("heartbeat of run %s failed: %s", run_id, exc)

    # ---- interrupted runs ---------------------------------------------------------------

    async def sweep(self, client: AsyncWebClient) -> list[RunRecord]:
        """Mark runs whose process died as interrupted and offer Resume on their message."""
        stale = await asyncio.to_thread(
            run_store.interrupt_stale, self.services.store, now=time.time(), lease=self.lease
        )
        for run in stale:
            await self._audit_run(
                run, "system", "interrupted", f"{run.title} was interrupted (its process stopped)"
            )
            reply = Replier(
                client,
                channel_id=run.channel_id,
                user_id=run.requested_by,
                response_url=None,
                session=self.services.http_session(),
            )
            runbook = self.runbooks.get(run.runbook)
            message = await self._render(run, await self._steps(run.id), None, runbook)
            try:
                if run.message_ts:
                    await reply.update(run.message_ts, message)
                else:
                    await reply.post(message)
            except SlackApiError as exc:
                log.warning(
                    "could not show run %s as interrupted: %s", run.id, exc.response.get("error")
                )
        return stale

    # ---- the message ----------------------------------------------------------------------

    async def _steps(self, run_id: str) -> list[StepRecord]:
        return await asyncio.to_thread(run_store.get_steps, self.services.store, run_id)

    async def _post(
        self, run: RunRecord, steps: list[StepRecord], client: AsyncWebClient, reply: Replier
    ) -> str | None:
        message = await self._render(run, steps, None, self.runbooks[run.runbook])
        try:
            return await reply.post(message)
        except SlackApiError as exc:
            log.info(
                "cannot post in %s (%s); progress goes to the user",
                run.channel_id,
                exc.response.get("error"),
            )
            await reply.safe_ephemeral(
                Message(
                    text=message.text,
                    blocks=[
                        *message.blocks,
                        context(
                            "I cannot post in this channel (invite me with `/invite`); "
                            "you will get the result here."
                        ),
                    ],
                )
            )
            return None

    async def _update(self, run_id: str, client: AsyncWebClient, reply: Replier) -> None:
        run = await asyncio.to_thread(run_store.get_run, self.services.store, run_id)
        if run is None or not run.message_ts:
            return
        message = await self._render(
            run, await self._steps(run_id), None, self.runbooks[run.runbook]
        )
        try:
            await reply.update(run.message_ts, message)
        except SlackApiError as exc:
            log.warning("progress update of run %s failed: %s", run_id, exc.response.get("error"))

    async def _finish_message(
        self,
        run: RunRecord,
        runbook: Runbook,
        outcome: Outcome | None,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]],
    ) -> None:
        message = await self._render(run, await self._steps(run.id), outcome, runbook)
        delivered = False
        if run.message_ts:
            try:
                await reply.update(run.message_ts, message)
                delivered = True
            except SlackApiError as exc:
                log.warning(
                    "final update of run %s failed (%s); posting it anew",
                    run.id,
                    exc.response.get("error"),
                )
        if not delivered:
            try:
                await reply.post(message)
                delivered = True
            except SlackApiError:
                delivered = await reply.safe_ephemeral(message)
        if not delivered:
            # Slack refused every way to show the result: the audit must say so, or the
            # trail would read as if the requester had seen it.
            await self._audit_run(
                run, "system", "failed", f"the result of {run.title} could not be shown in Slack"
            )
        summary = Message(
            text=f"{run.title}: {self._state_words(run)}",
            blocks=[
                section(
                    f"*{escape(run.title)}*: {self._state_words(run)}"
                    + (f"\n{escape(outcome.summary)}" if outcome else "")
                )
            ],
        )
        for channel, thread_ts in notify:
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=summary.text, blocks=summary.blocks
                )
            except SlackApiError as exc:
                log.warning("could not notify %s: %s", channel, exc.response.get("error"))

    @staticmethod
    def _state_words(run: RunRecord) -> str:
        return {
            "done": "finished",
            "failed": "failed",
            "interrupted": "interrupted",
            "running": "running",
        }.get(run.state, run.state)

    async def _render(
        self,
        run: RunRecord,
        steps: list[StepRecord],
        outcome: Outcome | None,
        runbook: Runbook | None,
    ) -> Message:
        now = time.time()
        lines = []
        for step in steps:
            line = f"{STEP_ICONS.get(step.state, '•')} {escape(step.name)}"
            if step.started_at:
                end = step.finished_at or now
                line += f"  _{end - step.started_at:.1f}s_"
            if step.detail:
                line += f"\n      {escape(step.detail)}"
            lines.append(line)
        blocks: list[Block] = [header(run.title), section("\n".join(lines))]
        state = self._state_words(run)
        if run.state == "done" and outcome is not None:
            blocks.append(section(f":white_check_mark: {escape(outcome.summary)}"))
        elif run.state == "failed":
            blocks.append(
                section(
                    f":x: The run stopped: {escape(run.error or 'a step failed')}"
                    "\nResume retries what failed and what did not run; steps check the OMS "
                    "first, so nothing is done twice."
                )
            )
            if outcome is not None:
                blocks.append(section(escape(outcome.summary)))
        elif run.state == "interrupted":
            first = next((s for s in steps if s.state not in ("done", "skipped")), None)
            where = f" during “{escape(first.name)}”" if first else ""
            blocks.append(
                section(
                    f":warning: Interrupted{where}: the bot stopped before the run finished. "
                    "Resume continues from the first unfinished step; steps check the OMS "
                    "first, so nothing is written twice."
                )
            )
        elapsed = (run.finished_at or now) - run.created_at
        blocks.append(
            context(
                f"Run `{run.id[:8]}` · started by <@{run.requested_by}> · {state} · {elapsed:.1f}s"
            )
        )
        buttons: list[ButtonSpec] = []
        if outcome is not None:
            buttons += outcome.buttons
        if run.state in ("failed", "interrupted") and runbook is not None:
            buttons.append(
                ButtonSpec(
                    "Resume",
                    RESUME_ACTION,
                    {"run_id": run.id, "order_keys": list(run.order_keys)},
                    style="primary",
                    allowed_role=runbook.role,
                )
            )
        if buttons:
            _, elements = await self.services.actions.buttons(
                buttons, created_by=run.requested_by, channel_id=run.channel_id
            )
            blocks.append(actions(elements))
        return Message(text=f"{run.title}: {state}", blocks=blocks)

    async def _audit_run(self, run: RunRecord, actor: str, outcome: str, summary: str) -> None:
        await self.services.audit.record(
            AuditEvent(
                kind="run",
                actor=actor,
                outcome=outcome,
                summary=summary[:300],
                channel_id=run.channel_id,
                command=run.title,
                run_id=run.id,
                order_keys=tuple(run.order_keys),
                message_channel=run.channel_id,
                message_ts=run.message_ts,
            )
        )

    async def _step_progress(
        self, run_id: str, idx: int, detail: str, client: AsyncWebClient, reply: Replier
    ) -> None:
        await asyncio.to_thread(run_store.set_step_detail, self.services.store, run_id, idx, detail)
        await self._update(run_id, client, reply)

    def _finished(self, run: RunRecord, state: RunEnd, seconds: float) -> None:
        """Log and count a run's end (the metrics hook)."""
        log.info(
            "run %s (%s) %s in %.1fs",
            run.id,
            run.runbook,
            state,
            seconds,
            extra={"run_id": run.id, "runbook": run.runbook, "outcome": state, "seconds": seconds},
        )
        self.services.metrics.run_finished(run.runbook, state, seconds)
