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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.contract import ActionSpec, Click, NotConfigured
from bot.engine.lease import LeaseLost, RunLease
from bot.engine.progress import RESUME_ACTION, render_run, run_summary
from bot.engine.shown import LatestShown
from bot.engine.steps import (
    Failure,
    OrderBusy,
    Outcome,
    Runbook,
    RunContext,
    Step,
    StepFailed,
    StepSkipped,
    restorer_for,
)
from bot.kit.blocks import Message, context, error_message, escape, section
from bot.kit.posting import SEND_FAILURES, slack_error
from bot.kit.reply import Replier
from bot.oms import OmsError
from bot.store import Store, StoreUnavailable
from bot.store import locks as lock_store
from bot.store import obligations as obligation_store
from bot.store import runs as run_store
from bot.store.audit import AuditEvent
from bot.store.obligations import Obligation
from bot.store.runs import RunRecord, StepChange, StepRecord

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)

StepState = Literal["pending", "running", "done", "failed", "skipped"]
RunEnd = Literal["done", "failed"]
NOTIFY_KEY = "_notify"  # run parameter: where else to post the result (an approval thread)
SYSTEM = "system"  # the actor of what the sweep does


@dataclass(frozen=True)
class StepFailure:
    text: str
    code: str | None = None


def _listed(owed: list[Obligation]) -> str:
    return "; ".join(o.what for o in owed)


def _combined(failures: list[StepFailure]) -> Failure | None:
    """The run's failure: every failed step's text (a batch may fail several), their codes."""
    if not failures:
        return None
    return Failure(
        "; ".join(f.text for f in failures), frozenset(f.code for f in failures if f.code)
    )


