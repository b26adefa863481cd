"""The two-person rule for dangerous actions, as one generic mechanism.

A request is posted to the approvals channel with a preview computed from the live OMS
(current value -> new value for each thing it changes), the parameters, the requester and
the expiry, with Approve and Deny buttons. The requester can never approve; the approver must
hold an approver role at the moment of the click; an expired request cannot be approved. The
approval is bound to a hash of the parameters and of the previewed state: at execution the
preview is computed again, and if the OMS changed nothing runs and the approvers are told
what changed. The decision is one conditional UPDATE, so whatever the clicks and replicas,
at most one execution happens.

Only one identical request (same action, same parameters) waits at a time: asking again
points to the pending one. The request message always ends saying what became of it
(approved and started, approved but not run and why, denied, expired), and the requester is
told in a direct message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.contract import ActionSpec, ButtonSpec, Click
from bot.engine.dangerous import Approved, DangerousAction, NotStarted, Preview, digest
from bot.engine.policy import DEFAULT_APPROVER_ROLE
from bot.kit.blocks import (
    Block,
    Message,
    actions,
    chunk_lines,
    confirm_dialog,
    context,
    escape,
    fields,
    header,
    plain,
    section,
)
from bot.kit.durations import describe_duration, slack_time
from bot.kit.reply import Replier
from bot.oms import OmsError, OmsUnavailable
from bot.store import approvals as approval_store
from bot.store import runs as run_store
from bot.store.approvals import Approval
from bot.store.audit import AuditEvent
from bot.store.tokens import ActionToken

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)

APPROVE_ACTION = "approval.approve"
DENY_ACTION = "approval.deny"
DENY_REASON_VIEW = "oms:deny-reason"


@dataclass(frozen=True)
class Ending:
    """What became of a request, as its message shows it once it is closed."""

    title: str  # the header's first word(s): "Approved", "Not run", "Denied", "Expired"
    note: str  # mrkdwn: who decided, when, and what happened
    ran: bool = False  # whether the previewed change was made (the preview's heading)
    details: tuple[str, ...] = ()  # mrkdwn lines under the note (what changed in the OMS)


@dataclass(frozen=True)
class _Starter:
    """Who starts an approved request, and where to answer: the approver's click, or the
    recovery of a sweep (no one clicked: `reply` None, the approver named as its actor)."""

    user_id: str
    client: AsyncWebClient
    reply: Replier | None
    recovering: bool = False


class Approvals:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.kinds: dict[str, DangerousAction] = {}
        # The expiry timers of the requests this process posted (see `_close_when_expired`).
        self._expiry_timers: set[asyncio.Task[None]] = set()

    def add(self, action: DangerousAction) -> None:
        if action.name in self.kinds:
            raise ValueError(f"dangerous action {action.name!r} registered twice")
        self.kinds[action.name] = action

    def summary(self, approval: Approval) -> str:
        kind = self.kinds.get(approval.action)
        return kind.summary(approval.params) if kind else approval.action

    async def latest(
        self,
        action: str,
        matches: Callable[[dict[str, Any]], bool],
        *,
        states: tuple[str, ...] | None = None,
    ) -> Approval | None:
        return await asyncio.to_thread(
            approval_store.latest_approval, self.host.store, action, matches, states=states
        )

    def roles_for(self, name: str) -> tuple[str, ...] | None:
        """The approver roles for `name`, or None when it needs no second person."""
        configured = self.host.policy.approver_roles(name)
        if configured is not None:
            return configured
        action = self.kinds.get(name)
        return action.default_roles if action else None

    def action_specs(self) -> list[ActionSpec]:
        return [
            ActionSpec(
                name=APPROVE_ACTION,
                handler=self._on_approve,
                # Written the moment the press wins, before the decision: it must not claim an
                # outcome. The request message is rewritten once it is known (`_close`).
                pressed_note=lambda c: (
                    f"Checking the OMS before anything runs: Approve pressed by <@{c.user_id}>"
                ),
                denied_reason="You asked for this, so someone else must approve it.",
                expired_reason=self._expired_reason,
                consumed_reason=self._consumed_reason,
            ),
            ActionSpec(
                name=DENY_ACTION,
                handler=self._on_deny,
                pressed_note=lambda c: f"Deny pressed by <@{c.user_id}>",
                denied_reason="You asked for this; to withdraw it, let it expire or ask an "
                "approver to deny it.",
                expired_reason=self._expired_reason,
                consumed_reason=self._consumed_reason,
            ),
        ]

    # ---- requesting -----------------------------------------------------------------------

    async def request(
        self,
        name: str,
        params: dict[str, Any],
        *,
        requester: str,
        channel_id: str,
        client: AsyncWebClient,
        reply: Replier,
    ) -> Approval:
        action = self.kinds[name]
        roles = self.roles_for(name) or (DEFAULT_APPROVER_ROLE,)
        policy = self.host.policy
        preview = await action.preview(self.host, params)
        approvals_channel = policy.approvals_channel or channel_id
        now = time.time()
        approval, created = await asyncio.to_thread(
            approval_store.create_unless_pending,
            self.host.store,
            action=name,
            params=params,
            params_hash=digest(params),
            preview=preview.as_json(),
            preview_hash=preview.digest(),
            requested_by=requester,
            requested_channel=channel_id,
            approvals_channel=approvals_channel,
            approver_role="|".join(roles),
            expires_at=now + policy.approval_expiry_seconds,
            now=now,
        )
        if not created:
            await self._already_pending(approval, requester, reply)
            return approval
        _, buttons = await self.host.actions.buttons(
            [
                ButtonSpec(
                    "Approve",
                    APPROVE_ACTION,
                    {"approval_id": approval.id},
                    style="primary",
                    allowed_role="|".join(roles),
                    denied_users=(requester,),
                    confirm=confirm_dialog(
                        "Approve and run?", action.summary(params), "Approve and run"
                    ),
                ),
                ButtonSpec(
                    "Deny",
                    DENY_ACTION,
                    {"approval_id": approval.id},
                    style="danger",
                    allowed_role="|".join(roles),
                    denied_users=(requester,),
                ),
            ],
            created_by=requester,
            channel_id=approvals_channel,
            ttl=policy.approval_expiry_seconds,
            group_key=f"approval:{approval.id}",
        )
        message = self._request_message(approval, action, preview, buttons)
        try:
            resp = await client.chat_postMessage(
                channel=approvals_channel, text=message.text, blocks=message.blocks
            )
        except SlackApiError:
            # No approver can see it: withdraw it, so it does not block asking again.
            await asyncio.to_thread(
                approval_store.withdraw, self.host.store, approval.id, now=time.time()
            )
            raise
        await asyncio.to_thread(
            approval_store.set_request_message, self.host.store, approval.id, str(resp["ts"])
        )
        await self._audit(
            approval,
            requester,
            EventKind.APPROVAL_REQUEST,
            "pending",
            f"asked for approval: {action.summary(params)}",
            detail={"params": params, "preview": preview.as_json()},
            ts=str(resp["ts"]),
        )
        self._close_when_expired(approval)
        self.host.changes.approval(approval.requested_by, approval.approver_role)
        where = "here" if approvals_channel == channel_id else f"in <#{approvals_channel}>"
        await reply.ephemeral(
            Message(
                text=f"Approval requested {where}",
                blocks=[
                    section(
                        f":raised_hand: *{escape(action.summary(params))}* needs a second person. "
                        f"I asked for approval {where}; it expires at "
                        f"{slack_time(approval.expires_at)}. Nothing runs until someone holding "
                        f"the {' or '.join(roles)} role approves it. I will tell you in a direct "
                        "message when it is approved, denied or expires."
                    )
                ],
            ),
            replace=True,
        )
        return approval

    async def _already_pending(self, approval: Approval, requester: str, reply: Replier) -> None:
        """An identical request is waiting: point to it instead of asking the approvers twice."""
        summary = self.summary(approval)
        link = await self.host.message_link(approval.approvals_channel, approval.request_message_ts)
        where = (
            f"<{link}|the request>" if link else f"the request in <#{approval.approvals_channel}>"
        )
        who = (
            "You asked for it"
            if approval.requested_by == requester
            else f"<@{approval.requested_by}> asked for it"
        )
        text = (
            f":hourglass_flowing_sand: *{escape(summary)}* is already waiting for approval: "
            f"{who} at {slack_time(approval.created_at)}, and it expires at "
            f"{slack_time(approval.expires_at)}. Nothing new was asked; see {where}."
        )
        await reply.ephemeral(
            Message(text=f"Already waiting for approval: {summary}", blocks=[section(text)]),
            replace=True,
        )

    def _request_message(
        self,
        approval: Approval,
        action: DangerousAction,
        preview: Preview,
        buttons: list[Block],
        ending: Ending | None = None,
    ) -> Message:
        """The request as the approvers see it: open (with buttons) or closed (`ending`)."""
        params = approval.params
        summary = action.summary(params)
        lines = [
            f"• {escape(ln.what)}: `{escape(ln.current)}` → `{escape(ln.new)}`"
            for ln in preview.lines
        ] or ["• (nothing to change)"]
        if ending is None:
            title, heading = "Approval needed", "*What will change*"
        elif ending.ran:
            title, heading = ending.title, "*What it changes* (as previewed)"
        else:
            title, heading = ending.title, "*What it would have changed* (as previewed; not done)"
        parameters = [
            f"• {escape(label)}: {escape(value)}" for label, value in action.parameters(params)
        ]
        blocks: list[Block] = [
            header(f"{title}: {summary}"),
            fields(
                [
                    ("Requested by", f"<@{approval.requested_by}>"),
                    # Once closed, the ending says when it was decided or expired.
                    *([("Expires", slack_time(approval.expires_at))] if ending is None else []),
                    ("Approver role", " or ".join(approval.approver_role.split("|"))),
                ]
            ),
        ]
        if parameters:
            blocks += [section(c) for c in chunk_lines(["*Parameters*", *parameters])]
        blocks += [section(chunk) for chunk in chunk_lines([heading, *lines])]
        if ending is None:
            blocks.append(section(f"*What it means:* {escape(action.consequences(params))}"))
            blocks += [context(escape(note)) for note in preview.notes[:5]]
            blocks.append(actions(buttons))
        else:
            blocks += [section(c) for c in chunk_lines([ending.note, *ending.details])]
        return Message(text=f"{title}: {summary}", blocks=blocks)

    async def _close(self, approval: Approval, client: AsyncWebClient, ending: Ending) -> None:
        """Rewrite the request message to say what became of it, without buttons."""
        if not approval.request_message_ts:
            return
        action = self.kinds.get(approval.action)
        if action is None:
            return
        stored = approval.preview if isinstance(approval.preview, dict) else {}
        message = self._request_message(approval, action, Preview.from_json(stored), [], ending)
        try:
            await client.chat_update(
                channel=approval.approvals_channel,
                ts=approval.request_message_ts,
                text=message.text,
                blocks=message.blocks,
            )
        except SlackApiError as exc:
            log.warning(
                "could not close approval %s: %s", approval.id[:8], exc.response.get("error")
            )

    async def _tell_requester(
        self, approval: Approval, client: AsyncWebClient, text: str, line: str
    ) -> None:
        """Tell the requester what became of their request, in a direct message from the bot.

        Why a DM: the request was a slash command, whose reply is ephemeral, so there is no
        message of theirs to thread under, and an ephemeral note is gone after a reload and
        never notifies. A decision can come many minutes later, when the requester is
        elsewhere: a DM notifies them wherever they are and stays readable. If the DM cannot be
        sent (the workspace blocks app DMs), an ephemeral note where they asked is the
        fallback.
        """
        link = await self.host.message_link(approval.approvals_channel, approval.request_message_ts)
        body = line + (f" <{link}|See the request.>" if link else "")
        message = Message(text=text, blocks=[section(body)])
        try:
            await client.chat_postMessage(
                channel=approval.requested_by, text=message.text, blocks=message.blocks
            )
            return
        except SlackApiError as exc:
            log.info("no DM to the requester: %s", exc.response.get("error"))
        await self._requester_reply(approval, client).safe_ephemeral(message)

    # ---- deciding -------------------------------------------------------------------------

    async def _on_approve(self, click: Click) -> None:
        approval_id = str(click.params["approval_id"])
        decided = await self._decide(click, approval_id, "approved")
        if decided is None:
            return
        action = self.kinds[decided.action]
        await self._audit(
            decided,
            click.user_id,
            EventKind.APPROVAL_DECISION,
            "approved",
            f"approved: {action.summary(decided.params)}",
        )
        await self._start(decided, _Starter(click.user_id, click.client, click.reply))

    async def _start(self, decided: Approval, by: _Starter) -> None:
        """Re-check an approved request against the OMS and start it, or say why not.

        Shared by the click that approved it and by the recovery of a request approved by a
        process that died before its run started (`sweep_unstarted`)."""
        action = self.kinds[decided.action]
        try:
            if digest(decided.params) != decided.params_hash:
                await self._stop(decided, by, ["the stored parameters do not match their hash"])
                return
            fresh = await action.preview(self.host, decided.params)
            if fresh.digest() != decided.preview_hash:
                changes = _differences(Preview.from_json(decided.preview), fresh)
                await self._stop(decided, by, changes)
                return
            # Still ours? A start held past its time may have been taken over by a replica's
            # recovery: then that one starts it, and this one must not.
            now = time.time()
            held = await asyncio.to_thread(
                approval_store.claim_start,
                self.host.store,
                decided.id,
                now=now,
                until=now + self._start_lease,
                held=decided.start_until,
                run_id=uuid.uuid4().hex,
            )
            if held is None:
                log.info("approval %s is being started elsewhere", decided.id[:8])
                return
            origin = self._requester_reply(held, by.client)
            started = await action.execute(
                Approved(held, by.user_id, by.client, origin, self.host, run_id=held.start_run_id)
            )
        except OmsError as exc:
            if by.recovering and isinstance(exc, OmsUnavailable) and self._may_retry(decided):
                # The OMS is down now: the hold runs out and the next sweep tries again.
                log.info("approval %s not started yet: %s", decided.id[:8], exc)
                return
            # The request must not stay "approved" with a message that promises the change.
            await self._not_started(decided, by, action, _failure(exc))
            return
        except Exception as exc:
            if await self._run_recorded(decided):
                # Its run exists: another start of the same request (a replica's recovery
                # after this one's hold ran out) got there first and reports it.
                log.warning("approval %s: a second start failed: %r", decided.id[:8], exc)
                return
            # The same; the click pipeline logs it and tells the approver it failed.
            await self._not_started(decided, by, action, _failure(exc))
            raise
        if isinstance(started, NotStarted):
            await self._not_started(decided, by, action, started.reason)
            return
        await self._started(held, by, action, started)

    async def _started(
        self, decided: Approval, by: _Starter, action: DangerousAction, run: str
    ) -> None:
        """The request's run exists: mark it executed, and say so where it was asked (only
        by the one that marks it: a replica recovering the same start says nothing twice)."""
        marked = await asyncio.to_thread(
            approval_store.mark,
            self.host.store,
            decided.id,
            "executed",
            now=time.time(),
            run_id=run,
        )
        if not marked:
            log.info("approval %s was already recorded as started", decided.id[:8])
            return
        late = " after a restart of oms-bot" if by.recovering else ""
        await self._audit(
            decided,
            by.user_id,
            EventKind.APPROVAL_DECISION,
            "ok",
            f"executed{late}: {action.summary(decided.params)}",
            run_id=run,
        )
        approved = _decided_by(decided, "Approved")
        await self._close(
            decided,
            by.client,
            Ending(
                "Approved",
                f":white_check_mark: {approved}, and it started{late} (run `{run[:8]}`); its "
                "progress and result follow in this thread.",
                ran=True,
            ),
        )
        if by.recovering:
            message = Message(
                text="Started after a restart of oms-bot",
                blocks=[
                    section(
                        ":arrow_forward: oms-bot stopped between this approval and the start of "
                        "its run. It checked the OMS again, found it unchanged since the "
                        f"preview, and started it now (run `{run[:8]}`)."
                    )
                ],
            )
            await self._tell_approvers(decided, by, message)
        await self._tell_requester(
            decided,
            by.client,
            f"Your request was approved: {action.summary(decided.params)}",
            f":white_check_mark: <@{by.user_id}> approved your request "
            f"*{escape(action.summary(decided.params))}*; it started{late}, and its result is "
            f"posted in <#{decided.requested_channel}>.",
        )

    async def _run_recorded(self, approval: Approval) -> bool:
        """Whether the run the request starts as is recorded (it did start, by whoever)."""
        found = await asyncio.to_thread(approval_store.get_approval, self.host.store, approval.id)
        run_id = found.start_run_id if found is not None else None
        if run_id is None:
            return False
        return await asyncio.to_thread(run_store.get_run, self.host.store, run_id) is not None

    @property
    def _start_lease(self) -> float:
        """How long the one starting an approved request holds it before another may."""
        return self.host.run_lease

    def _may_retry(self, approval: Approval) -> bool:
        """Whether an approved request may still be started late (else it is reported)."""
        decided = approval.decided_at or approval.created_at
        return time.time() - decided < self.host.policy.approval_expiry_seconds

    async def sweep_unstarted(self, client: AsyncWebClient) -> int:
        """Approved requests whose run never started (the process that approved them died,
        or the OMS was down): each is started now, after its preview is checked again, or
        reported as not run, with the reason, to the requester and in the approvers' thread.
        Returns how many it took up."""
        now = time.time()
        due = await asyncio.to_thread(approval_store.unstarted_due, self.host.store, now=now)
        handled = 0
        for found in due:
            if found.action not in self.kinds:
                continue
            # Each claim on the clock of its own time: a long recovery before it must not
            # hand this one a hold that has already run out.
            now = time.time()
            claimed = await asyncio.to_thread(
                approval_store.claim_start,
                self.host.store,
                found.id,
                now=now,
                until=now + self._start_lease,
                run_id=uuid.uuid4().hex,
            )
            if claimed is None:
                continue  # another replica has it
            handled += 1
            by = _Starter(claimed.decided_by or "system", client, None, recovering=True)
            try:
                await self._recover(claimed, by)
            except Exception:
                log.exception(
                    "recovery of approval %s failed; the next sweep tries again", found.id[:8]
                )
        return handled

    async def _recover(self, approval: Approval, by: _Starter) -> None:
        action = self.kinds[approval.action]
        run_id = approval.start_run_id
        run = (
            await asyncio.to_thread(run_store.get_run, self.host.store, run_id) if run_id else None
        )
        if run is not None:
            # It did start: the process died after the run was recorded, before it said so.
            await self._started(approval, by, action, run.id)
            return
        if not self._may_retry(approval):
            late = describe_duration(self.host.policy.approval_expiry_seconds)
            await self._not_started(
                approval,
                by,
                action,
                "oms-bot stopped (or the OMS was unreachable) between the approval and the "
                f"start, and an approval is not started more than {late} after it was given",
            )
            return
        await self._start(approval, by)

    async def _not_started(
        self, approval: Approval, by: _Starter, action: DangerousAction, reason: str
    ) -> None:
        """Approved, but it did not start (`reason`, mrkdwn): an order busy with another run
        (possibly on another replica), or a failure before the start. The request must not
        read as executed, and neither the approver nor the requester may think it runs."""
        reason = reason.rstrip(". ")  # it ends sentences below
        marked = await asyncio.to_thread(
            approval_store.mark, self.host.store, approval.id, "failed", now=time.time()
        )
        if not marked:
            # It left "approved" meanwhile (another replica started it): that one reports.
            log.info("approval %s is no longer waiting to start", approval.id[:8])
            return
        summary = action.summary(approval.params)
        await self._audit(
            approval,
            by.user_id,
            EventKind.APPROVAL_DECISION,
            "failed",
            f"not started: {summary}",
        )
        note = (
            f":no_entry: {_decided_by(approval, 'Approved')}, but nothing ran: it could not "
            f"start. {reason}. <@{approval.requested_by}> can ask again once that is resolved."
        )
        await self._close(approval, by.client, Ending("Not run", note))
        text = (
            f"Approved by <@{by.user_id}>, but *{escape(summary)}* did not start: {reason}. "
            f"Nothing ran; <@{approval.requested_by}> was told why and can ask again."
        )
        message = Message(text="Nothing ran: the action could not start", blocks=[section(text)])
        await self._tell_approvers(approval, by, message)
        await self._tell_requester(
            approval,
            by.client,
            f"Approved, but nothing ran: {summary}",
            f":no_entry: <@{by.user_id}> approved your request *{escape(summary)}*, but "
            f"nothing ran: it could not start. {reason}. Ask again once that is resolved.",
        )

    async def _stop(self, approval: Approval, by: _Starter, changes: list[str]) -> None:
        await asyncio.to_thread(
            approval_store.mark, self.host.store, approval.id, "stale", now=time.time()
        )
        listed = [f"• {escape(c)}" for c in changes]
        text = (
            "The OMS changed since this request was previewed, so nothing ran. "
            "Ask again to see the new state.\n" + "\n".join(listed)
        )
        await self._audit(
            approval,
            by.user_id,
            EventKind.APPROVAL_DECISION,
            "stale",
            "not executed: the OMS state changed",
            detail={"changes": changes},
        )
        summary = self.summary(approval)
        note = (
            f":no_entry: {_decided_by(approval, 'Approved')}, but nothing ran: the OMS changed "
            f"since the preview. <@{approval.requested_by}> can ask again to see the new state."
        )
        await self._close(
            approval, by.client, Ending("Not run", note, details=("*What changed*", *listed))
        )
        message = Message(text="Nothing ran: the OMS state changed", blocks=[section(text)])
        await self._tell_approvers(approval, by, message)
        await self._tell_requester(
            approval,
            by.client,
            f"Approved, but nothing ran: {summary}",
            f":no_entry: <@{by.user_id}> approved your request *{escape(summary)}*, but "
            "nothing ran: the OMS changed since the preview. Ask again to see the new state.\n"
            + "\n".join(listed),
        )

    async def _tell_approvers(self, approval: Approval, by: _Starter, message: Message) -> None:
        """Post in the request's thread (where approvers look) and tell whoever clicked."""
        if approval.request_message_ts:
            try:
                await by.client.chat_postMessage(
                    channel=approval.approvals_channel,
                    thread_ts=approval.request_message_ts,
                    text=message.text,
                    blocks=message.blocks,
                )
            except SlackApiError as exc:
                log.warning("could not tell approvers: %s", exc.response.get("error"))
        if by.reply is not None:
            await by.reply.safe_ephemeral(message)

    async def _decide(
        self, click: Click, approval_id: str, decision: Literal["approved", "denied"]
    ) -> Approval | None:
        """The exactly-once point: one conditional UPDATE; the loser is told why."""
        now = time.time()
        decided = await asyncio.to_thread(
            approval_store.decide,
            self.host.store,
            approval_id,
            decision=decision,
            by=click.user_id,
            now=now,
            # Decided and to be started are one unit: the run is named now, and this process
            # holds its start for a lease; if it dies first, a sweep takes it up.
            start_run_id=uuid.uuid4().hex if decision == "approved" else None,
            start_until=now + self._start_lease if decision == "approved" else None,
        )
        if decided is None:
            await click.reply.safe_ephemeral(await self._why_undecided(approval_id, click))
        else:
            self._waited(
                decided, decision, (decided.decided_at or time.time()) - decided.created_at
            )
            self.host.changes.approval(decided.requested_by, decided.approver_role)
        return decided

    def _requester_reply(self, approval: Approval, client: AsyncWebClient) -> Replier:
        """Answers the requester where they asked (their slash command's URL is long used)."""
        return Replier(
            client,
            channel_id=approval.requested_channel,
            user_id=approval.requested_by,
            response_url=None,
            session=self.host.http_session(),
            updates=self.host.updates,
        )

    async def _on_deny(self, click: Click) -> None:
        approval_id = str(click.params["approval_id"])
        decided = await self._decide(click, approval_id, "denied")
        if decided is None:
            return
        await self._audit(
            decided,
            click.user_id,
            EventKind.APPROVAL_DECISION,
            "denied",
            f"denied: {self.kinds[decided.action].summary(decided.params)}",
        )
        if click.trigger_id:
            try:
                await click.client.views_open(
                    trigger_id=click.trigger_id, view=deny_reason_view(approval_id)
                )
            except SlackApiError as exc:
                log.info("no reason modal: %s", exc.response.get("error"))
        summary = self.summary(decided)
        await self._close(decided, click.client, _denied(decided))
        await self._tell_requester(
            decided,
            click.client,
            f"Your request was denied by <@{click.user_id}>",
            f":no_entry_sign: <@{click.user_id}> denied *{escape(summary)}*. Nothing ran.",
        )

    async def on_deny_reason(self, user_id: str, approval_id: str, reason: str) -> None:
        approval = await asyncio.to_thread(
            approval_store.get_approval, self.host.store, approval_id
        )
        if approval is None or approval.decided_by != user_id or approval.state != "denied":
            return  # only the person who denied may add the reason
        reason = reason.strip()[:1000]
        if not reason:
            return
        await asyncio.to_thread(approval_store.set_reason, self.host.store, approval_id, reason)
        await self._audit(
            approval,
            user_id,
            EventKind.APPROVAL_DECISION,
            "denied",
            f"reason for denial: {reason[:200]}",
            detail={"reason": reason},
        )
        client = self.host.slack
        if client is None:
            return
        # The reason is the denier's own words: escaped, so it cannot ping a channel or forge
        # a mention.
        said = escape(reason)
        if approval.request_message_ts:
            try:
                await client.chat_postMessage(
                    channel=approval.approvals_channel,
                    thread_ts=approval.request_message_ts,
                    text=f"Denied by <@{user_id}>: {said}",
                )
            except SlackApiError as exc:
                log.warning("could not post the denial reason: %s", exc.response.get("error"))
        stored = await asyncio.to_thread(approval_store.get_approval, self.host.store, approval_id)
        if stored is not None:
            await self._close(stored, client, _denied(stored))
        await self._tell_requester(
            approval,
            client,
            f"Why your request was denied: {escape(reason[:200])}",
            f":speech_balloon: <@{user_id}> gave a reason for denying "
            f"*{escape(self.summary(approval))}*: {said}",
        )

    async def _why_undecided(self, approval_id: str, click: Click) -> Message:
        approval = await asyncio.to_thread(
            approval_store.get_approval, self.host.store, approval_id
        )
        if approval is None:
            text = "This approval request no longer exists. Nothing ran."
        elif approval.state in ("pending", "expired"):
            text = await self._expired_text(approval)
            if approval.state == "expired":
                # The press won its button just as the request expired and replaced the
                # buttons with "checking…" after the request was closed: close it again.
                await self._close(approval, click.client, _expired(approval))
        else:
            text = f"Already {decision_words(approval)}."
        # `text` is mrkdwn the bot wrote: its mentions must stay real mentions.
        return Message(text=text, blocks=[context(f":no_entry: {text}")])

    async def _expired_reason(self, token: ActionToken) -> str:
        """The answer to a press of an approval button after it expired."""
        approval = await asyncio.to_thread(
            approval_store.get_approval, self.host.store, str(token.params.get("approval_id"))
        )
        if approval is None:
            return "This approval request no longer exists. Nothing ran."
        if approval.state not in ("pending", "expired"):
            return f"Already {decision_words(approval)}."
        return await self._expired_text(approval)

    async def _consumed_reason(self, token: ActionToken) -> str:
        """What became of a request whose buttons someone else pressed: never a bare
        "Already handled" for a request that did not run (or has not started yet)."""
        approval = await asyncio.to_thread(
            approval_store.get_approval, self.host.store, str(token.params.get("approval_id"))
        )
        if approval is None:
            return "this approval request no longer exists. Nothing ran."
        if approval.state == "pending":
            return "the decision is being made; the request's message says what became of it."
        return f"{decision_words(approval)}."

    async def _expired_text(self, approval: Approval) -> str:
        """Why an overdue request cannot be approved, naming who can ask again: the approver
        cannot run someone else's request. An overdue request still marked pending is closed
        now rather than at the next sweep, so its message loses its buttons at once."""
        if approval.state == "pending" and self.host.slack is not None:
            await self.sweep_expired(self.host.slack)
        return (
            f"This request expired at {slack_time(approval.expires_at)} without a decision, so "
            f"nothing ran. Only <@{approval.requested_by}>, who asked for it, can ask again."
        )

    # ---- housekeeping ---------------------------------------------------------------------

    async def sweep_expired(self, client: AsyncWebClient) -> list[Approval]:
        expired = await asyncio.to_thread(
            approval_store.expire_due, self.host.store, now=time.time()
        )
        for approval in expired:
            self._waited(approval, "expired", approval.expires_at - approval.created_at)
            self.host.changes.approval(approval.requested_by, approval.approver_role)
            summary = self.summary(approval)
            await self._audit(
                approval,
                "system",
                EventKind.APPROVAL_DECISION,
                "expired",
                f"expired unapproved: {summary}",
            )
            await self._close(approval, client, _expired(approval))
            await self._tell_requester(
                approval,
                client,
                f"Your request expired: {summary}",
                f":hourglass: Your request *{escape(summary)}* expired at "
                f"{slack_time(approval.expires_at)} without a decision, so nothing ran. Ask "
                "again if it is still needed.",
            )
        return expired

    def _close_when_expired(self, approval: Approval) -> None:
        """Close the request the moment it expires, so its buttons do not stay live until the
        next sweep (or, in the console, which sweeps only at its start, until someone clicks).

        A plain task, not a tracked one: shutdown must not wait for it, and the console waits
        for tracked tasks after each command. If this process stops first, the sweep of any
        replica closes the request instead.
        """

        async def close() -> None:
            await asyncio.sleep(max(0.0, approval.expires_at - time.time()) + 0.5)
            client = self.host.slack
            if client is None:
                return
            try:
                await self.sweep_expired(client)
            except Exception as exc:  # the periodic sweep tries again
                log.info("expiry of approval %s not closed now: %s", approval.id[:8], exc)

        task = asyncio.get_running_loop().create_task(close(), name="approval expiry")
        self._expiry_timers.add(task)
        task.add_done_callback(self._expiry_timers.discard)

    async def pending(self) -> list[Approval]:
        return await asyncio.to_thread(
            approval_store.list_pending, self.host.store, now=time.time()
        )

    async def _audit(
        self,
        approval: Approval,
        actor: str,
        kind: EventKind,
        outcome: str,
        summary: str,
        *,
        detail: dict[str, Any] | None = None,
        run_id: str | None = None,
        ts: str | None = None,
    ) -> None:
        keys = approval.params.get("order_keys") or approval.params.get("orders") or []
        await self.host.audit.record(
            AuditEvent(
                kind=kind,
                actor=actor,
                outcome=outcome,
                summary=summary[:300],
                channel_id=approval.requested_channel,
                command=f"approval {approval.id[:8]}",
                run_id=run_id,
                detail={"approval_id": approval.id, **(detail or {})},
                order_keys=tuple(str(k) for k in keys),
                message_channel=approval.approvals_channel,
                message_ts=ts or approval.request_message_ts,
            )
        )

    def _waited(self, approval: Approval, decision: str, seconds: float) -> None:
        """The approval-wait metric: from the request to its decision (or its expiry)."""
        log.info(
            "approval %s %s after %.0fs",
            approval.id[:8],
            decision,
            seconds,
            extra={"outcome": decision, "seconds": seconds},
        )
        self.host.metrics.approval_decided(decision, seconds)


