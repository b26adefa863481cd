"""Reads the rollback feature needs across the approvals, runs and audit tables.

`/oms rollback undo` finds the values the last rollback saved (its audit snapshot) and the
writes it made; `/oms rollback status` shows the last request of each kind. Nothing here
writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.store.approvals import Approval, _approval
from bot.store.audit import AuditEvent, _event
from bot.store.db import Store
from bot.store.schema import approvals, audit_events

# How many recent requests of one action to look through for a matching store and mode.
SCAN_LIMIT = 200


def latest_approval(
    store: Store,
    action: str,
    matches: Callable[[dict[str, Any]], bool],
    *,
    states: tuple[str, ...] | None = None,
) -> Approval | None:
    """The newest approval request for `action` whose parameters `matches` accepts."""
    query = select(approvals).where(approvals.c.action == action)
    if states is not None:
        query = query.where(approvals.c.state.in_(list(states)))
    query = query.order_by(approvals.c.created_at.desc(), approvals.c.id).limit(SCAN_LIMIT)
    with store.begin() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        found = _approval(row._mapping)
        if matches(found.params):
            return found
    return None


def run_events(store: Store, run_id: str, kind: str) -> list[AuditEvent]:
    """Every audit event of `kind` recorded for a run, oldest first."""
    query = (
        select(audit_events)
        .where(audit_events.c.run_id == run_id, audit_events.c.kind == kind)
        .order_by(audit_events.c.at, audit_events.c.id)
    )
    with store.begin() as conn:
        rows = conn.execute(query).all()
    return [_event(row, ()) for row in rows]
