"""Small SQL helpers shared by the repositories: JSON columns and portable upserts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

# Both dialects spell INSERT ... ON CONFLICT the same way, so one call site serves both.
Upsert = postgresql.Insert | sqlite.Insert

# A result row's mapping (RowMapping, keyed by name or column) or a plain dict of values.
RowLike = Mapping[Any, Any]


def dump(value: Any) -> str:
    """JSON text for a Text column (portable: no JSON column type needed)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def load_dict(text: str | None) -> dict[str, Any]:
    value = load(text)
    return value if isinstance(value, dict) else {}


def load_list(text: str | None) -> list[str]:
    value = load(text)
    return [str(item) for item in value] if isinstance(value, list) else []


def insert_on_conflict(conn: Connection, table: Table) -> Upsert:
    """An INSERT that can say ON CONFLICT, for the connection's dialect.

    A conflict handled in the statement itself is atomic and, unlike catching IntegrityError,
    does not abort the surrounding PostgreSQL transaction.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect {conn.dialect.name!r}")
