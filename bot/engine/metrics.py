"""Prometheus metrics: one CollectorRegistry per bot, served at GET /metrics.

Each bot gets its own registry (tests start several bots in one process, and the
global default registry would mix them). Label values are kept to small, known sets: a
command name from the registry, an OMS endpoint with its ids replaced by `{id}`, a Slack
method name; anything a user typed never becomes a label.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.oms.transport import OmsCall
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNKNOWN = "unknown"

RUN_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
OMS_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
APPROVAL_BUCKETS = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)

_SLACK_METHOD = re.compile(r"^[a-z]+(\.[A-Za-z]+)+$")
# A path segment holding a digit is an id (order 10002, job JOB_123, "%231004"), except an
# API version such as "s1" or "v2".
_ID_SEGMENT = re.compile(r"^(?![a-z]\d{1,2}$).*\d")


class Metrics:
    """The bot's metrics and the small methods the rest of the code calls to update them."""

    def __init__(
        self,
        pending_approvals: Callable[[], int] | None = None,
        command_label: Callable[[str], str] | None = None,
    ) -> None:
        """`pending_approvals` counts the waiting requests at scrape time; `command_label`
        turns a command or click name into a label (anything unknown into `?`)."""
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "omsbot_commands",
            "Slash commands and button clicks by name and outcome "
            "(ok, usage_error, refused, oms_error, error).",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "omsbot_run_duration_seconds",
            "Time a run took to execute, by runbook and end state (done, failed).",
            ["runbook", "outcome"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.oms_latency = Histogram(
            "omsbot_oms_request_duration_seconds",
            "OMS HTTP calls by operation (method and endpoint, ids as {id}) and status "
            "(the HTTP status, or timeout / connect_error / network_error).",
            ["operation", "status"],
            buckets=OMS_BUCKETS,
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "omsbot_slack_api_errors",
            "Slack Web API calls that failed, by method and error (the Slack error code, "
            "http_<status>, or connection_error).",
            ["method", "error"],
            registry=self.registry,
        )
        self.slack_rate_limited = Counter(
            "omsbot_slack_rate_limited",
            "Slack Web API answers with HTTP 429 (each, including those retried).",
            ["method"],
            registry=self.registry,
        )
        self.approval_wait = Histogram(
            "omsbot_approval_wait_seconds",
            "Time from an approval request to its decision (approved, denied, expired).",
            ["decision"],
            buckets=APPROVAL_BUCKETS,
            registry=self.registry,
        )
        self.digest_posts = Counter(
            "omsbot_digest_posts",
            "Scheduled digest posts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        if pending_approvals is not None:
            self.registry.register(PendingApprovals(pending_approvals))
        self._command_label: Callable[[str], str] = command_label or (lambda name: name)

    def slack_retry_handler(self) -> AsyncRetryHandler:
        """Goes first in the Web API client's retry handlers: it sees every answer."""
        return SlackCallCounter(self)

    # ---- updates --------------------------------------------------------------------------

    def command_outcome(self, command: str, outcome: str) -> None:
        self.commands.labels(self._command_label(command), outcome).inc()

    def run_finished(self, runbook: str, outcome: str, seconds: float) -> None:
        self.run_duration.labels(runbook, outcome).observe(max(0.0, seconds))

    def oms_call(self, call: OmsCall) -> None:
        self.oms_latency.labels(endpoint_label(call.method, call.path), call.status).observe(
            call.seconds
        )

    def approval_decided(self, decision: str, seconds: float) -> None:
        self.approval_wait.labels(decision).observe(max(0.0, seconds))

    def digest_posted(self, outcome: str) -> None:
        self.digest_posts.labels(outcome).inc()

    def slack_answer(self, url: str, status: int | None, body: Any, error: bool) -> None:
        method = slack_method(url)
        if error:
            self.slack_errors.labels(method, "connection_error").inc()
            return
        if status == 429:
            # Counted apart from errors: the client waits and retries these.
            self.slack_rate_limited.labels(method).inc()
            return
        if isinstance(body, dict) and body.get("ok") is False:
            self.slack_errors.labels(method, str(body.get("error") or UNKNOWN)[:60]).inc()
        elif status is not None and status >= 400:
            self.slack_errors.labels(method, f"http_{status}").inc()

    # ---- exposition -----------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def arender(self) -> bytes:
        """Render off the event loop: the pending-approvals gauge reads the database."""
        return await asyncio.to_thread(self.render)


class PendingApprovals(Collector):
    """Approval requests still waiting for a decision, counted at scrape time."""

    NAME = "omsbot_pending_approvals"
    HELP = "Approval requests waiting for a decision (read from the shared database)."

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP)]

    def collect(self) -> Iterable[Metric]:
        try:
            value = self._count()
        except StoreUnavailable as exc:
            # No sample rather than a wrong zero; the scrape itself still succeeds.
            log.warning("pending approvals not counted: %s", exc)
            return []
        return [GaugeMetricFamily(self.NAME, self.HELP, value=value)]


class SlackCallCounter(AsyncRetryHandler):
    """A retry handler that never retries: the SDK shows it every Web API answer and every
    connection error, before the real retry handlers decide, so it counts them all."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self._metrics = metrics

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        try:
            self._metrics.slack_answer(
                request.url,
                response.status_code if response is not None else None,
                response.body if response is not None else None,
                error is not None,
            )
        except Exception:  # counting must never break a Slack call
            log.exception("counting a Slack answer failed")
        return False


def endpoint_label(method: str, path: str) -> str:
    """`GET /rest/s1/oms/orders/{id}/status`: the endpoint with id-like segments replaced."""
    parts = [("{id}" if _ID_SEGMENT.match(p) else p) for p in path.split("/")]
    return f"{method.upper()} {'/'.join(parts)[:120]}"


def slack_method(url: str) -> str:
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return last if _SLACK_METHOD.match(last) else "upload"
