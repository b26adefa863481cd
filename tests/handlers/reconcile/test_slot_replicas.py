"""A scheduled reconciliation through real `oms-bot run` processes: a replica killed, or
stopped (SIGTERM), after its digest went out and before its reconciliation did. Killed: the
replica that takes the slot over posts the reconciliation once and the digest not again.
Stopped: the replica finishes the slot (up to OMSBOT_SHUTDOWN_TIMEOUT) before it exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox import SandboxServer
from bot.store import open_store
from bot.store.slots import SlotRecord, last_slots
from tests.conftest import text_of, write_policy
from tests.harness.fakeslack import FakeSlack, Message
from tests.replica_fixtures import RUN_LEASE, Replicas, make_replicas
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

SCHEDULE = "replicas-reconcile"
# Hourly with two hours of grace: each replica's catch-up at start posts the hour's slot.
RECONCILED = """
[[digests]]
id = "replicas-reconcile"
channel = "C_DIGESTS"
cron = "0 * * * *"
timezone = "UTC"
window = "24h"
grace = "2h"
reconcile = true
"""
COUNT = "/rest/s1/shopify/order/count"  # the reconciliation's first call to the OMS


def _top(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.messages("C_DIGESTS") if m.thread_ts is None]


def _finished(url: str, timeout: float = 40.0) -> SlotRecord:
    store = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            slots = last_slots(store, SCHEDULE, 1)
            if slots and slots[0].state not in ("claimed", "posting"):
                return slots[0]
            assert time.monotonic() < deadline, f"slot of {SCHEDULE} not finished: {slots}"
            time.sleep(0.2)
    finally:
        store.dispose()


def _reconciliations(fake: FakeSlack) -> list[Message]:
    return [m for m in _top(fake) if m.text.startswith("Shopify vs HotWax")]


@pytest.fixture
def replicas(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> Iterator[Replicas]:
    fake_slack.add_channel("C_DIGESTS", "oms-digests")
    policy = tmp_path / "policy-reconcile.toml"
    policy.write_text(write_policy(tmp_path).read_text() + RECONCILED)
    group = make_replicas(fake_slack, sandbox, postgres_url, tmp_path, policy=policy)
    yield group
    sandbox.state.release_held()
    print(group.logs())  # shown when the test failed
    group.stop()


def test_killed_between_digest_and_reconciliation_the_taker_over_posts_it_once(
    replicas: Replicas, sandbox: SandboxServer
) -> None:
    fake = replicas.fake
    first, second = replicas[0], replicas[1]
    hang = sandbox.state.inject_fault(COUNT, "hang", 1)
    replicas.start([first])
    assert hang.reached.wait(30)
    first.kill()
    (digest,) = _top(fake)
    assert "failed imports" in digest.text
    time.sleep(float(RUN_LEASE) + 0.5)
    replicas.start([second])
    slot = _finished(replicas.database_url)
    time.sleep(1.0)  # let any (wrong) second post show itself
    posts = _top(fake)
    assert [m.ts for m in posts if "failed imports" in m.text] == [digest.ts]
    (recon,) = _reconciliations(fake)
    assert "#1007" in text_of({"text": recon.text, "blocks": recon.blocks})
    # Each part carries its own mark: the reconciliation's names its part.
    assert recon.metadata is not None and recon.metadata["event_payload"]["part"] == "reconcile"
    assert (slot.state, slot.message_ts) == ("posted", digest.ts)
    assert slot.outcome is not None and "missing" in slot.outcome


def test_stopped_between_digest_and_reconciliation_the_replica_finishes_it(
    replicas: Replicas, sandbox: SandboxServer
) -> None:
    fake = replicas.fake
    first = replicas[0]
    hang = sandbox.state.inject_fault(COUNT, "hang", 1)
    replicas.start([first])
    assert hang.reached.wait(30)
    # SIGTERM while the reconciliation waits on the OMS; the OMS answers a second later,
    # within the shutdown timeout (5s): the replica posts it before it exits.
    threading.Timer(1.0, hang.released.set).start()
    first.stop()
    assert first.proc is not None and first.proc.returncode is not None
    (recon,) = _reconciliations(fake)
    assert "#1007" in text_of({"text": recon.text, "blocks": recon.blocks})
    slot = _finished(replicas.database_url, timeout=5)
    assert slot.state == "posted" and slot.outcome is not None and "missing" in slot.outcome
