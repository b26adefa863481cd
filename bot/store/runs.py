"""Runs and their steps: recorded before the first step, leased by the owning process through
heartbeats, so a run whose process died is found and marked interrupted, then resumed once.

Each hold of a run's lease has a generation (1 when recorded, one more at each claim): the
renewals, the step updates and the end of a run name it, so an execution that lost its lease
(a database outage longer than the lease, then a Resume) can change nothing of the run a newer
execution holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Row, exists, select

from bot.store.db import Store
from bot.store.locks import release_in
from bot.store.schema import run_steps, runs
from bot.store.sql import RowLike, dump, load, load_dict, load_list

RunState = Literal["running", "done", "failed", "interrupted"]
StepState = Literal["pending", "running", "done", "failed", "skipped"]

_FINISHED_STEP_STATES = ("done", "failed", "skipped")
_RESUMABLE = ("interrupted", "failed")


@dataclass(frozen=True)
class RunRecord:
    id: str
    runbook: str
    title: str
    params: dict[str, Any]
    order_keys: list[str]
    state: str
    requested_by: str
    channel_id: str
    message_ts: str | None
    response_url: str | None
    owner: str
    heartbeat_at: float
    created_at: float
    finished_at: float | None
    result: dict[str, Any] | None
    error: str | None
    generation: int = 1


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    idx: int
    name: str
    state: str
    detail: str
    started_at: float | None
    finished_at: float | None


def create_run(
    store: Store,
    *,
    run_id: str,
    runbook: str,
    title: str,
    params: dict[str, Any],
    order_keys: Sequence[str],
    requested_by: str,
    channel_id: str,
    response_url: str | None,
    owner: str,
    step_names: Sequence[str],
    now: float,
) -> RunRecord:
    """Record a new run, "running" and owned by `owner`, with every step "pending"."""
    values: dict[str, Any] = {
        "id": run_id,
        "runbook": runbook,
        "title": title,
        "params": dump(params),
        "order_keys": dump(list(order_keys)),
        "state": "running",
        "requested_by": requested_by,
        "channel_id": channel_id,
        "message_ts": None,
        "response_url": response_url,
        "owner": owner,
        "heartbeat_at": now,
        "created_at": now,
        "finished_at": None,
        "result": None,
        "error": None,
        "generation": 1,
    }
    with store.begin() as conn:
        conn.execute(runs.insert().values(**values))
        if step_names:
            conn.execute(
                run_steps.insert(),
                [
                    {"run_id": run_id, "idx": i, "name": name, "state": "pending", "detail": ""}
                    for i, name in enumerate(step_names)
                ],
            )
    return _run(values)


def get_run(store: Store, run_id: str) -> RunRecord | None:
    with store.begin() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
    return None if row is None else _run(row._mapping)


def get_steps(store: Store, run_id: str) -> list[StepRecord]:
    with store.begin() as conn:
        rows = conn.execute(
            select(run_steps).where(run_steps.c.run_id == run_id).order_by(run_steps.c.idx)
        ).all()
    return [_step(row) for row in rows]


def set_message(store: Store, run_id: str, message_ts: str) -> None:
    """Remember the run's progress message, so any replica can update it later."""
    with store.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(message_ts=message_ts))


@dataclass(frozen=True)
class StepChange:
    """A step moved to `state`; `detail` None keeps the step's current detail."""

    idx: int
    state: StepState
    detail: str | None = None


def set_steps(
    store: Store,
    run_id: str,
    changes: list[StepChange],
    *,
    now: float,
    generation: int | None = None,
) -> bool:
    """Make every change in one transaction (a step's end and the next one's start cost one
    trip to the database, not two); with a `generation`, only while the run is still in it:
    False, and nothing changed, when it is not (the lease is lost)."""
    try:
        with store.begin() as conn:
            for change in changes:
                _change_step(conn, run_id, change, now, generation)
    except _NotHeld:
        return False  # rolled back: no change of the list is made
    return True


class _NotHeld(Exception):
    """A step change found the run no longer in the generation (or no such step)."""


def _change_step(
    conn: Connection, run_id: str, change: StepChange, now: float, generation: int | None
) -> None:
    values: dict[str, Any] = {"state": change.state}
    if change.state == "running":
        values["started_at"] = now
        values["finished_at"] = None  # a resumed step runs again
    elif change.state in _FINISHED_STEP_STATES:
        values["finished_at"] = now
    if change.detail is not None:
        values["detail"] = change.detail
    changed = conn.execute(
        run_steps.update()
        .where(run_steps.c.run_id == run_id, run_steps.c.idx == change.idx, *_held(generation))
        .values(**values)
    ).rowcount
    if changed != 1:
        raise _NotHeld


def _held(generation: int | None) -> list[ColumnElement[bool]]:
    """The condition that the run is still in `generation` (none when it is None)."""
    if generation is None:
        return []
    return [
        exists(
            select(runs.c.id).where(
                runs.c.id == run_steps.c.run_id, runs.c.generation == generation
            )
        )
    ]


def finish_run(
    store: Store,
    run_id: str,
    *,
    state: Literal["done", "failed"],
    result: dict[str, Any] | None = None,
    error: str | None = None,
    now: float,
    generation: int | None = None,
) -> bool:
    """End a running run and free its order locks, in one transaction; False, and nothing
    changed, if it was not running (already finished, or interrupted), or, with a
    `generation`, when another execution has claimed it since (the locks are then that
    execution's: a run's locks are keyed by the run, whatever its execution)."""
    held = [] if generation is None else [runs.c.generation == generation]
    with store.begin() as conn:
        changed = conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.state == "running", *held)
            .values(
                state=state,
                result=None if result is None else dump(result),
                error=error,
                finished_at=now,
            )
        ).rowcount
        if changed == 1:
            release_in(conn, run_id)
    return changed == 1


