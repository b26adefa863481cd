"""The Slack side of orders met outside `/oms` (issue 15): message shortcuts, `link_shared`
events and command buttons.

Each is acknowledged at once (Slack wants an answer within 3 s) and worked on after, in the
task tracker, like a command. What they do is the runbooks' (handlers/links/); this module only
reads Slack's payloads, checks the policy's roles, and talks to Slack: the thread replies, the
`chat.unfurl` call, the ephemeral answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import EventKind
from bot.engine.contract import (
    COMMAND_BUTTON_PREFIX,
    Invocation,
    NotConfigured,
    SharedLinks,
    Shortcut,
    ShortcutSpec,
    UsageError,
)
from bot.engine.policy import Refusal
from bot.engine.usage import usage_error
from bot.kit.blocks import Message, context, error_message
from bot.kit.logs import current_correlation_id, set_correlation_id
from bot.kit.reply import Replier
from bot.oms import OmsError
from bot.store.audit import AuditEvent
from bot.surface.dispatch import (
    Ack,
    command_refusal,
    refused_message,
    run_handler,
    tell_restarting,
)
from bot.surface.wiring import Services

log = logging.getLogger(__name__)

# The most links of one event looked at (Slack sends a message's links in one event).
MAX_LINKS = 20
# The longest argument a command button may carry (an order reference is at most 40).
MAX_BUTTON_ARGUMENT = 100
NOT_IN_THREAD = (
    "I cannot post in this conversation, so only you see this. Invite me "
    "(`/invite @oms-bot`) to answer in the thread."
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def add_link_listeners(app: AsyncApp, services: Services) -> None:
    """The shortcuts the runbooks provide, `link_shared`, and the command buttons."""

    for spec in services.shortcuts.values():
        app.shortcut(spec.callback_id)(_shortcut_listener(services, spec))

    @app.event("link_shared")
    async def on_link_shared(body: dict[str, Any], client: AsyncWebClient) -> None:
        # Bolt acknowledges events itself; the unfurl is worked on after. While draining for
        # a restart it is dropped without a word: nobody asked for it, and the link simply
        # shows as Slack shows any other. A redelivery to another replica unfurls again,
        # which chat.unfurl makes harmless (it replaces the cards of the same links).
        if services.tasks.accepting:
            services.tasks.spawn(handle_link_shared(services, body, client), name="unfurl")

    @app.action(re.compile(f"^{re.escape(COMMAND_BUTTON_PREFIX)}"))
    async def on_command_button(
        ack: Ack, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if redelivered(context):
            return
        if services.tasks.accepting:
            services.tasks.spawn(press_command_button(services, body, client), name="command")
        else:
            services.tasks.spawn(tell_restarting(services, body, client), name="restarting")


def redelivered(context: dict[str, Any]) -> bool:
    """Whether Slack sent this envelope again (`X-Slack-Retry-Num` / `retry_attempt` >= 1).

    A shortcut, a command button or a quick action leaves no database state to tell whether
    its first delivery was taken (unlike an `oms:` token button, whose token is consumed),
    and Slack retries only when it saw no ack: the first delivery reached some replica,
    which acks at once and works after. So a redelivery is skipped, never run twice (two
    sets of thread posts); the rare delivery lost before its ack is one press to repeat."""
    return bool(context.get("redelivered"))


# ---- message shortcuts -----------------------------------------------------------------------


def _shortcut_listener(
    services: Services, spec: ShortcutSpec
) -> Callable[[Ack, dict[str, Any], AsyncWebClient, dict[str, Any]], Awaitable[None]]:
    """Bolt's listener of one shortcut: ack at once, work after (Bolt passes arguments by
    name, so the spec is bound here rather than as a default argument)."""

    async def on_shortcut(
        ack: Ack, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if redelivered(context):
            return
        if services.tasks.accepting:
            services.tasks.spawn(
                handle_shortcut(services, spec, body, client), name=spec.callback_id
            )
        else:
            services.tasks.spawn(tell_restarting(services, body, client), name="restarting")

    return on_shortcut


async def handle_shortcut(
    services: Services, spec: ShortcutSpec, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Check the user's roles, run the shortcut, tell them plainly when it fails, audit it."""
    correlation_id = set_correlation_id()
    user = _str(_dict(body.get("user")).get("id"))
    channel = _str(_dict(body.get("channel")).get("id"))
    message = _dict(body.get("message"))
    ts = _str(message.get("ts")) or _str(body.get("message_ts"))
    reply = Replier(
        client,
        channel_id=channel,
        user_id=user,
        response_url=_str(body.get("response_url")) or None,
        session=services.http_session(),
        updates=services.updates,
        can_replace=False,
    )
    if body.get("type") != "message_action" or not user or not channel or not ts:
        log.warning("shortcut %s without a message ignored", spec.callback_id)
        if user and channel:
            await reply.safe_ephemeral(
                Message(text="Use this shortcut from a message's menu (More actions).")
            )
        return
    command = services.registry.get(spec.command)
    if command is None:
        # A shortcut is checked as the command it runs: without that command (a wiring
        # mistake) no one may use it, rather than everyone.
        log.error(
            "shortcut %s runs /oms %s, which is not registered", spec.callback_id, spec.command
        )
        await reply.safe_ephemeral(Message(text="This shortcut is not available in this bot."))
        return
    refusal: Refusal | None = await command_refusal(services, user, command)
    if refusal is not None:
        await reply.safe_ephemeral(refused_message(refusal))
        services.report(spec.command, "refused")
        await _audit(services, user, channel, spec, "refused", refusal.reason, (), correlation_id)
        return

    told: list[bool] = []

    async def post_in_thread(answer: Message) -> bool:
        try:
            await client.chat_postMessage(
                channel=channel,
                thread_ts=_str(message.get("thread_ts")) or ts,
                text=answer.text,
                blocks=answer.blocks,
            )
            return True
        except SlackApiError as exc:
            log.info("shortcut answer not posted in the thread: %s", exc.response.get("error"))
        note = [] if told else [context(NOT_IN_THREAD)]
        told.append(True)
        await reply.safe_ephemeral(Message(text=answer.text, blocks=note + answer.blocks))
        return False

    shortcut = Shortcut(
        callback_id=spec.callback_id,
        user_id=user,
        channel_id=channel,
        message_ts=ts,
        thread_ts=_str(message.get("thread_ts")) or ts,
        text=_str(message.get("text")),
        post_in_thread=post_in_thread,
        reply=reply,
        tools=services,
        correlation_id=correlation_id,
    )
    outcome, summary = "ok", f"shortcut {spec.callback_id}"
    keys: tuple[str, ...] = ()
    try:
        keys = tuple(await spec.handler(shortcut))
        services.report(spec.command, "ok")
    except OmsError as exc:
        outcome, summary = "failed", str(exc)
        services.report(spec.command, "oms_error")
        await reply.safe_ephemeral(
            error_message(f"The OMS call “{exc.operation}” failed", exc.message)
        )
    except NotConfigured as exc:
        outcome, summary = "failed", str(exc)
        services.report(spec.command, "error")
        await reply.safe_ephemeral(error_message("oms-bot is not set up for this yet", str(exc)))
    except Exception:
        outcome, summary = "failed", f"internal error {correlation_id}"
        services.report(spec.command, "error")
        log.exception("shortcut %s failed [%s]", spec.callback_id, correlation_id)
        await reply.safe_ephemeral(
            error_message(
                "oms-bot hit an internal error",
                f"The shortcut could not finish (reference `{correlation_id}`).",
            )
        )
    await _audit(services, user, channel, spec, outcome, summary, keys, correlation_id)


