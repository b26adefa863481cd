"""The audit spool (bot/store/spool.py) and the write's one row (bot/store/audit.py), against
the real databases: replayed once, in order, whatever is replayed twice or cut short."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store import Store, StoreUnavailable, open_store
from bot.store.audit import AuditEvent, append, close_write, search, written_again
from bot.store.spool import AuditSpool
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]

NOW = 1_796_000_000.0


def _write(uid: str, outcome: str, states: list[str]) -> AuditEvent:
    return AuditEvent(
        kind="oms_write",
        actor="U_ALICE",
        outcome=outcome,
        summary="change order status",
        detail={"parameters": {"orderId": "10014"}, "states": [[s, NOW] for s in states]},
        order_keys=("10014",),
        uid=uid,
        at=NOW,
    )


def _rows(store: Store) -> list[AuditEvent]:
    return list(reversed(search(store, order_key="10014", limit=100)))


def test_replayed_twice_each_event_is_one_row(store: Store, tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path / "spool")
    spool.keep("append", _write("w1", "started", ["started"]))
    spool.keep("close", _write("w1", "ok", ["started", "ok"]))
    spool.keep("append", AuditEvent("command", "U_ALICE", "ok", "/oms approve 10014", uid="c1"))
    copy = (tmp_path / "spool").read_bytes()
    assert spool.waiting() == 3

    def apply(op: str, event: AuditEvent) -> None:
        (close_write if op == "close" else append)(store, event, NOW + 60)

    assert spool.replay(apply) == 3
    assert spool.waiting() == 0 and not (tmp_path / "spool").exists()
    (tmp_path / "spool").write_bytes(copy)  # a replay cut short before it dropped the file
    assert spool.replay(apply) == 3
    rows = _rows(store)
    assert [(e.kind, e.outcome, e.uid) for e in rows] == [("oms_write", "ok", "w1")]
    assert rows[0].at == NOW  # when it happened, not when it was replayed
    everything = search(store, limit=100)
    assert sorted(e.uid or "" for e in everything) == ["c1", "w1"]


def test_a_close_before_its_started_row_and_a_late_started_leave_one_closed_row(
    store: Store,
) -> None:
    # The call's "started" went to the spool; the database was back for its close.
    assert close_write(store, _write("w2", "unknown", ["started", "unknown"]), NOW) is not None
    assert append(store, _write("w2", "started", ["started"]), NOW) is None  # replayed late
    # The read-back closes the unknown write; a replayed older close changes nothing.
    close_write(store, _write("w2", "ok", ["started", "unknown", "ok"]), NOW)
    assert close_write(store, _write("w2", "unknown", ["started", "unknown"]), NOW) is None
    (row,) = _rows(store)
    assert row.outcome == "ok"
    assert [s[0] for s in (row.detail or {})["states"]] == ["started", "unknown", "ok"]


def test_replay_into_an_unreachable_database_keeps_every_event(tmp_path: Path) -> None:
    dead = open_store("postgresql://postgres@127.0.0.1:1/nothing")
    spool = AuditSpool(tmp_path / "spool")
    spool.keep("append", _write("w3", "started", ["started"]))
    spool.keep("close", _write("w3", "ok", ["started", "ok"]))
    try:
        with pytest.raises(StoreUnavailable):
            spool.replay(lambda op, e: (close_write if op == "close" else append)(dead, e, NOW))
    finally:
        dead.dispose()
    assert spool.waiting() == 2


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_rest_replayed(
    store: Store, tmp_path: Path
) -> None:
    spool = AuditSpool(tmp_path / "spool")
    spool.keep("append", _write("w4", "started", ["started"]))
    with (tmp_path / "spool").open("a") as f:
        f.write('{"op": "close", "event": {"kind": "oms_wr')  # killed mid-write
    # The next event kept after the crash starts a line of its own: not lost with the cut one.
    spool.keep("append", _write("w5", "started", ["started"]))
    assert spool.replay(lambda op, e: append(store, e, NOW)) == 2
    assert [e.uid for e in _rows(store)] == ["w4", "w5"]


def test_an_event_the_database_refuses_is_set_aside_and_the_rest_replayed(
    store: Store, tmp_path: Path
) -> None:
    spool = AuditSpool(tmp_path / "spool")
    # A close without the write's uid cannot be recorded (the store refuses it).
    spool.keep("close", AuditEvent("oms_write", "U_ALICE", "ok", "change order status"))
    spool.keep("append", _write("w5", "started", ["started"]))

    def apply(op: str, event: AuditEvent) -> None:
        (close_write if op == "close" else append)(store, event, NOW)

    assert spool.replay(apply) == 2
    assert [e.uid for e in _rows(store)] == ["w5"]
    rejected = (tmp_path / "spool.rejected").read_text()
    assert '"op": "close"' in rejected and spool.waiting() == 0


def test_a_write_made_again_later_is_found_by_its_orders_and_parameters(store: Store) -> None:
    first_id = append(store, _write("w8", "unknown", ["started", "unknown"]), NOW)
    assert first_id is not None
    first = _rows(store)[0]
    assert not written_again(store, first)
    # Another order's write of the same operation is not this one made again.
    other = AuditEvent(
        kind="oms_write",
        actor="U_ALICE",
        outcome="ok",
        summary="change order status",
        detail={"parameters": {"orderId": "10014"}, "states": [["ok", NOW]]},
        order_keys=("10015",),
        uid="w9",
        at=NOW + 1,
    )
    append(store, other, NOW + 1)
    assert not written_again(store, first)
    append(store, _write("w10", "ok", ["started", "ok"]), NOW + 2)  # a Resume made it again
    assert written_again(store, first)
