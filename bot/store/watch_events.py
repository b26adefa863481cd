"""Job watches in the database: each alert claimed once across replicas, the polls, and what
each watch last saw of a job.

An alert (a failed run, a late job, a pause, a failed-imports spike) has a key every replica
computes alike from what the OMS says (`failed:JOB:RUN`), so the replicas that find it find
the same row: `take_alert` lets exactly one of them post it (a claim with a lease, as digest
slots have: a replica that dies holding one loses it when the lease runs out). A change of a
job's state (scheduled -> paused) is claimed by compare-and-set on `watch_states`: of two
replicas seeing the same change, one changes the row and only that one reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Row, func, select

from bot.store.db import Store
from bot.store.schema import watch_alerts, watch_polls, watch_states
from bot.store.sql import dump, insert_on_conflict, load_dict

AlertEnd = Literal["open", "held", "folded", "failed", "closed"]
LIVE = ("open", "held")  # an alert that may still be closed
# The states of an alert someone holds under a lease: "claimed", then "posting" from just
# before its message may reach Slack (a replica taking over a "posting" alert looks in the
# channel for it before posting again, as for digest slots).
HELD_UNDER_LEASE = ("claimed", "posting")


@dataclass(frozen=True)
class AlertRecord:
    watch_id: str
    alert_key: str
    kind: str
    subject: str
    state: str
    owner: str
    lease_until: float
    occurred_at: float
    created_at: float
    channel: str
    message_ts: str | None
    parent_key: str | None
    body: dict[str, Any]
    closed_at: float | None
    closed_note: str | None


@dataclass(frozen=True)
class PollRecord:
    watch_id: str
    first_poll_at: float
    last_poll_at: float
    last_owner: str
    last_outcome: str | None


@dataclass(frozen=True)
class WatchState:
    """What `/oms watches` shows: every watch's last poll and the alerts still open."""

    polls: dict[str, PollRecord]
    open_alerts: list[AlertRecord]


# ---- alerts ----------------------------------------------------------------------------------


def take_alert(
    store: Store,
    watch_id: str,
    key: str,
    *,
    kind: str,
    subject: str,
    occurred_at: float,
    channel: str,
    body: dict[str, Any],
    owner: str,
    now: float,
    lease: float,
) -> str | None:
    """Claim the alert for `owner` (new, its claim's lease ran out, or `owner` holds it
    already): the state it is in once claimed ("claimed", or "posting" when the owner it was
    taken from may have got its message to Slack); None once it was posted, held or folded,
    or while another owner's claim is live."""
    alert = watch_alerts.c
    with store.begin() as conn:
        stmt = insert_on_conflict(conn, watch_alerts).values(
            watch_id=watch_id,
            alert_key=key,
            kind=kind,
            subject=subject,
            state="claimed",
            owner=owner,
            lease_until=now + lease,
            occurred_at=occurred_at,
            created_at=now,
            channel=channel,
            body=dump(body),
        )
        # One atomic statement: of two replicas racing for the key, exactly one changes it.
        stmt = stmt.on_conflict_do_update(
            index_elements=[alert.watch_id, alert.alert_key],
            set_={"owner": owner, "lease_until": now + lease},
            where=alert.state.in_(HELD_UNDER_LEASE)
            & ((alert.lease_until < now) | (alert.owner == owner)),
        )
        row = conn.execute(stmt.returning(alert.state)).first()
        return None if row is None else str(row.state)


def mark_alert_posting(
    store: Store, watch_id: str, key: str, *, owner: str, now: float, lease: float
) -> bool:
    """Say, before posting, that `owner`'s message of the alert may reach Slack from now on;
    False if the claim was lost (the caller must not post)."""
    alert = watch_alerts.c
    with store.begin() as conn:
        changed = conn.execute(
            watch_alerts.update()
            .where(
                alert.watch_id == watch_id,
                alert.alert_key == key,
                alert.owner == owner,
                alert.state.in_(HELD_UNDER_LEASE),
            )
            .values(state="posting", lease_until=now + lease)
        ).rowcount
    return changed == 1