async def _audit(
    services: Services,
    user: str,
    channel: str,
    spec: ShortcutSpec,
    outcome: str,
    summary: str,
    keys: tuple[str, ...],
    correlation_id: str,
) -> None:
    await services.audit.record(
        AuditEvent(
            kind=EventKind.COMMAND if outcome != "refused" else EventKind.REFUSED,
            actor=user,
            outcome=outcome,
            summary=summary[:300],
            channel_id=channel,
            command=f"shortcut {spec.callback_id}",
            order_keys=keys,
            correlation_id=correlation_id,
        )
    )


# ---- link unfurls ----------------------------------------------------------------------------


async def handle_link_shared(
    services: Services, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Ask the runbooks for a card per link, and send the ones they gave with chat.unfurl."""
    set_correlation_id()
    event = _dict(body.get("event"))
    links = event.get("links")
    urls = tuple(
        dict.fromkeys(
            _str(_dict(link).get("url"))
            for link in (links if isinstance(links, list) else [])
            if _str(_dict(link).get("url"))
        )
    )[:MAX_LINKS]
    channel, ts = _str(event.get("channel")), _str(event.get("message_ts"))
    unfurl_id, source = _str(event.get("unfurl_id")), _str(event.get("source"))
    if not urls or not ((channel and ts) or (unfurl_id and source)):
        return
    if event.get("is_bot_user_member") is False:
        # Only where the bot is: a channel it is not in may hold what it should not echo.
        return
    shared = SharedLinks(_str(event.get("user")), channel, urls, services)
    cards: dict[str, Message] = {}
    for spec in services.unfurls:
        try:
            cards.update(await spec.handler(shared))
        except Exception:
            log.exception("unfurler %s failed", spec.name)
    if not cards:
        return
    composer = bool(unfurl_id) and source == "composer"  # a link in a message being written
    try:
        await client.chat_unfurl(
            channel=None if composer else channel,
            ts=None if composer else ts,
            unfurl_id=unfurl_id if composer else None,
            source=source if composer else None,
            unfurls={url: {"blocks": card.blocks} for url, card in cards.items()},
        )
    except SlackApiError as exc:
        log.warning("chat.unfurl refused: %s", exc.response.get("error"))


# ---- command buttons -------------------------------------------------------------------------


async def press_command_button(
    services: Services, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Run `/oms <command> <argument>` as the presser, with their roles, as if typed."""
    set_correlation_id()
    action = _dict((body.get("actions") or [{}])[0])
    container = _dict(body.get("container"))
    user = _str(_dict(body.get("user")).get("id"))
    channel = _str(_dict(body.get("channel")).get("id")) or _str(container.get("channel_id"))
    if not user or not channel:
        log.warning("command button press without a user or channel ignored")
        return
    reply = Replier(
        client,
        channel_id=channel,
        user_id=user,
        response_url=_str(body.get("response_url")) or None,
        session=services.http_session(),
        updates=services.updates,
        can_replace=False,
    )
    name = _str(action.get("action_id")).removeprefix(COMMAND_BUTTON_PREFIX)
    argument = _str(action.get("value"))
    spec = services.registry.get(name)
    # The argument is one word the bot wrote (an order reference): anything else was altered.
    one_word = not any(c.isspace() or c in "'\"`" for c in argument)
    # Only read-only commands: a button that anyone may press never changes the OMS (a
    # command that does shows its own card with a confirmation when typed).
    read_only = spec is not None and not spec.changes_oms
    if not read_only or not argument or len(argument) > MAX_BUTTON_ARGUMENT or not one_word:
        await reply.safe_ephemeral(
            Message(text="This button is not valid: it may come from an altered message.")
        )
        return
    try:
        parsed = services.registry.parse(f"{name} {argument}")
    except UsageError as err:
        await reply.safe_ephemeral(usage_error(err))
        return
    refusal = await command_refusal(services, user, parsed.spec)
    if refusal is not None:
        services.report(parsed.spec.name, "refused")
        await reply.safe_ephemeral(refused_message(refusal))
        return
    await run_handler(
        services,
        Invocation(
            command=parsed,
            user_id=user,
            channel_id=channel,
            team_id=_str(_dict(body.get("team")).get("id")),
            reply=reply,
            client=client,
            tools=services,
            correlation_id=current_correlation_id() or set_correlation_id(),
        ),
    )
