"""The re-import's restore obligation when the OMS drops between the window and the restore
(issue 17, point 1): the run does not say "finished" while the shop's order-sync job is left on
the replay's window, and Resume puts the job back as it was before the run, first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.engine import EventKind
from bot.sandbox import SandboxServer
from bot.store.audit import search
from tests.conftest import BotFactory, RunningBot, gated, text_of, write_policy
from tests.harness.fakeslack import Message

JOB = "queue_ShopifyOrderSync_10000"
ORDER_SYNC = f"/rest/s1/admin/serviceJobs/{JOB}"
FAST_IMPORTS = """
[limits]
sync_poll_seconds = 0.05
import_quiet_seconds = 1
import_wait_minutes = 0.1
"""


@pytest.fixture
def ops(make_bot: BotFactory, tmp_path: Path) -> RunningBot:
    policy = write_policy(tmp_path, two_person=False)
    policy.write_text(policy.read_text() + FAST_IMPORTS)
    bot = make_bot(omsbot_policy=policy)
    bot.sandbox.state.job_run_seconds = 0.0
    bot.sandbox.state.sync_delay_seconds = 0.0
    return bot


def _job_parameters(sandbox: SandboxServer) -> dict[str, str]:
    with sandbox.state.lock:
        job = sandbox.state.data.service_jobs[JOB]
        return {p.name: p.value for p in job.parameters if p.value}


def _shown(message: Message) -> str:
    return text_of(gated({"text": message.text, "blocks": message.blocks}))


def _puts(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return [
        {p["parameterName"]: p.get("parameterValue") for p in r.body["serviceJobParameters"]}
        for r in sandbox.state.requests(ORDER_SYNC, "PUT")
        if isinstance(r.body, dict)
    ]


def test_a_restore_the_oms_dropped_is_owed_and_put_back_first_on_resume(ops: RunningBot) -> None:
    original = _job_parameters(ops.sandbox)
    # The restoring PUT (the job's second) fails: the OMS is down for it, the job stays on the
    # replay's window.
    ops.sandbox.state.inject_fault(ORDER_SYNC, "unavailable", 1, method="PUT", skip=1)
    card = ops.reply_post(ops.slash("import #1007"), timeout=15)
    ops.driver.click_ephemeral(card, "oms:import.confirm#0")
    failed = ops.wait_message(
        lambda m: m.text.startswith("Import #1007") and m.text.endswith(("finished", "failed")),
        timeout=30,
    )
    shown = _shown(failed)
    assert failed.text.endswith("failed"), shown
    assert f"Not yet put back: the order-sync job {JOB}'s parameters" in shown
    assert "Resume puts it back first" in shown
    assert "fromDate" in _job_parameters(ops.sandbox)

    ops.driver.click(failed, "oms:run.resume#0")
    done = ops.wait_message(lambda m: m.ts == failed.ts and m.text.endswith("finished"), timeout=30)
    assert "already in HotWax as" in _shown(done)  # the replay had brought it: not replayed
    note = ops.wait_message(
        lambda m: m.thread_ts == failed.ts and "Put back the order-sync job" in m.text
    )
    assert f"{JOB} had fromDate 20" in _shown(note)
    assert _job_parameters(ops.sandbox) == original
    puts = _puts(ops.sandbox)
    assert len(puts) == 3  # the window, the restore the OMS refused, the put-back on Resume
    assert puts[2]["fromDate"] is None
    assert len(ops.sandbox.state.requests(f"{ORDER_SYNC}/runNow", "POST")) == 1
    restored = [
        e
        for e in search(ops.services.store, order_key="6100000000007", limit=100)
        if e.kind == EventKind.RUN and e.outcome == "restored"
    ]
    assert len(restored) == 1 and restored[0].actor == "U_ALICE"
