"""Fake Socket Mode endpoint: a real WebSocket server speaking Slack's envelope protocol.

It runs on its own thread and event loop, so a test can drive it from synchronous code or from an
async test whose loop also runs the app's Socket Mode client. Blocking helpers (`wait_*`) have
`await_*` twins that wait on a worker thread instead of blocking that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any, Literal, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .driver import DEFAULT_APP_ID

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]
T = TypeVar("T")


class SocketModeServer:
    """WebSocket server handing out `hello`, envelopes and `disconnect` frames, collecting acks."""

    def __init__(self, *, app_id: str = DEFAULT_APP_ID, host: str = "127.0.0.1") -> None:
        self.app_id = app_id
        self._host = host
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._ticket_seq = itertools.count(1)
        self._open: list[ServerConnection] = []
        self._total = 0
        self._acks: dict[str, dict[str, Any]] = {}
        self._frames: list[dict[str, Any]] = []
        # Which connection (numbered from 1 as accepted) each open socket is, and each ack
        # came in on: replicas each hold a connection and tests target one.
        self._serial: dict[ServerConnection, int] = {}
        self._acked_on: dict[str, int] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> SocketModeServer:
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-socket-mode", daemon=True
        )
        self._thread.start()
        ready.result(timeout=5)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._loop = self._thread = None

    def __enter__(self) -> SocketModeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(self._listen())
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # surface bind errors in start() rather than hanging
            ready.set_exception(exc)
            return
        ready.set_result(None)
        loop.run_forever()
        loop.close()

    async def _listen(self) -> Server:
        # serve() must be created inside the running loop that will own the connections.
        # A short close_timeout: clients that drop the socket without a closing handshake
        # (slack_sdk's builtin client does) must not stall the test's teardown for 10 s.
        return await serve(
            self._session, self._host, 0, process_request=self._admit, close_timeout=0.5
        )

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ---- connection handling ---------------------------------------------------------------

    def new_url(self) -> str:
        """Mint a single-use ws:// URL, as apps.connections.open does."""
        ticket = f"ticket-{next(self._ticket_seq)}-{uuid.uuid4().hex[:8]}"
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://{self._host}:{self._port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        # Slack's URLs are short-lived and good for one connection: a client that reuses one
        # instead of calling apps.connections.open again must fail here as it would there.
        path, _, query = request.path.partition("?")
        params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        with self._cond:
            ticket = params.get("ticket", "")
            if path.rstrip("/") != "/link" or ticket not in self._tickets:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
            self._tickets.discard(ticket)
        return None

    async def _session(self, ws: ServerConnection) -> None:
        with self._cond:
            self._open.append(ws)
            self._total += 1
            self._serial[ws] = self._total
            count = len(self._open)
            self._cond.notify_all()
        try:
            await ws.send(json.dumps(_hello(self.app_id, count)))
            async for raw in ws:
                self._record(raw, self._serial[ws])
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._open.remove(ws)
                self._serial.pop(ws, None)
                self._cond.notify_all()

    def _record(self, raw: str | bytes, connection: int) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = {"unparsed": raw if isinstance(raw, str) else raw.decode(errors="replace")}
        if not isinstance(frame, dict):
            frame = {"unparsed": frame}
        with self._cond:
            self._frames.append(frame)
            envelope_id = frame.get("envelope_id")
            if isinstance(envelope_id, str):
                self._acks[envelope_id] = frame
                self._acked_on[envelope_id] = connection
            self._cond.notify_all()

    # ---- what tests call ---------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Connections open right now."""
        with self._cond:
            return len(self._open)

    @property
    def total_connections(self) -> int:
        """Connections accepted since start (reconnects count again)."""
        with self._cond:
            return self._total

    def frames(self) -> list[dict[str, Any]]:
        """Every frame the client sent (acks and anything else), oldest first."""
        with self._cond:
            return list(self._frames)

    def send_envelope(
        self,
        type: EnvelopeType,
        payload: dict[str, Any],
        accepts_response_payload: bool = False,
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        connection: int | None = None,
    ) -> str:
        """Send an envelope to the newest open connection, or to the open connection numbered
        `connection` (see `open_connections`); return its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api" or retry_attempt:
            # Slack documents the retry fields on events_api envelopes; a redelivered
            # interaction or command is sent with them too [INF] (the bot must not act twice
            # whichever envelopes carry them).
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        if connection is None:
            self._send_to_newest(json.dumps(envelope))
        else:
            self._send_to(connection, json.dumps(envelope))
        return envelope_id

    def disconnect(self, reason: str = "refresh_requested", *, close: bool = True) -> None:
        """Send a `disconnect` frame to every open connection and, by default, close them.

        Slack closes the socket shortly after the frame; the client must then open a fresh URL.
        """
        frame = json.dumps({"type": "disconnect", "reason": reason, "debug_info": _DEBUG_INFO})
        with self._cond:
            targets = list(self._open)
        for ws in targets:
            with contextlib.suppress(ConnectionClosed):  # it may already be going away
                self._on_loop(ws.send(frame))
            if close:
                # Fire and forget: the closing handshake needs the client to answer, and the
                # client may run on the very loop this (synchronous) call is blocking.
                asyncio.run_coroutine_threadsafe(
                    ws.close(code=1000, reason="disconnect"), self._require_loop()
                )

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Block until the client acks `envelope_id` (acks may come in any order)."""
        found = self._wait(lambda: self._acks.get(envelope_id), timeout)
        if found is None:
            raise AssertionError(
                f"no ack for envelope {envelope_id} within {timeout}s; frames: {self.frames()}"
            )
        return found

    async def await_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        return await asyncio.to_thread(self.wait_ack, envelope_id, timeout)

    def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        """Block until at least `count` connections are open."""
        if self._wait(lambda: len(self._open) >= count or None, timeout) is None:
            raise AssertionError(f"{self.connections} socket connections open, wanted {count}")

    async def await_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        await asyncio.to_thread(self.wait_connected, count, timeout)

    def _wait(self, probe: Callable[[], T | None], timeout: float) -> T | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := probe()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return found

    def _send_to_newest(self, text: str) -> None:
        with self._cond:
            if not self._open:
                raise AssertionError("no Socket Mode client is connected")
            ws = self._open[-1]
        self._on_loop(ws.send(text))

    def _on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a quick coroutine (a send) on the server loop and wait for it."""
        asyncio.run_coroutine_threadsafe(coro, self._require_loop()).result(timeout=5)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("SocketModeServer is not started")
        return self._loop

    # ---- several clients (replicas), each with its own connection --------------------------

    def open_connections(self) -> list[int]:
        """The numbers of the connections open right now, oldest first."""
        with self._cond:
            return [self._serial[ws] for ws in self._open]

    def acked_on(self, envelope_id: str) -> int | None:
        """The number of the connection the ack of `envelope_id` came in on."""
        with self._cond:
            return self._acked_on.get(envelope_id)

    def acks_of(self, envelope_id: str) -> int:
        """How many frames acknowledged `envelope_id` (Slack wants exactly one)."""
        with self._cond:
            return sum(1 for f in self._frames if f.get("envelope_id") == envelope_id)

    def _send_to(self, connection: int, text: str) -> None:
        with self._cond:
            targets = [ws for ws in self._open if self._serial.get(ws) == connection]
            if not targets:
                raise AssertionError(f"Socket Mode connection {connection} is not open")
        self._on_loop(targets[0].send(text))


_DEBUG_INFO = {"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060}


def _hello(app_id: str, num_connections: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": _DEBUG_INFO,
        "connection_info": {"app_id": app_id},
    }
