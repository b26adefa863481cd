"""Running a runbook's steps directly: no Slack, the bot's own wiring, the sandbox and a real
database. A step test says what the OMS received and what each step reported, without a
fake Slack in between (the end-to-end tests drive the same runbooks through signed requests).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.engine import RunContext, Step, StepFailed, StepSkipped
from bot.engine.lease import RunLease
from bot.kit.config import load_settings
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from bot.store import runs as run_store
from bot.surface.wiring import Services, create_services

POLICY = """
[roles]
operator = ["U_ALICE"]

[stores]
shopify_remote = "DEMO_SHOP_REMOTE"
order_sync_job = "queue_ShopifyOrderSync_10000"

[limits]
sync_poll_seconds = 0.05
import_quiet_seconds = 1
import_wait_minutes = 0.2
"""


@dataclass(frozen=True)
class StepResult:
    name: str
    state: str  # "done", "skipped" or "failed"
    detail: str
    code: str | None = None  # a failed step's code


@dataclass
class StepRunner:
    """Runs a registered runbook's steps one at a time, as the run engine would."""

    services: Services
    contexts: dict[str, RunContext] = field(default_factory=dict)

    async def context(self, runbook: str, params: dict[str, Any]) -> RunContext:
        """A recorded run of `runbook` (so its audit rows belong to a run), not yet started."""
        book = self.services.runs.runbooks[runbook]
        run = run_store.create_run(
            self.services.store,
            run_id=uuid.uuid4().hex,
            runbook=runbook,
            title=book.title(params),
            params=params,
            order_keys=book.order_keys(params),
            requested_by="U_ALICE",
            channel_id="C_STEPS",
            response_url=None,
            owner="step-test",
            step_names=[s.name for s in book.steps(params)],
            now=time.time(),
        )
        # The run is recorded running, owned by "step-test" in its first generation: the lease
        # its writes and restore obligations check.
        lease = RunLease(self.services.store, run.id, "step-test", run.generation)
        return RunContext(run=run, tools=self.services, actor="U_ALICE", lease=lease)

    async def step(self, ctx: RunContext, step: Step) -> StepResult:
        try:
            return StepResult(step.name, "done", await step.run(ctx))
        except StepSkipped as skip:
            return StepResult(step.name, "skipped", skip.detail)
        except StepFailed as failed:
            return StepResult(step.name, "failed", str(failed), failed.code)

    async def run(
        self, runbook: str, params: dict[str, Any], *, stop: int | None = None
    ) -> tuple[RunContext, list[StepResult]]:
        """Run the steps in order (the first `stop` of them), stopping after a failure."""
        ctx = await self.context(runbook, params)
        results: list[StepResult] = []
        for step in self.services.runs.runbooks[runbook].steps(params)[:stop]:
            results.append(await self.step(ctx, step))
            if results[-1].state == "failed":
                break
        return ctx, results


@pytest.fixture
async def step_runner(sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[StepRunner]:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    settings = load_settings(
        _env_file=None,
        oms_base_url=sandbox.url,
        oms_username=DEMO_USERNAME,
        oms_password=DEMO_PASSWORD,
        omsbot_database_url=f"sqlite:///{tmp_path}/steps.db",
        omsbot_policy=policy,
    )
    services = create_services(settings)
    services.prepare()
    sandbox.state.job_run_seconds = 0.0
    sandbox.state.sync_delay_seconds = 0.0
    try:
        yield StepRunner(services)
    finally:
        await services.aclose()