def abandoned_alerts(store: Store, watch_id: str, *, now: float) -> list[AlertRecord]:
    """A watch's alerts left "posting" by an owner whose lease ran out (it stopped or died
    between posting and recording the post), oldest first: the next poll settles them even
    when the OMS no longer shows what they were about."""
    alert = watch_alerts.c
    return _alerts(
        select(watch_alerts)
        .where(alert.watch_id == watch_id, alert.state == "posting", alert.lease_until < now)
        .order_by(alert.occurred_at),
        store,
    )


def finish_alert(
    store: Store,
    watch_id: str,
    key: str,
    *,
    owner: str,
    state: AlertEnd,
    message_ts: str | None = None,
    parent_key: str | None = None,
) -> bool:
    """Close `owner`'s claim: posted (open), held for after quiet hours, folded into an
    earlier alert's thread, or failed (Slack refused it); False if the claim was lost."""
    alert = watch_alerts.c
    with store.begin() as conn:
        changed = conn.execute(
            watch_alerts.update()
            .where(
                alert.watch_id == watch_id,
                alert.alert_key == key,
                alert.owner == owner,
                alert.state.in_(HELD_UNDER_LEASE),
            )
            .values(state=state, message_ts=message_ts, parent_key=parent_key)
        ).rowcount
    return changed == 1


def claim_held(
    store: Store, watch_id: str, key: str, *, owner: str, now: float, lease: float
) -> bool:
    """Take a held alert to post it now that quiet hours are over (one replica wins)."""
    alert = watch_alerts.c
    with store.begin() as conn:
        changed = conn.execute(
            watch_alerts.update()
            .where(alert.watch_id == watch_id, alert.alert_key == key, alert.state == "held")
            .values(state="claimed", owner=owner, lease_until=now + lease)
        ).rowcount
    return changed == 1


def held_alerts(store: Store, watch_id: str) -> list[AlertRecord]:
    """A watch's held alerts, oldest first."""
    return _alerts(
        select(watch_alerts)
        .where(watch_alerts.c.watch_id == watch_id, watch_alerts.c.state == "held")
        .order_by(watch_alerts.c.occurred_at),
        store,
    )


def fold_target(
    store: Store, watch_id: str, kind: str, subject: str, since: float
) -> AlertRecord | None:
    """The newest live alert of the subject that began at or after `since`: a repeat of it
    goes into its thread instead of a new message."""
    alert = watch_alerts.c
    found = _alerts(
        select(watch_alerts)
        .where(
            alert.watch_id == watch_id,
            alert.kind == kind,
            alert.subject == subject,
            alert.state.in_(LIVE),
            alert.parent_key.is_(None),
            alert.closed_at.is_(None),
            alert.occurred_at >= since,
        )
        .order_by(alert.occurred_at.desc())
        .limit(1),
        store,
    )
    return found[0] if found else None


def count_since(store: Store, watch_id: str, kind: str, subject: str, since: float) -> int:
    """How many alerts of the subject occurred at or after `since` (folded ones included)."""
    alert = watch_alerts.c
    with store.begin() as conn:
        value = conn.execute(
            select(func.count())
            .select_from(watch_alerts)
            .where(
                alert.watch_id == watch_id,
                alert.kind == kind,
                alert.subject == subject,
                alert.occurred_at >= since,
                alert.state.in_((*LIVE, "folded", "closed")),
            )
        ).scalar_one()
    return int(value)


def live_alerts(store: Store, watch_id: str, kind: str, subject: str) -> list[AlertRecord]:
    alert = watch_alerts.c
    return _alerts(
        select(watch_alerts).where(
            alert.watch_id == watch_id,
            alert.kind == kind,
            alert.subject == subject,
            alert.state.in_(LIVE),
            alert.parent_key.is_(None),
            alert.closed_at.is_(None),
        ),
        store,
    )


def close_alert(store: Store, record: AlertRecord, *, now: float, note: str) -> bool:
    """Close a live alert (one replica wins); the winner updates its message."""
    alert = watch_alerts.c
    with store.begin() as conn:
        changed = conn.execute(
            watch_alerts.update()
            .where(
                alert.watch_id == record.watch_id,
                alert.alert_key == record.alert_key,
                alert.state == record.state,
                alert.closed_at.is_(None),
            )
            .values(
                state="closed" if record.state == "open" else "held",
                closed_at=now,
                closed_note=note,
            )
        ).rowcount
    return changed == 1


