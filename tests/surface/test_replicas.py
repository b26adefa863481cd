"""Two real `oms-bot run` processes sharing one PostgreSQL database (issue 8, replicas).

HTTP mode: one pair of replicas serves the whole module (a load balancer's spread is each
request sent to one of them in turn): every command answered once, each approval executed
once, the per-order lock held across processes, a replica killed mid-run leaving a run the
other marks interrupted and resumes, each digest slot posted once. Socket Mode: two replicas,
each with its own connection, envelopes spread over both. PostgreSQL comes from
OMSBOT_TEST_POSTGRES_URL (these tests fail in CI without it, see store_fixtures.py).

The HTTP pair lives as long as the module and shares the session's fake Slack and sandbox, so
no test here resets them: each looks at what came after its own marks (message timestamps,
counts), and each passes alone or in any order.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.sandbox import SandboxServer
from bot.sandbox.state import Fault
from bot.store import Store, open_store
from bot.store.approvals import get_approval
from bot.store.audit import search
from bot.store.runs import RunRecord, get_steps, list_runs
from bot.store.schema import run_steps
from bot.store.slots import last_slots
from tests.conftest import gated, text_of, write_policy
from tests.harness.driver import Sent, SlackDriver, slash_command_fields
from tests.harness.fakeslack import FakeSlack, Message
from tests.harness.socketmode import SocketModeServer
from tests.replica_fixtures import RUN_LEASE, Replicas, make_replicas, replica_policy
from tests.store_fixtures import drop_postgres_url, fresh_postgres_url, postgres_url

__all__ = ["postgres_url"]

APPROVE = "oms:approval.approve#0"
RESUME = "oms:run.resume#0"
ORDER_READS = "/rest/s1/oms/orders"
CHANGE_STATUS = "/api/service/changeOrderStatus"
APPROVERS = [f"U_APPR{i:02d}" for i in range(50)]
SCHEDULE = "replicas-hourly"

# What each command answers: help in the ack itself, the others "Working on…" in the ack and
# one reply through the response_url, which replaces it.
COMMANDS = {
    "help": ("oms-bot commands", 0),
    "order 10002": ("Order #1002", 1),
    "order #1003": ("2 versions share this Shopify order", 1),
    "check 10014": ("Check #1014", 1),
    # Sent with the first commands, a history may come before any audit row is written: either
    # answer is right (alternatives are split by "|").
    "history": ("Audit history|No audit entries match", 1),
}


def _says(words: str, text: str) -> bool:
    """Whether `text` holds `words`, or one of its "|"-separated alternatives."""
    return any(w in text for w in words.split("|"))


def _shown(message: Message | Any) -> str:
    return text_of({"text": message.text, "blocks": message.blocks})


def _writes(sandbox: SandboxServer) -> list[str]:
    return [
        str(r.body["orderId"])
        for r in sandbox.state.requests(CHANGE_STATUS, "POST")
        if isinstance(r.body, dict)
    ]


def _reopen(sandbox: SandboxServer, *orders: str) -> None:
    """Put orders an earlier test approved back to Created, and forget the OMS's request log."""
    for order_id in orders:
        sandbox.state.change_order_status(order_id, "ORDER_CREATED", "replica.test")
    sandbox.state.clear_requests()


def _new_message(
    fake: FakeSlack, channel: str, words: str, before: set[str], timeout: float = 20.0
) -> Message:
    """The newest message in `channel` containing `words` that was not there `before`."""

    def find() -> Message | None:
        found = [m for m in fake.messages(channel) if m.ts not in before and words in _shown(m)]
        return found[-1] if found else None

    return fake.wait_for(find, timeout)


def _wait_posts(fake: FakeSlack, url: str, count: int, timeout: float = 20.0) -> None:
    """Wait until the response_url got at least `count` posts."""

    def enough() -> bool | None:
        return len(fake.response_posts(url)) >= count or None

    fake.wait_for(enough, timeout)


def _ts(fake: FakeSlack, channel: str) -> set[str]:
    return {m.ts for m in fake.messages(channel)}


def _request(fake: FakeSlack, driver: SlackDriver, text: str, user: str) -> Message:
    """Ask for an approval through one replica; the request message in #oms-approvals."""
    before = _ts(fake, "C_APPROVALS")
    sent = driver.slash(text, user=user)
    assert sent.http.status_code == 200
    note = fake.wait_for(lambda: fake.response_posts(sent.response_url) or None, 15)
    assert "needs a second person" in text_of(note[-1].body)
    return _new_message(fake, "C_APPROVALS", "Approval needed", before)


