"""The OMS's side of the calls: when each request arrived and when its answer left.

`TimedOms` serves the sandbox's app (the same state, so the same data and knobs) on a second
port, behind an ASGI wrapper that records every request's span and how many were in flight
at once. Pointing a bot's OMS client at it shows what the OMS saw: the calls, their
overlap, the longest chain of calls that waited for each other (the critical path). Used by
bench/runbook.py and by the tests of the bounded concurrent reads.

`OmsProcess` serves the same in a process of its own, as a real OMS is: its HTTP parsing and
its handlers then take no turns of the measured process's interpreter (the GIL), so what the
benchmark counts as the bot's own cost is the bot's. Its spans and knobs are read and set
over HTTP on `/__bench__/...` routes, which are not recorded.

Usage: python bench/spans.py --serve   (prints the URL as JSON, then serves)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.kit.serve import ThreadedServer
from bot.sandbox import SandboxServer
from bot.sandbox.server import build_app
from bot.sandbox.state import SandboxState

CONTROL = "/__bench__/"
FLOOR_ROUTE = "/api/checkLoginOptions"  # small, needs no login


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


def critical_path(spans: list[Span], per_call: float = 0.0) -> float:
    """The longest chain of calls each starting after the previous one ended, by the sum of
    their times: what the calls would cost if every independent one overlapped. `per_call`
    is added to each call of the chain (a client's round trip around the OMS's own time)."""
    ordered = sorted(spans, key=lambda s: s.end)
    best: list[float] = []
    for i, span in enumerate(ordered):
        before = [best[j] for j in range(i) if ordered[j].end <= span.start]
        best.append(span.seconds + per_call + max(before, default=0.0))
    return max(best, default=0.0)


class _Control:
    """The bench's own routes in front of a recorder: spans read and cleared, the state reset
    and its timing knobs set. Not recorded: the OMS never sees them."""

    def __init__(self, recorder: SpanRecorder, state: SandboxState) -> None:
        self.recorder = recorder
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(CONTROL):
            await self.recorder(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer: object = {}
        if path == CONTROL + "spans":
            answer = [asdict(span) for span in self.recorder.spans()]
        elif path == CONTROL + "clear":
            self.recorder.clear()
        elif path == CONTROL + "reset":
            self.state.reset()
            self.recorder.clear()
        elif path == CONTROL + "knobs":
            for name, value in json.loads(body).items():
                setattr(self.state, name, value)
        content = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


class OmsProcess:
    """The sandbox's app behind a SpanRecorder, served by a process of its own."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url: str = json.loads(self._process.stdout.readline())["url"]
        self._http = httpx.Client(base_url=self.url, timeout=10)

    def reset(self, **knobs: float) -> None:
        """A fresh sandbox (the demo data as it starts), with these knobs set."""
        self._http.post(CONTROL + "reset").raise_for_status()
        self._http.post(CONTROL + "knobs", json=knobs).raise_for_status()

    def clear(self) -> None:
        self._http.post(CONTROL + "clear").raise_for_status()

    def spans(self) -> list[Span]:
        answer = self._http.get(CONTROL + "spans")
        answer.raise_for_status()
        return [Span(**span) for span in answer.json()]

    def round_trip_floor(self, calls: int = 40) -> float:
        """What a bare httpx client adds to an answer's time at the OMS (its span): the HTTP
        stack on both sides and the loopback, which no OMS client avoids. The median over
        `calls` sequential GETs of a small route on a warm connection, in seconds."""

        async def timed_calls() -> list[float]:
            async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
                await client.get(FLOOR_ROUTE)  # connect first: the bot's calls reuse theirs
                self.clear()
                seen = []
                for _ in range(calls):
                    start = time.perf_counter()
                    await client.get(FLOOR_ROUTE)
                    seen.append(time.perf_counter() - start)
                return seen

        seen = asyncio.run(timed_calls())
        spans = self.spans()
        assert len(spans) == len(seen), (len(spans), len(seen))
        return statistics.median(t - span.seconds for t, span in zip(seen, spans, strict=True))

    def stop(self) -> None:
        self._http.close()
        self._process.terminate()
        self._process.wait(10)


def serve() -> None:
    state = SandboxState()
    server = ThreadedServer(_Control(SpanRecorder(build_app(state)), state), lifespan="off")
    server.start(10.0)
    print(json.dumps({"url": server.url}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    if parser.parse_args().serve:
        serve()
