"""Builds the Bolt AsyncApp and the ASGI server around it (HTTP mode or Socket Mode).

One ASGI app serves both modes: in HTTP mode it carries `POST /slack/events`; in Socket Mode
it connects the socket at start-up. Both serve `/healthz`, `/readyz` and `/metrics`, and both
shut down the same way: stop taking new work, finish what is in flight (up to a timeout),
close clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import BoltResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request import payload_utils
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.engine.actions import ACTION_PREFIX
from bot.engine.approvals import DENY_REASON_VIEW
from bot.engine.metrics import CONTENT_TYPE, Metrics
from bot.engine.outages import database_unreachable
from bot.kit.forms import FORM_VIEW
from bot.oms import OmsError
from bot.store import StoreUnavailable
from bot.surface.deliveries import Deliveries, delivery_key, retry_number
from bot.surface.dispatch import Ack, handle_slash_command, tell_restarting
from bot.surface.forms import on_form_submission, open_quick_form
from bot.surface.home import QUICK_PREFIX, HomeTabs, read_home_opened
from bot.surface.links import add_link_listeners, redelivered
from bot.surface.socket_mode import EveryEnvelopeAcked
from bot.surface.wiring import Services

log = logging.getLogger(__name__)

READY_CHECK_TIMEOUT = 5.0


def build_web_client(token: str, api_url: str, metrics: Metrics | None = None) -> AsyncWebClient:
    """The Web API client: retries connection errors and honours 429 Retry-After.

    With `metrics`, a counting handler goes first: the SDK shows it every answer (errors and
    429s, retried or not) before the retrying handlers decide."""
    handlers: list[AsyncRetryHandler] = [metrics.slack_retry_handler()] if metrics else []
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        retry_handlers=[
            *handlers,
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_bolt_app(
    services: Services, *, token: str, signing_secret: str | None, api_url: str
) -> AsyncApp:
    """The Bolt app with every listener. Work that calls the OMS starts after the ack."""
    app = AsyncApp(
        client=build_web_client(token, api_url, services.metrics),
        signing_secret=signing_secret or "",
        # The ack handler runs inline (no 10 ms ack polling); work goes to the task tracker.
        process_before_response=True,
        request_verification_enabled=signing_secret is not None,
        logger=logging.getLogger("slack_bolt"),
    )

    services.attach_slack(app.client)
    deliveries = Deliveries()

    @app.middleware
    async def screen_payloads(
        req: AsyncBoltRequest,
        body: dict[str, Any],
        context: dict[str, Any],
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        # A redelivery (HTTP X-Slack-Retry-Num, Socket Mode retry_attempt, which Bolt turns
        # into the same header) of an envelope this process took already: acked, and nothing
        # more. One that reached another replica first is marked, so a click already taken
        # stays silent instead of saying "Already handled" a second time.
        retry = retry_number(req.headers)
        if not deliveries.first_time(delivery_key(body), retry=retry):
            log.info("redelivered envelope ignored (retry %d)", retry)
            return BoltResponse(status=200, body="")
        context["redelivered"] = retry >= 1
        # Bolt's own listener matchers index into `actions` and `view` and would answer 500
        # on a malformed payload; answer 200 and tell the user instead, changing nothing.
        if not well_formed(body):
            if retry < 1:
                services.tasks.spawn(
                    services.actions.on_click(body, app.client), name="bad payload"
                )
            return BoltResponse(status=200, body="")
        await next()
        return None

    @app.command("/oms")
    async def on_oms(ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await handle_slash_command(services, body, ack, client)

    @app.action(re.compile(f"^{re.escape(ACTION_PREFIX)}"))
    async def on_button(
        ack: Ack, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        # Ack at once; checking and consuming the token happen after, off the 3 s path.
        await ack()
        if services.tasks.accepting:
            redelivered = bool(context.get("redelivered"))
            services.tasks.spawn(
                services.actions.on_click(body, client, redelivered=redelivered), name="click"
            )
        else:
            # Draining for a restart: the button is left as it is, to press again later.
            services.tasks.spawn(tell_restarting(services, body, client), name="restarting")

    @app.view(DENY_REASON_VIEW)
    async def on_deny_reason(ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        view = body.get("view") or {}
        values = ((view.get("state") or {}).get("values") or {}).get("reason") or {}
        reason = str((values.get("reason") or {}).get("value") or "")
        user = str((body.get("user") or {}).get("id") or "")
        decision = services.approvals.on_deny_reason(
            user, str(view.get("private_metadata") or ""), reason
        )
        services.tasks.spawn(told_if_database_down(decision, app.client, user), name="deny reason")

    # The message shortcuts, order-link unfurls and command buttons (issue 15).
    add_link_listeners(app, services)
    _add_home_and_forms(app, services)
    return app


def _add_home_and_forms(app: AsyncApp, services: Services) -> None:
    """The App Home tab, its quick actions, and command forms (modals that run a command)."""
    home = HomeTabs(services)

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        opened = read_home_opened(event)
        if opened is None or not services.tasks.accepting:
            return
        home.opened(*opened)
        services.tasks.spawn(home.publish(client, *opened), name="home")

    @app.action(re.compile(f"^{re.escape(QUICK_PREFIX)}"))
    async def on_quick_action(
        ack: Ack, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        if redelivered(context):
            return  # its trigger opened the form already, or has expired by now
        if services.tasks.accepting:
            services.tasks.spawn(open_quick_form(services, body, client), name="quick action")
        else:
            services.tasks.spawn(tell_restarting(services, body, client), name="restarting")

    @app.view(FORM_VIEW)
    async def on_form(ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await on_form_submission(services, body, ack, client)


async def told_if_database_down(
    work: Awaitable[None], client: AsyncWebClient, user_id: str
) -> None:
    """Run `work` (a modal's submission: it has no response_url); when the database stops
    it, tell the user in a direct message rather than say nothing."""
    try:
        await work
    except StoreUnavailable as exc:
        log.warning("a submission stopped by the database: %s", exc)
        message = database_unreachable()
        try:
            await client.chat_postMessage(channel=user_id, text=message.text, blocks=message.blocks)
        except SlackApiError as slack_exc:
            log.warning("could not tell %s either: %s", user_id, slack_exc.response.get("error"))


def well_formed(body: dict[str, Any]) -> bool:
    """Whether an interaction payload has the shape Bolt's matchers rely on."""
    kind = body.get("type")
    if kind == "block_actions":
        acts = body.get("actions")
        return (
            isinstance(acts, list)
            and bool(acts)
            and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in acts)
        )
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        return isinstance(view, dict) and isinstance(view.get("callback_id"), str)
    return True


