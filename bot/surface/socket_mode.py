"""The Socket Mode adapter: every envelope is acknowledged, whatever Bolt made of it.

Bolt's adapter acks only a 200 result: an interaction no listener takes (a stale or foreign
button's `action_id`, answered 404) or a payload Bolt cannot take apart (an exception) would
go unacknowledged, and Slack would show the user an error and send it again. The HTTP route
answers those 200 (bot/surface/app.py `events`); this does the same over the socket.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

log = logging.getLogger(__name__)

# (payload) -> whether Bolt can read it; (payload) -> tell its user it was not acted on.
Screen = Callable[[dict[str, Any]], bool]
Refuse = Callable[[dict[str, Any]], None]


class EveryEnvelopeAcked(AsyncSocketModeHandler):
    def __init__(self, app: AsyncApp, app_token: str, *, readable: Screen, refuse: Refuse) -> None:
        super().__init__(app, app_token)
        self.readable = readable
        self.refuse = refuse

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        payload = req.payload if isinstance(req.payload, dict) else {}
        try:
            if req.type == "interactive" and not self.readable(payload):
                raise ValueError("malformed interaction payload")
            response = await run_async_bolt_app(self.app, req)
        except Exception as exc:
            log.warning("unreadable Slack envelope ignored (%s)", type(exc).__name__)
            self.refuse(payload)
            await _ack(client, req)
            return
        if response.status != 200:
            # No listener for it (404), or refused: acked empty, as the HTTP route answers 200.
            await _ack(client, req)
            return
        await send_async_response(client, req, response, start)


async def _ack(client: SocketModeClient, req: SocketModeRequest) -> None:
    await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
