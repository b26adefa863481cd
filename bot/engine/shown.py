"""Showing the newest state of something without making its work wait for the showing.

A run's message is re-rendered after every step from the database (the run and its steps)
and handed to the coalesced message updates. Done inline, those reads sit between one step's
end and the next step's first OMS call; `LatestShown` does them in a task of its own instead.
A request only marks the message out of date: one task at a time reads and shows, and the
requests made while it works are folded into its next pass (each pass reads the newest
state, so nothing a request asked for is lost). `settle` waits until everything requested has
been shown, so the final state can go after every progress state, never before one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class LatestShown:
    def __init__(self, show: Callable[[], Awaitable[None]], *, name: str) -> None:
        self._show = show
        self._name = name
        self._due = False
        self._task: asyncio.Task[None] | None = None

    def request(self) -> None:
        """Mark the state out of date; it is shown soon, without waiting here."""
        self._due = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._passes(), name=self._name)

    async def _passes(self) -> None:
        while self._due:
            self._due = False
            try:
                await self._show()
            except Exception:
                # A progress state that cannot be shown is not the run's failure: the next
                # state (or the final one) shows everything this one would have.
                log.exception("%s: showing a progress state failed", self._name)

    async def settle(self) -> None:
        """Wait until every state requested so far has been shown (or failed to be)."""
        while self._task is not None and not self._task.done():
            # asyncio.wait, not await: our own cancellation must not be taken for the task's.
            await asyncio.wait({self._task})

    async def aclose(self) -> None:
        """Stop showing: a pass in progress is cancelled and waited for."""
        self._due = False
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