def get_alert(store: Store, watch_id: str, key: str) -> AlertRecord | None:
    found = _alerts(
        select(watch_alerts).where(
            watch_alerts.c.watch_id == watch_id, watch_alerts.c.alert_key == key
        ),
        store,
    )
    return found[0] if found else None


def open_alerts(store: Store, limit: int = 50) -> list[AlertRecord]:
    """Every watch's live alerts (not folded), newest first."""
    alert = watch_alerts.c
    return _alerts(
        select(watch_alerts)
        .where(alert.state.in_(LIVE), alert.parent_key.is_(None), alert.closed_at.is_(None))
        .order_by(alert.occurred_at.desc())
        .limit(limit),
        store,
    )


def _alerts(stmt: Any, store: Store) -> list[AlertRecord]:
    with store.begin() as conn:
        rows = conn.execute(stmt).all()
    return [_alert(row) for row in rows]


def _alert(row: Row[Any]) -> AlertRecord:
    return AlertRecord(
        watch_id=row.watch_id,
        alert_key=row.alert_key,
        kind=row.kind,
        subject=row.subject,
        state=row.state,
        owner=row.owner,
        lease_until=row.lease_until,
        occurred_at=row.occurred_at,
        created_at=row.created_at,
        channel=row.channel,
        message_ts=row.message_ts,
        parent_key=row.parent_key,
        body=load_dict(row.body),
        closed_at=row.closed_at,
        closed_note=row.closed_note,
    )


# ---- polls -----------------------------------------------------------------------------------


def start_poll(store: Store, watch_id: str, *, owner: str, now: float) -> float:
    """Note a poll's start; return the watch's first poll time (the same on every replica:
    the first replica to poll sets it)."""
    poll = watch_polls.c
    with store.begin() as conn:
        conn.execute(
            insert_on_conflict(conn, watch_polls)
            .values(watch_id=watch_id, first_poll_at=now, last_poll_at=now, last_owner=owner)
            .on_conflict_do_nothing(index_elements=[poll.watch_id])
        )
        first = conn.execute(
            select(poll.first_poll_at).where(poll.watch_id == watch_id)
        ).scalar_one()
    return float(first)


def finish_poll(store: Store, watch_id: str, *, owner: str, now: float, outcome: str) -> None:
    poll = watch_polls.c
    with store.begin() as conn:
        conn.execute(
            watch_polls.update()
            .where(poll.watch_id == watch_id, poll.last_poll_at <= now)
            .values(last_poll_at=now, last_owner=owner, last_outcome=outcome[:500])
        )


def watch_state(store: Store) -> WatchState:
    with store.begin() as conn:
        rows = conn.execute(select(watch_polls)).all()
    polls = {
        row.watch_id: PollRecord(
            row.watch_id, row.first_poll_at, row.last_poll_at, row.last_owner, row.last_outcome
        )
        for row in rows
    }
    return WatchState(polls, open_alerts(store))


# ---- states ----------------------------------------------------------------------------------


def change_state(
    store: Store, watch_id: str, subject: str, aspect: str, value: str, *, now: float
) -> tuple[str | None, int] | None:
    """Record that the watch sees `value`; return (the value before, the new generation) when
    this call changed it, None when nothing changed or another replica changed it first. The
    first sighting returns (None, 0): there is no "before" to report a change from."""
    state = watch_states.c
    where = (state.watch_id == watch_id) & (state.subject == subject) & (state.aspect == aspect)
    with store.begin() as conn:
        row = conn.execute(select(state.value, state.generation).where(where)).first()
        if row is None:
            inserted = conn.execute(
                insert_on_conflict(conn, watch_states)
                .values(
                    watch_id=watch_id,
                    subject=subject,
                    aspect=aspect,
                    value=value,
                    generation=0,
                    changed_at=now,
                )
                .on_conflict_do_nothing()
                .returning(state.value)
            ).first()
            return (None, 0) if inserted is not None else None
        if row.value == value:
            return None
        changed = conn.execute(
            watch_states.update()
            .where(where & (state.value == row.value) & (state.generation == row.generation))
            .values(value=value, generation=row.generation + 1, changed_at=now)
        ).rowcount
    return (str(row.value), int(row.generation) + 1) if changed == 1 else None
