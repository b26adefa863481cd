"""The knobs applied to every request before routing: log it, add latency, fail on purpose,
and play the tenant (no OFBiz on a Moqui-only tenant; Maarg under its instance path)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.sandbox.state import Fault, RecordedRequest, SandboxState
from bot.sandbox.tenant import INSTANCE_NAME
from bot.sandbox.web import html_page

INSTANCES = "/instances/"


def _fault_response(fault: Fault) -> Response:
    if fault.kind == "html":
        # What a misconfigured proxy or a login page returns in place of the API.
        return html_page(200, "HotWax Commerce - Sign in")
    if fault.kind == "truncated":
        return Response('{"count": 3, "docs": [{"orderId": "100', media_type="application/json")
    if fault.kind == "error500":
        return html_page(500, "500 Internal Server Error")
    if fault.kind == "unavailable":
        return html_page(503, "503 Service Unavailable")
    return JSONResponse(fault.body, status_code=fault.status)


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        self.state.record(
            RecordedRequest(
                method=scope["method"],
                path=path,
                params=parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True),
                body=_decode_body(raw),
                headers=headers,
            )
        )
        if self.state.latency > 0:
            await asyncio.sleep(self.state.latency)
        if self.state.down:
            await html_page(503, "503 Service Unavailable")(scope, receive, send)
            return
        if not self.state.tenant.ofbiz and path.startswith("/api/"):
            # A Moqui-only tenant: its host is Maarg, which has no OFBiz /api.
            await html_page(404, "404 Not Found")(scope, receive, send)
            return
        if path.startswith(INSTANCES):
            inner = _instance_path(path)
            if inner is None:
                # Another instance name, or not a Maarg path: nothing lives there.
                await html_page(404, "404 Not Found")(scope, receive, send)
                return
            scope = {**scope, "path": inner, "raw_path": inner.encode("latin-1")}
            path = inner
        fault = self.state.take_fault(path, scope["method"])
        if fault is not None and fault.kind in ("hang", "dropped"):
            fault.reached.set()
            while not fault.released.is_set():
                await asyncio.sleep(0.02)
            if fault.kind == "dropped":
                await html_page(504, "504 Gateway Time-out")(scope, receive, send)
                return
            fault = None  # a hang, let go: handled as usual
        if fault is not None and fault.kind == "lost":
            # Applied, and the answer never reaches the client (a gateway timeout).
            await self.app(scope, _replay(raw), _discard)
            await html_page(504, "504 Gateway Time-out")(scope, receive, send)
            return
        if fault is not None:
            await _fault_response(fault)(scope, receive, send)
            return
        await self.app(scope, _replay(raw), send)


def _instance_path(path: str) -> str | None:
    """`/instances/<INSTANCE_NAME>/rest/s1/...` → `/rest/s1/...`; None for anything else.

    The sandbox plays the host `OMS_MAARG_URL_TEMPLATE` makes of its bare instance name, so a
    bot that expands the name wrongly (or not at all) gets a 404."""
    name, _, rest = path[len(INSTANCES) :].partition("/")
    inner = f"/{rest}"
    if name != INSTANCE_NAME or not inner.startswith("/rest/s1/"):
        return None
    return inner


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _discard(message: Message) -> None:
    """A `send` that drops the app's answer (the "lost" fault)."""


def _replay(raw: bytes) -> Receive:
    """A `receive` that hands the already-read body to the app, then reports a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # like a live connection: nothing more until it closes
        return {"type": "http.disconnect"}

    return receive
