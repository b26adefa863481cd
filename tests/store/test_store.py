"""The store on SQLite and PostgreSQL: migrations, every repository, and the races that the
exactly-once rules are about (threads on two Store objects stand in for two replicas)."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError

from bot.store import (
    Store,
    StoreUnavailable,
    approvals,
    audit,
    locks,
    obligations,
    open_store,
    runs,
    schema_version,
    slots,
    upgrade,
)
from bot.store import tokens as tokens_
from bot.store.audit import AuditEvent
from bot.store.migrate import PG_UPGRADE_LOCK, head_revision
from bot.store.schema import metadata
from bot.store.tokens import NewToken
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]

T = TypeVar("T")
NOW = 1_700_000_000.0


def race(n: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..n-1) in n threads released at the same instant."""
    barrier = threading.Barrier(n, timeout=20)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(start, range(n)))


@pytest.fixture
def replica(store: Store) -> Iterator[Store]:
    """A second Store on the same database: another replica's engine and connection pool."""
    other = open_store(store.url)
    yield other
    other.dispose()


# --- migrations -----------------------------------------------------------------------------

# The newest migration, whichever it is (the chain grows with schema changes).
HEAD = "0007_home_viewers"


def test_upgrade_from_empty_creates_everything_and_is_idempotent(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert schema_version(store) is None
        upgrade(store)
        assert schema_version(store) == head_revision() == HEAD
        tables = set(inspect(store.engine).get_table_names())
        assert tables == set(metadata.tables) | {"alembic_version"}
        upgrade(store)
        assert schema_version(store) == HEAD
    finally:
        store.dispose()


def test_concurrent_upgrades_both_succeed(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(2)]
    try:
        race(2, lambda i: upgrade(stores[i]))
        assert [schema_version(s) for s in stores] == [HEAD, HEAD]
    finally:
        for s in stores:
            s.dispose()


def test_upgrade_waits_for_another_process_holding_the_upgrade_lock(store_url: str) -> None:
    store = open_store(store_url)
    store.ping()  # creates the SQLite file, in WAL mode
    url = make_url(store.engine.url)
    hold: Callable[[], None]
    if store.is_sqlite:
        other = sqlite3.connect(str(url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # what a concurrent upgrade holds

        def hold() -> None:
            other.execute("COMMIT")
            other.close()
    else:
        pg = psycopg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
        )
        pg.execute("SELECT pg_advisory_lock(%s)", (PG_UPGRADE_LOCK,))

        def hold() -> None:
            pg.close()  # a session's advisory locks end with it

    # The statement that takes the upgrade lock, seen as the worker's connection sends it
    # and as it returns. (SQLAlchemy's own hooks: they observe, they change nothing.)
    takes_lock = "BEGIN IMMEDIATE" if store.is_sqlite else "pg_advisory_lock("
    asked, got = threading.Event(), threading.Event()

    def before(conn: Connection, cursor: object, statement: str, *rest: object) -> None:
        if takes_lock in statement:
            asked.set()

    def after(conn: Connection, cursor: object, statement: str, *rest: object) -> None:
        if takes_lock in statement:
            got.set()

    sa_event.listen(store.engine, "before_cursor_execute", before)
    sa_event.listen(store.engine, "after_cursor_execute", after)
    worker = threading.Thread(target=upgrade, args=(store,))
    try:
        worker.start()
        # Wait for the worker to ask for the lock (the event, however long it takes).
        assert asked.wait(30), "upgrade never asked for the upgrade lock"
        if not store.is_sqlite:
            # PostgreSQL shows the wait itself: the advisory lock requested and not granted.
            waiting = _advisory_lock_waiters(url, PG_UPGRADE_LOCK)
            deadline = time.monotonic() + 30
            while waiting() == 0:
                assert time.monotonic() < deadline, "upgrade is not waiting for the lock"
                time.sleep(0.01)
        # The lock is still held here, so the worker cannot have it, whatever the timing.
        assert not got.is_set() and worker.is_alive()
        assert schema_version(store) is None  # nothing was migrated before the lock
    finally:
        hold()
        worker.join(30)
    assert got.is_set() and not worker.is_alive()
    assert schema_version(store) == HEAD
    store.dispose()


def _advisory_lock_waiters(url: URL, key: int) -> Callable[[], int]:
    """Counts the sessions waiting for advisory lock `key` on the server at `url`."""
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def count() -> int:
        with psycopg.connect(libpq, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND classid = %s AND objid = %s",
                ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
            ).fetchone()
        return int(row[0]) if row else 0

    return count


def test_migrated_schema_equals_metadata(store: Store) -> None:
    found = inspect(store.engine)
    assert set(found.get_table_names()) - {"alembic_version"} == set(metadata.tables)
    for name, table in metadata.tables.items():
        columns = {c["name"]: c for c in found.get_columns(name)}
        assert list(columns) == [c.name for c in table.columns], name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (name, column.name)
        pk = found.get_pk_constraint(name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], name
        indexes = {i["name"]: i["column_names"] for i in found.get_indexes(name)}
        assert indexes == {i.name: [c.name for c in i.columns] for i in table.indexes}, name
    # Alembic's own autogenerate comparison, types included: nothing left to migrate.
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


# --- audit ----------------------------------------------------------------------------------


def event(**overrides: object) -> AuditEvent:
    base: dict[str, object] = {
        "kind": "command",
        "actor": "U1",
        "outcome": "ok",
        "summary": "did a thing",
    }
    base.update(overrides)
    return AuditEvent(**base)  # type: ignore[arg-type]


def test_audit_append_round_trips_every_field(store: Store) -> None:
    full = AuditEvent(
        kind="oms_write",
        actor="U7",
        outcome="failed",
        summary="refresh 10005",
        channel_id="C1",
        command="/oms refresh 10005",
        run_id="r1",
        detail={"operation": "x", "error": {"code": 500}},
        order_keys=("10005", "10003", "10005"),
        message_channel="C1",
        message_ts="1700000000.000100",
        correlation_id="corr-1",
    )
    event_id = audit.append(store, full, NOW)
    [found] = audit.search(store)
    assert found.id == event_id
    assert found.at == NOW
    assert found.order_keys == ("10005", "10003")  # given order, duplicates once
    assert found == dataclasses.replace(full, at=NOW, id=event_id, order_keys=("10005", "10003"))


def test_audit_search_filters_order_and_limit(store: Store) -> None:
    ids = [
        audit.append(store, event(actor="U1", order_keys=("A",)), NOW),
        audit.append(store, event(actor="U2", order_keys=("A", "B"), outcome="failed"), NOW + 10),
        audit.append(store, event(actor="U1", outcome="refused"), NOW + 20),
        audit.append(store, event(actor="U1", order_keys=("B",), outcome="denied"), NOW + 30),
        audit.append(store, event(actor="U2", outcome="ok"), NOW + 30),  # same instant
    ]
    newest_first = list(reversed(ids))

    def found(**filters: object) -> list[int | None]:
        return [e.id for e in audit.search(store, **filters)]  # type: ignore[arg-type]

    assert found() == newest_first
    assert found(order_key="A") == [ids[1], ids[0]]
    assert found(order_key="B") == [ids[3], ids[1]]
    assert found(order_key="nope") == []
    assert found(actor="U1") == [ids[3], ids[2], ids[0]]
    assert found(failed_only=True) == [ids[3], ids[2], ids[1]]
    assert found(since=NOW + 20) == [ids[4], ids[3], ids[2]]
    assert found(order_key="B", actor="U1", failed_only=True, since=NOW) == [ids[3]]
    assert found(limit=2) == newest_first[:2]


def test_failed_only_shows_a_write_left_started_but_not_a_run_started(store: Store) -> None:
    run = audit.append(store, event(kind="run", outcome="started"), NOW)
    write = audit.append(store, event(kind="oms_write", outcome="started", uid="w1"), NOW + 1)
    assert run is not None
    assert [e.id for e in audit.search(store, failed_only=True)] == [write]


def test_audit_search_limit_keeps_newest_of_many(store: Store) -> None:
    for i in range(30):
        audit.append(store, event(summary=f"e{i}"), NOW + i)
    assert [e.summary for e in audit.search(store)] == [f"e{i}" for i in range(29, 9, -1)]


def test_audit_has_no_update_or_delete() -> None:
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert not {n for n in public if any(w in n for w in ("update", "delete", "remove", "edit"))}


# --- runs -----------------------------------------------------------------------------------


def new_run(store: Store, *, owner: str = "inst-a", now: float = NOW, **kw: str) -> runs.RunRecord:
    return runs.create_run(
        store,
        run_id=kw.get("run_id", uuid.uuid4().hex),
        runbook="refresh",
        title="Refresh 10005",
        params={"order": "10005"},
        order_keys=["10005"],
        requested_by="U1",
        channel_id="C1",
        response_url="https://hooks.example/x",
        owner=owner,
        step_names=["check", "reset", "verify"],
        now=now,
    )


def test_run_lifecycle(store: Store) -> None:
    run = new_run(store)
    assert runs.get_run(store, run.id) == run
    assert run.state == "running" and run.heartbeat_at == NOW and run.params == {"order": "10005"}
    assert [(s.idx, s.name, s.state) for s in runs.get_steps(store, run.id)] == [
        (0, "check", "pending"),
        (1, "reset", "pending"),
        (2, "verify", "pending"),
    ]
    runs.set_message(store, run.id, "111.222")
    runs.set_steps(store, run.id, [runs.StepChange(0, "running")], now=NOW + 1)
    runs.set_steps(store, run.id, [runs.StepChange(0, "done", "status OK")], now=NOW + 2)
    runs.set_steps(store, run.id, [runs.StepChange(1, "skipped")], now=NOW + 3)
    steps = runs.get_steps(store, run.id)
    assert (steps[0].state, steps[0].detail, steps[0].started_at, steps[0].finished_at) == (
        "done",
        "status OK",
        NOW + 1,
        NOW + 2,
    )
    assert (steps[1].state, steps[1].started_at, steps[1].finished_at) == ("skipped", None, NOW + 3)
    assert runs.finish_run(store, run.id, state="done", result={"ok": True}, now=NOW + 4)
    assert not runs.finish_run(store, run.id, state="failed", error="late", now=NOW + 5)
    done = runs.get_run(store, run.id)
    assert done is not None
    assert (done.state, done.result, done.finished_at, done.message_ts) == (
        "done",
        {"ok": True},
        NOW + 4,
        "111.222",
    )
    assert runs.get_run(store, "missing") is None
    assert runs.get_steps(store, "missing") == []


def test_heartbeat_only_for_the_owner_of_a_running_run(store: Store) -> None:
    run = new_run(store, owner="inst-a")
    assert runs.heartbeat(store, run.id, "inst-a", NOW + 5)
    assert not runs.heartbeat(store, run.id, "inst-b", NOW + 6)
    fetched = runs.get_run(store, run.id)
    assert fetched is not None and fetched.heartbeat_at == NOW + 5
    assert runs.interrupt_stale(store, now=NOW + 100, lease=30) != []
    assert not runs.heartbeat(store, run.id, "inst-a", NOW + 101)


def test_interrupt_stale_only_touches_runs_past_their_lease(store: Store) -> None:
    stale = new_run(store, now=NOW)
    fresh = new_run(store, now=NOW + 50)
    finished = new_run(store, now=NOW)
    runs.finish_run(store, finished.id, state="done", now=NOW + 1)
    changed = runs.interrupt_stale(store, now=NOW + 60, lease=30)
    assert [r.id for r in changed] == [stale.id]
    assert changed[0].state == "interrupted"
    assert runs.interrupt_stale(store, now=NOW + 60, lease=30) == []
    assert {r.id for r in runs.list_runs(store, states=["running"])} == {fresh.id}


def test_concurrent_sweeps_interrupt_each_run_once(store: Store, replica: Store) -> None:
    created = {new_run(store, now=NOW + i).id for i in range(30)}
    stores = [store, replica] * 4
    results = race(8, lambda i: runs.interrupt_stale(stores[i], now=NOW + 1000, lease=30))
    seen = [r.id for result in results for r in result]
    assert sorted(seen) == sorted(created)  # everything once: disjoint and complete


def test_claim_for_resume_exactly_once(store: Store, replica: Store) -> None:
    run = new_run(store)
    assert runs.claim_for_resume(store, run.id, "inst-x", NOW, 30) is None  # still running
    runs.interrupt_stale(store, now=NOW + 100, lease=30)
    stores = [store, replica]
    won = race(
        20, lambda i: runs.claim_for_resume(stores[i % 2], run.id, f"inst-{i}", NOW + 200, 30)
    )
    assert [g for g in won if g is not None] == [2]  # one winner, in the run's 2nd generation
    resumed = runs.get_run(store, run.id)
    assert resumed is not None
    assert (resumed.state, resumed.owner, resumed.heartbeat_at, resumed.finished_at) == (
        "running",
        f"inst-{[g is not None for g in won].index(True)}",
        NOW + 200,
        None,
    )
    assert resumed.generation == 2
    # The first generation can no longer renew, record a step or end the run.
    assert not runs.heartbeat(store, run.id, resumed.owner, NOW + 201, generation=1)
    done = [runs.StepChange(0, "done")]
    assert not runs.set_steps(store, run.id, done, now=NOW + 201, generation=1)
    assert not runs.finish_run(store, run.id, state="done", now=NOW + 201, generation=1)
    runs.finish_run(store, run.id, state="failed", error="boom", now=NOW + 300, generation=2)
    assert runs.claim_for_resume(store, run.id, "inst-y", NOW + 301, 30) == 3  # failed: at once


def test_a_step_end_and_the_next_start_are_recorded_together_or_not_at_all(
    store: Store,
) -> None:
    run = new_run(store)
    runs.set_steps(store, run.id, [runs.StepChange(0, "running")], now=NOW + 1)
    ended, started = runs.StepChange(0, "done", "status OK"), runs.StepChange(1, "running")
    assert runs.set_steps(store, run.id, [ended, started], now=NOW + 2, generation=1)
    steps = runs.get_steps(store, run.id)
    assert [(s.state, s.detail, s.finished_at) for s in steps[:2]] == [
        ("done", "status OK", NOW + 2),
        ("running", "", None),
    ]
    assert steps[1].started_at == NOW + 2
    # A change the run cannot take (no step 7) undoes the whole list: step 1 stays running.
    missing = runs.StepChange(7, "running")
    assert not runs.set_steps(
        store, run.id, [runs.StepChange(1, "done"), missing], now=NOW + 3, generation=1
    )
    assert runs.get_steps(store, run.id)[1].state == "running"
    # Another generation's list changes nothing either.
    assert not runs.set_steps(
        store, run.id, [runs.StepChange(1, "done")], now=NOW + 4, generation=2
    )
    assert runs.get_steps(store, run.id)[1].state == "running"


def test_an_interrupted_run_is_resumed_only_once_its_lease_has_run_out(store: Store) -> None:
    run = new_run(store)
    runs.interrupt_stale(store, now=NOW + 100, lease=30)
    # Asked with a clock where its last heartbeat is still within the lease: refused.
    assert runs.claim_for_resume(store, run.id, "inst-b", NOW + 10, 30) is None
    assert runs.claim_for_resume(store, run.id, "inst-b", NOW + 31, 30) == 2


def test_an_obligation_keeps_the_first_original_until_settled(store: Store) -> None:
    run = new_run(store)
    first = obligations.owe(
        store, run.id, generation=1, key="job", kind="k", what="w", payload={"v": 1}, now=NOW
    )
    again = obligations.owe(
        store, run.id, generation=1, key="job", kind="k", what="w", payload={"v": 2}, now=NOW
    )
    assert (first.payload, again.payload, again.state) == ({"v": 1}, {"v": 1}, "open")
    assert [o.key for o in obligations.open_for(store, run.id)] == ["job"]
    assert obligations.settle(store, run.id, "job", note="put back", now=NOW + 1)
    assert not obligations.settle(store, run.id, "job", note="twice", now=NOW + 2)
    assert obligations.open_for(store, run.id) == []
    later = obligations.owe(
        store, run.id, generation=1, key="job", kind="k", what="w", payload={"v": 3}, now=NOW + 3
    )
    assert later.payload == {"v": 3}  # a settled one is owed anew with the new original
    with pytest.raises(obligations.NotHeld):  # another generation may record nothing
        obligations.owe(
            store, run.id, generation=2, key="x", kind="k", what="w", payload={}, now=NOW
        )
    failed = new_run(store)
    obligations.owe(
        store, failed.id, generation=1, key="job", kind="k", what="w", payload={}, now=NOW
    )
    runs.finish_run(store, failed.id, state="failed", now=NOW + 50)
    runs.interrupt_stale(store, now=NOW + 100, lease=30)
    # Interrupted: owing at once; failed: once a Resume pressed at once had its chance.
    assert obligations.abandoned_owing(store, ended_before=NOW + 49) == [run.id]
    assert obligations.abandoned_owing(store, ended_before=NOW + 51) == [failed.id, run.id]
    # Only the runbooks the asking process knows: another version's runs do not fill the list.
    assert obligations.abandoned_owing(store, ended_before=NOW + 51, runbooks=["other"]) == []
    assert obligations.abandoned_owing(
        store, ended_before=NOW + 51, runbooks=["refresh"], limit=1
    ) == [failed.id]


def test_list_runs_newest_first_with_state_filter_and_limit(store: Store) -> None:
    made = [new_run(store, now=NOW + i) for i in range(5)]
    runs.finish_run(store, made[1].id, state="failed", error="x", now=NOW + 9)
    assert [r.id for r in runs.list_runs(store)] == [r.id for r in reversed(made)]
    assert [r.id for r in runs.list_runs(store, limit=2)] == [made[4].id, made[3].id]
    assert [r.id for r in runs.list_runs(store, states=["failed", "done"])] == [made[1].id]


def test_duplicate_run_id_is_a_bug_not_an_outage(store: Store) -> None:
    new_run(store, run_id="same")
    with pytest.raises(IntegrityError):
        new_run(store, run_id="same")


# --- locks ----------------------------------------------------------------------------------


def acquire(
    store: Store, keys: list[str], run_id: str, now: float = NOW
) -> locks.LockHolder | None:
    return locks.acquire(
        store, keys, run_id=run_id, holder=f"U-{run_id}", what=f"{run_id} work", now=now, lease=60
    )


def test_lock_acquire_refuse_takeover_renew_release(store: Store) -> None:
    assert acquire(store, ["10005"], "r1") is None
    held = locks.holder(store, "10005")
    assert held == locks.LockHolder("10005", "r1", "U-r1", "r1 work", NOW, NOW + 60)
    assert acquire(store, ["10005"], "r2", now=NOW + 30) == held  # refused, says who and since
    assert acquire(store, ["10005"], "r1", now=NOW + 40) is None  # the holder may re-take
    again = locks.holder(store, "10005")
    assert again is not None and (again.acquired_at, again.lease_until) == (NOW, NOW + 100)
    locks.renew(store, "r1", now=NOW + 90, lease=60)
    assert acquire(store, ["10005"], "r2", now=NOW + 120) is not None  # renewed: still held
    assert acquire(store, ["10005"], "r2", now=NOW + 151) is None  # lease over: taken over
    taken = locks.holder(store, "10005")
    assert taken is not None and (taken.run_id, taken.acquired_at) == ("r2", NOW + 151)
    locks.release(store, "r2")
    assert locks.holder(store, "10005") is None


def test_lock_acquire_is_all_or_nothing(store: Store) -> None:
    assert acquire(store, ["B"], "r1") is None
    busy = acquire(store, ["A", "B", "C"], "r2")
    assert busy is not None and (busy.order_key, busy.run_id) == ("B", "r1")
    assert locks.holder(store, "A") is None and locks.holder(store, "C") is None
    locks.release(store, "r1")
    assert acquire(store, ["A", "B", "C"], "r2") is None
    assert {k: h.run_id for k in "ABC" if (h := locks.holder(store, k))} == dict.fromkeys(
        "ABC", "r2"
    )


def test_one_of_twenty_racers_gets_the_lock(store: Store, replica: Store) -> None:
    stores = [store, replica]
    refused = race(20, lambda i: acquire(stores[i % 2], ["10005", "10006"], f"r{i}"))
    winners = [i for i, busy in enumerate(refused) if busy is None]
    assert len(winners) == 1
    assert {b.run_id for b in refused if b is not None} == {f"r{winners[0]}"}


# --- action tokens --------------------------------------------------------------------------


def buttons(store: Store, *, expires_at: float = NOW + 900) -> list[tokens_.ActionToken]:
    return tokens_.create_tokens(
        store,
        [
            NewToken(
                action="approval.approve",
                params={"approval": "a1"},
                group_key="g1",
                expires_at=expires_at,
                created_by="U1",
                allowed_role="approvers",
                denied_users=("U1",),
                channel_id="C9",
            ),
            NewToken(
                action="approval.deny",
                params={"approval": "a1"},
                group_key="g1",
                expires_at=expires_at,
                created_by="U1",
                allowed_users=["U2", "U3"],
            ),
        ],
        NOW,
    )


def test_tokens_round_trip(store: Store) -> None:
    approve, deny = buttons(store)
    assert approve.token != deny.token and len(approve.token) >= 20
    assert tokens_.get_token(store, approve.token) == approve
    assert (approve.allowed_users, approve.denied_users, approve.allowed_role) == (
        None,
        ["U1"],
        "approvers",
    )
    assert (deny.allowed_users, deny.denied_users) == (["U2", "U3"], [])
    tokens_.set_group_message(store, "g1", "C5", "333.444")
    stored = tokens_.get_token(store, deny.token)
    assert stored is not None and (stored.channel_id, stored.message_ts) == ("C5", "333.444")
    assert tokens_.get_token(store, "forged") is None
    assert tokens_.create_tokens(store, [], NOW) == []


def test_consuming_one_button_consumes_its_group(store: Store) -> None:
    approve, deny = buttons(store)
    won = tokens_.consume_group(store, approve.token, user="U2", now=NOW + 5)
    assert won is not None
    assert (won.token, won.consumed_by, won.consumed_at, won.consumed_token) == (
        approve.token,
        "U2",
        NOW + 5,
        approve.token,
    )
    assert tokens_.consume_group(store, deny.token, user="U3", now=NOW + 6) is None
    after = tokens_.get_token(store, deny.token)
    assert after is not None and (after.consumed_by, after.consumed_token) == ("U2", approve.token)
    assert tokens_.consume_group(store, "forged", user="U2", now=NOW) is None


def test_expired_token_cannot_be_consumed(store: Store) -> None:
    approve, _ = buttons(store, expires_at=NOW + 10)
    assert tokens_.consume_group(store, approve.token, user="U2", now=NOW + 10) is None
    left = tokens_.get_token(store, approve.token)
    assert left is not None and left.consumed_at is None


def test_twenty_presses_consume_once(store: Store, replica: Store) -> None:
    approve, deny = buttons(store)
    stores = [store, replica]
    presses = [approve.token, deny.token]
    won = race(
        20, lambda i: tokens_.consume_group(stores[i % 2], presses[i % 2], user=f"U{i}", now=NOW)
    )
    assert len([w for w in won if w is not None]) == 1


# --- approvals ------------------------------------------------------------------------------


def request(store: Store, *, expires_at: float = NOW + 900, now: float = NOW) -> approvals.Approval:
    return approvals.create_approval(
        store,
        action="rollback",
        params={"order": "10005"},
        params_hash="ph",
        preview=[{"field": "status", "from": "A", "to": "B"}],
        preview_hash="vh",
        requested_by="U1",
        requested_channel="C1",
        approvals_channel="C2",
        approver_role="approvers",
        expires_at=expires_at,
        now=now,
    )


def test_approval_round_trip_and_messages(store: Store) -> None:
    made = request(store)
    assert made.state == "pending" and made.preview == [{"field": "status", "from": "A", "to": "B"}]
    assert approvals.get_approval(store, made.id) == made
    approvals.set_request_message(store, made.id, "1.1")
    approvals.set_origin_message(store, made.id, "2.2")
    got = approvals.get_approval(store, made.id)
    assert got is not None and (got.request_message_ts, got.origin_message_ts) == ("1.1", "2.2")
    assert approvals.get_approval(store, "missing") is None


def test_decide_and_mark_transitions(store: Store) -> None:
    denied = request(store)
    won = approvals.decide(store, denied.id, decision="denied", by="U2", now=NOW + 1)
    assert won is not None and (won.state, won.decided_by, won.decided_at) == (
        "denied",
        "U2",
        NOW + 1,
    )
    approvals.set_reason(store, denied.id, "not now")
    assert approvals.decide(store, denied.id, decision="approved", by="U3", now=NOW + 2) is None
    assert not approvals.mark(store, denied.id, "executed", now=NOW + 3)
    got = approvals.get_approval(store, denied.id)
    assert got is not None and (got.state, got.reason) == ("denied", "not now")

    approved = request(store)
    assert not approvals.mark(store, approved.id, "executed", now=NOW + 1)  # not approved yet
    assert approvals.decide(store, approved.id, decision="approved", by="U2", now=NOW + 1)
    assert approvals.mark(store, approved.id, "executed", now=NOW + 2, run_id="run-9")
    assert not approvals.mark(store, approved.id, "executed", now=NOW + 3)  # exactly once
    assert not approvals.mark(store, approved.id, "stale", now=NOW + 3)
    done = approvals.get_approval(store, approved.id)
    assert done is not None and (done.state, done.executed_at, done.run_id) == (
        "executed",
        NOW + 2,
        "run-9",
    )
    for state in ("stale", "failed"):
        one = request(store)
        approvals.decide(store, one.id, decision="approved", by="U2", now=NOW + 1)
        assert approvals.mark(store, one.id, state, now=NOW + 2)
        got = approvals.get_approval(store, one.id)
        assert got is not None and got.state == state and got.executed_at is None


def test_expired_request_cannot_be_decided(store: Store) -> None:
    made = request(store, expires_at=NOW + 60)
    assert approvals.decide(store, made.id, decision="approved", by="U2", now=NOW + 60) is None
    assert not approvals.mark(store, made.id, "expired", now=NOW + 59)  # not due yet
    assert approvals.mark(store, made.id, "expired", now=NOW + 60)
    got = approvals.get_approval(store, made.id)
    assert got is not None and got.state == "expired" and got.decided_by is None


def test_list_pending_and_expire_due(store: Store) -> None:
    late = request(store, expires_at=NOW + 10, now=NOW)
    first = request(store, expires_at=NOW + 900, now=NOW + 1)
    second = request(store, expires_at=NOW + 900, now=NOW + 2)
    decided = request(store, now=NOW + 3)
    approvals.decide(store, decided.id, decision="denied", by="U2", now=NOW + 4)
    assert [a.id for a in approvals.list_pending(store, now=NOW + 5)] == [
        late.id,
        first.id,
        second.id,
    ]
    assert [a.id for a in approvals.list_pending(store, now=NOW + 10)] == [first.id, second.id]
    expired = approvals.expire_due(store, now=NOW + 10)
    assert [(a.id, a.state) for a in expired] == [(late.id, "expired")]
    assert approvals.expire_due(store, now=NOW + 10) == []


def test_fifty_approvers_on_two_replicas_decide_once(store: Store, replica: Store) -> None:
    made = request(store)
    stores = [store, replica]
    won = race(
        50,
        lambda i: approvals.decide(
            stores[i % 2], made.id, decision="approved", by=f"U{i}", now=NOW + 1
        ),
    )
    winners = [w for w in won if w is not None]
    assert len(winners) == 1
    assert winners[0].state == "approved"
    got = approvals.get_approval(store, made.id)
    assert got is not None and got.decided_by == winners[0].decided_by


# --- digest slots ---------------------------------------------------------------------------


def test_slot_claim_takeover_and_finish(store: Store) -> None:
    def claim(owner: str, now: float) -> bool:
        return slots.claim_slot(store, "daily", NOW, owner=owner, now=now, lease=60)

    assert claim("a", NOW)
    assert claim("a", NOW + 1)  # its own live claim
    assert not claim("b", NOW + 30)  # live claim of another
    assert slots.renew_slot(store, "daily", NOW, owner="a", now=NOW + 50, lease=60)
    assert not slots.renew_slot(store, "daily", NOW, owner="b", now=NOW + 50, lease=60)
    assert not claim("b", NOW + 100)  # renewed until NOW + 110
    assert claim("b", NOW + 111)  # a died: b takes over
    slot = slots.get_slot(store, "daily", NOW)
    assert slot is not None and (slot.owner, slot.attempts, slot.state) == ("b", 3, "claimed")
    assert not slots.finish_slot(
        store, "daily", NOW, owner="a", state="posted", outcome="ok", now=NOW + 112
    )
    assert slots.finish_slot(
        store,
        "daily",
        NOW,
        owner="b",
        state="posted",
        outcome="ok",
        message_ts="9.9",
        now=NOW + 112,
    )
    assert not claim("c", NOW + 10_000)  # posted is final
    slot = slots.get_slot(store, "daily", NOW)
    assert slot is not None and (slot.state, slot.posted_at, slot.message_ts, slot.outcome) == (
        "posted",
        NOW + 112,
        "9.9",
        "ok",
    )
    assert slots.get_slot(store, "daily", NOW + 1) is None


def test_last_slots_newest_first(store: Store) -> None:
    for i in range(4):
        slots.claim_slot(store, "daily", NOW + i * 86400, owner="a", now=NOW, lease=60)
    slots.claim_slot(store, "other", NOW + 10 * 86400, owner="a", now=NOW, lease=60)
    assert [s.slot_time for s in slots.last_slots(store, "daily")] == [
        NOW + 3 * 86400,
        NOW + 2 * 86400,
    ]
    assert len(slots.last_slots(store, "daily", limit=10)) == 4


def test_one_replica_claims_a_slot(store: Store, replica: Store) -> None:
    stores = [store, replica]
    won = race(
        20,
        lambda i: slots.claim_slot(stores[i % 2], "daily", NOW, owner=f"i{i}", now=NOW, lease=60),
    )
    assert won.count(True) == 1
    slot = slots.get_slot(store, "daily", NOW)
    assert slot is not None and slot.owner == f"i{won.index(True)}" and slot.attempts == 1


# --- unavailable ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres:secretpw@127.0.0.1:1/x", "sqlite:////nonexistent-dir/sub/state.db"],
    ids=["postgresql", "sqlite"],
)
def test_unreachable_database_raises_store_unavailable(url: str) -> None:
    store = open_store(url)
    calls: list[Callable[[], object]] = [
        store.ping,
        lambda: upgrade(store),
        lambda: schema_version(store),
        lambda: audit.append(store, event(), NOW),
        lambda: audit.search(store),
        lambda: approvals.decide(store, "x", decision="approved", by="U", now=NOW),
        lambda: locks.acquire(store, ["k"], run_id="r", holder="U", what="w", now=NOW, lease=1),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable) as caught:
            call()
        message = str(caught.value)
        assert "secretpw" not in message
        assert "unavailable" in message and ("127.0.0.1" in message or "sqlite" in message)
    store.dispose()


def test_a_run_frees_its_locks_only_as_it_ends_in_its_own_generation(store: Store) -> None:
    run = new_run(store)
    assert acquire(store, ["10005"], run.id) is None
    # A resumed execution took the run (generation 2) and, as a resume does, its locks: the
    # first execution ending late leaves both alone.
    runs.interrupt_stale(store, now=NOW + 100, lease=30)
    assert runs.claim_for_resume(store, run.id, "inst-b", NOW + 200, 30) == 2
    assert acquire(store, ["10005"], run.id, now=NOW + 200) is None
    assert not runs.finish_run(store, run.id, state="done", now=NOW + 201, generation=1)
    assert locks.holder(store, "10005") is not None
    # The execution that holds it ends it: the locks go with the same transaction.
    assert runs.finish_run(store, run.id, state="done", now=NOW + 202, generation=2)
    assert locks.holder(store, "10005") is None


def test_a_repair_gives_the_run_back_with_its_locks_freed(store: Store) -> None:
    run = new_run(store)
    assert acquire(store, ["10005"], run.id) is None
    runs.interrupt_stale(store, now=NOW + 100, lease=30)
    # Read as failed, it is interrupted now: not taken (it would be given back as failed).
    assert runs.claim_for_repair(store, run.id, "inst-r", NOW + 200, 30, state="failed") is None
    generation = runs.claim_for_repair(store, run.id, "inst-r", NOW + 200, 30, state="interrupted")
    assert generation == 2
    assert not runs.release_repair(store, run.id, "inst-x", generation, "interrupted", NOW + 201)
    assert locks.holder(store, "10005") is not None  # not the repair's to give back
    assert runs.release_repair(store, run.id, "inst-r", generation, "interrupted", NOW + 202)
    assert locks.holder(store, "10005") is None
    back = runs.get_run(store, run.id)
    assert back is not None and back.state == "interrupted"


def test_locks_taken_for_a_run_not_claimed_go_unless_the_run_is_running(store: Store) -> None:
    running = new_run(store)
    assert acquire(store, ["10005"], running.id) is None
    locks.release_unless_running(store, running.id)
    assert locks.holder(store, "10005") is not None  # its execution's: they stay
    runs.finish_run(store, running.id, state="done", now=NOW + 1)  # frees them itself
    # A stale Resume of the finished run takes its keys again, then cannot claim it.
    assert acquire(store, ["10005"], running.id, now=NOW + 2) is None
    assert runs.claim_for_resume(store, running.id, "inst-b", NOW + 2, 30) is None
    locks.release_unless_running(store, running.id)
    assert locks.holder(store, "10005") is None
