"""The way of one command (README "Architecture"): parse and check at the ack, work after it.

The ack path never calls the OMS: it parses, answers help and usage errors inline, and for
real work acks with a short "working" note and hands the handler to the task tracker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.commands import Registry
from bot.engine.contract import (
    Click,
    CommandSpec,
    Invocation,
    NotConfigured,
    ParsedCommand,
    UsageError,
)
from bot.engine.host import Host
from bot.engine.outages import database_unreachable, restarting
from bot.engine.policy import Refusal, RoleCheckFailed
from bot.engine.usage import usage_error
from bot.kit.blocks import Message, context, error_message, escape, home_dm_channel, section
from bot.kit.forms import FormTarget
from bot.kit.logs import current_correlation_id, set_correlation_id
from bot.kit.reply import Replier
from bot.oms import OmsError, OrderRef
from bot.store import StoreUnavailable
from bot.store.audit import AuditEvent


class Dispatcher(Host, Protocol):
    """What running a command needs: the engine's host and the command registry."""

    @property
    def registry(self) -> Registry: ...


log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]

# The answer to a command sent while the process drains for a restart.
RESTARTING = restarting()


async def command_refusal(services: Dispatcher, user_id: str, spec: CommandSpec) -> Refusal | None:
    """Why `user_id` may not run `spec` (the policy's roles), or None. A role check that
    cannot be made (Slack's user groups unreachable) refuses, saying so: typed, from a
    form, a shortcut or a button alike."""
    try:
        return await services.authorizer.check_command(user_id, spec)
    except RoleCheckFailed as exc:
        return Refusal(f"I could not check your roles: {exc}. Try again in a minute.")


