"""The order runbooks' steps run directly against the sandbox (no Slack): each reads the OMS
before it writes, so a step run twice writes once, and failures carry their code."""

from __future__ import annotations

from typing import Any

from bot.engine import Failure
from bot.sandbox import SandboxServer
from handlers.orders.recovery import RECOVER_ACTION
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
    ctx, results = await step_runner.run("refresh", REFRESH_10002, stop=2)
    assert [(r.name, r.state) for r in results] == [
        ("Read the order in HotWax and Shopify", "done"),
        ("Cancel this version and mark it Old Version", "done"),
    ]
    cancel = step_runner.services.runs.runbooks["refresh"].steps(REFRESH_10002)[1]
    again = await step_runner.step(ctx, cancel)  # a Resume after a crash runs it again
    assert (again.state, again.detail) == ("skipped", "already cancelled")
    writes = _status_writes(sandbox)
    assert len(writes) == 1, writes
    assert writes[0]["orderId"] == "10002" and writes[0]["statusId"] == "ORDER_CANCELLED"


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
    assert [(b.label, b.action) for b in offered.buttons] == [
        ("Request the recovery", RECOVER_ACTION)
    ]
    # The recovery is offered for the code, never for words that happen to be in a message.
    assert await refresh.on_failure(ctx, Failure(failed.detail)) is None


async def test_the_recovery_says_it_expires_the_identification(step_runner: StepRunner) -> None:
    names = [s.name for s in step_runner.services.runs.runbooks["recover"].steps(REFRESH_10004)]
    assert "Expire the Shopify identification" in names
    assert not [n for n in names if "identification" in n and n.startswith("Remove")]


async def test_an_order_already_in_hotwax_is_not_imported_again(
    step_runner: StepRunner, sandbox: SandboxServer
) -> None:
    params = {"orders": [{"id": "6100000000002", "name": "#1002"}]}
    _, results = await step_runner.run("import", params)
    assert [(r.state, r.detail) for r in results] == [
        ("skipped", "already in HotWax as 10002 (Created)")
    ]
    assert not sandbox.state.requests("/rest/s1/admin/serviceJobs/queue_ShopifyOrderSync_10000")


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