def _told(fake: FakeSlack, user: str, words: str, timeout: float = 15.0) -> str:
    def find() -> str | None:
        texts = [text_of(p.body) for p in fake.response_posts() if p.user == user]
        texts += [_shown(e) for e in fake.ephemerals(user=user)]
        # What the bot tells a requester about their request arrives as a direct message.
        texts += [_shown(m) for m in fake.messages(f"D_{user}")]
        return next((t for t in texts if words in t), None)

    return fake.wait_for(find, timeout)


def _run_state(fake: FakeSlack, message: Message, state: str, timeout: float = 20.0) -> Message:
    """A run's message once it shows the run `state` (its text is "<title>: <state>")."""
    return fake.wait_for(
        lambda: (lambda m: m if m.text.endswith(f": {state}") else None)(
            fake.message(message.channel, message.ts)
        ),
        timeout,
    )


# -- Socket Mode -------------------------------------------------------------------------------


def test_socket_mode_envelopes_over_both_connections_are_each_answered_once(
    fake_slack_server: FakeSlack,
    sandbox_server: SandboxServer,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    # The session's fake Slack and sandbox, not the resetting `fake_slack` and `sandbox`
    # fixtures: the module's HTTP pair may be running on them already (if this test runs after
    # one of theirs), and a reset would throw away what it posted. Only what comes after these
    # marks counts, the gate's verdicts included.
    fake = fake_slack_server
    calls_before = len(fake.calls())
    messages_before = _ts(fake, "C_OPS")
    violations_before = len(fake.gate_violations)
    with SocketModeServer() as socket_server:
        fake.set_socket_url(socket_server.new_url)
        replicas = make_replicas(
            fake,
            sandbox_server,
            postgres_url,
            tmp_path,
            policy=write_policy(tmp_path),
            socket_mode=True,
        )
        try:
            replicas.start()
            socket_server.wait_connected(2, timeout=20)
            connections = socket_server.open_connections()
            assert len(connections) == 2  # one per replica
            opened = [c for c in fake.calls()[calls_before:] if c.method == "apps.connections.open"]
            assert len(opened) == 2
            sent: list[tuple[str, str, str, int]] = []
            texts = list(COMMANDS)
            for i in range(20):
                text = texts[i % len(texts)]
                url = fake.new_response_url("C_OPS", user="U_ALICE")
                fields = slash_command_fields(text, response_url=url)
                target = connections[i % 2]
                envelope = socket_server.send_envelope(
                    "slash_commands", dict(fields), True, connection=target
                )
                sent.append((envelope, text, url, target))
            for envelope, text, url, target in sent:
                ack = socket_server.wait_ack(envelope, timeout=15)
                assert socket_server.acked_on(envelope) == target
                words, replies = COMMANDS[text]
                acked = text_of(gated(ack["payload"]))
                assert _says(words, acked) if replies == 0 else ("Working on" in acked), acked
                _wait_posts(fake, url, replies)
            time.sleep(0.5)  # let any (wrong) second answer show itself
            for envelope, text, url, _ in sent:
                words, replies = COMMANDS[text]
                assert socket_server.acks_of(envelope) == 1, text
                posts = fake.response_posts(url)
                assert len(posts) == replies, (text, [text_of(p.body) for p in posts])
                assert all(_says(words, text_of(gated(p.body))) for p in posts)
            # Commands answer the user only: nothing was posted in the channel they came from.
            assert [m for m in fake.messages("C_OPS") if m.ts not in messages_before] == []
        except AssertionError:
            print(replicas.logs())
            raise
        finally:
            replicas.stop()
            fake.set_socket_url(None)
    violations = fake.gate_violations[violations_before:]
    assert not violations, f"Block Kit gate violations: {violations}"


# -- HTTP mode: one pair of replicas for the rest of the module --------------------------------


@pytest.fixture(scope="module")
def deployment(
    fake_slack_server: FakeSlack,
    sandbox_server: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Replicas, Store]]:
    fake, sandbox = fake_slack_server, sandbox_server
    fake.reset()
    sandbox.state.reset()
    fake.add_channel("C_DIGESTS", "oms-digests")
    for user in APPROVERS:
        fake.add_user(user, user.lower())
    fake.add_usergroup("S_APPROVERS", ["U_CAROL", *APPROVERS])
    url = fresh_postgres_url()
    tmp = tmp_path_factory.mktemp("replicas")
    replicas = make_replicas(fake, sandbox, url, tmp, policy=replica_policy(write_policy(tmp)))
    store = open_store(url)
    try:
        replicas.start()
        yield replicas, store
    finally:
        replicas.stop()
        store.dispose()
        drop_postgres_url(url)
        fake.reset()
        sandbox.state.reset()


