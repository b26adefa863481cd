"""Two-person approvals: a request, decided exactly once, then executed, found stale, or failed.

Every transition is one conditional UPDATE on the previous state, so concurrent clicks on any
number of replicas change a request at most once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select

from bot.store.db import Store
from bot.store.schema import approvals
from bot.store.sql import RowLike, dump, insert_on_conflict, load, load_dict

# How many recent requests of one action `latest_approval` looks through.
LATEST_SCAN = 200

ApprovalState = Literal["pending", "approved", "denied", "expired", "stale", "executed", "failed"]


@dataclass(frozen=True)
class Approval:
    id: str
    action: str
    params: dict[str, Any]
    params_hash: str
    preview: Any  # whatever the action previewed (JSON): usually a list of changes
    preview_hash: str
    requested_by: str
    requested_channel: str
    origin_message_ts: str | None
    approvals_channel: str
    request_message_ts: str | None
    state: str
    decided_by: str | None
    decided_at: float | None
    reason: str | None
    expires_at: float
    created_at: float
    executed_at: float | None
    run_id: str | None
    approver_role: str
    # Named at the approval (see `decide`): the run it starts, and until when the replica
    # starting it holds it (another may take it over after that).
    start_run_id: str | None = None
    start_until: float | None = None


def pending_key(action: str, params_hash: str) -> str:
    """What makes two requests identical: the same action with the same parameters."""
    return f"{action}:{params_hash}"


def create_approval(
    store: Store,
    *,
    action: str,
    params: dict[str, Any],
    params_hash: str,
    preview: Any,
    preview_hash: str,
    requested_by: str,
    requested_channel: str,
    approvals_channel: str,
    approver_role: str,
    expires_at: float,
    now: float,
) -> Approval:
    """Record a pending request, whatever else is pending (see `create_unless_pending`)."""
    values = _new_values(
        action=action,
        params=params,
        params_hash=params_hash,
        preview=preview,
        preview_hash=preview_hash,
        requested_by=requested_by,
        requested_channel=requested_channel,
        approvals_channel=approvals_channel,
        approver_role=approver_role,
        expires_at=expires_at,
        now=now,
    )
    with store.begin() as conn:
        conn.execute(approvals.insert().values(**values))
    return _approval(values)


def create_unless_pending(
    store: Store,
    *,
    action: str,
    params: dict[str, Any],
    params_hash: str,
    preview: Any,
    preview_hash: str,
    requested_by: str,
    requested_channel: str,
    approvals_channel: str,
    approver_role: str,
    expires_at: float,
    now: float,
) -> tuple[Approval, bool]:
    """Record a pending request, unless an identical one (same action and parameters) is
    still waiting: then return that one. The second element says whether this call created it.

    The unique `pending_key` makes this hold across replicas: of two identical requests made at
    once, one insert wins and the other finds it.
    """
    key = pending_key(action, params_hash)
    values = _new_values(
        action=action,
        params=params,
        params_hash=params_hash,
        preview=preview,
        preview_hash=preview_hash,
        requested_by=requested_by,
        requested_channel=requested_channel,
        approvals_channel=approvals_channel,
        approver_role=approver_role,
        expires_at=expires_at,
        now=now,
    )
    values["pending_key"] = key
    for _ in range(3):
        with store.begin() as conn:
            # An overdue request no longer blocks a new one; it stays "pending" until the
            # sweep expires it and updates its message.
            conn.execute(
                approvals.update()
                .where(approvals.c.pending_key == key, approvals.c.expires_at <= now)
                .values(pending_key=None)
            )
            # RETURNING says whether the row went in (rowcount is not reliable for an
            # INSERT ... ON CONFLICT DO NOTHING across drivers).
            inserted = conn.execute(
                insert_on_conflict(conn, approvals)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[approvals.c.pending_key])
                .returning(approvals.c.id)
            ).first()
            if inserted is not None:
                return _approval(values), True
            row = conn.execute(select(approvals).where(approvals.c.pending_key == key)).first()
        if row is not None:
            return _approval(row._mapping), False
        # The pending one was decided between the insert and the read: try again.
    raise RuntimeError(f"could not record the approval request {key} (contended)")


def _new_values(
    *,
    action: str,
    params: dict[str, Any],
    params_hash: str,
    preview: Any,
    preview_hash: str,
    requested_by: str,
    requested_channel: str,
    approvals_channel: str,
    approver_role: str,
    expires_at: float,
    now: float,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "action": action,
        "params": dump(params),
        "params_hash": params_hash,
        "preview": dump(preview),
        "preview_hash": preview_hash,
        "requested_by": requested_by,
        "requested_channel": requested_channel,
        "origin_message_ts": None,
        "approvals_channel": approvals_channel,
        "request_message_ts": None,
        "state": "pending",
        "decided_by": None,
        "decided_at": None,
        "reason": None,
        "expires_at": expires_at,
        "created_at": now,
        "executed_at": None,
        "run_id": None,
        "approver_role": approver_role,
        "pending_key": None,
        "start_run_id": None,
        "start_until": None,
    }


def get_approval(store: Store, id: str) -> Approval | None:
    with store.begin() as conn:
        row = conn.execute(select(approvals).where(approvals.c.id == id)).first()
    return None if row is None else _approval(row._mapping)


def set_request_message(store: Store, id: str, ts: str) -> None:
    """The request's message in the approvals channel."""
    _set(store, id, request_message_ts=ts)


