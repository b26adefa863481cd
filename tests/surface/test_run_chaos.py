"""Runs own their writes, through real `oms-bot run` processes (issue 17, points 1 and 2).

1. A process killed with SIGKILL while the order-sync replay's restore is in flight leaves the
   shop's live order-sync job on the replay's window. The job's original parameters were
   recorded in the run before the window was set, so the restarted process's sweep puts them
   back (saying so in the run's thread and the audit) and Resume then finishes the run
   without replaying again.
2. A database outage longer than the run lease, while a run waits on the OMS: the run stops at
   its first failed heartbeat and says so; once the database is back the sweep marks it
   interrupted and Resume runs it again. The first execution, when the OMS answers it at
   last, writes nothing: one runNow, two job PUTs, one re-import write in the audit.

The OMS side is held at a known point with the sandbox's "hang"/"dropped" faults (no timing
windows); the outage uses a private PostgreSQL cluster (tests/pg_cluster.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import SandboxServer
from bot.store import open_store
from bot.store.audit import AuditEvent, search
from tests.conftest import bot_env, gated, text_of, write_policy
from tests.harness.fakeslack import FakeSlack, Message, ResponsePost
from tests.pg_cluster import PrivateCluster, pg_cluster
from tests.processes import clean_env, free_port
from tests.replica_fixtures import Replica

__all__ = ["pg_cluster"]

LEASE = "2"  # seconds: short, so an outage outlasts it quickly
JOB = "queue_ShopifyOrderSync_10000"
ORDER_SYNC = f"/rest/s1/admin/serviceJobs/{JOB}"
RESUME = "oms:run.resume#0"
FAST_IMPORTS = """
[limits]
sync_poll_seconds = 0.05
import_quiet_seconds = 1
import_wait_minutes = 0.1
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = write_policy(tmp_path, two_person=False)
    path.write_text(path.read_text() + FAST_IMPORTS)
    return path


@pytest.fixture
def oms(sandbox: SandboxServer) -> SandboxServer:
    """The sandbox with HotWax's order sync running and staging at once."""
    sandbox.state.job_run_seconds = 0.0
    sandbox.state.sync_delay_seconds = 0.0
    return sandbox


def _replica(
    fake: FakeSlack, sandbox: SandboxServer, database_url: str, cwd: Path, policy: Path
) -> Replica:
    env = clean_env(**bot_env(fake, sandbox, database_url))
    env.update(
        OMSBOT_PORT=str(free_port()),
        OMSBOT_HOST="127.0.0.1",
        OMSBOT_RUN_LEASE=LEASE,
        OMSBOT_POLICY=str(policy),
        OMSBOT_SHUTDOWN_TIMEOUT="5",
        OMSBOT_UPDATE_INTERVAL_SECONDS="0",
        # A request the sandbox holds must not time out in the bot before the test lets it go.
        OMS_TIMEOUT="60",
    )
    return Replica("runs", env, cwd)


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    """The processes a test started, stopped at its end (their logs shown if it failed)."""
    started: list[Replica] = []
    yield started
    for replica in started:
        print(f"--- {replica.name} ---\n{replica.log_tail(80)}")
        replica.stop()


def _job_parameters(sandbox: SandboxServer) -> dict[str, str]:
    with sandbox.state.lock:
        job = sandbox.state.data.service_jobs[JOB]
        return {p.name: p.value for p in job.parameters if p.value}


def _puts(sandbox: SandboxServer) -> list[dict[str, Any]]:
    """Each job PUT's parameters, name -> value, in order (what the OMS received)."""
    return [
        {p["parameterName"]: p.get("parameterValue") for p in r.body["serviceJobParameters"]}
        for r in sandbox.state.requests(ORDER_SYNC, "PUT")
        if isinstance(r.body, dict)
    ]


def _run_nows(sandbox: SandboxServer) -> int:
    return len(sandbox.state.requests(f"{ORDER_SYNC}/runNow", "POST"))


def _shown(message: Message | ResponsePost) -> str:
    if isinstance(message, ResponsePost):
        return text_of(gated(message.body))
    return text_of(gated({"text": message.text, "blocks": message.blocks}))


def _start_import(replica: Replica, fake: FakeSlack, ref: str) -> None:
    driver = replica.driver(fake)
    sent = driver.slash(f"import {ref}", user="U_ALICE")
    assert sent.response_url is not None
    url = sent.response_url
    card = fake.wait_for(lambda: fake.response_posts(url) or None, 15)[-1]
    assert "Import" in _shown(card)
    driver.click_ephemeral(card, "oms:import.confirm#0")


def _run_message(fake: FakeSlack, ref: str, ending: str, timeout: float = 20.0) -> Message:
    """The import run's message in #ops once its text ends with `ending`."""

    def find() -> Message | None:
        found = [
            m
            for m in fake.messages("C_OPS")
            if m.text.startswith(f"Import {ref}") and m.text.endswith(ending)
        ]
        return found[-1] if found else None

    return fake.wait_for(find, timeout)


def _events(url: str, run_id: str | None = None, **match: str) -> list[AuditEvent]:
    store = open_store(url)
    try:
        events = search(store, order_key="6100000000007", limit=200)
    finally:
        store.dispose()
    return [
        e
        for e in events
        if (run_id is None or e.run_id == run_id)
        and all(getattr(e, k) == v if k != "summary" else v in e.summary for k, v in match.items())
    ]


