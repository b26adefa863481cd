"""The sandbox OMS as a real HTTP server: both HotWax backends on one port.

`SandboxServer` runs it in a background thread (tests, benchmarks, `oms-bot shell`);
`run_sandbox_cli` runs it in the foreground for `oms-bot sandbox`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bot.kit.serve import ThreadedServer, bind
from bot.sandbox.admin import admin_routes
from bot.sandbox.data import (
    DEMO_API_TOKEN,
    DEMO_ORDER_SYNC_JOB,
    DEMO_PASSWORD,
    DEMO_SHOPIFY_REMOTE,
    DEMO_USERNAME,
    SCENARIOS,
)
from bot.sandbox.jobs import jobs_routes
from bot.sandbox.maarg import maarg_routes
from bot.sandbox.middleware import SandboxMiddleware
from bot.sandbox.ofbiz import ofbiz_routes
from bot.sandbox.order_admin import order_admin_routes
from bot.sandbox.records import DEMO_STORE
from bot.sandbox.service_jobs import service_job_routes
from bot.sandbox.shopify import shopify_routes
from bot.sandbox.state import SandboxState
from bot.sandbox.stores import stores_routes
from bot.sandbox.sync import sync_routes
from bot.sandbox.tenant import Tenant, tenant_named

_START_TIMEOUT = 10.0


def build_app(state: SandboxState) -> ASGIApp:
    # maarg_routes ends with the catch-all 404, so the other Maarg modules come before it.
    app = Starlette(
        routes=[
            # Job services before the generic /api/service/{name} route of ofbiz_routes.
            *jobs_routes(state),
            *ofbiz_routes(state),
            *shopify_routes(state),
            *service_job_routes(state),
            *sync_routes(state),
            *order_admin_routes(state),
            *stores_routes(state),
            *admin_routes(state),
            *maarg_routes(state),
        ]
    )
    return SandboxMiddleware(app, state)


class SandboxServer:
    """The sandbox on 127.0.0.1 in a background thread. Port 0 picks a free port."""

    def __init__(
        self,
        state: SandboxState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant: Tenant | str | None = None,
    ) -> None:
        if isinstance(tenant, str):
            tenant = tenant_named(tenant)
        self._state = state or (SandboxState(tenant=tenant) if tenant else SandboxState())
        self._host = host
        self._requested_port = port
        self._server: ThreadedServer | None = None
        self._url: str | None = None  # kept after stop(), so a test can show it is gone

    @property
    def state(self) -> SandboxState:
        return self._state

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    def start(self) -> SandboxServer:
        """Start serving and block until the server answers HTTP."""
        if self._server is None:
            self._server = ThreadedServer(
                build_app(self._state),
                host=self._host,
                port=self._requested_port,
                lifespan="off",
            )
            self._server.start(_START_TIMEOUT)
            self._url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(_START_TIMEOUT)
        self._server = None

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
    await _serve_on(bind(host, port), state)


async def _serve_on(sock: socket.socket, state: SandboxState | None) -> None:
    config = uvicorn.Config(
        build_app(state or SandboxState()), log_level="warning", access_log=False, lifespan="off"
    )
    await uvicorn.Server(config).serve(sockets=[sock])


def banner(url: str, tenant: Tenant | None = None) -> str:
    played = f"  tenant {tenant.name}" if tenant else ""
    lines = [
        f"HotWax OMS sandbox at {url}  (OFBiz {url}/api/, Maarg {url}/rest/s1/){played}",
        f"  OMS_BASE_URL={url}",
        f"  OMS_USERNAME={DEMO_USERNAME}  OMS_PASSWORD={DEMO_PASSWORD}",
        f"  or OMS_API_TOKEN={DEMO_API_TOKEN}",
        # The embedded sandbox fills these in itself; a bot given OMS_BASE_URL cannot know
        # them, and its order runbooks would answer "not set up" without them.
        "A bot pointed at it needs these in its policy file (OMSBOT_POLICY):",
        "  [stores]",
        f'  default = "{DEMO_STORE}"',
        f'  shopify_remote = "{DEMO_SHOPIFY_REMOTE}"',
        f'  order_sync_job = "{DEMO_ORDER_SYNC_JOB}"',
        "Scenarios (try the reference):",
    ]
    lines += [f"  {s.id:<24} {s.reference:<8} {s.description}" for s in SCENARIOS]
    return "\n".join(lines)


def run_sandbox_cli(port: int, tenant: str = "ofbiz-maarg") -> None:
    """`oms-bot sandbox --port N [--tenant T]`: run in the foreground until Ctrl-C."""
    host = "127.0.0.1"
    played = tenant_named(tenant)
    sock = bind(host, port)  # bound first: with port 0 the banner shows the port it got
    sock.listen(128)  # and listening: a client that read the banner can connect at once
    print(banner(f"http://{host}:{sock.getsockname()[1]}", played), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_on(sock, SandboxState(tenant=played)))
