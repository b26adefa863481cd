"""The OMS's side of the calls: when each request arrived and when its answer left.

`TimedOms` serves the sandbox's app (the same state, so the same data and knobs) on a second
port, behind an ASGI wrapper that records every request's span and how many were in flight
at once. Pointing a bot's OMS client at it shows what the OMS saw: the calls, their
overlap, the longest chain of calls that waited for each other (the critical path). Used by
bench/runbook.py and by the tests of the bounded concurrent reads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.kit.serve import ThreadedServer
from bot.sandbox import SandboxServer
from bot.sandbox.server import build_app


@dataclass(frozen=True, slots=True)
class Span:
    method: str
    path: str
    start: float  # time.perf_counter() when the request arrived
    end: float  # when the last byte of the answer was handed to the server

    @property
    def seconds(self) -> float:
        return self.end - self.start


class SpanRecorder:
    """ASGI middleware: a Span per HTTP request, and the most requests in flight at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self._in_flight = 0
        self._max_in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        ended = False

        async def timed_send(message: Message) -> None:
            nonlocal ended
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                ended = True
                self._done(scope, start)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not ended:
                self._done(scope, start)

    def _done(self, scope: Scope, start: float) -> None:
        span = Span(scope["method"], scope["path"], start, time.perf_counter())
        with self._lock:
            self._in_flight -= 1
            self._spans.append(span)

    def spans(self) -> list[Span]:
        with self._lock:
            return sorted(self._spans, key=lambda s: s.start)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._max_in_flight = self._in_flight


class TimedOms:
    """The sandbox's app, with its state, on its own port behind a SpanRecorder."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.recorder = SpanRecorder(build_app(sandbox.state))
        self._server = ThreadedServer(self.recorder, lifespan="off")

    def start(self) -> TimedOms:
        self._server.start(10.0)
        return self

    def stop(self) -> None:
        self._server.stop(10.0)

    @property
    def url(self) -> str:
        return self._server.url


def critical_path(spans: list[Span]) -> float:
    """The longest chain of calls each starting after the previous one ended, by the sum of
    their times: what the calls would cost if every independent one overlapped."""
    ordered = sorted(spans, key=lambda s: s.end)
    best: list[float] = []
    for i, span in enumerate(ordered):
        before = [best[j] for j in range(i) if ordered[j].end <= span.start]
        best.append(span.seconds + max(before, default=0.0))
    return max(best, default=0.0)
