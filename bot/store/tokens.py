"""Button action tokens: a button carries only an opaque token; what it does, with which
parameters, for whom and until when, lives here. The buttons of one message form a group,
and the first press consumes the whole group."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from bot.store.db import Store
from bot.store.schema import action_tokens
from bot.store.sql import RowLike, dump, load, load_dict, load_list


@dataclass(frozen=True)
class NewToken:
    action: str
    params: dict[str, Any]
    group_key: str
    expires_at: float
    created_by: str
    allowed_users: Sequence[str] | None = None  # None: anyone (subject to allowed_role)
    allowed_role: str | None = None
    denied_users: Sequence[str] = field(default_factory=tuple)
    channel_id: str | None = None


@dataclass(frozen=True)
class ActionToken:
    token: str
    group_key: str
    action: str
    params: dict[str, Any]
    allowed_users: list[str] | None
    allowed_role: str | None
    denied_users: list[str]
    created_by: str
    created_at: float
    expires_at: float
    consumed_by: str | None
    consumed_at: float | None
    consumed_token: str | None
    channel_id: str | None
    message_ts: str | None


def create_tokens(store: Store, tokens: Sequence[NewToken], now: float) -> list[ActionToken]:
    """Store the actions and return them with their fresh tokens, in the order given."""
    rows: list[dict[str, Any]] = [
        {
            # 128 random bits: not guessable, and short enough for a button value.
            "token": secrets.token_urlsafe(16),
            "group_key": new.group_key,
            "action": new.action,
            "params": dump(new.params),
            "allowed_users": None if new.allowed_users is None else dump(list(new.allowed_users)),
            "allowed_role": new.allowed_role,
            "denied_users": dump(list(new.denied_users)),
            "created_by": new.created_by,
            "created_at": now,
            "expires_at": new.expires_at,
            "consumed_by": None,
            "consumed_at": None,
            "consumed_token": None,
            "channel_id": new.channel_id,
            "message_ts": None,
        }
        for new in tokens
    ]
    if rows:
        with store.begin() as conn:
            conn.execute(action_tokens.insert(), rows)
    return [_token(row) for row in rows]


def get_token(store: Store, token: str) -> ActionToken | None:
    with store.begin() as conn:
        row = conn.execute(select(action_tokens).where(action_tokens.c.token == token)).first()
    return None if row is None else _token(row._mapping)


def set_group_message(store: Store, group_key: str, channel_id: str, message_ts: str) -> None:
    """Remember the message the group's buttons are in, to replace them after a press."""
    with store.begin() as conn:
        conn.execute(
            action_tokens.update()
            .where(action_tokens.c.group_key == group_key)
            .values(channel_id=channel_id, message_ts=message_ts)
        )


def consume_group(store: Store, token: str, *, user: str, now: float) -> ActionToken | None:
    """Consume `token` and every other token of its group, if none was consumed yet and it has
    not expired. Returns the pressed token as now stored when this call won, else None.

    One conditional UPDATE is the exactly-once point: of any number of simultaneous presses,
    on any replica, one changes the rows and every other finds `consumed_at` already set.
    """
    group = (
        select(action_tokens.c.group_key).where(action_tokens.c.token == token).scalar_subquery()
    )
    with store.begin() as conn:
        rows = conn.execute(
            action_tokens.update()
            .where(
                action_tokens.c.group_key == group,
                action_tokens.c.consumed_at.is_(None),
                action_tokens.c.expires_at > now,
            )
            .values(consumed_by=user, consumed_at=now, consumed_token=token)
            .returning(*action_tokens.c)
        ).all()
    pressed = [row for row in rows if row.token == token]
    return _token(pressed[0]._mapping) if pressed else None


def _token(row: RowLike) -> ActionToken:
    allowed = load(row["allowed_users"])
    return ActionToken(
        token=row["token"],
        group_key=row["group_key"],
        action=row["action"],
        params=load_dict(row["params"]),
        allowed_users=None if allowed is None else [str(user) for user in allowed],
        allowed_role=row["allowed_role"],
        denied_users=load_list(row["denied_users"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        consumed_by=row["consumed_by"],
        consumed_at=row["consumed_at"],
        consumed_token=row["consumed_token"],
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
    )
