"""The audit trail: append-only events, searchable by order, actor, outcome and time.

There is deliberately no delete here, and one update only: an OMS write is one row, recorded
"started" before the call and closed once after it (ok, failed, unknown), and an "unknown"
one closed again by its read-back (`close_write`). Nothing else the bot records is rewritten.

Every event carries its own id (`uid`, given when it was made): recording it twice (a spooled
event replayed, a close that finds its "started" row) still leaves one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select

from bot.store.db import Store
from bot.store.schema import audit_event_orders, audit_events
from bot.store.sql import dump, insert_on_conflict, load

# Outcomes `/oms history --failed` shows: everything that did not do what was asked.
FAILED_OUTCOMES = (
    "failed",
    "refused",
    "denied",
    "expired",
    "stale",
    "interrupted",
    "unknown",  # an OMS write whose outcome nobody knows yet: worth a look
)
# The outcomes of an OMS write that a later close may still change.
OPEN_WRITE_OUTCOMES = ("started", "unknown")


@dataclass(frozen=True)
class AuditEvent:
    kind: str
    actor: str
    outcome: str
    summary: str
    channel_id: str | None = None
    command: str | None = None
    run_id: str | None = None
    detail: dict[str, Any] | None = None
    order_keys: tuple[str, ...] = ()
    message_channel: str | None = None
    message_ts: str | None = None
    correlation_id: str | None = None
    at: float = 0.0
    id: int | None = None
    uid: str | None = None  # the event's own id (see the module's docstring)
    fence: int | None = None  # the lease generation of the run that made the write


def append(store: Store, event: AuditEvent, now: float) -> int | None:
    """Record `event` at its own `at` (a spooled event keeps when it happened), else at `now`
    (its `id` is ignored); returns the new id, or
    None when an event with its `uid` is already recorded (nothing is added)."""
    with store.begin() as conn:
        return _insert(conn, event, now)


def close_write(store: Store, event: AuditEvent, now: float) -> int | None:
    """Close an OMS write: its row (found by `event.uid`) takes the event's outcome and detail
    if it is still open ("started" or "unknown"); a write whose "started" event never reached
    the database (it is in the spool) gets its row now, closed. Returns the row's id, or None
    when the row is already closed (a replayed close: nothing changes)."""
    assert event.uid is not None, "a write's close needs the write's uid"
    with store.begin() as conn:
        row = conn.execute(
            select(audit_events.c.id, audit_events.c.outcome).where(
                audit_events.c.event_uid == event.uid
            )
        ).first()
        if row is None:
            return _insert(conn, event, now)
        if row.outcome not in OPEN_WRITE_OUTCOMES:
            return None
        conn.execute(
            audit_events.update()
            .where(
                audit_events.c.id == row.id,
                audit_events.c.outcome.in_(OPEN_WRITE_OUTCOMES),
            )
            .values(
                outcome=event.outcome,
                detail=None if event.detail is None else dump(event.detail),
            )
        )
        return int(row.id)


def open_writes(
    store: Store, *, outcome: str, before: float, after: float, limit: int = 50
) -> list[AuditEvent]:
    """OMS writes still `outcome` ("unknown", "started") recorded between `after` and
    `before`, oldest first: what a read-back may settle."""
    query = (
        select(audit_events)
        .where(
            audit_events.c.kind == "oms_write",
            audit_events.c.outcome == outcome,
            audit_events.c.at < before,
            audit_events.c.at > after,
            audit_events.c.event_uid.is_not(None),
        )
        .order_by(audit_events.c.at, audit_events.c.id)
        .limit(limit)
    )
    with store.begin() as conn:
        rows = conn.execute(query).all()
        keys = _order_keys(conn, [row.id for row in rows])
    return [_event(row, keys.get(row.id, ())) for row in rows]


def written_again(store: Store, write: AuditEvent) -> bool:
    """Whether the same write (operation and parameters) was made again after `write`, e.g.
    by a Resume: a read-back would then tell about that one, not this one."""
    assert write.id is not None
    parameters = (write.detail or {}).get("parameters")
    query = select(audit_events.c.detail).where(
        audit_events.c.kind == "oms_write",
        audit_events.c.summary == write.summary,
        audit_events.c.id > write.id,
    )
    if write.order_keys:
        # The same write is about the same orders: only their rows are read, not every later
        # write of the operation (the sweep asks this of each unknown write, on each replica).
        query = query.where(
            audit_events.c.id.in_(
                select(audit_event_orders.c.event_id).where(
                    audit_event_orders.c.order_key.in_(list(write.order_keys))
                )
            )
        )
    with store.begin() as conn:
        rows = conn.execute(query).all()
    return any((load(row.detail) or {}).get("parameters") == parameters for row in rows)


def _insert(conn: Connection, event: AuditEvent, now: float) -> int | None:
    statement = insert_on_conflict(conn, audit_events).values(
        at=event.at or now,
        actor=event.actor,
        channel_id=event.channel_id,
        kind=event.kind,
        command=event.command,
        run_id=event.run_id,
        outcome=event.outcome,
        summary=event.summary,
        detail=None if event.detail is None else dump(event.detail),
        message_channel=event.message_channel,
        message_ts=event.message_ts,
        correlation_id=event.correlation_id,
        event_uid=event.uid,
        fence=event.fence,
    )
    if event.uid is not None:
        statement = statement.on_conflict_do_nothing(index_elements=[audit_events.c.event_uid])
    found = conn.execute(statement.returning(audit_events.c.id)).first()
    if found is None:
        return None
    event_id = int(found[0])
    keys = list(dict.fromkeys(event.order_keys))  # the same order twice is one row
    if keys:
        conn.execute(
            audit_event_orders.insert(),
            [{"event_id": event_id, "order_key": k, "pos": i} for i, k in enumerate(keys)],
        )
    return event_id


def search(
    store: Store,
    *,
    order_key: str | None = None,
    actor: str | None = None,
    failed_only: bool = False,
    since: float | None = None,
    limit: int = 20,
    order_keys: Sequence[str] = (),
) -> list[AuditEvent]:
    """The newest `limit` events matching every given filter, newest first. `order_key` and
    `order_keys` find the events about any of them (one order's several references)."""
    query = select(audit_events)
    wanted = [*([order_key] if order_key is not None else []), *order_keys]
    if wanted:
        query = query.where(
            audit_events.c.id.in_(
                select(audit_event_orders.c.event_id).where(
                    audit_event_orders.c.order_key.in_(wanted)
                )
            )
        )
    if actor is not None:
        query = query.where(audit_events.c.actor == actor)
    if failed_only:
        # And an OMS write still "started": in flight, or its process died during the call.
        open_write = (audit_events.c.kind == "oms_write") & (audit_events.c.outcome == "started")
        query = query.where(audit_events.c.outcome.in_(FAILED_OUTCOMES) | open_write)
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    # id breaks ties between events recorded in the same instant, keeping insertion order.
    query = query.order_by(audit_events.c.at.desc(), audit_events.c.id.desc()).limit(limit)
    with store.begin() as conn:
        rows = conn.execute(query).all()
        keys = _order_keys(conn, [row.id for row in rows])
    return [_event(row, keys.get(row.id, ())) for row in rows]


def run_events(store: Store, run_id: str, kind: str) -> list[AuditEvent]:
    """Every event of `kind` recorded for a run, oldest first (a run's snapshot, its writes)."""
    query = (
        select(audit_events)
        .where(audit_events.c.run_id == run_id, audit_events.c.kind == kind)
        .order_by(audit_events.c.at, audit_events.c.id)
    )
    with store.begin() as conn:
        rows = conn.execute(query).all()
    return [_event(row, ()) for row in rows]


def _order_keys(conn: Connection, event_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not event_ids:
        return {}
    rows = conn.execute(
        select(audit_event_orders.c.event_id, audit_event_orders.c.order_key)
        .where(audit_event_orders.c.event_id.in_(event_ids))
        .order_by(audit_event_orders.c.event_id, audit_event_orders.c.pos)
    ).all()
    found: dict[int, list[str]] = {}
    for event_id, key in rows:
        found.setdefault(event_id, []).append(key)
    return {event_id: tuple(keys) for event_id, keys in found.items()}


def _event(row: Row[Any], order_keys: tuple[str, ...]) -> AuditEvent:
    return AuditEvent(
        kind=row.kind,
        actor=row.actor,
        outcome=row.outcome,
        summary=row.summary,
        channel_id=row.channel_id,
        command=row.command,
        run_id=row.run_id,
        detail=load(row.detail),
        order_keys=order_keys,
        message_channel=row.message_channel,
        message_ts=row.message_ts,
        correlation_id=row.correlation_id,
        at=row.at,
        id=row.id,
        uid=row.event_uid,
        fence=row.fence,
    )
