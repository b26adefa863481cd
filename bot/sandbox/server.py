"""The sandbox OMS as a real HTTP server: both HotWax backends on one port.

`SandboxServer` runs it in a background thread (tests, benchmarks, `oms-bot shell`);
`run_sandbox_cli` runs it in the foreground for `oms-bot sandbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bot.sandbox.data import DEMO_API_TOKEN, DEMO_PASSWORD, DEMO_USERNAME, SCENARIOS
from bot.sandbox.maarg import maarg_routes
from bot.sandbox.middleware import SandboxMiddleware
from bot.sandbox.ofbiz import ofbiz_routes
from bot.sandbox.state import SandboxState

_START_TIMEOUT = 10.0


def build_app(state: SandboxState) -> ASGIApp:
    app = Starlette(routes=[*ofbiz_routes(state), *maarg_routes(state)])
    return SandboxMiddleware(app, state)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without TCP_NODELAY (inherited by accepted sockets on Linux) every keep-alive request
    # stalls ~40 ms on Nagle + delayed ACK, which would dwarf the latency knob and benchmarks.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _config(state: SandboxState, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        build_app(state),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


class SandboxServer:
    """The sandbox on 127.0.0.1 in a background thread. Port 0 picks a free port."""

    def __init__(
        self, state: SandboxState | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._state = state or SandboxState()
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SandboxState:
        return self._state

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{self._host}:{self._port}"

    def start(self) -> SandboxServer:
        """Start serving and block until the server answers HTTP."""
        if self._thread is not None:
            return self
        # Bind the socket ourselves so the real port is known before uvicorn starts.
        sock = _bind(self._host, self._requested_port)
        self._port = sock.getsockname()[1]
        self._server = uvicorn.Server(_config(self._state, self._host, self._port))
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="oms-sandbox", daemon=True
        )
        self._thread.start()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                raise RuntimeError("the sandbox server thread died while starting")
            try:
                # checkLoginOptions needs no token and is not recorded as a fault target.
                httpx.get(f"{self.url}/api/checkLoginOptions", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            self._state.clear_requests()  # the readiness probe is not part of any test
            return
        raise RuntimeError(f"the sandbox did not answer within {_START_TIMEOUT:g}s")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def serve_forever(
    host: str = "127.0.0.1", port: int = 8765, state: SandboxState | None = None
) -> None:
    """Serve the sandbox in the current event loop until cancelled."""
    sock = _bind(host, port)
    server = uvicorn.Server(_config(state or SandboxState(), host, port))
    await server.serve(sockets=[sock])


def banner(url: str) -> str:
    lines = [
        f"HotWax OMS sandbox at {url}  (OFBiz {url}/api/, Maarg {url}/rest/s1/)",
        f"  OMS_BASE_URL={url}",
        f"  OMS_USERNAME={DEMO_USERNAME}  OMS_PASSWORD={DEMO_PASSWORD}",
        f"  or OMS_API_TOKEN={DEMO_API_TOKEN}",
        "Scenarios (try the reference):",
    ]
    lines += [f"  {s.id:<24} {s.reference:<8} {s.description}" for s in SCENARIOS]
    return "\n".join(lines)


def run_sandbox_cli(port: int) -> None:
    """`oms-bot sandbox --port N`: run in the foreground until Ctrl-C."""
    host = "127.0.0.1"
    print(banner(f"http://{host}:{port}"), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(host, port))
