"""Per-order locks with a lease: one run per order at a time, and a holder that died stops
blocking once its lease runs out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, case, exists, select

from bot.store.db import Store
from bot.store.schema import order_locks, runs
from bot.store.sql import insert_on_conflict


@dataclass(frozen=True)
class LockHolder:
    order_key: str
    run_id: str
    holder: str
    what: str
    acquired_at: float
    lease_until: float


class _Held(Exception):
    """Raised inside the transaction to roll back the keys taken so far."""

    def __init__(self, holder: LockHolder) -> None:
        super().__init__(holder.order_key)
        self.holder = holder


def acquire(
    store: Store,
    order_keys: Sequence[str],
    *,
    run_id: str,
    holder: str,
    what: str,
    now: float,
    lease: float,
) -> LockHolder | None:
    """Lock every key for `run_id`, or none of them.

    Returns None when all are held now, else the live holder of the first key that is busy.
    A key is free when absent, when its lease has run out, or when `run_id` already holds it
    (a resumed run takes its own locks back).
    """
    try:
        with store.begin() as conn:
            # Sorted so two runs wanting overlapping keys wait on them in the same order
            # (PostgreSQL would otherwise be free to deadlock them).
            for key in sorted(set(order_keys)):
                busy = _take_or_holder(
                    conn, key, run_id=run_id, holder=holder, what=what, now=now, lease=lease
                )
                if busy is not None:
                    raise _Held(busy)
    except _Held as held:
        return held.holder
    return None


def _take_or_holder(
    conn: Connection, key: str, *, run_id: str, holder: str, what: str, now: float, lease: float
) -> LockHolder | None:
    # The holder can release the key between our failed take and our read of it: then the
    # key is free and we try again.
    for _ in range(5):
        if _take(conn, key, run_id=run_id, holder=holder, what=what, now=now, lease=lease):
            return None
        busy = _holder(conn, key)
        if busy is not None:
            return busy
    raise RuntimeError(f"the lock on {key} keeps changing hands")


def _take(
    conn: Connection, key: str, *, run_id: str, holder: str, what: str, now: float, lease: float
) -> bool:
    # One statement, atomic on both databases: insert the key, or, when it exists, take it over
    # only if its lease expired or this run holds it. No row changed means someone else has it.
    stmt = insert_on_conflict(conn, order_locks).values(
        order_key=key,
        run_id=run_id,
        holder=holder,
        what=what,
        acquired_at=now,
        lease_until=now + lease,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[order_locks.c.order_key],
        set_={
            "run_id": run_id,
            "holder": holder,
            "what": what,
            # Re-taking its own lock keeps the time the run first got it ("since when").
            "acquired_at": case(
                (order_locks.c.run_id == run_id, order_locks.c.acquired_at), else_=now
            ),
            "lease_until": now + lease,
        },
        where=(order_locks.c.lease_until < now) | (order_locks.c.run_id == run_id),
    )
    # RETURNING, not rowcount: SQLAlchemy only promises rowcount for UPDATE and DELETE.
    return conn.execute(stmt.returning(order_locks.c.order_key)).first() is not None


def renew(store: Store, run_id: str, *, now: float, lease: float) -> None:
    """Extend the lease of every key `run_id` holds."""
    with store.begin() as conn:
        conn.execute(
            order_locks.update()
            .where(order_locks.c.run_id == run_id)
            .values(lease_until=now + lease)
        )


def release(store: Store, run_id: str) -> None:
    """Free every key `run_id` holds."""
    with store.begin() as conn:
        release_in(conn, run_id)


def release_in(conn: Connection, run_id: str) -> None:
    """Free every key `run_id` holds, within the caller's transaction (a run's end frees its
    keys in the transaction that ends it)."""
    conn.execute(order_locks.delete().where(order_locks.c.run_id == run_id))


def release_unless_running(store: Store, run_id: str) -> None:
    """Free every key `run_id` holds unless the run is running: taken for a Resume or a
    repair that then could not claim the run, they would keep its orders busy for a lease
    with no one renewing them; a running run's keys are its execution's (a run's keys are
    the run's, whatever its execution) and stay."""
    running = exists(select(runs.c.id).where(runs.c.id == run_id, runs.c.state == "running"))
    with store.begin() as conn:
        conn.execute(order_locks.delete().where(order_locks.c.run_id == run_id, ~running))


def holder(store: Store, order_key: str) -> LockHolder | None:
    """The recorded holder of `order_key`, whether or not its lease is still live."""
    with store.begin() as conn:
        return _holder(conn, order_key)


def _holder(conn: Connection, order_key: str) -> LockHolder | None:
    row = conn.execute(select(order_locks).where(order_locks.c.order_key == order_key)).first()
    if row is None:
        return None
    return LockHolder(
        order_key=row.order_key,
        run_id=row.run_id,
        holder=row.holder,
        what=row.what,
        acquired_at=row.acquired_at,
        lease_until=row.lease_until,
    )
