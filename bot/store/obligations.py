"""What a run owes the OMS: the original state a step will put back, recorded before the write
that changes it, so a run whose process died (or whose OMS dropped) between the change and the
putting back still knows what was there before it.

An obligation is keyed within its run (one per thing changed, e.g. one order-sync job); while
it is open the run is not done with it: Resume, or the sweep for an abandoned run, puts the
original back first, then settles it with a note of what was done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from bot.store.db import Store
from bot.store.schema import run_obligations, runs
from bot.store.sql import dump, insert_on_conflict, load_dict

OPEN = "open"
SETTLED = "settled"


@dataclass(frozen=True)
class Obligation:
    run_id: str
    key: str
    kind: str  # names the restorer that puts it back (bot/engine/steps.py `restorer`)
    what: str  # in words, for the thread and the audit: "the order-sync job X's parameters"
    payload: dict[str, Any]  # the original state, as the restorer needs it
    state: str
    created_at: float
    settled_at: float | None = None
    note: str | None = None


class NotHeld(Exception):
    """The run is no longer in the caller's lease generation: it must not record anything."""


def owe(
    store: Store,
    run_id: str,
    *,
    generation: int,
    key: str,
    kind: str,
    what: str,
    payload: dict[str, Any],
    now: float,
) -> Obligation:
    """Record that the run must put `payload` back, unless an obligation under `key` is already
    open: then that one is kept (its original predates this attempt) and returned.

    NotHeld when the run is not running in `generation` (checked in the same transaction)."""
    with store.begin() as conn:
        if not _held(conn, run_id, generation):
            raise NotHeld(run_id)
        stmt = insert_on_conflict(conn, run_obligations).values(
            run_id=run_id,
            key=key,
            kind=kind,
            what=what,
            state=OPEN,
            payload=dump(payload),
            created_at=now,
            settled_at=None,
            note=None,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[run_obligations.c.run_id, run_obligations.c.key],
                set_={
                    "kind": kind,
                    "what": what,
                    "state": OPEN,
                    "payload": dump(payload),
                    "created_at": now,
                    "settled_at": None,
                    "note": None,
                },
                # An open one stays as it was: it holds the state from before the first write.
                where=run_obligations.c.state != OPEN,
            )
        )
        row = conn.execute(
            select(run_obligations).where(
                run_obligations.c.run_id == run_id, run_obligations.c.key == key
            )
        ).one()
    return _obligation(row._mapping)


def settle(store: Store, run_id: str, key: str, *, note: str, now: float) -> bool:
    """Mark the obligation kept (the original is back); False when it was not open."""
    with store.begin() as conn:
        changed = conn.execute(
            run_obligations.update()
            .where(
                run_obligations.c.run_id == run_id,
                run_obligations.c.key == key,
                run_obligations.c.state == OPEN,
            )
            .values(state=SETTLED, settled_at=now, note=note)
        ).rowcount
    return changed == 1


def open_for(store: Store, run_id: str) -> list[Obligation]:
    """The run's open obligations, oldest first."""
    with store.begin() as conn:
        rows = conn.execute(
            select(run_obligations)
            .where(run_obligations.c.run_id == run_id, run_obligations.c.state == OPEN)
            .order_by(run_obligations.c.created_at, run_obligations.c.key)
        ).all()
    return [_obligation(row._mapping) for row in rows]


def all_for(store: Store, run_id: str) -> list[Obligation]:
    """Every obligation the run recorded, open or settled, oldest first."""
    with store.begin() as conn:
        rows = conn.execute(
            select(run_obligations)
            .where(run_obligations.c.run_id == run_id)
            .order_by(run_obligations.c.created_at, run_obligations.c.key)
        ).all()
    return [_obligation(row._mapping) for row in rows]


def abandoned_owing(
    store: Store,
    *,
    ended_before: float,
    runbooks: Sequence[str] | None = None,
    limit: int = 20,
) -> list[str]:
    """Runs that owe something and nobody runs, oldest first: interrupted (their process was
    silent for a lease already), or failed before `ended_before` (a Resume pressed at once
    gets there first). With `runbooks`, only runs of those (the ones the asking process can
    repair): runs of another version's runbooks must not fill the `limit` for good."""
    known = [] if runbooks is None else [runs.c.runbook.in_(list(runbooks))]
    with store.begin() as conn:
        rows = conn.execute(
            select(runs.c.id)
            .where(
                *known,
                (runs.c.state == "interrupted")
                | ((runs.c.state == "failed") & (runs.c.finished_at < ended_before)),
                runs.c.id.in_(
                    select(run_obligations.c.run_id).where(run_obligations.c.state == OPEN)
                ),
            )
            .order_by(runs.c.finished_at)
            .limit(limit)
        ).all()
    return [str(row.id) for row in rows]


def _held(conn: Connection, run_id: str, generation: int) -> bool:
    row = conn.execute(
        select(runs.c.id).where(
            runs.c.id == run_id, runs.c.state == "running", runs.c.generation == generation
        )
    ).first()
    return row is not None


def _obligation(row: Any) -> Obligation:
    return Obligation(
        run_id=row["run_id"],
        key=row["key"],
        kind=row["kind"],
        what=row["what"],
        payload=load_dict(row["payload"]),
        state=row["state"],
        created_at=row["created_at"],
        settled_at=row["settled_at"],
        note=row["note"],
    )
