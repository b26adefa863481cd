"""Slack's redeliveries, recognised alike in HTTP and Socket Mode.

Slack sends an envelope again when it did not see the ack in time: over HTTP with the
`X-Slack-Retry-Num` header, in Socket Mode with `retry_attempt` (Bolt turns it into the same
header). The same envelope carries the same id (`trigger_id` of a command or interaction,
`event_id` of an event), so a process that took it once knows a redelivery when it sees one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

# Enough for every envelope of the last minutes on a busy workspace; a redelivery comes within
# about a minute of the first try.
REMEMBERED = 4096


def retry_number(headers: Mapping[str, str | Sequence[str]] | None) -> int:
    """Slack's retry count of this delivery (0 on the first try or when it does not say)."""
    raw: Any = (headers or {}).get("x-slack-retry-num")
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    try:
        return max(0, int(str(raw))) if raw is not None else 0
    except ValueError:
        return 0


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """What names this envelope across its deliveries, when it has such an id."""
    for field in ("event_id", "trigger_id"):
        value = body.get(field)
        if isinstance(value, str) and value:
            return f"{field}:{value}"
    return None


class Deliveries:
    """The envelopes this process took lately, by `delivery_key`."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str | None, *, retry: int) -> bool:
        """Record the envelope; False when it is a redelivery (`retry` >= 1) of one this
        process took already. A first try seen twice is let through (a test or a user may
        replay a body on purpose; the work it asks for is guarded on its own)."""
        if key is None:
            return True
        with self._lock:
            seen = key in self._seen
            self._seen[key] = None
            self._seen.move_to_end(key)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return not (seen and retry >= 1)
