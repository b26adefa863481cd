"""The database engine: one URL, SQLite in WAL mode or PostgreSQL, the same code for both."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError


class StoreUnavailable(Exception):
    """The database cannot be reached; the message says which one and why."""


def engine_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the URL has."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # WAL lets readers run while a writer commits; busy_timeout makes concurrent writers wait
    # instead of failing at once with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def describe(url: str) -> str:
    """The URL without its password, fit for a log line or a message."""
    from sqlalchemy.engine import make_url

    return make_url(engine_url(url)).render_as_string(hide_password=True)


class Store:
    """Owns the engine. Calls are synchronous and short; async code runs them via `run`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)  # the driver's own error, when there is one
            reason = str(orig) if orig is not None else str(exc)
            raise StoreUnavailable(
                f"database {describe(self.url)} unreachable: {reason.strip().splitlines()[0]}"
            ) from None

    async def aping(self) -> None:
        await asyncio.to_thread(self.ping)

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Create the engine for `url`. Nothing connects until first use."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(engine_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return Store(engine, url)
