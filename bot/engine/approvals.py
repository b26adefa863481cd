"""The two-person rule for dangerous actions, as one generic mechanism.

A request is posted to the approvals channel with a preview computed from the live OMS
(current value -> new value for each thing it changes), the parameters, the requester and
the expiry, with Approve and Deny buttons. The requester can never approve; the approver must
hold an approver role at the moment of the click; an expired request cannot be approved. The
approval is bound to a hash of the parameters and of the previewed state: at execution the
preview is computed again, and if the OMS changed nothing runs and the approvers are told
what changed. The decision is one conditional UPDATE, so whatever the clicks and replicas,
at most one execution happens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.contract import ActionSpec, ButtonSpec, Click
from bot.engine.dangerous import Approved, DangerousAction, Preview, digest
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
from bot.kit.durations import slack_time
from bot.kit.reply import Replier
from bot.store import approvals as approval_store
from bot.store.approvals import Approval
from bot.store.audit import AuditEvent

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)

APPROVE_ACTION = "approval.approve"
DENY_ACTION = "approval.deny"
DENY_REASON_VIEW = "oms:deny-reason"


class Approvals:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.kinds: dict[str, DangerousAction] = {}

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
                pressed_note=lambda c: f"Approved by <@{c.user_id}>",
                denied_reason="You asked for this, so someone else must approve it.",
            ),
            ActionSpec(
                name=DENY_ACTION,
                handler=self._on_deny,
                pressed_note=lambda c: f"Denied by <@{c.user_id}>",
                denied_reason="You asked for this; to withdraw it, let it expire or ask an "
                "approver to deny it.",
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
        approval = await asyncio.to_thread(
            approval_store.create_approval,
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
        resp = await client.chat_postMessage(
            channel=approvals_channel, text=message.text, blocks=message.blocks
        )
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
        where = "here" if approvals_channel == channel_id else f"in <#{approvals_channel}>"
        await reply.ephemeral(
            Message(
                text=f"Approval requested {where}",
                blocks=[
                    section(
                        f":raised_hand: *{escape(action.summary(params))}* needs a second person. "
                        f"I asked for approval {where}; it expires at "
                        f"{slack_time(approval.expires_at)}. Nothing runs until someone holding "
                        f"the {' or '.join(roles)} role approves it."
                    )
                ],
            ),
            replace=True,
        )
        return approval

    def _request_message(
        self, approval: Approval, action: DangerousAction, preview: Preview, buttons: list[Block]
    ) -> Message:
        params = approval.params
        lines = [
            f"• {escape(ln.what)}: `{escape(ln.current)}` → `{escape(ln.new)}`"
            for ln in preview.lines
        ] or ["• (nothing to change)"]
        blocks: list[Block] = [
            header(f"Approval needed: {action.summary(params)}"),
            fields(
                [
                    ("Requested by", f"<@{approval.requested_by}>"),
                    ("Expires", slack_time(approval.expires_at)),
                    ("Approver role", " or ".join(approval.approver_role.split("|"))),
                    ("Parameters", f"`{escape(json.dumps(params, sort_keys=True))}`"),
                ]
            ),
            *[section(chunk) for chunk in chunk_lines(["*What will change*", *lines])],
            section(f"*What it means:* {escape(action.consequences(params))}"),
        ]
        blocks += [context(escape(note)) for note in preview.notes[:5]]
        blocks.append(actions(buttons))
        return Message(text=f"Approval needed: {action.summary(params)}", blocks=blocks)

    # ---- deciding -------------------------------------------------------------------------

    async def _on_approve(self, click: Click) -> None:
        approval_id = str(click.params["approval_id"])
        store = self.host.store
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
        if digest(decided.params) != decided.params_hash:
            await self._stop(
                decided, click, "stale", ["the stored parameters do not match their hash"]
            )
            return
        fresh = await action.preview(self.host, decided.params)
        if fresh.digest() != decided.preview_hash:
            changes = _differences(Preview.from_json(decided.preview), fresh)
            await self._stop(decided, click, "stale", changes)
            return
        origin = self._requester_reply(decided, click.client)
        run_id = await action.execute(
            Approved(decided, click.user_id, click.client, origin, self.host)
        )
        if run_id is None:
            await self._not_started(decided, click, action)
            return
        await asyncio.to_thread(
            approval_store.mark, store, approval_id, "executed", now=time.time(), run_id=run_id
        )
        await self._audit(
            decided,
            click.user_id,
            EventKind.APPROVAL_DECISION,
            "ok",
            f"executed: {action.summary(decided.params)}",
            run_id=run_id,
        )

    async def _not_started(self, approval: Approval, click: Click, action: DangerousAction) -> None:
        # The action refused to start (an order busy with another run, possibly on another
        # replica) and told the requester why. The request must not read as executed, and the
        # approver who clicked must not be left thinking it runs.
        await asyncio.to_thread(
            approval_store.mark, self.host.store, approval.id, "failed", now=time.time()
        )
        summary = action.summary(approval.params)
        await self._audit(
            approval,
            click.user_id,
            EventKind.APPROVAL_DECISION,
            "failed",
            f"not started: {summary}",
        )
        text = (
            f"Approved by <@{click.user_id}>, but *{escape(summary)}* did not start: one of "
            f"its orders is busy with another run. Nothing ran; <@{approval.requested_by}> "
            "was told why and can ask again when it has finished."
        )
        message = Message(text="Nothing ran: the action could not start", blocks=[section(text)])
        await self._tell_approvers(approval, click, message)

    async def _stop(
        self, approval: Approval, click: Click, state: Literal["stale"], changes: list[str]
    ) -> None:
        await asyncio.to_thread(
            approval_store.mark, self.host.store, approval.id, state, now=time.time()
        )
        text = (
            "The OMS changed since this request was previewed, so nothing ran. "
            "Ask again to see the new state.\n" + "\n".join(f"• {escape(c)}" for c in changes)
        )
        await self._audit(
            approval,
            click.user_id,
            EventKind.APPROVAL_DECISION,
            "stale",
            "not executed: the OMS state changed",
            detail={"changes": changes},
        )
        message = Message(text="Nothing ran: the OMS state changed", blocks=[section(text)])
        await self._tell_approvers(approval, click, message)

    async def _tell_approvers(self, approval: Approval, click: Click, message: Message) -> None:
        """Post in the request's thread (where approvers look) and tell whoever clicked."""
        if approval.request_message_ts:
            try:
                await click.client.chat_postMessage(
                    channel=approval.approvals_channel,
                    thread_ts=approval.request_message_ts,
                    text=message.text,
                    blocks=message.blocks,
                )
            except SlackApiError as exc:
                log.warning("could not tell approvers: %s", exc.response.get("error"))
        await click.reply.safe_ephemeral(message)

    async def _decide(
        self, click: Click, approval_id: str, decision: Literal["approved", "denied"]
    ) -> Approval | None:
        """The exactly-once point: one conditional UPDATE; the loser is told why."""
        decided = await asyncio.to_thread(
            approval_store.decide,
            self.host.store,
            approval_id,
            decision=decision,
            by=click.user_id,
            now=time.time(),
        )
        if decided is None:
            await click.reply.safe_ephemeral(await self._why_undecided(approval_id))
        else:
            self._waited(
                decided, decision, (decided.decided_at or time.time()) - decided.created_at
            )
        return decided

    def _requester_reply(self, approval: Approval, client: AsyncWebClient) -> Replier:
        """Answers the requester where they asked (their slash command's URL is long used)."""
        return Replier(
            client,
            channel_id=approval.requested_channel,
            user_id=approval.requested_by,
            response_url=None,
            session=self.host.http_session(),
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
        origin = self._requester_reply(decided, click.client)
        await origin.safe_ephemeral(
            Message(
                text=f"Your request was denied by <@{click.user_id}>",
                blocks=[
                    section(
                        f":no_entry: <@{click.user_id}> denied "
                        f"*{escape(self.kinds[decided.action].summary(decided.params))}*. "
                        "Nothing ran."
                    )
                ],
            )
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
        if client is not None and approval.request_message_ts:
            try:
                await client.chat_postMessage(
                    channel=approval.approvals_channel,
                    thread_ts=approval.request_message_ts,
                    text=f"Denied by <@{user_id}>: {reason}",
                )
            except SlackApiError as exc:
                log.warning("could not post the denial reason: %s", exc.response.get("error"))

    async def _why_undecided(self, approval_id: str) -> Message:
        approval = await asyncio.to_thread(
            approval_store.get_approval, self.host.store, approval_id
        )
        if approval is None:
            text = "This approval request no longer exists. Nothing ran."
        elif approval.state == "pending" or approval.expires_at <= time.time():
            text = f"This request expired at {slack_time(approval.expires_at)}; nothing ran."
        else:
            text = (
                f"Already {approval.state} by <@{approval.decided_by}> at "
                f"{slack_time(approval.decided_at or 0)}."
            )
        return Message(text=text, blocks=[context(f":no_entry: {text}")])

    # ---- housekeeping ---------------------------------------------------------------------

    async def sweep_expired(self, client: AsyncWebClient) -> list[Approval]:
        expired = await asyncio.to_thread(
            approval_store.expire_due, self.host.store, now=time.time()
        )
        for approval in expired:
            self._waited(approval, "expired", approval.expires_at - approval.created_at)
            summary = self.summary(approval)
            await self._audit(
                approval,
                "system",
                EventKind.APPROVAL_DECISION,
                "expired",
                f"expired unapproved: {summary}",
            )
            if not approval.request_message_ts:
                continue
            message = Message(
                text=f"Expired: {summary}",
                blocks=[
                    section(
                        f":hourglass: *{escape(summary)}* requested by "
                        f"<@{approval.requested_by}> expired at "
                        f"{slack_time(approval.expires_at)} without approval. "
                        "Nothing ran."
                    )
                ],
            )
            try:
                await client.chat_update(
                    channel=approval.approvals_channel,
                    ts=approval.request_message_ts,
                    text=message.text,
                    blocks=message.blocks,
                )
            except SlackApiError as exc:
                log.warning(
                    "could not mark approval %s expired: %s", approval.id, exc.response.get("error")
                )
        return expired

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
