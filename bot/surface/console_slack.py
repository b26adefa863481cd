"""A local stand-in for the Slack Web API, so the console runs the real app unchanged.

It answers the few methods the bot calls, keeps each message by ts (so updates replace it),
and hands every message to the console to print. It is not a test double: the tests use the
stricter fake in tests/harness, which also checks Block Kit rules and injects failures.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

CONSOLE_TEAM = "T0CONSOLE"
CONSOLE_CHANNEL = "C0CONSOLE"
CONSOLE_BOT_USER = "U0OMSBOT"


@dataclass
class ConsoleMessage:
    """One message as the console shows it. `kind`: posted, updated, ephemeral, response."""

    kind: str
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None


Listener = Callable[[ConsoleMessage], None]


class ConsoleSlack:
    """The Web API subset the bot uses, answered locally."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.messages: dict[tuple[str, str], ConsoleMessage] = {}
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{token}", self._response, methods=["POST"]),
            ]
        )
        self.base_url = ""  # set by the shell once the server has a port

    def response_url(self) -> str:
        return f"{self.base_url}/response/{next(self._seq)}"

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._seq):06d}"

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        body = await request.body()
        if body:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(body))
            else:
                params.update(parse_qsl(body.decode()))
        for key in ("blocks",):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _emit(self, message: ConsoleMessage) -> None:
        with self._lock:
            self.messages[(message.channel, message.ts)] = message
        self._listener(message)

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        p = await self._params(request)
        channel = str(p.get("channel") or CONSOLE_CHANNEL)
        if method == "auth.test":
            return JSONResponse(
                {
                    "ok": True,
                    "team_id": CONSOLE_TEAM,
                    "user_id": CONSOLE_BOT_USER,
                    "bot_id": "B0OMSBOT",
                    "team": "console",
                    "user": "oms-bot",
                    "url": "https://console.invalid/",
                }
            )
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            kind = {"chat.postMessage": "posted", "chat.postEphemeral": "ephemeral"}.get(
                method, "updated"
            )
            ts = str(p.get("ts") or self._ts())
            if method == "chat.update" and (channel, ts) not in self.messages:
                return JSONResponse({"ok": False, "error": "message_not_found"})
            self._emit(
                ConsoleMessage(
                    kind,
                    channel,
                    ts,
                    str(p.get("text") or ""),
                    p.get("blocks") or [],
                    p.get("thread_ts"),
                )
            )
            key = "message_ts" if method == "chat.postEphemeral" else "ts"
            return JSONResponse({"ok": True, "channel": channel, key: ts})
        if method == "users.info":
            user = str(p.get("user"))
            return JSONResponse(
                {"ok": True, "user": {"id": user, "name": user.lower(), "tz": "UTC"}}
            )
        if method == "conversations.info":
            return JSONResponse({"ok": True, "channel": {"id": channel, "name": "console"}})
        if method == "usergroups.users.list":
            return JSONResponse({"ok": True, "users": []})
        if method in ("views.open", "views.update"):
            # The console has no modals: an optional input (a denial reason) is skipped.
            return JSONResponse({"ok": True, "view": {"id": "V0CONSOLE"}})
        return JSONResponse({"ok": False, "error": "unknown_method"})

    async def _response(self, request: Request) -> Response:
        p = json.loads(await request.body() or b"{}")
        kind = "replaced" if p.get("replace_original") else "response"
        self._emit(
            ConsoleMessage(
                kind, CONSOLE_CHANNEL, self._ts(), str(p.get("text") or ""), p.get("blocks") or []
            )
        )
        return PlainTextResponse("ok")
