"""Changes worth showing again: an approval asked for or decided, a run started or finished,
a digest posted.

The engine tells this hub what changed and for whom; the Slack surface listens and refreshes
what shows it (the App Home tab of each user concerned). A listener must not block or raise
into the engine: it is called inline and should only schedule its work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """What changed (`kind`: "approval", "run", "digest") and for whom: `users` by id, and
    `approvers` when anyone holding one of these roles may be concerned (an approval)."""

    kind: str
    users: tuple[str, ...] = ()
    approver_roles: tuple[str, ...] = ()
    everyone: bool = False  # every user who looks (a digest is on everyone's Home)


Listener = Callable[[Change], None]


class Changes:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def tell(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # a listener's failure must never fail the engine's work
                log.exception("change listener failed on %s", change.kind)

    # The one-line calls the engine makes.

    def approval(self, requested_by: str, approver_role: str) -> None:
        self.tell(Change("approval", (requested_by,), tuple(approver_role.split("|"))))

    def run(self, requested_by: str) -> None:
        self.tell(Change("run", (requested_by,)))

    def digest(self) -> None:
        self.tell(Change("digest", everyone=True))
