"""A run execution's hold on its lease: the generation it runs in (its fencing token) and
whether it has lost the lease.

An execution loses its lease at the first heartbeat it cannot renew (the database is away, or
the run was taken over): from then on it must write nothing, to the OMS or to the run, because
once the lease has expired the sweep marks the run interrupted and a Resume starts a new
execution of it. `check` is asked before every OMS write and reads the database, so a write is
made only while the database confirms this execution still holds the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.store import Store, StoreUnavailable
from bot.store import runs as run_store


class LeaseLost(Exception):
    """The run's execution no longer holds its lease: it stops without writing anything."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunLease:
    store: Store
    run_id: str
    owner: str  # the process (RunEngine.instance_id)
    generation: int
    lost: str | None = None  # why the lease was lost, once it was
    unreachable: bool = False  # lost because the database could not be reached
    told: bool = False  # the user was (or is being) told the run stopped
    # The task telling it, while it does: the run's end lets it finish instead of cancelling.
    teller: asyncio.Task[None] | None = None

    def lose(self, reason: str, *, unreachable: bool = False) -> None:
        if self.lost is None:
            self.lost = reason
            self.unreachable = unreachable

    def ensure(self) -> None:
        """LeaseLost if the lease is known lost (no database read)."""
        if self.lost is not None:
            raise LeaseLost(self.lost)

    async def check(self) -> None:
        """LeaseLost unless the database confirms this execution still holds the run."""
        self.ensure()
        try:
            held = await asyncio.to_thread(
                run_store.holds, self.store, self.run_id, self.owner, self.generation
            )
        except StoreUnavailable as exc:
            self.lose(
                f"the bot's database could not be reached to confirm the run's lease ({exc})",
                unreachable=True,
            )
            raise LeaseLost(self.lost or "") from exc
        if not held:
            self.lose("the run was taken over by another execution")
            raise LeaseLost(self.lost or "")