def _decided_by(approval: Approval, verb: str) -> str:
    return f"{verb} by <@{approval.decided_by}> at {slack_time(approval.decided_at or 0)}"


def _expired(approval: Approval) -> Ending:
    note = (
        f":hourglass: Expired at {slack_time(approval.expires_at)} without a decision. "
        f"Nothing ran; <@{approval.requested_by}> can ask again if it is still needed."
    )
    return Ending("Expired", note)


def _denied(approval: Approval) -> Ending:
    note = f":no_entry_sign: {_decided_by(approval, 'Denied')}. Nothing ran."
    if approval.reason:
        note += f"\n*Reason:* {escape(approval.reason)}"
    return Ending("Denied", note)


def decision_words(approval: Approval) -> str:
    """ "approved by <@U> at T, and it started" and the like: the decision, then its fate
    (mrkdwn). The one wording of a decided request, for the approvals and `/oms rollback`."""
    if approval.state == "denied":
        return _decided_by(approval, "denied")
    fate = {
        "executed": ", and it started",
        "stale": ", but nothing ran: the OMS had changed since the preview",
        "failed": ", but nothing ran: it could not start",
        # Approved, run not started yet (or its process died first): a sweep starts it after
        # checking the OMS again, or reports it as not run (`Approvals.sweep_unstarted`).
        "approved": ", but it has not started yet: oms-bot checks the OMS again and starts "
        "it, or says in the request's thread why it did not",
    }.get(approval.state, "")
    return _decided_by(approval, "approved") + fate


