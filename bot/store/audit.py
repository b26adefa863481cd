"""The audit trail: append-only events, searchable by order, actor, outcome and time.

There is deliberately no update or delete here: nothing the bot records is ever rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select

from bot.store.db import Store
from bot.store.schema import audit_event_orders, audit_events
from bot.store.sql import dump, load

# Outcomes `/oms history --failed` shows: everything that did not do what was asked.
FAILED_OUTCOMES = ("failed", "refused", "denied", "expired", "stale", "interrupted")


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
    fence: int | None = None  # the lease generation of the run that made the write


def append(store: Store, event: AuditEvent, now: float) -> int:
    """Record `event` at `now` (its own `at` and `id` are ignored); returns the new id."""
    with store.begin() as conn:
        event_id: int = conn.execute(
            audit_events.insert()
            .values(
                at=now,
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
                fence=event.fence,
            )
            .returning(audit_events.c.id)
        ).scalar_one()
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
        query = query.where(audit_events.c.outcome.in_(FAILED_OUTCOMES))
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
        fence=row.fence,
    )