async def tell_restarting(
    services: Dispatcher, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Tell whoever pressed a button, used a shortcut or a quick action while the process
    drains for a restart that nothing was done: in the conversation, or, for a press on the
    App Home tab (no response_url, no channel), in their DM with the bot."""
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
    container = body.get("container") if isinstance(body.get("container"), dict) else {}
    response_url = body.get("response_url")
    reply = Replier(
        client,
        channel_id=str((channel or {}).get("id") or (container or {}).get("channel_id") or ""),
        user_id=str((user or {}).get("id") or ""),
        response_url=response_url if isinstance(response_url, str) else None,
        session=services.http_session(),
        can_replace=False,
        notes_channel=home_dm_channel(body.get("view")),
    )
    await reply.safe_ephemeral(RESTARTING)


def _ack_args(message: Message) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks, "response_type": "ephemeral"}


async def handle_slash_command(
    services: Dispatcher, body: dict[str, Any], ack: Ack, client: AsyncWebClient
) -> None:
    """Bolt's /oms listener. Anything that goes wrong becomes a message, never a 500."""
    # Each request runs in its own task (HTTP and Socket Mode alike), so this id does not
    # leak into the next request; the handler's task copies it, and so does its run.
    set_correlation_id()
    text = str(body.get("text") or "")
    try:
        parsed = services.registry.parse(text)
    except UsageError as err:
        await ack(**_ack_args(usage_error(err)))
        services.report(err.spec.name if err.spec else "?", "usage_error")
        _audit_later(services, body, text, "rejected", err.problem)
        return
    spec = parsed.spec
    refusal = await command_refusal(services, str(body.get("user_id") or ""), spec)
    if refusal is not None:
        await ack(**_ack_args(refused_message(refusal)))
        services.report(spec.name, "refused")
        _audit_later(services, body, text, "refused", refusal.reason)
        return
    try:
        if spec.answer is not None:
            await ack(**_ack_args(spec.answer(parsed, services.registry)))
            services.report(spec.name, "ok")
            _audit_later(services, body, text, "ok", f"/oms {spec.name}")
            return
        if not services.tasks.accepting:
            await ack(**_ack_args(RESTARTING))
            return
    except UsageError as err:
        await ack(**_ack_args(usage_error(err)))
        services.report(spec.name, "usage_error")
        _audit_later(services, body, text, "rejected", err.problem)
        return
    except Exception:
        log.exception("answering /oms %s failed", spec.name)
        await ack(**_ack_args(_internal_error(spec.name, None)))
        services.report(spec.name, "error")
        return
    invocation = _invocation(services, body, client, parsed)
    await ack(**_ack_args(Message(text=f"Working on `/oms {escape(text.strip())}`…")))
    services.tasks.spawn(run_handler(services, invocation), name=f"/oms {spec.name}")


def _invocation(
    services: Dispatcher, body: dict[str, Any], client: AsyncWebClient, parsed: ParsedCommand
) -> Invocation:
    user_id = str(body.get("user_id") or "")
    channel_id = str(body.get("channel_id") or "")
    reply = Replier(
        client,
        channel_id=channel_id,
        user_id=user_id,
        response_url=body.get("response_url"),
        session=services.http_session(),
        updates=services.updates,
        trigger_id=body.get("trigger_id"),
    )
    return Invocation(
        command=parsed,
        user_id=user_id,
        channel_id=channel_id,
        team_id=str(body.get("team_id") or ""),
        reply=reply,
        client=client,
        tools=services,
        correlation_id=current_correlation_id() or set_correlation_id(),
    )


async def run_handler(services: Dispatcher, invocation: Invocation) -> None:
    """Run a command's handler after the ack; tell the user plainly when it fails."""
    spec = invocation.command.spec
    assert spec.handler is not None
    set_correlation_id(invocation.correlation_id)
    outcome, summary = "ok", f"/oms {invocation.command.text.strip()}"
    log.info("/oms %s started by %s", spec.name, invocation.user_id, extra={"command": spec.name})
    try:
        await spec.handler(invocation)
        services.report(spec.name, "ok")
    except OmsError as exc:
        outcome, summary = "failed", str(exc)
        services.report(spec.name, "oms_error")
        log.warning("/oms %s: %s [%s]", spec.name, exc, invocation.correlation_id)
        await invocation.reply.safe_ephemeral(
            error_message(
                f"The OMS call “{exc.operation}” failed",
                exc.message,
                "Nothing was changed by this command. Try again in a minute; if it keeps "
                "failing, run `oms-bot check-config` or ask whoever runs the bot.",
            )
        )
    except StoreUnavailable as exc:
        # The database, named: not an "internal error" the user can do nothing about.
        outcome, summary = "failed", "the bot's database is unreachable"
        services.report(spec.name, "database_unavailable")
        log.warning("/oms %s: %s [%s]", spec.name, exc, invocation.correlation_id)
        await invocation.reply.safe_ephemeral(database_unreachable())
    except NotConfigured as exc:
        outcome, summary = "failed", str(exc)
        services.report(spec.name, "error")
        await invocation.reply.safe_ephemeral(
            error_message("oms-bot is not set up for this yet", str(exc))
        )
    except Exception:
        outcome, summary = "failed", f"internal error {invocation.correlation_id}"
        services.report(spec.name, "error")
        log.exception("/oms %s failed [%s]", spec.name, invocation.correlation_id)
        await invocation.reply.safe_ephemeral(_internal_error(spec.name, invocation.correlation_id))
    log.info("/oms %s %s", spec.name, outcome, extra={"command": spec.name, "outcome": outcome})
    await services.audit.record(
        AuditEvent(
            kind=EventKind.COMMAND,
            actor=invocation.user_id,
            outcome=outcome,
            summary=summary[:300],
            channel_id=invocation.channel_id,
            command=f"/oms {invocation.command.text.strip()}"[:300],
            order_keys=_order_keys(invocation.command),
            correlation_id=invocation.correlation_id,
        )
    )


def _order_keys(command: ParsedCommand) -> tuple[str, ...]:
    """Order references the command named, as typed: audit search finds them by these."""
    keys: list[str] = []
    for value in command.args.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, OrderRef):
                keys.append(item.value)
    return tuple(keys)


def refused_message(refusal: Refusal) -> Message:
    return Message(text=refusal.reason, blocks=[section(f":no_entry: {escape(refusal.reason)}")])


def _audit_later(
    services: Dispatcher, body: dict[str, Any], text: str, outcome: str, summary: str
) -> None:
    """Audit an answer given in the ack, after the ack (the database stays off that path)."""
    event = AuditEvent(
        kind=EventKind.COMMAND if outcome != "refused" else EventKind.REFUSED,
        actor=str(body.get("user_id") or "unknown"),
        outcome=outcome,
        summary=summary[:300],
        channel_id=str(body.get("channel_id") or "") or None,
        command=f"/oms {text.strip()}"[:300],
    )
    services.tasks.spawn(services.audit.record(event), name="audit")


