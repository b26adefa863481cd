"""Scheduled slots (one digest due at 08:00 on one day): each (schedule, slot time) is
claimed by one replica with a lease and finished once; a replica that dies holding a claim
loses it when the lease runs out.

A claimed slot is marked "posting" just before its message may go to Slack: a replica that
takes over a posting slot cannot know whether the dead one's post reached Slack, so it looks
in the channel first (bot/engine/scheduler.py). Both "claimed" and "posting" are live
states: held under a lease, taken over when it runs out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, select

from bot.store.db import Store
from bot.store.schema import digest_slots
from bot.store.sql import insert_on_conflict

SlotState = Literal["claimed", "posting", "posted", "failed", "missed"]
# The states of a slot someone holds (under a lease); the others are final.
LIVE_STATES = ("claimed", "posting")


@dataclass(frozen=True)
class SlotRecord:
    schedule_id: str
    slot_time: float
    state: str
    owner: str
    lease_until: float
    attempts: int
    posted_at: float | None
    outcome: str | None
    message_ts: str | None


def claim_slot(
    store: Store, schedule_id: str, slot_time: float, *, owner: str, now: float, lease: float
) -> bool:
    """Claim the slot for `owner`: True if it was unclaimed, its claim's lease ran out, or
    `owner` already holds it; False once finished (posted, failed, missed) or claimed by
    another owner whose lease is live."""
    return take_slot(store, schedule_id, slot_time, owner=owner, now=now, lease=lease) is not None


def take_slot(
    store: Store, schedule_id: str, slot_time: float, *, owner: str, now: float, lease: float
) -> str | None:
    """Claim the slot as `claim_slot` does; the state it is in once claimed ("claimed", or
    "posting" when the owner it was taken from may have posted it), or None."""
    slot = digest_slots.c
    with store.begin() as conn:
        stmt = insert_on_conflict(conn, digest_slots).values(
            schedule_id=schedule_id,
            slot_time=slot_time,
            state="claimed",
            owner=owner,
            lease_until=now + lease,
            attempts=1,
        )
        # INSERT on the (schedule, slot) key, or take over an abandoned claim, in one atomic
        # statement: of two replicas racing, exactly one changes the row.
        stmt = stmt.on_conflict_do_update(
            index_elements=[slot.schedule_id, slot.slot_time],
            set_={"owner": owner, "lease_until": now + lease, "attempts": slot.attempts + 1},
            where=slot.state.in_(LIVE_STATES) & ((slot.lease_until < now) | (slot.owner == owner)),
        )
        # RETURNING, not rowcount: SQLAlchemy only promises rowcount for UPDATE and DELETE.
        row = conn.execute(stmt.returning(slot.state)).first()
        return None if row is None else str(row.state)


def mark_posting(
    store: Store, schedule_id: str, slot_time: float, *, owner: str, now: float, lease: float
) -> bool:
    """Say, before posting, that `owner`'s post may reach Slack from now on; False if the
    claim was lost (the caller must not post)."""
    return _update_live_claim(
        store, schedule_id, slot_time, owner, state="posting", lease_until=now + lease
    )


def renew_slot(
    store: Store, schedule_id: str, slot_time: float, *, owner: str, now: float, lease: float
) -> bool:
    """Extend `owner`'s claim (while it retries within the grace time); False if lost."""
    return _update_live_claim(store, schedule_id, slot_time, owner, lease_until=now + lease)


def _update_live_claim(
    store: Store, schedule_id: str, slot_time: float, owner: str, **values: object
) -> bool:
    """Set `values` on the slot while `owner` still holds its live claim; False if it does not."""
    slot = digest_slots.c
    with store.begin() as conn:
        changed = conn.execute(
            digest_slots.update()
            .where(
                slot.schedule_id == schedule_id,
                slot.slot_time == slot_time,
                slot.owner == owner,
                slot.state.in_(LIVE_STATES),
            )
            .values(**values)
        ).rowcount
    return changed == 1


def finish_slot(
    store: Store,
    schedule_id: str,
    slot_time: float,
    *,
    owner: str,
    state: Literal["posted", "failed", "missed"],
    outcome: str,
    message_ts: str | None = None,
    now: float,
) -> bool:
    """Close `owner`'s claim with its result; False if the claim was taken over meanwhile."""
    slot = digest_slots.c
    with store.begin() as conn:
        changed = conn.execute(
            digest_slots.update()
            .where(
                slot.schedule_id == schedule_id,
                slot.slot_time == slot_time,
                slot.owner == owner,
                slot.state.in_(LIVE_STATES),
            )
            .values(
                state=state,
                outcome=outcome,
                message_ts=message_ts,
                posted_at=now if state in ("posted", "missed") else None,
            )
        ).rowcount
    return changed == 1


def get_slot(store: Store, schedule_id: str, slot_time: float) -> SlotRecord | None:
    with store.begin() as conn:
        row = conn.execute(
            select(digest_slots).where(
                digest_slots.c.schedule_id == schedule_id, digest_slots.c.slot_time == slot_time
            )
        ).first()
    return None if row is None else _slot(row)


def last_slots(store: Store, schedule_id: str, limit: int = 2) -> list[SlotRecord]:
    """The schedule's latest slots, newest first (for "last run" in `/oms digest`)."""
    with store.begin() as conn:
        rows = conn.execute(
            select(digest_slots)
            .where(digest_slots.c.schedule_id == schedule_id)
            .order_by(digest_slots.c.slot_time.desc())
            .limit(limit)
        ).all()
    return [_slot(row) for row in rows]


def _slot(row: Row[Any]) -> SlotRecord:
    return SlotRecord(
        schedule_id=row.schedule_id,
        slot_time=row.slot_time,
        state=row.state,
        owner=row.owner,
        lease_until=row.lease_until,
        attempts=row.attempts,
        posted_at=row.posted_at,
        outcome=row.outcome,
        message_ts=row.message_ts,
    )
