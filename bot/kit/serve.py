"""Run an ASGI app under uvicorn: on a background thread (sandbox, console Slack, tests), or
as the bot's own server, which drains before it stops listening (`DrainingServer`)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Literal

import uvicorn

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn that drains on the first SIGTERM (or SIGINT) before it stops listening.

    Plain uvicorn closes its socket at the signal, so a request sent during the shutdown is
    refused at the connection and Slack shows the user a failure. Here the server goes on
    serving while `drain` runs (the app answers new work "restarting, try again in a
    minute" and finishes the work in flight); then it stops as uvicorn does. A second
    signal stops it at once."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        await super().main_loop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self._draining is not None or self.should_exit:
            super().handle_exit(sig, frame)
            if self._draining is not None:
                self.force_exit = True  # a second signal: no more waiting
            return
        # A signal handler runs between two bytecodes of the loop's thread: hand the drain
        # to the loop rather than touching it from here.
        self._loop.call_soon_threadsafe(self._start_drain, sig, frame)

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        if self._draining is not None:
            return
        log.info("signal %d: draining before stopping", sig)
        self._draining = asyncio.get_running_loop().create_task(self._drain_then_exit(sig, frame))

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            await self._drain()
        except Exception:
            log.exception("draining failed; stopping now")
        super().handle_exit(sig, frame)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free port, readable at once from getsockname()."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without TCP_NODELAY (inherited by accepted sockets on Linux) every keep-alive request
    # stalls ~40 ms on Nagle + delayed ACK, which would dwarf latencies and benchmarks.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class ThreadedServer:
    """uvicorn on its own thread and event loop, bound to a free loopback port by default."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["on", "off"] = "on",
    ) -> None:
        self._host = host
        # Binding here (not in uvicorn) lets port 0 pick a free port we can read back at once.
        self._sock = bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan=lifespan, access_log=False, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"asgi:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 30.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
