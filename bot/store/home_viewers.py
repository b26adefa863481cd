"""Who opened their App Home tab (bot/surface/home.py): shared by every replica, so a change
made on one replica is published on the Home of a user whose opening another one served."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.db import Store
from bot.store.schema import home_viewers
from bot.store.sql import insert_on_conflict


def record_viewer(store: Store, user_id: str, dm_channel: str | None, now: float) -> None:
    """Remember that `user_id` opened their Home (a DM channel already known is kept when the
    opening did not say it)."""
    with store.begin() as conn:
        statement = insert_on_conflict(conn, home_viewers).values(
            user_id=user_id, dm_channel=dm_channel, opened_at=now
        )
        updates = {"opened_at": statement.excluded.opened_at}
        if dm_channel:
            updates["dm_channel"] = statement.excluded.dm_channel
        conn.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=updates))


def recent_viewers(store: Store, *, since: float, limit: int) -> dict[str, str | None]:
    """The users who opened their Home since `since`, newest last, with their DM channel."""
    query = (
        select(home_viewers.c.user_id, home_viewers.c.dm_channel)
        .where(home_viewers.c.opened_at >= since)
        .order_by(home_viewers.c.opened_at.desc())
        .limit(limit)
    )
    with store.begin() as conn:
        rows = conn.execute(query).all()
    return {row.user_id: row.dm_channel for row in reversed(rows)}