def _internal_error(what: str, reference: str | None) -> Message:
    ref = f" (reference `{reference}`)" if reference else ""
    return error_message(
        "oms-bot hit an internal error",
        f"`/oms {what}` could not finish{ref}. The details are in the bot's log.",
        "Try again; if it happens again, report the reference to whoever runs the bot.",
    )


async def run_as_presser(services: Dispatcher, click: Click, text: str) -> None:
    """Run `/oms <text>` as the presser of a button (a digest's Re-import or Check).

    The command runs with the presser's identity and role checks, exactly as if they had
    typed it. Without such a command, the presser is told what to run, so the button is
    never a dead end.
    """
    name = text.split()[0] if text.split() else ""
    if services.registry.get(name) is None:
        await click.reply.ephemeral(
            Message(
                text=f"Run /oms {text}",
                blocks=[
                    section(f"To do this, run `/oms {escape(text)}`."),
                    context("This bot does not run that command from a button yet."),
                ],
            )
        )
        return
    try:
        parsed = services.registry.parse(text)
    except UsageError as err:
        await click.reply.ephemeral(Message(text=err.problem, blocks=[section(err.problem)]))
        return
    refusal = await command_refusal(services, click.user_id, parsed.spec)
    if refusal is not None:
        await click.reply.ephemeral(refused_message(refusal))
        return
    await run_handler(
        services,
        Invocation(
            command=parsed,
            user_id=click.user_id,
            channel_id=click.channel_id,
            team_id="",
            reply=click.reply,
            client=click.client,
            tools=services,
            # The click's own id: a button token must never reach the logs or the audit.
            correlation_id=current_correlation_id() or uuid.uuid4().hex[:12],
        ),
    )


async def run_form(
    services: Dispatcher, user_id: str, text: str, target: FormTarget, client: AsyncWebClient
) -> str | None:
    """Run `/oms <text>` composed by a submitted form (bot/kit/forms.py), as if `user_id`
    had typed it where the form was opened: the same grammar, policy check and handler.

    Returns the problem to show on the form (it stays open) when the text is not a valid
    command or the user may not run it; None once the command is on its way."""
    set_correlation_id()
    body = {"user_id": user_id, "channel_id": target.channel_id}
    try:
        parsed = services.registry.parse(text)
    except UsageError as err:
        services.report(err.spec.name if err.spec else "?", "usage_error")
        _audit_later(services, body, text, "rejected", err.problem)
        return err.problem
    refusal = await command_refusal(services, user_id, parsed.spec)
    if refusal is not None:
        services.report(parsed.spec.name, "refused")
        _audit_later(services, body, text, "refused", refusal.reason)
        return refusal.reason
    if not services.tasks.accepting:
        return RESTARTING.text
    # A form opened on the App Home tab answers in the user's DM with the bot, where
    # an ephemeral note would vanish: its notes are plain DM messages.
    in_dm = target.channel_id.startswith("D") and not target.response_url
    reply = Replier(
        client,
        channel_id=target.channel_id,
        user_id=user_id,
        response_url=target.response_url,
        session=services.http_session(),
        updates=services.updates,
        notes_channel=target.channel_id if in_dm else None,
    )
    if parsed.spec.answer is not None:
        answer = parsed.spec.answer(parsed, services.registry)
        services.tasks.spawn(reply.safe_ephemeral(answer), name=f"/oms {parsed.spec.name}")
        services.report(parsed.spec.name, "ok")
        _audit_later(services, body, text, "ok", f"/oms {parsed.spec.name}")
        return None
    invocation = Invocation(
        command=parsed,
        user_id=user_id,
        channel_id=target.channel_id,
        team_id="",
        reply=reply,
        client=client,
        tools=services,
        correlation_id=current_correlation_id() or set_correlation_id(),
    )
    services.tasks.spawn(run_handler(services, invocation), name=f"/oms {parsed.spec.name}")
    return None
