"""Issue 17, points 4 and 5: each digest slot is posted once, through real processes.

Point 4: a replica killed (SIGKILL) after Slack took its digest post and before it recorded
the slot; the replica that takes the slot over finds the post in the channel by its metadata
mark and records it instead of posting again. Point 5: a PostgreSQL cluster of the test's own
stopped across a cron tick; the claim is tried again and the slot is posted when the
database comes back within the grace, or gets its "missed" note when it comes back later.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox import SandboxServer
from bot.store import open_store
from bot.store.slots import SlotRecord, last_slots
from tests.conftest import text_of, write_policy
from tests.harness.fakeslack import FakeSlack, Message
from tests.pg_cluster import PrivateCluster, pg_cluster
from tests.replica_fixtures import RUN_LEASE, Replicas, make_replicas, replica_policy
from tests.store_fixtures import postgres_url

__all__ = ["pg_cluster", "postgres_url"]

SCHEDULE = "replicas-hourly"


def _digests(fake: FakeSlack) -> list[Message]:
    """The top-level posts in the digest channel (a digest's CSV goes in its thread)."""
    return [m for m in fake.messages("C_DIGESTS") if m.thread_ts is None]


def _finished(url: str, schedule: str, timeout: float = 30.0) -> SlotRecord:
    """The schedule's newest slot once it is recorded as finished."""
    store = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            slots = last_slots(store, schedule, 1)
            if slots and slots[0].state not in ("claimed", "posting"):
                return slots[0]
            assert time.monotonic() < deadline, f"slot of {schedule} not finished: {slots}"
            time.sleep(0.2)
    finally:
        store.dispose()


@pytest.fixture
def replicas(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> Iterator[Replicas]:
    fake_slack.add_channel("C_DIGESTS", "oms-digests")
    group = make_replicas(
        fake_slack, sandbox, postgres_url, tmp_path, policy=replica_policy(write_policy(tmp_path))
    )
    yield group
    print(group.logs())  # shown when the test failed
    group.stop()


def test_digest_posted_then_replica_killed_before_recording_is_not_posted_again(
    replicas: Replicas,
) -> None:
    fake = replicas.fake
    first, second = replicas[0], replicas[1]
    # The first replica's catch-up posts the hour's slot: Slack takes the post and the answer
    # never comes back; the replica is killed right there, the slot not yet recorded.
    with fake.stall_next(
        "chat.postMessage", lambda p: p.get("channel") == "C_DIGESTS", accept=True
    ) as stall:
        replicas.start([first])
        stall.wait(30)
        first.kill()
    (posted,) = _digests(fake)
    assert "failed imports" in posted.text
    # The second replica starts once the dead one's claim has run out, takes the slot over,
    # and finds the post instead of posting it again.
    time.sleep(float(RUN_LEASE) + 0.5)
    replicas.start([second])
    slot = _finished(replicas.database_url, SCHEDULE)
    time.sleep(1.0)  # let any (wrong) second post show itself
    assert [m.ts for m in _digests(fake)] == [posted.ts]  # posts per digest slot == 1
    assert (slot.state, slot.message_ts, slot.attempts) == ("posted", posted.ts, 2)
    # The post carries the slot's mark, and the taker-over looked for it with the metadata.
    assert posted.metadata is not None
    assert posted.metadata["event_type"] == "oms_bot_scheduled_slot"
    assert posted.metadata["event_payload"]["schedule"] == SCHEDULE
    # It looked in the channel for the mark, with the metadata asked for.
    (history,) = fake.calls("conversations.history")
    assert history.body["channel"] == "C_DIGESTS"
    assert str(history.body["include_all_metadata"]).lower() in ("1", "true")
    assert "Posted late" in text_of({"text": posted.text, "blocks": posted.blocks})


# A tick every minute: one schedule with the grace to outlast a short outage, one without.
OUTAGE_DIGESTS = """
[[digests]]
id = "minutely-graced"
channel = "C_DIGESTS"
cron = "* * * * *"
timezone = "UTC"
window = "7d"
grace = "40s"

[[digests]]
id = "minutely-brief"
channel = "C_DIGESTS"
cron = "* * * * *"
timezone = "UTC"
window = "7d"
grace = "4s"
"""


def _slot(url: str, schedule: str, slot_time: float, timeout: float = 40.0) -> SlotRecord:
    """The slot once it is recorded as finished."""
    store = open_store(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = [s for s in last_slots(store, schedule, 5) if s.slot_time == slot_time]
            if found and found[0].state not in ("claimed", "posting"):
                return found[0]
            assert time.monotonic() < deadline, f"slot {slot_time} of {schedule}: {found}"
            time.sleep(0.2)
    finally:
        store.dispose()


def test_cron_tick_during_a_database_outage_is_posted_within_grace_or_noted_missed(
    fake_slack: FakeSlack, sandbox: SandboxServer, pg_cluster: PrivateCluster, tmp_path: Path
) -> None:
    fake = fake_slack
    fake.add_channel("C_DIGESTS", "oms-digests")
    policy = tmp_path / "policy-outage.toml"
    policy.write_text(write_policy(tmp_path).read_text() + OUTAGE_DIGESTS)
    group = make_replicas(fake, sandbox, pg_cluster.url, tmp_path, policy=policy, count=1)
    try:
        group.start()
        # The database goes down two seconds before a minute's tick and comes back ten
        # seconds after it: past the brief schedule's grace, within the other's.
        tick = (time.time() // 60 + 1) * 60
        if tick - time.time() < 4:
            tick += 60
        time.sleep(max(0.0, tick - 2 - time.time()))
        pg_cluster.stop()
        time.sleep(max(0.0, tick + 10 - time.time()))
        before = {m.ts for m in fake.messages("C_DIGESTS")}
        pg_cluster.start()
        graced = _slot(pg_cluster.url, "minutely-graced", tick)
        brief = _slot(pg_cluster.url, "minutely-brief", tick)
        after = [m for m in fake.messages("C_DIGESTS") if m.ts not in before]
        assert graced.state == "posted" and graced.attempts >= 1
        (digest,) = [m for m in after if m.ts == graced.message_ts]
        assert "failed imports" in digest.text
        assert brief.state == "missed"
        (note,) = [m for m in after if m.ts == brief.message_ts]
        shown = text_of({"text": note.text, "blocks": note.blocks})
        assert "missed" in shown and "database could not be reached" in shown
        # One post per slot: nothing else was posted for the tick.
        marked = [
            m
            for m in fake.messages("C_DIGESTS")
            if m.metadata and m.metadata["event_payload"].get("slot") == f"{tick:.0f}"
        ]
        assert sorted(m.ts for m in marked) == sorted([digest.ts, note.ts])
    except AssertionError:
        print(group.logs())
        raise
    finally:
        group.stop()