@pytest.fixture
def pair(deployment: tuple[Replicas, Store]) -> Iterator[Replicas]:
    """The module's replicas, each running (one killed by a test is started again)."""
    replicas, _ = deployment
    replicas.start()
    replicas.sandbox.state.latency = 0.0
    yield replicas
    print(replicas.logs())  # pytest shows it when the test failed
    replicas.sandbox.state.latency = 0.0
    violations = list(replicas.fake.gate_violations)
    replicas.fake.gate_violations.clear()
    if violations:
        pytest.fail(f"Block Kit gate violations: {violations}", pytrace=False)


@pytest.fixture
def store(deployment: tuple[Replicas, Store]) -> Store:
    """The replicas' database, for checking what they recorded."""
    return deployment[1]


def test_commands_spread_over_both_replicas_are_each_answered_once(pair: Replicas) -> None:
    fake = pair.fake
    before = {m.ts for m in fake.messages()}
    texts = list(COMMANDS)
    users = ["U_ALICE", "U_BOB", "U_DAVE"]

    def send(i: int) -> tuple[str, Sent]:
        text = texts[i % len(texts)]
        # Round robin, as a load balancer would: even requests to one replica, odd to the other.
        return text, pair.drivers[i % 2].slash(text, user=users[i % 3])

    with ThreadPoolExecutor(20) as pool:
        sent = list(pool.map(send, range(40)))
    for text, one in sent:
        assert one.http.status_code == 200, one.http.text
        words, replies = COMMANDS[text]
        acked = text_of(gated(json.loads(one.http.text)))
        assert _says(words, acked) if replies == 0 else ("Working on" in acked), acked
        assert one.response_url is not None
        _wait_posts(fake, one.response_url, replies)
    time.sleep(0.5)  # let any (wrong) second answer show itself
    for text, one in sent:
        words, replies = COMMANDS[text]
        posts = fake.response_posts(one.response_url)
        assert len(posts) == replies, (text, [text_of(p.body) for p in posts])
        assert all(_says(words, text_of(gated(p.body))) for p in posts), (
            text,
            [text_of(p.body) for p in posts],
        )
        assert all(p.replace_original for p in posts)  # the reply replaces "Working on…"
    # Nothing posted in a channel, nothing twice (the hourly digest's channel aside: the hour
    # may turn during the test).
    assert [m for m in fake.messages() if m.ts not in before and m.channel != "C_DIGESTS"] == []


