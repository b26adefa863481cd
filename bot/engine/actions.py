"""Buttons: each carries an opaque token of a stored action, never the parameters themselves.

A click is checked against the stored token (does it exist, is it this action, has it
expired, may this user press it), then consumed with one conditional UPDATE over the
message's button group, so only the first valid press of any button in the group wins,
across replicas. The buttons are replaced at once, before the work starts; a second or late
press gets "already handled by X at T" or "expired".
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.contract import (
    DEFAULT_BUTTON_TTL,
    ActionSpec,
    ButtonSpec,
    Click,
    NotConfigured,
)
from bot.engine.outages import database_unreachable
from bot.engine.policy import RoleCheckFailed
from bot.kit.blocks import Block, Message, button, context, error_message, home_dm_channel
from bot.kit.durations import slack_time
from bot.kit.logs import set_correlation_id
from bot.kit.reply import Replier
from bot.oms import OmsError
from bot.store import StoreUnavailable
from bot.store.audit import AuditEvent
from bot.store.tokens import ActionToken, NewToken, consume_group, create_tokens, get_token

if TYPE_CHECKING:
    from bot.engine.host import Host

log = logging.getLogger(__name__)

ACTION_PREFIX = "oms:"


@dataclass(frozen=True)
class _Press:
    action_id: str
    token: str
    user_id: str
    channel_id: str
    message_ts: str | None
    is_ephemeral: bool
    response_url: str | None
    trigger_id: str | None
    blocks: list[Block]
    text: str | None = None
    # A press on the App Home tab: no channel, no message, no response_url; it acts where
    # its token was issued and answers in the user's DM with the bot.
    notes_channel: str | None = None
    from_view: bool = False


class Actions:
    """The registry of button actions and the click pipeline."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.specs: dict[str, ActionSpec] = {}

    def add(self, spec: ActionSpec) -> None:
        if spec.name in self.specs:
            raise ValueError(f"action {spec.name!r} registered twice")
        self.specs[spec.name] = spec

    async def buttons(
        self,
        specs: list[ButtonSpec],
        *,
        created_by: str,
        channel_id: str | None,
        ttl: float = DEFAULT_BUTTON_TTL,
        group_key: str | None = None,
        first_index: int = 0,
    ) -> tuple[str, list[Block]]:
        """Store a token per button (one group: the first press consumes all); return
        (group_key, button elements). Several groups in one message pass distinct
        `first_index` values so every action_id in the message stays unique."""
        group = group_key or uuid.uuid4().hex
        now = time.time()
        new = [
            NewToken(
                action=s.action,
                params=s.params,
                group_key=group,
                expires_at=now + ttl,
                created_by=created_by,
                allowed_users=s.allowed_users,
                allowed_role=s.allowed_role,
                denied_users=s.denied_users,
                channel_id=channel_id,
            )
            for s in specs
        ]
        tokens = await asyncio.to_thread(create_tokens, self.host.store, new, now)
        elements = [
            button(
                s.label,
                f"{ACTION_PREFIX}{s.action}#{first_index + i}",
                t.token,
                style=s.style,
                confirm=s.confirm,
            )
            for i, (s, t) in enumerate(zip(specs, tokens, strict=True))
        ]
        return group, elements

    def _replier(self, press: _Press, client: AsyncWebClient) -> Replier:
        """How a press is answered: in its channel (or the Home's DM), ephemeral to the presser."""
        return Replier(
            client,
            channel_id=press.channel_id,
            user_id=press.user_id,
            response_url=press.response_url,
            session=self.host.http_session(),
            updates=self.host.updates,
            can_replace=press.is_ephemeral,
            trigger_id=press.trigger_id,
            notes_channel=press.notes_channel,
        )

    async def _database_down(self, press: _Press, exc: StoreUnavailable, reply: Replier) -> None:
        # Nothing was consumed: the same button works once the database is back.
        self.host.report(f"click {press.action_id}", "database_unavailable")
        log.warning("click %s: %s", press.action_id, exc)
        await reply.safe_ephemeral(database_unreachable())

    async def on_click(
        self, body: dict[str, Any], client: AsyncWebClient, *, redelivered: bool = False
    ) -> None:
        """After the ack: check, consume, replace the buttons, then run the action.

        `redelivered`: Slack sent this click again (retry headers, Socket Mode
        `retry_attempt`): when it was handled already, it stays silent."""
        # A click is a new request: its own correlation id, carried into the action's run.
        set_correlation_id()
        press = _read_press(body)
        if press is None:
            if not redelivered:
                await self.refuse_unreadable(body, client)
            return
        try:
            problem, token = await self._check(press)
        except StoreUnavailable as exc:
            await self._database_down(press, exc, self._replier(press, client))
            return
        if not press.channel_id and token is not None and token.channel_id:
            press = replace(press, channel_id=token.channel_id)  # a press on the Home tab
        reply = self._replier(press, client)
        won: ActionToken | None = None
        try:
            if redelivered and token is not None and token.consumed_at is not None:
                log.info("redelivered click %s was handled already", press.action_id)
                return
            if problem is None and token is not None:
                won = await asyncio.to_thread(
                    consume_group, self.host.store, press.token, user=press.user_id,
                    now=time.time(),
                )  # fmt: skip
        except StoreUnavailable as exc:
            await self._database_down(press, exc, reply)
            return
        if problem is not None or token is None:
            self.host.report(f"click {press.action_id}", "refused")
            await self._record(press, token, "rejected", problem or "invalid")
            await reply.safe_ephemeral(_refusal(problem or "This button is not valid."))
            return
        if won is None:
            self.host.report(f"click {press.action_id}", "refused")
            if redelivered:
                return  # the first delivery (or another press) took it: it speaks, not this
            problem = await self._why_not_consumed(press.token)
            await self._record(press, token, "rejected", problem)
            await reply.safe_ephemeral(_refusal(problem))
            return
        spec = self.specs[token.action]
        log.info("click %s by %s", token.action, press.user_id, extra={"command": token.action})
        click = Click(
            token=won,
            user_id=press.user_id,
            channel_id=press.channel_id,
            message_ts=press.message_ts,
            is_ephemeral=press.is_ephemeral,
            trigger_id=press.trigger_id,
            client=client,
            reply=reply,
            tools=self.host,
        )
        await self._replace_buttons(press, reply, spec.pressed_note(click))
        await self._record(press, won, "ok", spec.pressed_note(click))
        try:
            await spec.handler(click)
            self.host.report(f"click {token.action}", "ok")
        except OmsError as exc:
            self.host.report(f"click {token.action}", "oms_error")
            await reply.safe_ephemeral(
                error_message(f"The OMS call “{exc.operation}” failed", exc.message)
            )
        except StoreUnavailable as exc:
            self.host.report(f"click {token.action}", "database_unavailable")
            log.warning("button action %s: %s", token.action, exc)
            await reply.safe_ephemeral(database_unreachable(changed=True))
        except NotConfigured as exc:
            # As the slash-command dispatch answers it: the setting that is missing, and where.
            self.host.report(f"click {token.action}", "error")
            log.info("button action %s: not configured: %s", token.action, exc)
            await reply.safe_ephemeral(
                error_message("oms-bot is not set up for this yet", str(exc))
            )
        except Exception:
            self.host.report(f"click {token.action}", "error")
            log.exception("button action %s failed", token.action)
            await reply.safe_ephemeral(
                error_message(
                    "oms-bot hit an internal error",
                    f"The `{token.action}` button could not finish; the details are logged.",
                )
            )

    async def _check(self, press: _Press) -> tuple[str | None, ActionToken | None]:
        token = await asyncio.to_thread(get_token, self.host.store, press.token)
        if token is None:
            return (
                "This button is not recognised: it may come from an altered or very old "
                "message. Nothing was done.",
                None,
            )
        action = press.action_id.removeprefix(ACTION_PREFIX).partition("#")[0]
        if token.action != action or token.action not in self.specs:
            return (
                "This button does not match the action it was issued for. Nothing was done.",
                None,
            )
        if token.consumed_at is not None or token.expires_at <= time.time():
            return await self._why_not_consumed(press.token), token
        spec = self.specs[token.action]
        if press.user_id in token.denied_users:
            return spec.denied_reason, token
        if token.allowed_users is not None and press.user_id not in token.allowed_users:
            who = ", ".join(f"<@{u}>" for u in token.allowed_users)
            return f"Only {who} can use this button.", token
        if token.allowed_role:
            # "a|b": any of several roles (approvals may name more than one approver role).
            roles = tuple(token.allowed_role.split("|"))
            try:
                holds = await self.host.authorizer.has_any(press.user_id, roles)
            except RoleCheckFailed as exc:
                # Nothing is consumed: the same button works once Slack answers again.
                return f"I could not check your roles: {exc}. Nothing was done; try again.", None
            if not holds:
                names = " or ".join(f"*{r}*" for r in roles)
                return f"This button needs the {names} role, which you do not hold.", token
        return None, token

    async def _why_not_consumed(self, token_value: str) -> str:
        token = await asyncio.to_thread(get_token, self.host.store, token_value)
        if token is not None and token.consumed_at is not None:
            when = slack_time(token.consumed_at)
            handled = f"Already handled by <@{token.consumed_by}> at {when}"
            spec = self.specs.get(token.action)
            if spec is not None and spec.consumed_reason is not None:
                return f"{handled}: {await spec.consumed_reason(token)}"
            return f"{handled}."
        if token is not None:
            spec = self.specs.get(token.action)
            if spec is not None and spec.expired_reason is not None:
                return await spec.expired_reason(token)
            return f"This button expired at {slack_time(token.expires_at)}. Run the command again."
        return "This button is not recognised. Nothing was done."

    async def _replace_buttons(self, press: _Press, reply: Replier, note: str) -> None:
        if press.from_view:
            return  # the Home tab is published anew once what it shows has changed
        blocks = [b for b in press.blocks if b.get("type") != "actions"]
        blocks.append(context(f":white_check_mark: {note} at {slack_time(time.time())}"))
        # The message keeps its own fallback text (notifications, screen readers).
        message = Message(text=press.text or note, blocks=blocks)
        try:
            if press.is_ephemeral or press.message_ts is None:
                await reply.ephemeral(message, replace=True)
            else:
                await reply.replace(press.message_ts, message)
        except SlackApiError as exc:
            # The press already won in the database, so a second press is refused anyway.
            log.warning("could not replace the buttons: %s", exc.response.get("error"))

    async def _record(
        self, press: _Press, token: ActionToken | None, outcome: str, summary: str
    ) -> None:
        await self.host.audit.record(
            AuditEvent(
                kind=EventKind.CLICK,
                actor=press.user_id,
                outcome=outcome,
                summary=summary[:300],
                channel_id=press.channel_id,
                detail={
                    "action": token.action if token else press.action_id,
                    "params": token.params if token else None,
                },
                order_keys=tuple(token.params.get("order_keys", ())) if token else (),
                run_id=token.params.get("run_id") if token else None,
                message_channel=press.channel_id,
                message_ts=press.message_ts,
            )
        )

    async def refuse_unreadable(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Audit a payload that cannot be acted on; tell its user, when it names one."""
        self.host.report("click", "refused")
        user = _str(_dict(body.get("user")).get("id"))
        channel = _str(_dict(body.get("channel")).get("id"))
        await self.host.audit.record(
            AuditEvent(
                kind=EventKind.CLICK,
                actor=str(user or "unknown"),
                outcome="rejected",
                summary="unreadable button payload",
                channel_id=channel,
            )
        )
        if user and channel:
            reply = Replier(
                client,
                channel_id=channel,
                user_id=user,
                response_url=_str(body.get("response_url")),
                session=self.host.http_session(),
                updates=self.host.updates,
            )
            await reply.safe_ephemeral(
                _refusal("This button press arrived incomplete. Nothing was done.")
            )


def _refusal(reason: str) -> Message:
    # `reason` is mrkdwn the bot wrote (mentions, role names in bold): escaping it would show
    # "<@U…>" as raw text instead of the person's name.
    return Message(text=reason, blocks=[context(f":no_entry: {reason}")])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_press(body: dict[str, Any]) -> _Press | None:
    """The fields a press needs, or None when the payload is missing or malformed."""
    acts = body.get("actions")
    action = _dict(acts[0]) if isinstance(acts, list) and acts else {}
    container = _dict(body.get("container"))
    message = _dict(body.get("message"))
    user_id = _str(_dict(body.get("user")).get("id"))
    channel_id = _str(_dict(body.get("channel")).get("id")) or _str(container.get("channel_id"))
    token = _str(action.get("value"))
    action_id = _str(action.get("action_id"))
    from_view = container.get("type") == "view"
    if user_id is None or token is None or action_id is None:
        return None
    if channel_id is None and not from_view:
        return None
    blocks = message.get("blocks")
    return _Press(
        action_id=action_id,
        token=token,
        user_id=user_id,
        channel_id=channel_id or "",
        message_ts=_str(container.get("message_ts")) or _str(message.get("ts")),
        is_ephemeral=bool(container.get("is_ephemeral")),
        response_url=_str(body.get("response_url")),
        trigger_id=_str(body.get("trigger_id")),
        blocks=[b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else [],
        text=_str(message.get("text")),
        notes_channel=home_dm_channel(body.get("view")) if from_view else None,
        from_view=from_view,
    )
