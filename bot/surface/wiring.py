"""The composition root: the long-lived objects a running bot shares, wired together once.

`create_services` reads the policy, connects the OMS (real, or the embedded sandbox), opens
the store, builds the engine and registers everything the runbooks in `handlers/` provide.
`Services` is what the engine's classes know as their host (bot/engine/host.py) and what
the runbooks know as their toolbox (bot/engine/contract.py `Toolbox`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.actions import ACTION_PREFIX, Actions
from bot.engine.approvals import Approvals
from bot.engine.audit import Audit
from bot.engine.changes import Changes
from bot.engine.commands import Registry
from bot.engine.contract import Click, ShortcutSpec, UnfurlSpec
from bot.engine.metrics import Metrics
from bot.engine.policy import Authorizer, Policy, load_policy
from bot.engine.provides import Provides
from bot.engine.runs import RunEngine
from bot.engine.scheduled import ScheduledPost
from bot.engine.scheduler import SlotScheduler
from bot.engine.tasks import TaskTracker
from bot.engine.watching import WatchPoller, WatchSource
from bot.kit.config import ConfigError, Settings
from bot.kit.posting import MessageUpdates
from bot.oms import OmsClient
from bot.store import Store, StoreUnavailable, open_store, upgrade
from bot.store import approvals as approval_store
from bot.store.slots import SlotRecord, last_slots
from bot.store.spool import AuditSpool
from bot.store.watch_events import WatchState, watch_state
from bot.surface.discovery import discover
from bot.surface.dispatch import run_as_presser

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
    scheduled: list[ScheduledPost] = field(default_factory=list)
    watch_sources: list[WatchSource] = field(default_factory=list)
    # Message shortcuts by callback id, and the link unfurlers (bot/surface/links.py).
    shortcuts: dict[str, ShortcutSpec] = field(default_factory=dict)
    unfurls: list[UnfurlSpec] = field(default_factory=list)
    # What changed for whom (approvals, runs, digests): the App Home tab listens.
    changes: Changes = field(default_factory=Changes)
    audit: Audit = field(init=False)
    authorizer: Authorizer = field(init=False)
    actions: Actions = field(init=False)
    runs: RunEngine = field(init=False)
    approvals: Approvals = field(init=False)
    metrics: Metrics = field(init=False)
    updates: MessageUpdates = field(init=False)
    _http: aiohttp.ClientSession | None = None
    _workspace_url: str | None = None

    def __post_init__(self) -> None:
        # Coalesced progress and the chat.update budget, kept by this bot (its process).
        self.updates = MessageUpdates(interval=self.settings.omsbot_update_interval_seconds)
        self.audit = Audit(
            self.store, spool=AuditSpool(self.settings.audit_spool_path), oms=self.oms
        )
        self.authorizer = Authorizer(self.policy)
        self.actions = Actions(self)
        self.runs = RunEngine(self)
        self.approvals = Approvals(self)
        for spec in [*self.runs.action_specs(), *self.approvals.action_specs()]:
            self.actions.add(spec)
        self.metrics = Metrics(
            pending_approvals=lambda: len(approval_store.list_pending(self.store, now=time.time())),
            command_label=self._command_label,
        )
        self.outcome_listeners.append(self.metrics.command_outcome)
        self.oms.add_call_observer(self.metrics.oms_call)

    def add(self, provides: Provides) -> None:
        """Register what one runbook module provides (a name used twice raises)."""
        for command in provides.commands:
            self.registry.add(command)
        for runbook in provides.runbooks:
            self.runs.add(runbook)
        for action in provides.actions:
            self.actions.add(action)
        for dangerous in provides.dangerous:
            self.approvals.add(dangerous)
        self.scheduled += provides.scheduled
        self.watch_sources += provides.watches
        for shortcut in provides.shortcuts:
            if shortcut.callback_id in self.shortcuts:
                raise ValueError(f"shortcut {shortcut.callback_id!r} is registered twice")
            self.shortcuts[shortcut.callback_id] = shortcut
        self.unfurls += provides.unfurls
        for read_back in provides.read_backs:
            self.audit.add_read_back(read_back)

    # ---- the host of the engine ---------------------------------------------------------

    @property
    def run_lease(self) -> float:
        return self.settings.omsbot_run_lease

    def http_session(self) -> aiohttp.ClientSession:
        """One aiohttp session for response_url posts, made on the serving loop at first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    def report(self, command: str, outcome: str) -> None:
        """Tell the listeners (metrics, the console) how a command ended."""
        for listener in self.outcome_listeners:
            try:
                listener(command, outcome)
            except Exception:
                log.exception("outcome listener failed")

    # ---- the toolbox of the runbooks ----------------------------------------------------

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

    async def run_command(self, click: Click, text: str) -> None:
        await run_as_presser(self, click, text)

    async def slot_history(self, schedule_id: str, limit: int) -> list[SlotRecord]:
        return await asyncio.to_thread(last_slots, self.store, schedule_id, limit)

    async def watch_state(self) -> WatchState:
        return await asyncio.to_thread(watch_state, self.store)

    # ---- life cycle ---------------------------------------------------------------------

    def set_policy(self, policy: Policy) -> None:
        self.policy = policy
        self.authorizer = Authorizer(policy, self.slack)

    def attach_slack(self, client: AsyncWebClient) -> None:
        self.slack = client
        self.authorizer.client = client

    def slot_scheduler(self, **options: Any) -> SlotScheduler:
        """The scheduler of every scheduled post the runbooks provide (`options`: its clock,
        owner, lease, retry delay)."""
        return SlotScheduler(self, self.scheduled, **options)

    def watch_poller(self, **options: Any) -> WatchPoller:
        """The poller of the policy's `[[watches]]` (`options`: its clock, owner, lease)."""
        return WatchPoller(self, self.watch_sources, **options)

    def prepare(self) -> None:
        """Check the database and bring its schema up to date (raises StoreUnavailable)."""
        self.store.ping()
        upgrade(self.store)

    async def sweep(self) -> None:
        """Housekeeping every replica runs: interrupted runs, expired approvals. Each part
        on its own: one that fails (logged) does not keep the others from their turn."""
        # The audit's own (issue 17): spooled events replayed, unknown writes read back.
        parts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("audit replay", self.audit.replay),
            ("unknown writes", self.audit.settle_unknown),
        ]
        slack = self.slack
        if slack is not None:
            parts += [
                ("runs", lambda: self.runs.sweep(slack)),
                ("expired approvals", lambda: self.approvals.sweep_expired(slack)),
                ("unstarted approvals", lambda: self.approvals.sweep_unstarted(slack)),
            ]
        failed: BaseException | None = None
        for name, part in parts:
            try:
                await part()
            except StoreUnavailable as exc:
                failed = failed or exc  # the caller says the database is away, once
            except Exception:
                log.exception("the sweep of %s failed; the next sweep tries again", name)
        if failed is not None:
            raise failed

    async def aclose(self) -> None:
        # First, while the clients still work: the message updates still waiting go out.
        await self.updates.aclose()
        if self._http is not None:
            await self._http.close()
        await self.oms.aclose()
        await asyncio.to_thread(self.store.dispose)
        if self.sandbox is not None:
            self.sandbox.stop()

    def _command_label(self, name: str) -> str:
        """A registered command's name, or `click <action>` for a registered button action;
        anything else (a forged action id, an unknown command) is counted as `?`."""
        if name == "click" or name.startswith("click "):
            action = (
                name.removeprefix("click").strip().removeprefix(ACTION_PREFIX).partition("#")[0]
            )
            return f"click {action}" if action in self.actions.specs else "click ?"
        return name if self.registry.get(name) is not None else "?"