def _failure(exc: Exception) -> str:
    """Why an approved action failed before it started, for people (mrkdwn, no internals)."""
    if isinstance(exc, OmsError):
        return escape(f"The OMS call “{exc.operation}” failed: {exc.message}")
    return "oms-bot hit an internal error (the details are logged)"


def _differences(before: Preview, after: Preview) -> list[str]:
    old = {ln.what: ln for ln in before.lines}
    new = {ln.what: ln for ln in after.lines}
    changes = []
    for what in sorted(set(old) | set(new)):
        a, b = old.get(what), new.get(what)
        if a is None and b is not None:
            changes.append(f"{what}: now `{b.current}` (was not in the preview)")
        elif b is None and a is not None:
            changes.append(f"{what}: no longer part of the change (was `{a.current}`)")
        elif a is not None and b is not None and (a.current, a.new) != (b.current, b.new):
            changes.append(f"{what}: was `{a.current}` at the preview, now `{b.current}`")
    return changes or ["the previewed state differs"]


def deny_reason_view(approval_id: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": DENY_REASON_VIEW,
        "private_metadata": approval_id,
        "title": plain("Deny request", 24),
        "submit": plain("Save reason", 24),
        "close": plain("Skip", 24),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": plain("Why? (optional)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 1000,
                },
            }
        ],
    }