class RunEngine:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.instance_id = uuid.uuid4().hex[:12]
        self.runbooks: dict[str, Runbook] = {}
        # The message of each run executing here, refreshed off the steps' path (_update).
        self._shown: dict[str, LatestShown] = {}

    @property
    def lease(self) -> float:
        return self.host.run_lease

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
        run_id: str | None = None,
    ) -> RunRecord:
        """Record the run, take its order leases, post the checklist, run it in a task."""
        runbook = self.runbooks[runbook_name]
        run_id = run_id or uuid.uuid4().hex  # an approval names its run at the decision
        keys = runbook.order_keys(params)
        now = time.time()
        title = runbook.title(params)
        holder = await asyncio.to_thread(
            lock_store.acquire,
            self.host.store,
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
                self.host.store,
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
            await asyncio.to_thread(lock_store.release, self.host.store, run_id)
            raise
        await self._audit_run(run, actor, "started", f"started {title}")
        ts = await self._post(run, await self._steps(run.id), client, reply)
        if ts:
            await asyncio.to_thread(run_store.set_message, self.host.store, run.id, ts)
        self.host.tasks.spawn(
            self._execute(run.id, actor, client, reply, notify or []), name=f"run {title}"
        )
        self.host.changes.run(run.requested_by)
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

    async def get(self, run_id: str) -> RunRecord | None:
        return await asyncio.to_thread(run_store.get_run, self.host.store, run_id)

    async def _on_resume(self, click: Click) -> None:
        await self.resume(
            click.params["run_id"], actor=click.user_id, client=click.client, reply=click.reply
        )

    async def resume(
        self, run_id: str, *, actor: str, client: AsyncWebClient, reply: Replier
    ) -> None:
        run = await asyncio.to_thread(run_store.get_run, self.host.store, run_id)
        if run is None:
            await reply.safe_ephemeral(Message(text=f"Run {run_id} no longer exists."))
            return
        holder = await asyncio.to_thread(
            lock_store.acquire,
            self.host.store,
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
        # Only a run whose lease has really expired: an execution cut off from the database
        # may still be alive until then (it stops at its first failed heartbeat).
        generation = await asyncio.to_thread(
            run_store.claim_for_resume,
            self.host.store,
            run.id,
            self.instance_id,
            time.time(),
            self.lease,
        )
        if generation is None:
            await asyncio.to_thread(lock_store.release_unless_running, self.host.store, run.id)
            now = await asyncio.to_thread(run_store.get_run, self.host.store, run.id)
            state = now.state if now is not None else run.state
            text = f"“{run.title}” is not waiting to be resumed (it is {state})."
            if state in ("interrupted", "failed"):
                # Resumable, but its lease has not run out: an execution may still hold it.
                text = (
                    f"“{run.title}” may still be running somewhere: its lease has not run out. "
                    f"Try Resume again in {self.lease:.0f} seconds."
                )
            await reply.safe_ephemeral(Message(text=text))
            return
        await self._audit_run(run, actor, "resumed", f"resumed {run.title}")
        notify = [(str(c), str(t) if t else None) for c, t in run.params.get(NOTIFY_KEY, [])]
        self.host.tasks.spawn(
            self._execute(run.id, actor, client, reply, notify, generation),
            name=f"resume {run.title}",
        )
        self.host.changes.run(run.requested_by)

    # ---- running ------------------------------------------------------------------------

    async def _execute(
        self,
        run_id: str,
        actor: str,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]],
        generation: int = 1,
    ) -> None:
        store = self.host.store
        lease = RunLease(store, run_id, self.instance_id, generation)
        beat = asyncio.get_running_loop().create_task(self._heartbeat(lease, reply))
        run: RunRecord | None = None
        started = time.monotonic()
        shown = self._shown[run_id] = LatestShown(
            lambda: self._show(run_id, reply), name=f"progress of run {run_id}"
        )
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
            ctx = RunContext(
                run=run,
                tools=self.host,
                actor=actor,
                references=runbook.audit_keys(run.params, list(run.order_keys)),
                lease=lease,
            )
            steps = runbook.steps(run.params)
            # What an earlier execution changed and did not put back comes first: a resumed
            # step then starts from the state before the run, not from what a crash left.
            failures = await self._put_back(ctx, reply)
            records = await asyncio.to_thread(run_store.get_steps, store, run_id)
            # Nothing runs while something owed could not be put back.
            ended: StepChange | None = None  # recorded with the next step's start
            for idx, step in enumerate([] if failures else steps):
                if records[idx].state in ("done", "skipped"):
                    continue
                ended, failed = await self._run_step(ctx, idx, step, client, reply, ended)
                if failed is not None:
                    failures.append(failed)
                    if step.stop_on_failure:
                        break
            if ended is not None:
                await self._set_steps(ctx, [ended])
                await self._update(run_id, client, reply)
            failure = _combined(failures)
            owed = await asyncio.to_thread(obligation_store.open_for, store, run_id)
            if owed:
                # A run never ends "finished" while it still owes the OMS something.
                note = (
                    f"Not yet put back: {_listed(owed)}; Resume puts it back first (the bot "
                    "also retries on its own)"
                )
                failure = Failure(
                    f"{failure.text}. {note}" if failure else note,
                    failure.codes if failure else frozenset(),
                )
            outcome = None
            if failure is None and runbook.outcome is not None:
                outcome = await runbook.outcome(ctx)
            elif failure is not None and runbook.on_failure is not None:
                outcome = await runbook.on_failure(ctx, failure)
            state: RunEnd = "failed" if failure else "done"
            lease.ensure()
            closed = await asyncio.to_thread(
                run_store.finish_run,
                store,
                run_id,
                state=state,
                result={"summary": outcome.summary} if outcome else None,
                error=failure.text if failure else None,
                now=time.time(),
                generation=generation,
            )
            if not closed:  # its locks then stay: they are the new execution's
                lease.lose("the run was taken over by another execution")
                lease.ensure()
            final = await asyncio.to_thread(run_store.get_run, store, run_id)
            assert final is not None
            await shown.settle()  # every progress state before the final one
            await self._finish_message(final, runbook, outcome, client, reply, notify)
            await self._audit_run(
                final,
                actor,
                "ok" if state == "done" else "failed",
                outcome.summary if outcome else (failure.text if failure else state),
                keys=ctx.audit_keys,
            )
            self._finished(final, state, time.monotonic() - started)
        except LeaseLost as lost:
            # Another execution may hold the run now: nothing of it is ours to write (not its
            # steps, its end, or its locks, which a resumed run shares).
            log.warning("run %s stopped, its lease lost: %s", run_id, lost.reason)
            await self._tell_lost(lease, reply)
        except StoreUnavailable as exc:
            # The run's state cannot be written; stop here. Once the database is back the
            # sweep marks it interrupted and its message offers Resume.
            lease.lose(f"the bot's database is unavailable ({exc})", unreachable=True)
            log.error("run %s stopped: %s", run_id, exc)
            if lease.told:
                return
            lease.told = True
            await reply.safe_ephemeral(
                error_message(
                    "The run stopped: the bot's database is unavailable",
                    str(exc),
                    "Nothing more will be changed. When the database is back, the run's "
                    "message shows it as interrupted with a Resume button.",
                )
            )
        finally:
            await _stop_heartbeat(beat, lease)
            if self._shown.get(run_id) is shown:
                del self._shown[run_id]
            await shown.aclose()

    async def _run_step(
        self,
        ctx: RunContext,
        idx: int,
        step: Step,
        client: AsyncWebClient,
        reply: Replier,
        ended: StepChange | None,
    ) -> tuple[StepChange, StepFailure | None]:
        """Record the step before it as `ended` and this one running (one trip to the
        database), run it, and return its end, to be recorded with the next step's start,
        and its failure (None when it succeeded or was skipped). LeaseLost (the run is no
        longer this execution's) goes up: nothing more is written.

        The record goes on while the step's first reads are out: the step waits for it
        before it writes anything (RunContext.step_recorded), and returns only once it is
        in. A crash before it is in leaves the run as a crash at the previous step's end
        did: this step had written nothing."""
        run_id = ctx.run.id
        changes = [*([ended] if ended else []), StepChange(idx, "running")]
        recorded = asyncio.ensure_future(self._record_start(ctx, changes, client, reply))
        recorded.add_done_callback(_outcome_taken)
        ctx.step_recorded = recorded
        failure: StepFailure | None = None
        state: StepState
        ctx.progress_hook = lambda note: self._step_progress(ctx, idx, note, client, reply)
        try:
            try:
                detail = await step.run(ctx)
                state = "done"
            except LeaseLost:
                raise
            except StepSkipped as skip:
                detail, state = skip.detail, "skipped"
            except StepFailed as exc:
                detail, state, failure = str(exc), "failed", StepFailure(str(exc), exc.code)
            except NotConfigured as exc:
                detail, state, failure = str(exc), "failed", StepFailure(str(exc))
            except OmsError as exc:
                detail = f"The OMS call “{exc.operation}” failed: {exc.message}"
                state, failure = "failed", StepFailure(detail)
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("step %r of run %s crashed", step.name, run_id)
                detail = "oms-bot hit an internal error in this step; the details are logged."
                state, failure = "failed", StepFailure(detail)
        finally:
            ctx.step_recorded = None
            if not recorded.done():  # nothing of this step goes on after it
                await asyncio.wait({recorded})
        recorded.result()  # a record that failed (lease lost, database away) comes first
        return StepChange(idx, state, detail), failure

    async def _record_start(
        self, ctx: RunContext, changes: list[StepChange], client: AsyncWebClient, reply: Replier
    ) -> None:
        await self._set_steps(ctx, changes)
        await self._update(ctx.run.id, client, reply)

    async def _set_steps(self, ctx: RunContext, changes: list[StepChange]) -> None:
        """Record step states, only while this execution holds the run (LeaseLost if not)."""
        lease = ctx.lease
        if lease is not None:
            lease.ensure()
        changed = await asyncio.to_thread(
            run_store.set_steps,
            self.host.store,
            ctx.run.id,
            changes,
            now=time.time(),
            generation=lease.generation if lease is not None else None,
        )
        if not changed and lease is not None:
            lease.lose("the run was taken over by another execution")
            lease.ensure()

    async def _heartbeat(self, lease: RunLease, reply: Replier) -> None:
        """Renew the run's lease every third of it. The first renewal that fails ends the
        execution's hold: it is told to stop (no more writes) and the user is told why."""
        store = self.host.store
        while True:
            await asyncio.sleep(self.lease / 3)
            reason: str | None = None
            unreachable = False
            try:
                now = time.time()
                alive = await asyncio.to_thread(
                    run_store.heartbeat, store, lease.run_id, lease.owner, now, lease.generation
                )
                if alive:
                    await asyncio.to_thread(
                        lock_store.renew, store, lease.run_id, now=now, lease=self.lease
                    )
                else:
                    reason = "it was taken over by another execution, or marked interrupted"
            except StoreUnavailable as exc:
                log.warning("heartbeat of run %s failed: %s", lease.run_id, exc)
                reason = f"the bot's database could not be reached to renew its lease ({exc})"
                unreachable = True
            if reason is not None:
                lease.lose(reason, unreachable=unreachable)
                await self._tell_lost(lease, reply)
                return

    async def _tell_lost(self, lease: RunLease, reply: Replier) -> None:
        """Tell the requester, once, that the run stopped for want of its lease."""
        if lease.told or lease.lost is None:
            return
        lease.told = True
        lease.teller = asyncio.current_task()
        log.error("run %s lost its lease: %s", lease.run_id, lease.lost)
        title = (
            "The run stopped: the bot's database is unavailable"
            if lease.unreachable
            else "The run stopped: it lost its lease"
        )
        await reply.safe_ephemeral(
            error_message(
                title,
                lease.lost,
                "Without its lease the run makes no more changes in the OMS (a change under "
                "way is finished and put back), so it lost its lease and stopped here. Once "
                "the database is back and the lease has run out, the run's message shows it "
                "as interrupted: press Resume there to continue from the first unfinished "
                "step.",
            )
        )

    # ---- what a run owes ----------------------------------------------------------------

    async def _put_back(self, ctx: RunContext, reply: Replier) -> list[StepFailure]:
        """Put back every original the run still owes (an earlier execution changed it and
        did not restore it), saying so in the run's thread and the audit; the failures of
        those that could not be put back (then nothing else runs)."""
        owed = await asyncio.to_thread(obligation_store.open_for, self.host.store, ctx.run.id)
        failures: list[StepFailure] = []
        for obligation in owed:
            restore = restorer_for(obligation.kind)
            try:
                if restore is None:
                    raise StepFailed(f"oms-bot has no way to put back {obligation.kind}")
                note = await restore(ctx, obligation.payload)
            except LeaseLost:
                raise
            except (StepFailed, OmsError) as exc:
                why = exc.message if isinstance(exc, OmsError) else str(exc)
                failures.append(StepFailure(f"Could not put back {obligation.what}: {why}"))
                continue
            except StoreUnavailable:
                raise
            except Exception:
                # A restorer's own bug must not end the sweep that repairs every other run:
                # this obligation stays owed, and the run does not go on.
                log.exception("putting back %s of run %s crashed", obligation.kind, ctx.run.id)
                failures.append(
                    StepFailure(
                        f"Could not put back {obligation.what}: oms-bot hit an internal "
                        "error; the details are logged"
                    )
                )
                continue
            await asyncio.to_thread(
                obligation_store.settle,
                self.host.store,
                ctx.run.id,
                obligation.key,
                note=note,
                now=time.time(),
            )
            summary = f"Put back {obligation.what} as before the run: {note}"
            await self._audit_run(ctx.run, ctx.actor, "restored", summary, keys=ctx.audit_keys)
            await self._say_in_thread(ctx.run, reply, f":leftwards_arrow_with_hook: {summary}")
        return failures

    async def _say_in_thread(self, run: RunRecord, reply: Replier, text: str) -> None:
        message = Message(text=text, blocks=[section(escape(text))])
        try:
            await reply.post(message, thread_ts=run.message_ts)
        except SEND_FAILURES as exc:
            log.warning("could not tell run %s's thread: %s", run.id, slack_error(exc))

    async def repair_abandoned(self, client: AsyncWebClient) -> list[str]:
        """Put back what abandoned runs (interrupted, or failed before they could restore)
        still owe: each taken like a Resume (its locks, a new lease generation), given back
        in its state after. The ids of the runs repaired."""
        store = self.host.store
        now = time.time()
        owing = await asyncio.to_thread(
            obligation_store.abandoned_owing,
            store,
            ended_before=now - self.lease,
            runbooks=list(self.runbooks),
        )
        repaired = []
        for run_id in owing:
            run = await asyncio.to_thread(run_store.get_run, store, run_id)
            if run is None or run.runbook not in self.runbooks:
                continue
            holder = await asyncio.to_thread(
                lock_store.acquire,
                store,
                list(run.order_keys),
                run_id=run.id,
                holder=run.requested_by,
                what=run.title,
                now=time.time(),
                lease=self.lease,
            )
            if holder is not None:
                continue  # another run holds what it would put back: try at the next sweep
            generation = await asyncio.to_thread(
                run_store.claim_for_repair,
                store,
                run.id,
                self.instance_id,
                time.time(),
                self.lease,
                state=run.state,  # given back in it after (release_repair)
            )
            if generation is None:  # resumed, or repaired by another replica
                await asyncio.to_thread(lock_store.release_unless_running, store, run.id)
                continue
            if await self._repair(run, generation, client):
                repaired.append(run.id)
        return repaired

    async def _repair(self, run: RunRecord, generation: int, client: AsyncWebClient) -> bool:
        store = self.host.store
        reply = self._replier(run, client)
        lease = RunLease(store, run.id, self.instance_id, generation)
        beat = asyncio.get_running_loop().create_task(self._heartbeat(lease, reply))
        runbook = self.runbooks[run.runbook]
        ctx = RunContext(
            run=run,
            tools=self.host,
            actor=SYSTEM,
            references=runbook.audit_keys(run.params, list(run.order_keys)),
            lease=lease,
        )
        try:
            failures = await self._put_back(ctx, reply)
            for failure in failures:
                log.warning("run %s: %s", run.id, failure.text)
            lease.ensure()
            await asyncio.to_thread(
                run_store.release_repair,
                store,
                run.id,
                self.instance_id,
                generation,
                run.state,
                time.time(),
            )  # with its locks, while it is still the repair's
            return not failures
        except LeaseLost as lost:
            log.warning("repair of run %s stopped, its lease lost: %s", run.id, lost.reason)
            return False
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    def _replier(self, run: RunRecord, client: AsyncWebClient) -> Replier:
        """A way to speak in a run's channel with no request to answer (sweeps)."""
        return Replier(
            client,
            channel_id=run.channel_id,
            user_id=run.requested_by,
            response_url=None,
            session=self.host.http_session(),
            updates=self.host.updates,
        )

    # ---- interrupted runs ---------------------------------------------------------------

    async def sweep(self, client: AsyncWebClient) -> list[RunRecord]:
        """Mark runs whose process died as interrupted and offer Resume on their message;
        then put back what abandoned runs still owe the OMS."""
        stale = await asyncio.to_thread(
            run_store.interrupt_stale, self.host.store, now=time.time(), lease=self.lease
        )
        for run in stale:
            await self._audit_run(
                run, "system", "interrupted", f"{run.title} was interrupted (its process stopped)"
            )
            self.host.changes.run(run.requested_by)
            reply = self._replier(run, client)
            runbook = self.runbooks.get(run.runbook)
            message = await render_run(
                run, await self._steps(run.id), None, runbook, self.host.actions
            )
            try:
                if run.message_ts:
                    await reply.update(run.message_ts, message)
                else:
                    await reply.post(message)
            except SlackApiError as exc:
                log.warning(
                    "could not show run %s as interrupted: %s", run.id, exc.response.get("error")
                )
        # The runs just interrupted were last heard of a lease ago: they owe at once.
        await self.repair_abandoned(client)
        return stale

    # ---- the message ----------------------------------------------------------------------

    async def _steps(self, run_id: str) -> list[StepRecord]:
        return await asyncio.to_thread(run_store.get_steps, self.host.store, run_id)

    async def _post(
        self, run: RunRecord, steps: list[StepRecord], client: AsyncWebClient, reply: Replier
    ) -> str | None:
        message = await render_run(run, steps, None, self.runbooks[run.runbook], self.host.actions)
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
                        context(_why_not_posted(exc)),
                    ],
                )
            )
            return None

    async def _update(self, run_id: str, client: AsyncWebClient, reply: Replier) -> None:
        """Show the run's newest state in its message: off the steps' path while the run
        executes here (the next step's calls need not wait for the reads and the render),
        at once otherwise."""
        shown = self._shown.get(run_id)
        if shown is not None:
            shown.request()
            return
        await self._show(run_id, reply)

    async def _show(self, run_id: str, reply: Replier) -> None:
        try:
            found = await asyncio.to_thread(_run_and_steps, self.host.store, run_id)
        except StoreUnavailable as exc:
            # The step's own writes meet the outage too and stop the run; this state is moot.
            log.warning("progress of run %s not shown: %s", run_id, exc)
            return
        if found is None:
            return
        run, steps = found
        if not run.message_ts:
            return  # nothing posted to update (the run's card went to the user alone)
        if run.state != "running":
            # Read after the run ended: its final state (with the outcome) is what shows it.
            # Rendered here it would show the run ended without its result, for a moment.
            return
        message = await render_run(run, steps, None, self.runbooks[run.runbook], self.host.actions)
        try:
            # Coalesced: at most one update per interval, the newest state going last.
            await reply.progress(run.message_ts, message)
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
        message = await render_run(
            run, await self._steps(run.id), outcome, runbook, self.host.actions
        )
        delivered = False
        if run.message_ts:
            try:
                # After the progress update in flight, ahead of other runs' progress, 429s
                # waited out; raises only when Slack refuses it for good.
                await reply.update(run.message_ts, message)
                delivered = True
            except SEND_FAILURES as exc:  # Slack's refusal, or the network's
                log.warning(
                    "final update of run %s failed (%s); posting it anew", run.id, slack_error(exc)
                )
        if not delivered:
            try:
                await reply.post(message)
                delivered = True
            except SEND_FAILURES as exc:
                log.warning(
                    "could not post the result of run %s anew (%s); telling the requester",
                    run.id,
                    slack_error(exc),
                )
                delivered = await reply.safe_ephemeral(message)
        if not delivered:
            # Slack refused every way to show the result: the audit must say so, or the
            # trail would read as if the requester had seen it.
            await self._audit_run(
                run, "system", "failed", f"the result of {run.title} could not be shown in Slack"
            )
        summary = run_summary(run, outcome)
        for channel, thread_ts in notify:
            try:
                await client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=summary.text, blocks=summary.blocks
                )
            except SlackApiError as exc:
                log.warning("could not notify %s: %s", channel, exc.response.get("error"))

    async def _audit_run(
        self,
        run: RunRecord,
        actor: str,
        outcome: str,
        summary: str,
        keys: tuple[str, ...] | None = None,
    ) -> None:
        """Audit a run's start, resume, end or interruption under every reference of its
        orders (`keys`: what the steps learnt; else the leased keys and the references)."""
        if keys is None:
            runbook = self.runbooks.get(run.runbook)
            leased = list(run.order_keys)
            keys = tuple(runbook.audit_keys(run.params, leased) if runbook else leased)
        await self.host.audit.record(
            AuditEvent(
                kind=EventKind.RUN,
                actor=actor,
                outcome=outcome,
                summary=summary[:300],
                channel_id=run.channel_id,
                command=run.title,
                run_id=run.id,
                order_keys=keys,
                message_channel=run.channel_id,
                message_ts=run.message_ts,
            )
        )

    async def _step_progress(
        self, ctx: RunContext, idx: int, detail: str, client: AsyncWebClient, reply: Replier
    ) -> None:
        lease = ctx.lease
        if lease is not None:
            lease.ensure()
        changed = await asyncio.to_thread(
            run_store.set_step_detail,
            self.host.store,
            ctx.run.id,
            idx,
            detail,
            lease.generation if lease is not None else None,
        )
        if not changed and lease is not None:
            lease.lose("the run was taken over by another execution")
            lease.ensure()
        await self._update(ctx.run.id, client, reply)

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
        self.host.metrics.run_finished(run.runbook, state, seconds)
        self.host.changes.run(run.requested_by)


