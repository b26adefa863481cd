"""Issue 17, points 3 and 6, through real `oms-bot run` processes: nothing lost, nothing twice.

- An approval whose process is killed (kill -9) between the decision and the start of its run
  is started by the other replica, once, after checking the OMS again; a second approver
  meanwhile hears what became of it, never a bare "Already handled".
- A PostgreSQL outage (a private cluster, stopped as a crash would) while a run writes to the
  OMS: once the database is back, every write has exactly one audit row, replayed from the
  spool; nothing is left only in the log.
- A write whose answer is lost behind a 504 (applied) or refused with a 500 (not applied) is
  recorded "unknown", then settled by reading the OMS back; `/oms history` says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox import SandboxServer
from bot.store import Store, open_store
from bot.store.approvals import Approval, get_approval, latest_approval
from bot.store.audit import AuditEvent, search
from bot.store.runs import list_runs
from tests.conftest import gated, text_of, write_policy
from tests.harness.driver import SlackDriver
from tests.harness.fakeslack import FakeSlack, Message, ResponsePost
from tests.pg_cluster import PrivateCluster, pg_cluster
from tests.replica_fixtures import Replica, Replicas, make_replicas

__all__ = ["pg_cluster"]

APPROVE = "oms:approval.approve#0"
CONFIRM = "oms:approve.confirm#0"
CHANGE_STATUS = "/api/service/changeOrderStatus"


def _shown(message: Message | ResponsePost) -> str:
    if isinstance(message, ResponsePost):
        return text_of(message.body)
    return text_of({"text": message.text, "blocks": message.blocks})


def _writes(sandbox: SandboxServer) -> list[str]:
    """The order ids of every changeOrderStatus the OMS received, in order."""
    return [
        str(r.body["orderId"])
        for r in sandbox.state.requests(CHANGE_STATUS, "POST")
        if isinstance(r.body, dict)
    ]


def _write_rows(store: Store, order_id: str) -> list[AuditEvent]:
    """The audit rows of the OMS writes of one order (by the write's own parameters)."""
    return [
        e
        for e in reversed(search(store, order_key=order_id, limit=500))
        if e.kind == "oms_write"
        and (e.detail or {}).get("parameters", {}).get("orderId") == order_id
    ]


def _replicas(
    fake: FakeSlack,
    sandbox: SandboxServer,
    database_url: str,
    tmp_path: Path,
    *,
    count: int,
    two_person: bool,
    **env: str,
) -> Replicas:
    replicas = make_replicas(
        fake,
        sandbox,
        database_url,
        tmp_path,
        policy=write_policy(tmp_path, two_person=two_person),
        count=count,
    )
    for index, member in enumerate(replicas.members):
        member.env["OMSBOT_AUDIT_SPOOL"] = str(tmp_path / f"spool-{index}")
        member.env.update(env)
    return replicas


@pytest.fixture
def running(fake_slack: FakeSlack, sandbox: SandboxServer) -> Iterator[list[Replicas]]:
    """The replicas a test started, stopped (and their logs printed) at its end."""
    started: list[Replicas] = []
    yield started
    for replicas in started:
        replicas.stop()
        print(replicas.logs())  # pytest shows it when the test failed
    sandbox.state.latency = 0.0


# ---- point 3: an approval and its run are one recoverable unit -------------------------------


def _requested(fake: FakeSlack, driver: SlackDriver) -> Message:
    """U_ALICE asks for `approve 10014` through `driver`: the request in #oms-approvals."""
    sent = driver.slash("approve 10014", user="U_ALICE")
    assert sent.http.status_code == 200
    return fake.wait_for(
        lambda: next(
            (m for m in fake.messages("C_APPROVALS") if "Approval needed" in m.text), None
        ),
        15,
    )


def _approved_then_killed(
    fake: FakeSlack, sandbox: SandboxServer, store: Store, pair: Replicas
) -> tuple[Message, Approval]:
    """Ask for `approve 10014` on replica 1, approve it there, and kill -9 replica 1 after the
    decision and before any run exists; the request message and the approval."""
    first = pair.drivers[0]
    request = _requested(fake, first)
    # The OMS answers slowly (within the bot's timeout): the approving replica is killed
    # while it re-reads the preview, after the decision and before any run exists.
    sandbox.state.latency = 10.0
    first.click(request, APPROVE, user="U_CAROL")

    def approved() -> Approval | None:
        found = latest_approval(store, "approve", lambda p: True)
        return found if found is not None and found.state == "approved" else None

    decided = fake.wait_for(approved, 15)
    pair[0].kill()  # kill -9 between the approval and the start of its run
    assert list_runs(store) == [] and _writes(sandbox) == []
    return request, decided


def _pair(
    fake: FakeSlack, sandbox: SandboxServer, url: str, tmp_path: Path, running: list[Replicas]
) -> Replicas:
    pair = _replicas(fake, sandbox, url, tmp_path, count=2, two_person=True)
    for member in pair.members:
        member.env["OMS_TIMEOUT"] = "30"
    running.append(pair)
    pair.start()
    return pair


def test_approval_killed_before_its_run_starts_is_run_once_by_the_other_replica(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    pg_cluster: PrivateCluster,
    tmp_path: Path,
    running: list[Replicas],
) -> None:
    fake = fake_slack
    pair = _pair(fake, sandbox, pg_cluster.url, tmp_path, running)
    store = open_store(pg_cluster.url)
    try:
        second = pair.drivers[1]
        request, decided = _approved_then_killed(fake, sandbox, store, pair)

        # A second approver, on the other replica, hears what became of the request.
        second.click(request, APPROVE, user="U_DAVE")
        told = fake.wait_for(
            lambda: next(
                (
                    _shown(p)
                    for p in fake.response_posts()
                    if p.user == "U_DAVE" and "Already handled" in _shown(p)
                ),
                None,
            ),
            15,
        )
        assert "approved by <@U_CAROL>" in told and "has not started yet" in told, told
        sandbox.state.latency = 0.0
        assert decided.start_run_id is not None  # the run it starts, named at the decision

        # The other replica's sweep takes it up once the dead one's hold has run out: it
        # checks the OMS again and starts the run the approval named.
        done = fake.wait_for(
            lambda: next(
                (m for m in fake.messages("C_OPS") if m.text == "Approve order 10014: finished"),
                None,
            ),
            30,
        )
        assert "Approved 1 order: 10014." in _shown(done)
        thread = fake.wait_for(
            lambda: next(
                (
                    m
                    for m in fake.messages("C_APPROVALS")
                    if m.thread_ts == request.ts and "Started after a restart" in m.text
                ),
                None,
            ),
            10,
        )
        assert "checked the OMS again" in _shown(thread)
        closed = fake.message("C_APPROVALS", request.ts)
        assert "Approved: Approve order 10014" in closed.text
        assert "it started after a restart of oms-bot" in _shown(closed)
        dm = fake.wait_for(
            lambda: next((m for m in fake.messages("D_U_ALICE") if "approved" in m.text), None),
            10,
        )
        assert "it started after a restart of oms-bot" in _shown(dm)

        # The killed replica comes back: its start-up sweep starts nothing again.
        pair.start([pair[0]])
        time.sleep(3)  # two sweeps of each replica: a second execution would show
        runs = list_runs(store)
        assert [(r.id, r.state) for r in runs] == [(decided.start_run_id, "done")]
        assert _writes(sandbox) == ["10014"]  # one execution for one approval
        record = get_approval(store, decided.id)
        assert record is not None and (record.state, record.run_id) == (
            "executed",
            decided.start_run_id,
        )
        executed = [
            e
            for e in search(store, order_key="10014", limit=200)
            if e.kind == "approval_decision" and e.outcome == "ok"
        ]
        assert len(executed) == 1 and executed[0].run_id == decided.start_run_id
        for message in [*fake.messages("C_APPROVALS"), *fake.messages("C_OPS")]:
            gated({"text": message.text, "blocks": message.blocks})
    finally:
        store.dispose()


def test_approval_killed_before_its_run_starts_is_reported_not_run_when_the_oms_changed(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    pg_cluster: PrivateCluster,
    tmp_path: Path,
    running: list[Replicas],
) -> None:
    fake = fake_slack
    pair = _pair(fake, sandbox, pg_cluster.url, tmp_path, running)
    store = open_store(pg_cluster.url)
    try:
        request, decided = _approved_then_killed(fake, sandbox, store, pair)
        # While no replica started it, someone approved the order in HotWax itself.
        sandbox.state.change_order_status("10014", "ORDER_APPROVED", "hotwax.user")
        sandbox.state.latency = 0.0
        thread = fake.wait_for(
            lambda: next(
                (
                    m
                    for m in fake.messages("C_APPROVALS")
                    if m.thread_ts == request.ts and "Nothing ran" in m.text
                ),
                None,
            ),
            30,
        )
        assert "The OMS changed since this request was previewed, so nothing ran" in _shown(thread)
        closed = fake.message("C_APPROVALS", request.ts)
        assert closed.text == "Not run: Approve order 10014"
        assert "order 10014 status: was `ORDER_CREATED` at the preview, now `ORDER_APPROVED`" in (
            _shown(closed)
        )
        dm = fake.wait_for(
            lambda: next((m for m in fake.messages("D_U_ALICE") if "nothing ran" in m.text), None),
            10,
        )
        assert "the OMS changed since the preview" in _shown(dm)
        time.sleep(2)  # more sweeps: nothing starts it later
        assert list_runs(store) == [] and _writes(sandbox) == []  # no execution
        record = get_approval(store, decided.id)
        assert record is not None and (record.state, record.run_id) == ("stale", None)
    finally:
        store.dispose()


def test_approval_found_without_a_run_too_late_is_reported_not_run_with_the_reason(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    pg_cluster: PrivateCluster,
    tmp_path: Path,
    running: list[Replicas],
) -> None:
    fake = fake_slack
    # Requests expire after 6 s here: an approval is not started later than that after it.
    pair = _replicas(fake, sandbox, pg_cluster.url, tmp_path, count=2, two_person=True)
    policy = write_policy(tmp_path, two_person=True, expiry=0.1)
    for member in pair.members:
        member.env.update(OMS_TIMEOUT="30", OMSBOT_POLICY=str(policy))
    running.append(pair)
    pair.start()
    store = open_store(pg_cluster.url)
    try:
        pair[1].stop()  # only the approving replica runs, and it is killed
        request, decided = _approved_then_killed(fake, sandbox, store, pair)
        sandbox.state.latency = 0.0
        assert decided.decided_at is not None
        time.sleep(max(0.0, decided.decided_at + 6.5 - time.time()))
        pair.start([pair[1]])  # its start-up sweep finds the request approved with no run
        thread = fake.wait_for(
            lambda: next(
                (
                    m
                    for m in fake.messages("C_APPROVALS")
                    if m.thread_ts == request.ts and "could not start" in m.text
                ),
                None,
            ),
            20,
        )
        shown = _shown(thread)
        assert (
            "oms-bot stopped (or the OMS was unreachable) between the approval and the start"
            in (shown)
        )
        assert "not started more than 1 minute after it was given" in shown
        closed = fake.message("C_APPROVALS", request.ts)
        assert closed.text == "Not run: Approve order 10014"
        dm = fake.wait_for(
            lambda: next((m for m in fake.messages("D_U_ALICE") if "nothing ran" in m.text), None),
            10,
        )
        assert "oms-bot stopped" in _shown(dm)
        assert list_runs(store) == [] and _writes(sandbox) == []
        record = get_approval(store, decided.id)
        assert record is not None and record.state == "failed"
    finally:
        store.dispose()


def test_an_approval_whose_start_outlasts_its_hold_is_reported_once(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    pg_cluster: PrivateCluster,
    tmp_path: Path,
    running: list[Replicas],
) -> None:
    fake = fake_slack
    pair = _pair(fake, sandbox, pg_cluster.url, tmp_path, running)
    store = open_store(pg_cluster.url)
    try:
        request = _requested(fake, pair.drivers[0])
        # The run is recorded, then Slack holds the post of its message past the start's
        # hold: the other replica's sweep finds the run and records the start.
        with fake.stall_next(
            "chat.postMessage", lambda p: p.get("channel") == "C_OPS", accept=True
        ) as stall:
            pair.drivers[0].click(request, APPROVE, user="U_CAROL")
            stall.wait(20)

            def executed() -> Approval | None:
                found = latest_approval(store, "approve", lambda p: True)
                return found if found is not None and found.state == "executed" else None

            decided = fake.wait_for(executed, 30)
        # The first replica's start then goes on (or fails on the post): it must neither
        # report the start a second time nor call it not run.
        time.sleep(3)
        record = get_approval(store, decided.id)
        assert record is not None and (record.state, record.run_id) == (
            "executed",
            decided.start_run_id,
        )
        decisions = [
            (e.outcome, e.summary)
            for e in search(store, order_key="10014", limit=200)
            if e.kind == "approval_decision" and e.summary != "approved: Approve order 10014"
        ]
        assert [outcome for outcome, _ in decisions] == ["ok"], decisions
        thread = [m.text for m in fake.messages("C_APPROVALS") if m.thread_ts == request.ts]
        assert not any("Nothing ran" in text for text in thread), thread
        assert len([t for t in thread if t == "Started after a restart of oms-bot"]) <= 1, thread
    finally:
        store.dispose()


# ---- point 6: the audit never loses an event --------------------------------------------------


def test_database_outage_during_writes_leaves_one_audit_row_per_write(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    pg_cluster: PrivateCluster,
    tmp_path: Path,
    running: list[Replicas],
) -> None:
    fake = fake_slack
    one = _replicas(
        fake, sandbox, pg_cluster.url, tmp_path, count=1, two_person=False, OMSBOT_RUN_LEASE="2"
    )
    running.append(one)
    one.start()
    bot: Replica = one[0]
    driver = one.drivers[0]
    card = driver.slash("approve 10014 10015", user="U_ALICE")
    posts = fake.wait_for(lambda: fake.response_posts(card.response_url) or None, 15)
    # Each OMS call takes 1.5 s. The database goes down once the write has reached the OMS
    # (the run confirmed its lease just before sending it) and before the OMS answers: the
    # write is applied, and its close must be audited while the database is unreachable.
    sandbox.state.latency = 1.5
    click = driver.click_ephemeral(posts[-1], CONFIRM)
    fake.wait_for(lambda: _writes(sandbox) or None, 30)  # the write reached the OMS
    pg_cluster.stop()
    sandbox.state.latency = 0.0
    # The run stops at its next record, saying the database is unavailable.
    fake.wait_for(
        lambda: next(
            (
                p
                for p in fake.response_posts(click.response_url)
                if "database is unavailable" in _shown(p)
            ),
            None,
        ),
        20,
    )
    # The write's answer comes while the database is still away: its close goes to the spool.
    spool = Path(bot.env["OMSBOT_AUDIT_SPOOL"])
    fake.wait_for(lambda: spool.exists() or None, 20)
    pg_cluster.start()
    # The database is back: the sweep (which replays the audit spool first) marks the run
    # interrupted.
    fake.wait_for(
        lambda: next((m for m in fake.messages("C_OPS") if m.text.endswith(": interrupted")), None),
        30,
    )
    store = open_store(pg_cluster.url)
    try:
        rows = _write_rows(store, "10014")
        assert not spool.exists()  # nothing left waiting
        written = _writes(sandbox)
        assert written.count("10014") == 1
        # Exactly one audit row per write, closed with its outcome, and none only in the log.
        assert [(e.outcome, e.summary) for e in rows] == [("ok", "change order status")]
        assert [s[0] for s in (rows[0].detail or {})["states"]] == ["started", "ok"]
        for order in set(written):
            assert len(_write_rows(store, order)) == written.count(order)
        log = bot.log_path.read_text(errors="replace")
        assert "audit write failed" not in log
        assert "kept in the spool" in log and "replayed" in log
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("fault", "applied", "outcome", "words"),
    [
        ("lost", True, "ok", "the OMS read back: applied"),
        ("error500", False, "failed", "the OMS read back: not applied"),
    ],
)
def test_write_behind_a_gateway_error_is_unknown_then_settled_by_reading_back(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    tmp_path: Path,
    running: list[Replicas],
    fault: str,
    applied: bool,
    outcome: str,
    words: str,
) -> None:
    fake = fake_slack
    database = f"sqlite:///{tmp_path / 'bot.db'}"
    one = _replicas(fake, sandbox, database, tmp_path, count=1, two_person=False)
    running.append(one)
    one.start()
    driver = one.drivers[0]
    # "lost": HotWax applies the status change and the answer is lost (a 504 from the proxy);
    # "error500": an HTML 500 page, nothing applied. Either way the bot cannot know from the
    # answer alone.
    sandbox.state.inject_fault(CHANGE_STATUS, fault, method="POST")  # type: ignore[arg-type]
    card = driver.slash("approve 10014", user="U_ALICE")
    posts = fake.wait_for(lambda: fake.response_posts(card.response_url) or None, 15)
    driver.click_ephemeral(posts[-1], CONFIRM)
    fake.wait_for(
        lambda: next((m for m in fake.messages("C_OPS") if m.text.endswith(": failed")), None),
        20,
    )
    assert _writes(sandbox) == ["10014"]
    status = sandbox.state.data.orders["10014"].status_id
    assert (status == "ORDER_APPROVED") is applied

    store = open_store(database)
    try:
        (row,) = fake.wait_for(
            lambda: (lambda rows: rows if rows and rows[0].outcome != "started" else None)(
                _write_rows(store, "10014")
            ),
            10,
        )
        detail = row.detail or {}
        assert row.outcome == outcome
        assert [s[0] for s in detail["states"]] == ["started", "unknown", outcome]
        assert detail["read_back"] == words
        assert detail["parameters"] == {
            "orderId": "10014",
            "statusId": "ORDER_APPROVED",
            "from": "ORDER_CREATED",
        }
    finally:
        store.dispose()
    # /oms history says it plainly.
    sent = driver.slash("history 10014", user="U_ALICE")
    posts = fake.wait_for(lambda: fake.response_posts(sent.response_url) or None, 15)
    shown = text_of(gated(posts[-1].body))
    assert f"change order status · _{outcome}: outcome was unknown; {words}_" in shown, shown
    json.dumps(detail)  # what the audit keeps is plain JSON