_BOLT_READERS = (
    payload_utils.to_options,
    payload_utils.to_shortcut,
    payload_utils.to_action,
    payload_utils.to_view,
    payload_utils.to_command,
    payload_utils.to_event,
    payload_utils.to_message,
    payload_utils.to_step,
)


def bolt_can_read(body: dict[str, Any]) -> bool:
    """Whether Bolt can take the payload apart (it does so for every middleware call)."""
    # Bolt's log line for a request no listener takes reads these as objects.
    if any(key in body and not isinstance(body[key], dict) for key in ("view", "event")):
        return False
    try:
        for read in _BOLT_READERS:
            read(body)
    except (LookupError, TypeError, AttributeError):
        return False
    return True


def _payload_of(body: bytes) -> dict[str, Any]:
    """The interaction payload of a form body, when it is a JSON object; else empty."""
    fields = parse_qs(body.decode("utf-8", "replace"))
    try:
        payload = json.loads(fields.get("payload", ["{}"])[0])
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


async def sweep_forever(services: Services) -> None:
    """Every replica sweeps: interrupted runs get Resume, expired approvals are closed."""
    interval = min(15.0, services.settings.omsbot_run_lease / 2)
    while True:
        try:
            await services.sweep()
        except Exception:
            log.exception("sweep failed; trying again in %.0fs", interval)
        await asyncio.sleep(interval)


async def readiness(services: Services) -> list[str]:
    """Why the bot is not ready: the database or the OMS login, with the reason."""
    problems: list[str] = []
    if not services.tasks.accepting:
        # A load balancer stops sending here; what still comes is told "restarting".
        problems.append("draining for a restart")
    try:
        await asyncio.wait_for(services.store.aping(), READY_CHECK_TIMEOUT)
    except StoreUnavailable as exc:
        problems.append(str(exc))
    except TimeoutError:
        problems.append(f"database did not answer within {READY_CHECK_TIMEOUT:.0f}s")
    try:
        await asyncio.wait_for(services.oms.check_login(), READY_CHECK_TIMEOUT)
    except OmsError as exc:
        problems.append(str(exc))
    except TimeoutError:
        problems.append(f"OMS login did not answer within {READY_CHECK_TIMEOUT:.0f}s")
    return problems


