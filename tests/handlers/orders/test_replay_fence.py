"""The order-sync replay is fenced by the run's lease (issue 17, point 2): a run taken over by
another execution (its lease lost) between the window PUT and runNow does not run the job, and
still puts the job back as it was."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.engine.lease import LeaseLost
from bot.sandbox import SandboxServer, tenant_named
from bot.store import runs as run_store
from tests.handlers.steps import StepRunner

REFRESH_10002 = {"order_id": "10002", "shopify_id": "6100000000002"}
JOB = "queue_ShopifyOrderSync_10000"
ORDER_SYNC = f"/rest/s1/admin/serviceJobs/{JOB}"


def _job_parameters(sandbox: SandboxServer) -> dict[str, str]:
    with sandbox.state.lock:
        job = sandbox.state.data.service_jobs[JOB]
        return {p.name: p.value for p in job.parameters if p.value}


async def test_a_run_taken_over_mid_replay_does_not_run_the_job_and_puts_it_back(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    sandbox.state.tenant = tenant_named("sync-new-version")
    original = _job_parameters(sandbox)
    runbook = step_runner.services.runs.runbooks["refresh"]
    ctx, results = await step_runner.run("refresh", REFRESH_10002, stop=1)
    assert results[0].state == "done"
    # The window PUT is held; meanwhile the run's lease runs out and another execution
    # resumes it (a new generation), as after a database outage longer than the lease.
    held = sandbox.state.inject_fault(ORDER_SYNC, "hang", 1, method="PUT")
    step = asyncio.create_task(step_runner.step(ctx, runbook.steps(REFRESH_10002)[1]))
    assert await asyncio.to_thread(held.reached.wait, 30)
    store = step_runner.services.store
    stale = time.time() + 3600
    assert [r.id for r in run_store.interrupt_stale(store, now=stale, lease=30)] == [ctx.run.id]
    assert run_store.claim_for_resume(store, ctx.run.id, "another", stale, 30) == 2
    held.released.set()
    with pytest.raises(LeaseLost, match="taken over"):
        await step
    assert sandbox.state.requests(f"{ORDER_SYNC}/runNow", "POST") == []  # the job never ran
    puts = sandbox.state.requests(ORDER_SYNC, "PUT")
    assert len(puts) == 2  # the window, then the original put back
    assert _job_parameters(sandbox) == original