def set_origin_message(store: Store, id: str, ts: str) -> None:
    """The note left where the request was made."""
    _set(store, id, origin_message_ts=ts)


def set_reason(store: Store, id: str, reason: str) -> None:
    """The reason a denier gave (asked for after the decision, in a modal)."""
    _set(store, id, reason=reason)


def decide(
    store: Store,
    id: str,
    *,
    decision: Literal["approved", "denied"],
    by: str,
    now: float,
    reason: str | None = None,
    start_run_id: str | None = None,
    start_until: float | None = None,
) -> Approval | None:
    """Approve or deny a pending, unexpired request. Returns the decided request if this call
    made the decision, None if it was already decided, expired or unknown.

    An approval names, in the same UPDATE, the run it will start (`start_run_id`) and holds
    its start until `start_until`: decided and to be started are one recoverable unit. If
    the process dies before the run starts, another replica (or this one restarted) finds the
    request approved with no run once `start_until` is past (`claim_start`)."""
    return _transition(
        store,
        approvals.c.id == id,
        approvals.c.state == "pending",
        approvals.c.expires_at > now,
        state=decision,
        pending_key=None,
        decided_by=by,
        decided_at=now,
        reason=reason,
        start_run_id=start_run_id,
        start_until=start_until,
    )


def claim_start(
    store: Store,
    id: str,
    *,
    now: float,
    until: float,
    held: float | None = None,
    run_id: str,
) -> Approval | None:
    """Hold the start of an approved request until `until`: the one who holds it now renews
    it (`held`: the `start_until` it holds), or, with `held` None, anyone once it is past.
    Returns the request if this call holds it, None if someone else does or it left
    "approved". A request approved before runs were named gets `run_id`."""
    conditions = [approvals.c.id == id, approvals.c.state == "approved"]
    if held is not None:
        conditions.append(approvals.c.start_until == held)
    else:
        conditions.append((approvals.c.start_until.is_(None)) | (approvals.c.start_until <= now))
    return _transition(
        store,
        *conditions,
        start_until=until,
        start_run_id=func.coalesce(approvals.c.start_run_id, run_id),
    )


def unstarted_due(store: Store, *, now: float) -> list[Approval]:
    """Approved requests with no run whose start nobody holds any more, oldest first."""
    with store.begin() as conn:
        rows = conn.execute(
            select(approvals)
            .where(
                approvals.c.state == "approved",
                (approvals.c.start_until.is_(None)) | (approvals.c.start_until <= now),
            )
            .order_by(approvals.c.decided_at, approvals.c.id)
        ).all()
    return [_approval(row._mapping) for row in rows]