def build_asgi_app(
    services: Services, bolt_app: AsyncApp, *, app_token: str | None = None
) -> Starlette:
    """HTTP mode when `app_token` is None, Socket Mode otherwise; health routes in both."""

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        problems = await readiness(services)
        if problems:
            return JSONResponse({"ready": False, "problems": problems}, status_code=503)
        return JSONResponse({"ready": True, "problems": []})

    async def metrics(_: Request) -> Response:
        return Response(await services.metrics.arender(), media_type=CONTENT_TYPE)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    if app_token is None:
        slack_handler = AsyncSlackRequestHandler(bolt_app)
        secret = services.settings.slack_signing_secret
        verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

        async def events(request: Request) -> Response:
            body = await request.body()  # cached: Bolt's handler reads it again
            payload = _payload_of(body)
            try:
                if payload and not (well_formed(payload) and bolt_can_read(payload)):
                    raise ValueError("malformed interaction payload")
                response = await slack_handler.handle(request)
            except Exception as exc:
                # Bolt reads the payload's user, team, channel and actions before any listener
                # or middleware of ours runs (some before checking the signature) and fails
                # on a payload of another shape: that is a refusal, never a 500.
                signed = verifier is None or verifier.is_valid_request(body, dict(request.headers))
                if not signed:
                    return PlainTextResponse("invalid request signature", status_code=401)
                log.warning("unreadable Slack request ignored (%s)", type(exc).__name__)
                services.tasks.spawn(
                    services.actions.refuse_unreadable(payload, bolt_app.client),
                    name="unreadable request",
                )
                return Response(status_code=200)
            if response.status_code == 404:
                # No listener for this kind of signed request (a foreign button, a shortcut,
                # an event type): answer 200, since Slack shows the user an error for
                # anything else and retries events, and act on nothing.
                return Response(status_code=200)
            return response

        routes.append(Route("/slack/events", events, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        socket_handler = None
        if app_token is not None:
            # Built here, on the serving loop: its aiohttp session binds to the running loop.
            def refuse(payload: dict[str, Any]) -> None:
                services.tasks.spawn(
                    services.actions.refuse_unreadable(payload, bolt_app.client),
                    name="unreadable envelope",
                )

            socket_handler = EveryEnvelopeAcked(
                bolt_app,
                app_token,
                readable=lambda p: well_formed(p) and bolt_can_read(p),
                refuse=refuse,
            )
            await socket_handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("connected to Slack in Socket Mode")
        sweeper = asyncio.get_running_loop().create_task(sweep_forever(services))
        # Every replica schedules; each slot is claimed in the database, so it posts once.
        # A dead replica's claim is taken over after the run lease, like its runs.
        digests = services.slot_scheduler(lease=services.settings.omsbot_run_lease)
        await digests.start()
        # Every replica polls the watches; each alert is claimed in the database, so once.
        watches = services.watch_poller()
        watches.start()
        try:
            yield
        finally:
            await watches.stop()
            # A slot being posted (a digest and its reconciliation) finishes first, up to the
            # shutdown timeout: cut off, it is finished by the replica that takes it over.
            await digests.stop(drain=services.settings.omsbot_shutdown_timeout)
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await shutdown(services, socket_handler)

    return Starlette(routes=routes, lifespan=lifespan)


async def drain(services: Services) -> None:
    """On SIGTERM, before the server stops listening: new work is answered "restarting" while
    the work in flight finishes (up to OMSBOT_SHUTDOWN_TIMEOUT; `shutdown` cancels what is
    left)."""
    services.tasks.accepting = False
    timeout = services.settings.omsbot_shutdown_timeout
    log.info("draining: finishing %d task(s), up to %.0fs", services.tasks.pending, timeout)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(services.tasks.idle(), timeout)


async def shutdown(services: Services, socket_handler: AsyncSocketModeHandler | None) -> None:
    """Stop taking work, finish in-flight commands up to the timeout, close every client."""
    services.tasks.accepting = False
    if socket_handler is not None:
        await socket_handler.close_async()  # type: ignore[no-untyped-call]
    timeout = services.settings.omsbot_shutdown_timeout
    if services.tasks.pending:
        log.info("finishing %d in-flight task(s), up to %.0fs", services.tasks.pending, timeout)
    cancelled = await services.tasks.drain(timeout)
    if cancelled:
        log.warning("%d task(s) did not finish in time and were cancelled", cancelled)
    await services.aclose()
    log.info("shut down")
