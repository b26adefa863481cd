"""The way of one command (DESIGN section 3): parse and check at the ack, work after it.

The ack path never calls the OMS: it parses, answers help and usage errors inline, and for
real work acks with a short "working" note and hands the handler to the task tracker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import Message, error_message, escape
from bot.commands import ParsedCommand, UsageError
from bot.context import Invocation
from bot.oms import OmsError
from bot.reply import Replier
from bot.services import Services
from bot.usage import usage_error

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]

RESTARTING = Message(
    text="oms-bot is restarting; send the command again in a minute.",
    blocks=[],
)


def _ack_args(message: Message) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks, "response_type": "ephemeral"}


async def handle_slash_command(
    services: Services, body: dict[str, Any], ack: Ack, client: AsyncWebClient
) -> None:
    """Bolt's /oms listener. Anything that goes wrong becomes a message, never a 500."""
    text = str(body.get("text") or "")
    try:
        parsed = services.registry.parse(text)
    except UsageError as err:
        await ack(**_ack_args(usage_error(err)))
        services.report(err.spec.name if err.spec else "?", "usage_error")
        return
    spec = parsed.spec
    try:
        if spec.answer is not None:
            await ack(**_ack_args(spec.answer(parsed, services.registry)))
            services.report(spec.name, "ok")
            return
        if not services.tasks.accepting:
            await ack(**_ack_args(RESTARTING))
            return
    except UsageError as err:
        await ack(**_ack_args(usage_error(err)))
        services.report(spec.name, "usage_error")
        return
    except Exception:
        log.exception("answering /oms %s failed", spec.name)
        await ack(**_ack_args(_internal_error(spec.name, None)))
        services.report(spec.name, "error")
        return
    invocation = _invocation(services, body, client, parsed)
    await ack(**_ack_args(Message(text=f"Working on `/oms {escape(text.strip())}`…")))
    services.tasks.spawn(run_handler(invocation), name=f"/oms {spec.name}")


def _invocation(
    services: Services, body: dict[str, Any], client: AsyncWebClient, parsed: ParsedCommand
) -> Invocation:
    user_id = str(body.get("user_id") or "")
    channel_id = str(body.get("channel_id") or "")
    reply = Replier(
        client,
        channel_id=channel_id,
        user_id=user_id,
        response_url=body.get("response_url"),
        session=services.http_session(),
    )
    return Invocation(
        command=parsed,
        user_id=user_id,
        channel_id=channel_id,
        team_id=str(body.get("team_id") or ""),
        reply=reply,
        client=client,
        services=services,
        correlation_id=uuid.uuid4().hex[:12],
    )


async def run_handler(invocation: Invocation) -> None:
    """Run a command's handler after the ack; tell the user plainly when it fails."""
    spec = invocation.command.spec
    services = invocation.services
    assert spec.handler is not None
    try:
        await spec.handler(invocation)
        services.report(spec.name, "ok")
    except OmsError as exc:
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
    except Exception:
        services.report(spec.name, "error")
        log.exception("/oms %s failed [%s]", spec.name, invocation.correlation_id)
        await invocation.reply.safe_ephemeral(_internal_error(spec.name, invocation.correlation_id))


def _internal_error(what: str, reference: str | None) -> Message:
    ref = f" (reference `{reference}`)" if reference else ""
    return error_message(
        "oms-bot hit an internal error",
        f"`/oms {what}` could not finish{ref}. The details are in the bot's log.",
        "Try again; if it happens again, report the reference to whoever runs the bot.",
    )