def test_unknown_write_the_oms_cannot_read_back_at_once_is_settled_by_a_later_sweep(
    fake_slack: FakeSlack,
    sandbox: SandboxServer,
    tmp_path: Path,
    running: list[Replicas],
) -> None:
    fake = fake_slack
    database = f"sqlite:///{tmp_path / 'bot.db'}"
    one = _replicas(
        fake, sandbox, database, tmp_path, count=1, two_person=False, OMSBOT_RUN_LEASE="2"
    )
    running.append(one)
    one.start()
    driver = one.drivers[0]
    card = driver.slash("approve 10014", user="U_ALICE")
    posts = fake.wait_for(lambda: fake.response_posts(card.response_url) or None, 15)
    # The write is applied and its answer lost; then the OMS's order reads fail for a while
    # (the step's own read before the write goes through): the read-back right after the
    # call cannot tell, and the write stays unknown until a sweep reads it back.
    sandbox.state.inject_fault(CHANGE_STATUS, "lost", method="POST")
    sandbox.state.inject_fault("/rest/s1/oms/orders", "unavailable", 3, method="GET", skip=1)
    driver.click_ephemeral(posts[-1], CONFIRM)
    fake.wait_for(
        lambda: next((m for m in fake.messages("C_OPS") if m.text.endswith(": failed")), None),
        20,
    )
    store = open_store(database)
    try:
        (unknown,) = _write_rows(store, "10014")
        assert unknown.outcome == "unknown"
        assert "read_back" not in (unknown.detail or {})

        def settled() -> AuditEvent | None:
            (row,) = _write_rows(store, "10014")
            return row if row.outcome != "unknown" else None

        row = fake.wait_for(settled, 20)
        detail = row.detail or {}
        assert row.outcome == "ok" and row.id == unknown.id  # the same, one row
        assert [s[0] for s in detail["states"]] == ["started", "unknown", "ok"]
        assert detail["read_back"] == "the OMS read back: applied"
    finally:
        store.dispose()
    assert _writes(sandbox) == ["10014"]