def test_a_kill_between_the_window_and_the_restore_puts_the_job_back_once(
    fake_slack: FakeSlack,
    oms: SandboxServer,
    tmp_path: Path,
    policy: Path,
    replicas: list[Replica],
) -> None:
    fake = fake_slack
    original = _job_parameters(oms)
    assert "fromDate" not in original
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    replica = _replica(fake, oms, url, tmp_path, policy)
    replicas.append(replica)
    replica.spawn()
    replica.wait_healthy()
    # The restoring PUT (the job's second) is held, then never applied: the process is killed
    # while it hangs, after the window PUT and the runNow.
    held = oms.state.inject_fault(ORDER_SYNC, "dropped", 1, method="PUT", skip=1)
    _start_import(replica, fake, "#1007")
    assert held.reached.wait(30), replica.log_tail()
    assert "fromDate" in _job_parameters(oms)  # the live sync is on the replay's window
    assert _run_nows(oms) == 1
    replica.kill()
    held.released.set()
    running = _run_message(fake, "#1007", ": running")

    # At the next start the sweep finds the run abandoned and puts the job back as it was
    # before the run (not as the kill left it), saying so in the run's thread.
    replica.spawn()
    replica.wait_healthy()

    def put_back() -> Message | None:
        found = [
            m
            for m in fake.messages("C_OPS")
            if m.thread_ts == running.ts and "Put back the order-sync job" in m.text
        ]
        return found[-1] if found else None

    note = fake.wait_for(put_back, 30)
    assert f"{JOB} had fromDate 20" in _shown(note) and "reads back as before the run" in (
        _shown(note)
    )
    assert _job_parameters(oms) == original
    interrupted = _run_message(fake, "#1007", ": interrupted")
    assert "finished" not in interrupted.text

    replica.driver(fake).click(interrupted, RESUME, user="U_ALICE")
    done = _run_message(fake, "#1007", ": finished")
    assert "already in HotWax as" in _shown(done)  # the first replay brought it: no second
    assert _job_parameters(oms) == original
    puts = _puts(oms)
    # The window, the restore the kill cut off (received, never applied), the put-back.
    assert len(puts) == 3, puts
    assert puts[0]["fromDate"] and puts[2]["fromDate"] is None
    assert {k: v for k, v in puts[2].items() if v} == original
    assert _run_nows(oms) == 1
    run_id = next(e.run_id for e in _events(url, kind="run", outcome="started"))
    restored = _events(url, run_id, kind="run", outcome="restored")
    assert len(restored) == 1 and "Put back the order-sync job" in restored[0].summary
    writes = _events(url, run_id, kind="oms_write", summary="back as before the run")
    assert [(w.outcome, w.actor, w.fence) for w in writes] == [("ok", "system", 2)]


def test_an_outage_longer_than_the_lease_executes_the_run_once(
    fake_slack: FakeSlack,
    oms: SandboxServer,
    tmp_path: Path,
    policy: Path,
    pg_cluster: PrivateCluster,
    replicas: list[Replica],
) -> None:
    fake = fake_slack
    original = _job_parameters(oms)
    replica = _replica(fake, oms, pg_cluster.url, tmp_path, policy)
    replicas.append(replica)
    replica.spawn()
    replica.wait_healthy()
    # The run's read of the job before its replay is held: the run waits on the OMS while
    # the database goes away.
    held = oms.state.inject_fault(ORDER_SYNC, "hang", 1, method="GET")
    _start_import(replica, fake, "#1007")
    assert held.reached.wait(30), replica.log_tail()
    running = _run_message(fake, "#1007", ": running")
    pg_cluster.stop()

    def told(words: str) -> str | None:
        texts = [text_of(gated(p.body)) for p in fake.response_posts() if p.user == "U_ALICE"]
        texts += [e.text for e in fake.ephemerals(user="U_ALICE")]
        return next((t for t in texts if words in t), None)

    # Its first heartbeat that cannot be renewed stops it, and the user is told why and how on.
    stopped = fake.wait_for(lambda: told("it lost its lease"), 20)
    assert "database could not be reached" in stopped and "press Resume" in stopped
    time.sleep(float(LEASE) + 0.5)  # the outage outlasts the lease
    pg_cluster.start()

    interrupted = _run_message(fake, "#1007", ": interrupted", timeout=30)
    assert interrupted.ts == running.ts
    replica.driver(fake).click(interrupted, RESUME, user="U_ALICE")
    done = _run_message(fake, "#1007", ": finished", timeout=30)
    assert "imported as" in _shown(done)
    # The first execution gets its answer only now: it must write nothing.
    held.released.set()
    log = replica.log_path
    fake.wait_for(
        lambda: "stopped, its lease lost" in log.read_text() or _run_nows(oms) > 1 or None, 20
    )
    assert _run_nows(oms) == 1
    assert len(_puts(oms)) == 2  # the window and its restore, once
    assert _job_parameters(oms) == original
    replays = _events(pg_cluster.url, kind="oms_write", summary="replay the order sync")
    assert [(r.outcome, r.fence) for r in replays] == [("ok", 2)]  # the resumed generation
    reimports = _events(pg_cluster.url, kind="oms_read", summary="re-import #1007")
    assert len(reimports) == 1 and reimports[0].outcome == "ok"
    assert _run_message(fake, "#1007", ": finished").ts == done.ts  # still finished
