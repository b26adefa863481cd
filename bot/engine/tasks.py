"""Work started after the ack: tracked so a shutdown can finish it instead of dropping it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskTracker:
    """Owns the background tasks of commands and clicks.

    `accepting` turns False at shutdown: the ack path then tells the user to retry instead of
    starting work that the process would have to abandon.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepting = True

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Handlers report their own failures to the user; this is the last net.
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        """Wait until no task is running (the console waits for a command's replies)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self, timeout: float) -> int:
        """Stop accepting, wait up to `timeout` seconds, cancel what is left; return that count."""
        self.accepting = False
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in pending:
            log.warning("cancelling %s: still running after %.0fs", task.get_name(), timeout)
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
