"""Run an ASGI app under uvicorn on a background thread (sandbox, console Slack, tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn


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
