"""The order runbooks' steps run directly against the sandbox (no Slack): each reads the OMS
before it writes, so a step run twice writes once, and failures carry their code."""

from __future__ import annotations

from typing import Any

from bot.engine import Failure
from bot.sandbox import SandboxServer, tenant_named
from handlers.orders.recovery import RECOVER_ACTION, RECOVER_LABEL
from handlers.orders.reimport import CONTACT_MECH
from tests.handlers.steps import StepRunner

REFRESH_10002 = {"order_id": "10002", "shopify_id": "6100000000002"}
REFRESH_10004 = {"order_id": "10004", "shopify_id": "6100000000004"}


def _status_writes(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [
        r.body
        for r in sandbox.state.requests("/api/service/changeOrderStatus", "POST")
        if isinstance(r.body, dict)
    ]


async def test_the_cancel_step_reads_before_it_writes(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    sandbox.state.tenant = tenant_named("sync-new-version")
    ctx, results = await step_runner.run("refresh", REFRESH_10002, stop=3)
    assert [(r.name, r.state) for r in results] == [
        ("Read the order in HotWax and Shopify", "done"),
        ("Import the fresh version from Shopify", "done"),
        ("Cancel the old version and mark it Old Version", "done"),
    ]
    cancel = step_runner.services.runs.runbooks["refresh"].steps(REFRESH_10002)[2]
    again = await step_runner.step(ctx, cancel)  # a Resume after a crash runs it again
    assert (again.state, again.detail) == ("skipped", "already cancelled")
    writes = _status_writes(sandbox)
    assert len(writes) == 1, writes
    assert writes[0]["orderId"] == "10002" and writes[0]["statusId"] == "ORDER_CANCELLED"


async def test_a_resumed_verify_finds_the_live_new_version(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    """A Resume starts a new context: the verify step asks the OMS which version is live
    instead of checking the cancelled old one."""
    sandbox.state.tenant = tenant_named("sync-new-version")
    _, results = await step_runner.run("refresh", REFRESH_10002, stop=3)
    assert results[-1].state == "done"
    resumed = await step_runner.context("refresh", REFRESH_10002)
    verify = step_runner.services.runs.runbooks["refresh"].steps(REFRESH_10002)[3]
    result = await step_runner.step(resumed, verify)
    new_version = resumed.scratch["new_order"]
    assert new_version != "10002"
    assert (result.state, result.detail.split(" is ")[0]) == ("done", new_version)


async def test_the_cancel_step_never_cancels_without_a_new_version(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    """Run alone (a Resume whose import never came): no live new version, no cancel."""
    ctx = await step_runner.context("refresh", REFRESH_10002)
    cancel = step_runner.services.runs.runbooks["refresh"].steps(REFRESH_10002)[2]
    result = await step_runner.step(ctx, cancel)
    assert result.state == "failed"
    assert result.detail == "no live new version of 10002 is in HotWax, so it was not cancelled"
    assert _status_writes(sandbox) == []


async def test_the_import_failure_names_its_cause_by_code(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    ctx, results = await step_runner.run("refresh", REFRESH_10004)
    failed = results[-1]
    assert (failed.name, failed.state) == ("Import the fresh version from Shopify", "failed")
    assert failed.code == CONTACT_MECH
    assert "createOrderContactMech" in failed.detail  # the OMS's own words, for people
    refresh = step_runner.services.runs.runbooks["refresh"]
    assert refresh.on_failure is not None
    offered = await refresh.on_failure(ctx, Failure(failed.detail, frozenset({CONTACT_MECH})))
    assert offered is not None
    assert [(b.label, b.action) for b in offered.buttons] == [(RECOVER_LABEL, RECOVER_ACTION)]
    assert not offered.resumable  # a POS order's import fails the same way every time
    assert _status_writes(sandbox) == []  # the import failed before anything was cancelled
    # The recovery is offered for the code, never for words that happen to be in a message.
    assert await refresh.on_failure(ctx, Failure(failed.detail)) is None


async def test_an_order_already_in_hotwax_is_not_imported_again(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    params = {"orders": [{"id": "6100000000002", "name": "#1002"}]}
    _, results = await step_runner.run("import", params)
    assert [(r.state, r.detail) for r in results] == [
        ("skipped", "already in HotWax as 10002 (Created)")
    ]
    job = "/rest/s1/admin/serviceJobs/queue_ShopifyOrderSync_10000"
    assert not [r for r in sandbox.state.requests() if r.path.startswith(job)]


async def test_the_approve_step_reads_before_it_writes(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    params = {"orders": ["10014"]}
    ctx, results = await step_runner.run("approve", params, stop=1)
    assert [r.state for r in results] == ["done"]
    approve = step_runner.services.runs.runbooks["approve"].steps(params)[0]
    again = await step_runner.step(ctx, approve)
    assert (again.state, again.detail) == ("skipped", "already approved; nothing to do")
    assert [w["statusId"] for w in _status_writes(sandbox)] == ["ORDER_APPROVED"]