def mark(
    store: Store,
    id: str,
    state: Literal["executed", "stale", "failed", "expired"],
    *,
    now: float,
    run_id: str | None = None,
) -> bool:
    """Record what became of a request; False if it was not in the state this follows from
    (executed, stale and failed follow "approved"; expired follows an overdue "pending")."""
    values: dict[str, Any] = {"state": state, "pending_key": None}
    if run_id is not None:
        values["run_id"] = run_id
    if state == "expired":
        conditions = [approvals.c.state == "pending", approvals.c.expires_at <= now]
    else:
        conditions = [approvals.c.state == "approved"]
        if state == "executed":
            values["executed_at"] = now
    return _transition(store, approvals.c.id == id, *conditions, **values) is not None


def withdraw(store: Store, id: str, *, now: float) -> bool:
    """Close a pending request no approver could see (its message was never posted)."""
    return (
        _transition(
            store,
            approvals.c.id == id,
            approvals.c.state == "pending",
            state="failed",
            pending_key=None,
            decided_at=now,
        )
        is not None
    )


def list_pending(store: Store, *, now: float) -> list[Approval]:
    """Requests still waiting for a decision, oldest first."""
    with store.begin() as conn:
        rows = conn.execute(
            select(approvals)
            .where(approvals.c.state == "pending", approvals.c.expires_at > now)
            .order_by(approvals.c.created_at, approvals.c.id)
        ).all()
    return [_approval(row._mapping) for row in rows]


def expire_due(store: Store, *, now: float) -> list[Approval]:
    """Mark expired every pending request past its expiry; returns those this call changed."""
    with store.begin() as conn:
        rows = conn.execute(
            approvals.update()
            .where(approvals.c.state == "pending", approvals.c.expires_at <= now)
            .values(state="expired", pending_key=None)
            .returning(*approvals.c)
        ).all()
    return sorted((_approval(row._mapping) for row in rows), key=lambda a: a.created_at)


def latest_approval(
    store: Store,
    action: str,
    matches: Callable[[dict[str, Any]], bool],
    *,
    states: tuple[str, ...] | None = None,
) -> Approval | None:
    """The newest request for `action` whose parameters `matches` accepts (looking through
    the newest LATEST_SCAN requests of that action)."""
    query = select(approvals).where(approvals.c.action == action)
    if states is not None:
        query = query.where(approvals.c.state.in_(list(states)))
    query = query.order_by(approvals.c.created_at.desc(), approvals.c.id).limit(LATEST_SCAN)
    with store.begin() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        found = _approval(row._mapping)
        if matches(found.params):
            return found
    return None


def _transition(store: Store, *conditions: ColumnElement[bool], **values: Any) -> Approval | None:
    # UPDATE ... RETURNING hands back the row only to the caller whose UPDATE changed it.
    with store.begin() as conn:
        row = conn.execute(
            approvals.update().where(*conditions).values(**values).returning(*approvals.c)
        ).first()
    return None if row is None else _approval(row._mapping)


def _set(store: Store, id: str, **values: Any) -> None:
    with store.begin() as conn:
        conn.execute(approvals.update().where(approvals.c.id == id).values(**values))


def _approval(row: RowLike) -> Approval:
    return Approval(
        id=row["id"],
        action=row["action"],
        params=load_dict(row["params"]),
        params_hash=row["params_hash"],
        preview=load(row["preview"]),
        preview_hash=row["preview_hash"],
        requested_by=row["requested_by"],
        requested_channel=row["requested_channel"],
        origin_message_ts=row["origin_message_ts"],
        approvals_channel=row["approvals_channel"],
        request_message_ts=row["request_message_ts"],
        state=row["state"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        reason=row["reason"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        executed_at=row["executed_at"],
        run_id=row["run_id"],
        approver_role=row["approver_role"],
        start_run_id=row.get("start_run_id"),
        start_until=row.get("start_until"),
    )
