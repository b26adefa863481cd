"""The long-lived objects a running bot shares: settings, registry, OMS client, store, tasks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from bot.commands import Registry
from bot.config import Settings
from bot.oms import OmsClient
from bot.store import Store
from bot.tasks import TaskTracker

if TYPE_CHECKING:
    from bot.sandbox import SandboxServer

log = logging.getLogger(__name__)

# (command name, outcome): outcome is "ok", "usage_error", "oms_error" or "error".
OutcomeListener = Callable[[str, str], None]


@dataclass
class Services:
    settings: Settings
    registry: Registry
    oms: OmsClient
    store: Store
    tasks: TaskTracker = field(default_factory=TaskTracker)
    # The embedded sandbox when OMS_BASE_URL is unset; stopped with the services.
    sandbox: SandboxServer | None = None
    outcome_listeners: list[OutcomeListener] = field(default_factory=list)
    _http: aiohttp.ClientSession | None = None

    def http_session(self) -> aiohttp.ClientSession:
        """One aiohttp session for response_url posts, made on the serving loop at first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    def report(self, command: str, outcome: str) -> None:
        """Tell the listeners (the console; later audit and metrics) how a command ended."""
        for listener in self.outcome_listeners:
            try:
                listener(command, outcome)
            except Exception:
                log.exception("outcome listener failed")

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self.oms.aclose()
        self.store.dispose()
        if self.sandbox is not None:
            self.sandbox.stop()


def build_registry() -> Registry:
    """Every command of every handler module."""
    import handlers

    registry = Registry()
    handlers.register_all(registry)
    return registry


def connect_oms(settings: Settings) -> tuple[OmsClient, SandboxServer | None]:
    """The OMS client the settings describe: a real OMS, or the embedded sandbox (started)."""
    if settings.uses_sandbox:
        from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer

        sandbox = SandboxServer().start()
        client = OmsClient(
            sandbox.url,
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            timeout=settings.oms_timeout,
        )
        return client, sandbox
    assert settings.oms_base_url is not None
    client = OmsClient(
        settings.oms_base_url,
        username=settings.oms_username,
        password=settings.oms_password.get_secret_value() if settings.oms_password else None,
        api_token=settings.oms_api_token.get_secret_value() if settings.oms_api_token else None,
        maarg_url=settings.oms_maarg_url,
        timeout=settings.oms_timeout,
    )
    return client, None


def create_services(settings: Settings) -> Services:
    """Wire the OMS (real, or the embedded sandbox) and the store from the settings."""
    from bot.store import open_store

    oms, sandbox = connect_oms(settings)
    return Services(
        settings=settings,
        registry=build_registry(),
        oms=oms,
        store=open_store(settings.omsbot_database_url),
        sandbox=sandbox,
    )