def test_fifty_approvals_over_both_replicas_execute_once(pair: Replicas, store: Store) -> None:
    fake, sandbox = pair.fake, pair.sandbox
    _reopen(sandbox, "10014")
    runs_before = {r.id for r in list_runs(store)}
    before = _ts(fake, "C_OPS")
    request = _request(fake, pair.drivers[0], "approve 10014", "U_ALICE")
    barrier = threading.Barrier(len(APPROVERS))
    statuses: list[int] = []

    def approve(index: int) -> None:
        barrier.wait()
        sent = pair.drivers[index % 2].click(request, APPROVE, user=APPROVERS[index])
        statuses.append(sent.http.status_code)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(len(APPROVERS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(APPROVERS)
    done = _new_message(fake, "C_OPS", "Approve order 10014: finished", before, timeout=30)
    assert "Approved 1 order: 10014." in _shown(done)

    def refusals() -> int | None:
        told = sum(
            1
            for p in fake.response_posts()
            if p.user in APPROVERS and "Already handled by" in text_of(p.body)
        )
        told += sum(
            1 for e in fake.ephemerals() if e.user in APPROVERS and "Already handled by" in e.text
        )
        return told if told >= len(APPROVERS) - 1 else None

    assert fake.wait_for(refusals, 20) == len(APPROVERS) - 1
    time.sleep(0.5)  # let any (wrong) second execution show itself
    assert _writes(sandbox) == ["10014"]
    runs = [r for r in list_runs(store) if r.id not in runs_before]
    assert len(runs) == 1 and runs[0].state == "done"
    assert len([m for m in fake.messages("C_OPS") if m.ts not in before]) == 1
    decisions = [
        e
        for e in search(store, order_key="10014", limit=200)
        if e.kind == "approval_decision" and e.outcome == "ok" and e.run_id == runs[0].id
    ]
    assert len(decisions) == 1 and decisions[0].actor in APPROVERS
    record = get_approval(store, str((decisions[0].detail or {})["approval_id"]))
    assert record is not None and (record.state, record.run_id) == ("executed", runs[0].id)


def test_order_lock_is_held_across_replicas(pair: Replicas, store: Store) -> None:
    fake, sandbox = pair.fake, pair.sandbox
    first, second = pair.drivers
    _reopen(sandbox, "10014", "10015")
    before = _ts(fake, "C_OPS")
    both = _request(fake, first, "approve 10014 10015", "U_ALICE")
    one = _request(fake, second, "approve 10015", "U_BOB")
    # Every OMS call now takes 0.5 s: the run on replica 1 holds 10015 for seconds, and
    # 10015 is still Created (it is the run's second order) when replica 2 is asked.
    sandbox.state.latency = 0.5
    first.click(both, APPROVE, user="U_CAROL")
    run = _new_message(fake, "C_OPS", ":hourglass_flowing_sand: Approve order 10014", before)
    second.click(one, APPROVE, user="U_DAVE")
    # Bob, who asked, is told who holds the order; Dave, who approved, that nothing ran.
    refusal = _told(fake, "U_BOB", "is busy")
    assert (
        "Order 10015 is busy: <@U_CAROL> is running “Approve orders 10014, 10015” since" in refusal
    )
    assert "nothing ran: it could not start" in refusal and "Ask again once" in refusal
    told = _told(fake, "U_DAVE", "did not start")
    assert "Approve order 10015* did not start: Order 10015 is busy: <@U_CAROL>" in told
    assert "Nothing ran; <@U_BOB> was told why" in told
    closed = _new_message(fake, "C_APPROVALS", "Not run: Approve order 10015", set())
    assert closed.ts == one.ts  # the request itself says it did not run
    thread = _new_message(fake, "C_APPROVALS", "did not start", set())
    assert thread.thread_ts == one.ts
    done = _run_state(fake, run, "finished")
    assert "Approved 2 orders: 10014, 10015." in _shown(done)
    assert _writes(sandbox) == ["10014", "10015"]  # the refused approval wrote nothing
    refused = [
        e
        for e in search(store, order_key="10015", limit=50)
        if e.kind == "approval_decision" and e.outcome == "failed"
    ]
    assert len(refused) == 1 and refused[0].actor == "U_DAVE"
    record = get_approval(store, str((refused[0].detail or {})["approval_id"]))
    assert record is not None and (record.state, record.run_id) == ("failed", None)


def _approve_with_first_write_held(pair: Replicas) -> Fault:
    """Approve 10002 and 10004 through replica 1, the run's first write held by the OMS until
    the returned fault is released (the caller releases every held request at the end)."""
    fake, sandbox = pair.fake, pair.sandbox
    first = pair.drivers[0]
    _reopen(sandbox, "10002", "10004")
    request = _request(fake, first, "approve 10002 10004", "U_ALICE")
    write = sandbox.state.inject_fault(CHANGE_STATUS, "hang", method="POST")
    first.click(request, APPROVE, user="U_CAROL")
    assert write.reached.wait(20), pair[0].log_tail()
    return write


def test_replica_killed_mid_run_is_interrupted_and_resumed_by_the_other(
    pair: Replicas, store: Store
) -> None:
    fake, sandbox = pair.fake, pair.sandbox
    second = pair.drivers[1]
    before = _ts(fake, "C_OPS")
    # Replica 1 is killed at a known point, not within a time window: the OMS holds the
    # second step's first read (the first read after the first step's write), so the replica
    # waits there with the first order written and the second step recorded as running,
    # nothing of it done.
    try:
        write = _approve_with_first_write_held(pair)
        held = sandbox.state.inject_fault(ORDER_READS, "hang", method="GET")
        write.released.set()
        assert held.reached.wait(20), pair[0].log_tail()
        (run,) = [r for r in list_runs(store) if r.title == "Approve orders 10002, 10004"]
        assert run.state == "running"
        # The second step's start is recorded while its first read is out.
        fake.wait_for(
            lambda: [s.state for s in get_steps(store, run.id)][:2] == ["done", "running"],
            timeout=10,
        )
        progress = _new_message(fake, "C_OPS", "Approve orders 10002, 10004", before)
        pair[0].kill()
    finally:
        sandbox.state.release_held()
    assert _writes(sandbox) == ["10002"]

    # The dead replica's heartbeat stops: once it is older than the lease (what replica 2's
    # sweep looks for), the sweep marks the run interrupted and offers Resume on its message.
    def stale() -> RunRecord | None:
        (now,) = [r for r in list_runs(store) if r.id == run.id]
        return now if now.heartbeat_at < time.time() - float(RUN_LEASE) else None

    fake.wait_for(stale, timeout=20)
    interrupted = _run_state(fake, progress, "interrupted", timeout=20)
    shown = _shown(interrupted)
    assert "Interrupted during “Approve order 10004”" in shown
    assert ":white_check_mark: Approve order 10002" in shown
    events = search(store, order_key="10002", limit=50)
    assert any(e.kind == "run" and e.outcome == "interrupted" for e in events)
    second.click(interrupted, RESUME, user="U_ALICE")
    done = _run_state(fake, progress, "finished")
    assert "Approved 2 orders: 10002, 10004." in _shown(done)
    assert _writes(sandbox) == ["10002", "10004"]  # nothing written twice
    (finished,) = [r for r in list_runs(store) if r.id == run.id]
    assert finished.state == "done"


def test_a_step_reads_while_its_start_is_recorded_and_writes_only_once_it_is(
    pair: Replicas, store: Store
) -> None:
    # The row of the run's second step is locked (another transaction holds it) as the first
    # step ends: recording the second step's start waits for it. Its first read goes out all
    # the same; its write waits until the start is recorded.
    fake, sandbox = pair.fake, pair.sandbox
    before = _ts(fake, "C_OPS")
    try:
        write = _approve_with_first_write_held(pair)
        (run,) = [r for r in list_runs(store) if r.state == "running"]
        progress = _new_message(fake, "C_OPS", "Approve orders 10002, 10004", before)
        second_step = select(run_steps.c.idx).where(
            run_steps.c.run_id == run.id, run_steps.c.idx == 1
        )
        with store.begin() as locked:
            locked.execute(second_step.with_for_update())
            reads = len(sandbox.state.requests(ORDER_READS, "GET"))
            write.released.set()
            fake.wait_for(lambda: len(sandbox.state.requests(ORDER_READS, "GET")) > reads, 10)
            time.sleep(0.5)  # time enough for a write that did not wait to reach the OMS
            assert _writes(sandbox) == ["10002"]
            assert [s.state for s in get_steps(store, run.id)][:2] == ["running", "pending"]
    finally:
        sandbox.state.release_held()
    done = _run_state(fake, progress, "finished")
    assert "Approved 2 orders: 10002, 10004." in _shown(done)
    assert _writes(sandbox) == ["10002", "10004"]
    assert {s.state for s in get_steps(store, run.id)} == {"done"}


def test_each_digest_slot_is_posted_once(pair: Replicas, store: Store) -> None:
    # Both replicas started with the current hour's slot missed and within grace, and each
    # ran its catch-up: exactly one claimed the slot and posted it (late). Whatever ran before
    # (a replica killed and started again runs its catch-up again, the hour may have turned),
    # every slot recorded was claimed once and posted once.
    fake = pair.fake

    def finished() -> list[Any] | None:
        slots = last_slots(store, SCHEDULE, 10)
        return slots if slots and all(s.state != "claimed" for s in slots) else None

    slots = fake.wait_for(finished, 30)
    posts = [m for m in fake.messages("C_DIGESTS") if m.thread_ts is None]
    assert [s.state for s in slots] == ["posted"] * len(slots)
    assert sorted(str(s.message_ts) for s in slots) == sorted(m.ts for m in posts)
    assert all(s.attempts == 1 for s in slots)  # claimed once, never taken over
    assert "failed imports" in posts[0].text and "Posted late" in _shown(posts[0])
    # The scheduler's own audit events (actor "system"): among the newest 200 of all, the
    # post would be found only while the tests before this one audit fewer (they audit over a
    # hundred commands and clicks after it today).
    audited = [e for e in search(store, actor="system", limit=200) if e.kind == "scheduled_post"]
    assert [e.outcome for e in audited] == ["ok"] * len(slots)