# How long a run that lost its lease lets its heartbeat finish telling the requester.
TELL_LOST_TIMEOUT = 10.0


def _outcome_taken(task: asyncio.Future[None]) -> None:
    """Take a step record's outcome, so a failure the step's own failure went ahead of is
    not logged as never retrieved (the step's failure is the one reported)."""
    if not task.cancelled():
        task.exception()


async def _stop_heartbeat(beat: asyncio.Task[None], lease: RunLease) -> None:
    """End a run's heartbeat. One that found the lease lost and is telling the requester why
    the run stopped (`told` is set, so the run does not tell it again) is let finish."""
    if lease.teller is beat and not beat.done():
        await asyncio.wait({beat}, timeout=TELL_LOST_TIMEOUT)
    beat.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beat


def _run_and_steps(store: Store, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
    """The run and its steps, read in one trip to the store's thread."""
    run = run_store.get_run(store, run_id)
    return None if run is None else (run, run_store.get_steps(store, run_id))


def _why_not_posted(exc: SlackApiError) -> str:
    """What the user is told when the run's message could not go to its channel: a rate
    limit that outlasted the waits is not a missing invite."""
    if exc.response.status_code == 429 or exc.response.get("error") == "ratelimited":
        return (
            "Slack is rate limiting me, so this run's messages could not go to the channel; "
            "you will get the result here."
        )
    return "I cannot post in this channel (invite me with `/invite`); you will get the result here."
