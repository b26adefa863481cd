"""The audit trail: every command, click, OMS write, approval and scheduled post.

Writes go to the store's append-only `audit_events` table. A write that fails (the database
is away) is logged in full instead, so the record survives in the log; it never breaks the
command that caused it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from bot.store import Store, StoreUnavailable
from bot.store.audit import AuditEvent, append, search

log = logging.getLogger(__name__)

FAILED_OUTCOMES = ("failed", "refused", "denied", "expired", "stale", "interrupted", "rejected")


class Audit:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, event: AuditEvent) -> int | None:
        now = time.time()
        try:
            return await asyncio.to_thread(append, self.store, event, now)
        except StoreUnavailable as exc:
            log.error(
                "audit write failed (%s); event kept here: %s",
                exc,
                json.dumps(_as_log(event), default=str),
            )
            return None

    async def search(
        self,
        *,
        order_key: str | None = None,
        actor: str | None = None,
        failed_only: bool = False,
        since: float | None = None,
        limit: int = 20,
    ) -> list[AuditEvent]:
        return await asyncio.to_thread(
            search,
            self.store,
            order_key=order_key,
            actor=actor,
            failed_only=failed_only,
            since=since,
            limit=limit,
        )


def _as_log(event: AuditEvent) -> dict[str, Any]:
    return {k: v for k, v in event.__dict__.items() if v not in (None, (), {})}
