"""The database engine: one URL, SQLite in WAL mode or PostgreSQL, the same code for both."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc

# Errors that mean "the database is not there or not answering", as opposed to a bug in a
# statement (ProgrammingError, IntegrityError...), which should surface as itself.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.InternalError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


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


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # the driver's own error, when there is one
    reason = str(orig) if orig is not None else str(exc)
    lines = reason.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class Store:
    """Owns the engine. Calls are synchronous and short; async code runs them in a thread."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn "cannot reach the database" errors into StoreUnavailable naming the database."""
        try:
            yield
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(
                f"database {describe(self.url)} unavailable: {_reason(exc)}"
            ) from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One short transaction: committed on success, rolled back on any exception."""
        with self.guard(), self.engine.begin() as conn:
            yield conn

    def ping(self) -> None:
        with self.guard(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def aping(self) -> None:
        await asyncio.to_thread(self.ping)

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Create the engine for `url`. Nothing connects until first use."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 5}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(engine_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return Store(engine, url)