def heartbeat(
    store: Store, run_id: str, owner: str, now: float, generation: int | None = None
) -> bool:
    """Renew the run's lease; False means the run is no longer this execution's: another
    process took it over, or the sweep marked it interrupted (this one lost its lease)."""
    held = [] if generation is None else [runs.c.generation == generation]
    with store.begin() as conn:
        changed = conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.owner == owner, runs.c.state == "running", *held)
            .values(heartbeat_at=now)
        ).rowcount
    return changed == 1


def holds(store: Store, run_id: str, owner: str, generation: int) -> bool:
    """Whether `owner` still runs the run in `generation` (read before each OMS write)."""
    with store.begin() as conn:
        row = conn.execute(
            select(runs.c.id).where(
                runs.c.id == run_id,
                runs.c.owner == owner,
                runs.c.state == "running",
                runs.c.generation == generation,
            )
        ).first()
    return row is not None


def interrupt_stale(store: Store, *, now: float, lease: float) -> list[RunRecord]:
    """Mark interrupted every running run whose owner stopped heartbeating for `lease` seconds.

    One conditional UPDATE ... RETURNING: it yields exactly the rows this call changed, so
    replicas sweeping at the same time get disjoint lists (a row another sweep changed first no
    longer matches `state = 'running'` when it is re-checked).
    """
    with store.begin() as conn:
        rows = conn.execute(
            runs.update()
            .where(runs.c.state == "running", runs.c.heartbeat_at < now - lease)
            .values(state="interrupted", finished_at=now)
            .returning(*runs.c)
        ).all()
    return sorted((_run(row._mapping) for row in rows), key=lambda run: run.created_at)


def claim_for_resume(store: Store, run_id: str, owner: str, now: float, lease: float) -> int | None:
    """Take an interrupted or failed run back to running for `owner`: its new generation, for
    one caller only (None for the others). An interrupted run only once its lease has really
    expired: the execution that held it may still be alive, only cut off from the database."""
    return _claim(store, run_id, owner, now, lease, reset=True)


def claim_for_repair(
    store: Store, run_id: str, owner: str, now: float, lease: float, *, state: str
) -> int | None:
    """Take an abandoned run (interrupted or failed) for the sweep to put back what it owes,
    only while it is still in `state` (the state `release_repair` will give it back in): its
    new generation, or None when another process has it or its state moved on."""
    return _claim(store, run_id, owner, now, lease, reset=False, state=state)


def _claim(
    store: Store,
    run_id: str,
    owner: str,
    now: float,
    lease: float,
    *,
    reset: bool,
    state: str | None = None,
) -> int | None:
    expired = (runs.c.state == "failed") | (runs.c.heartbeat_at < now - lease)
    still = [] if state is None else [runs.c.state == state]
    values: dict[str, Any] = {
        "state": "running",
        "owner": owner,
        "heartbeat_at": now,
        "generation": runs.c.generation + 1,
    }
    if reset:
        values.update(finished_at=None, error=None)
    with store.begin() as conn:
        row = conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.state.in_(_RESUMABLE), expired, *still)
            .values(**values)
            .returning(runs.c.generation)
        ).first()
    return None if row is None else int(row.generation)


def release_repair(
    store: Store, run_id: str, owner: str, generation: int, state: str, now: float
) -> bool:
    """Give a run the sweep repaired back its state (interrupted or failed), so it can be
    resumed; its heartbeat is left old, so a Resume may take it at once. Its order locks are
    freed in the same transaction, only while the repair holds it (see `finish_run`)."""
    with store.begin() as conn:
        changed = conn.execute(
            runs.update()
            .where(
                runs.c.id == run_id,
                runs.c.owner == owner,
                runs.c.generation == generation,
                runs.c.state == "running",
            )
            .values(state=state, heartbeat_at=0.0, finished_at=now)
        ).rowcount
        if changed == 1:
            release_in(conn, run_id)
    return changed == 1


def list_runs(
    store: Store, *, states: Sequence[str] | None = None, limit: int = 20
) -> list[RunRecord]:
    """The newest runs first, optionally only those in `states`."""
    query = select(runs)
    if states is not None:
        query = query.where(runs.c.state.in_(list(states)))
    query = query.order_by(runs.c.created_at.desc(), runs.c.id).limit(limit)
    with store.begin() as conn:
        rows = conn.execute(query).all()
    return [_run(row._mapping) for row in rows]


def _run(row: RowLike) -> RunRecord:
    result = load(row["result"])
    return RunRecord(
        id=row["id"],
        runbook=row["runbook"],
        title=row["title"],
        params=load_dict(row["params"]),
        order_keys=load_list(row["order_keys"]),
        state=row["state"],
        requested_by=row["requested_by"],
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        response_url=row["response_url"],
        owner=row["owner"],
        heartbeat_at=row["heartbeat_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        result=result if isinstance(result, dict) else None,
        error=row["error"],
        generation=int(row["generation"] or 1),
    )


def _step(row: Row[Any]) -> StepRecord:
    return StepRecord(
        run_id=row.run_id,
        idx=row.idx,
        name=row.name,
        state=row.state,
        detail=row.detail,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def set_step_detail(
    store: Store, run_id: str, idx: int, detail: str, generation: int | None = None
) -> bool:
    """Change a step's detail only (a long step reporting progress keeps its start time);
    False when the run is no longer in `generation`."""
    with store.begin() as conn:
        changed = conn.execute(
            run_steps.update()
            .where(run_steps.c.run_id == run_id, run_steps.c.idx == idx, *_held(generation))
            .values(detail=detail)
        ).rowcount
    return changed == 1
