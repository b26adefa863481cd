"""The long-lived objects a running bot shares: settings, policy, OMS, store, engine, tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.actions import Actions
from bot.approvals import Approvals
from bot.audit import Audit
from bot.commands import Registry
from bot.config import Settings
from bot.metrics import Metrics
from bot.oms import OmsClient
from bot.policy import Authorizer, Policy, load_policy
from bot.runs import RunEngine
from bot.store import Store
from bot.tasks import TaskTracker

if TYPE_CHECKING:
    from bot.sandbox import SandboxServer

log = logging.getLogger(__name__)

# (command name, outcome): outcome is "ok", "usage_error", "refused", "oms_error" or "error".
OutcomeListener = Callable[[str, str], None]


@dataclass
class Services:
    settings: Settings
    registry: Registry
    oms: OmsClient
    store: Store
    policy: Policy = field(default_factory=Policy)
    tasks: TaskTracker = field(default_factory=TaskTracker)
    # The embedded sandbox when OMS_BASE_URL is unset; stopped with the services.
    sandbox: SandboxServer | None = None
    outcome_listeners: list[OutcomeListener] = field(default_factory=list)
    # The Web API client of the Bolt app, for work that no request carries (sweeps).
    slack: AsyncWebClient | None = None
    audit: Audit = field(init=False)
    authorizer: Authorizer = field(init=False)
    actions: Actions = field(init=False)
    engine: RunEngine = field(init=False)
    approvals: Approvals = field(init=False)
    metrics: Metrics = field(init=False)
    _http: aiohttp.ClientSession | None = None
    _workspace_url: str | None = None

    async def message_link(self, channel: str | None, ts: str | None) -> str | None:
        """A link to a Slack message, from the workspace URL auth.test reports (cached)."""
        if not channel or not ts or self.slack is None:
            return None
        if self._workspace_url is None:
            try:
                resp = await self.slack.auth_test()
            except SlackApiError:
                return None
            self._workspace_url = str(resp.get("url") or "https://slack.com/")
        return f"{self._workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"

    def __post_init__(self) -> None:
        self.audit = Audit(self.store)
        self.authorizer = Authorizer(self.policy)
        self.actions = Actions(self)
        self.engine = RunEngine(self)
        self.approvals = Approvals(self)
        for spec in [*self.engine.action_specs(), *self.approvals.action_specs()]:
            self.actions.add(spec)
        self.metrics = Metrics.for_services(self)

    def set_policy(self, policy: Policy) -> None:
        self.policy = policy
        self.authorizer = Authorizer(policy, self.slack)

    def attach_slack(self, client: AsyncWebClient) -> None:
        self.slack = client
        self.authorizer.client = client

    def http_session(self) -> aiohttp.ClientSession:
        """One aiohttp session for response_url posts, made on the serving loop at first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    def report(self, command: str, outcome: str) -> None:
        """Tell the listeners (the console; later metrics) how a command ended."""
        for listener in self.outcome_listeners:
            try:
                listener(command, outcome)
            except Exception:
                log.exception("outcome listener failed")

    def prepare(self) -> None:
        """Check the database and bring its schema up to date (raises StoreUnavailable)."""
        self.store.ping()
        self.store.upgrade()

    async def sweep(self) -> None:
        """Housekeeping every replica runs: interrupted runs, expired approvals."""
        if self.slack is None:
            return
        await self.engine.sweep(self.slack)
        await self.approvals.sweep_expired(self.slack)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        await self.oms.aclose()
        await asyncio.to_thread(self.store.dispose)
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
    """Wire the policy, the OMS (real, or the embedded sandbox) and the store."""
    import handlers
    from bot.store import open_store

    policy = load_policy(settings.omsbot_policy)  # a bad file stops here, naming the problem
    oms, sandbox = connect_oms(settings)
    services = Services(
        settings=settings,
        registry=build_registry(),
        oms=oms,
        store=open_store(settings.omsbot_database_url),
        policy=policy,
        sandbox=sandbox,
    )
    handlers.setup_all(services)
    return services