def build_registry() -> Registry:
    """Every command of every runbook module."""
    registry = Registry()
    for found in discover():
        for command in found.provides.commands:
            registry.add(command)
    return registry


def connect_oms(settings: Settings) -> tuple[OmsClient, SandboxServer | None]:
    """The OMS client the settings describe: a real OMS, or the embedded sandbox (started)."""
    if settings.uses_sandbox:
        from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer

        try:
            sandbox = SandboxServer(tenant=settings.omsbot_sandbox_tenant).start()
        except ValueError as exc:
            raise ConfigError(f"OMSBOT_SANDBOX_TENANT: {exc}") from None
        client = OmsClient(
            sandbox.url,
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            # The sandbox serves its Maarg under /instances/{name} as well (a bare name).
            maarg_url_template=f"{sandbox.url}/instances/{{name}}",
            timeout=settings.oms_timeout,
            max_concurrent_reads=settings.oms_max_concurrent_reads,
        )
        return client, sandbox
    assert settings.oms_base_url is not None
    client = OmsClient(
        settings.oms_base_url,
        username=settings.oms_username,
        password=settings.oms_password.get_secret_value() if settings.oms_password else None,
        api_token=settings.oms_api_token.get_secret_value() if settings.oms_api_token else None,
        maarg_url=settings.oms_maarg_url,
        maarg_url_template=settings.oms_maarg_url_template,
        timeout=settings.oms_timeout,
        max_concurrent_reads=settings.oms_max_concurrent_reads,
    )
    return client, None


def load_checked_policy(settings: Settings) -> Policy:
    """The policy file, checked as the start checks it: its shape, and that every name in
    `[commands]` and `[approvals.actions]` is a command or an approval action of this bot."""
    policy = load_policy(settings.omsbot_policy)
    found = discover()
    policy.check_names(
        commands=[c.name for f in found for c in f.provides.commands],
        actions=[d.name for f in found for d in f.provides.dangerous],
    )
    return policy


def create_services(settings: Settings) -> Services:
    """Wire the policy, the OMS (real, or the embedded sandbox), the store and the runbooks."""
    policy = load_checked_policy(settings)  # a bad file stops here, naming the problem
    oms, sandbox = connect_oms(settings)
    if sandbox is not None:
        from bot.sandbox import DEMO_ORDER_SYNC_JOB, DEMO_SHOPIFY_REMOTE

        # Against the embedded sandbox the order runbooks use its own shop connection.
        policy = policy.with_store_defaults(
            shopify_remote=DEMO_SHOPIFY_REMOTE, order_sync_job=DEMO_ORDER_SYNC_JOB
        )
    services = Services(
        settings=settings,
        registry=Registry(),
        oms=oms,
        store=open_store(settings.omsbot_database_url),
        policy=policy,
        sandbox=sandbox,
    )
    for found in discover():
        services.add(found.provides)
    return services
