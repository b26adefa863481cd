"""Database fixtures for any test module: the same tests on SQLite and on PostgreSQL.

Import what you use, e.g. `from tests.store_fixtures import store`. Each fixture is
self-contained (none asks for another by name), so importing one is enough.

PostgreSQL comes from OMSBOT_TEST_POSTGRES_URL; every test gets its own schema (selected
through the connection's search_path), dropped afterwards. Without that variable the
PostgreSQL cases skip, except in CI (env CI set), where they fail: CI must test PostgreSQL.
A URL that is set but does not connect always fails.
"""

from __future__ import annotations

import atexit
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from bot.store import Store, open_store, upgrade
from bot.store.db import describe

POSTGRES_ENV = "OMSBOT_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]

_created: set[str] = set()  # schemas made by fresh_postgres_url() and not dropped yet


def postgres_base_url() -> str:
    """The test server's URL, or skip/fail the calling test as the rules above say."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set: PostgreSQL is required in CI")
        pytest.skip(f"{POSTGRES_ENV} not set: PostgreSQL tests skipped")
    return url


def _libpq(url: str) -> str:
    # psycopg wants plain postgresql://, not SQLAlchemy's postgresql+psycopg://.
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(base_url: str, statement: sql.Composed) -> None:
    try:
        with psycopg.connect(_libpq(base_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL at {describe(base_url)} is not usable: {exc}".strip())


def schema_of(url: str) -> str | None:
    """The schema a fresh_postgres_url() URL points at."""
    options = make_url(url).query.get("options")
    text = options if isinstance(options, str) else ""
    prefix = "-csearch_path="
    return text.removeprefix(prefix) if text.startswith(prefix) else None


def fresh_postgres_url() -> str:
    """A URL whose connections use a new, empty schema of the test server.

    Drop it with drop_postgres_url(url) (the `postgres_url` fixture does); any left over are
    dropped when the test process exits.
    """
    base = postgres_base_url()
    schema = f"t_{secrets.token_hex(6)}"
    _run(base, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    _created.add(schema)
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


DROP_ATTEMPTS = 5


def drop_postgres_url(url: str) -> None:
    """Drop the schema of a fresh_postgres_url() URL and everything in it."""
    schema = schema_of(url)
    if schema is None or schema not in _created:
        return
    _created.discard(schema)
    statement = sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
    # A stopped bot's last write can still be finishing on another connection: the drop can
    # then be picked as a deadlock's victim. It is tried again once that write is through.
    for _ in range(DROP_ATTEMPTS - 1):
        try:
            with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as conn:
                conn.execute(statement)
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
            time.sleep(0.2)
    _run(url, statement)


@atexit.register
def _drop_leftovers() -> None:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        return
    for schema in list(_created):
        try:
            with psycopg.connect(_libpq(base), autocommit=True, connect_timeout=5) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )
        except psycopg.Error:
            pass  # best effort at exit; the schema names are random, so nothing collides


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file of its own (not created until first use)."""
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty schema of its own on the test PostgreSQL server."""
    url = fresh_postgres_url()
    try:
        yield url
    finally:
        drop_postgres_url(url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    url = fresh_postgres_url()
    try:
        yield url
    finally:
        drop_postgres_url(url)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated Store of each kind, disposed afterwards."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = fresh_postgres_url()
    opened = open_store(url)
    try:
        upgrade(opened)
        yield opened
    finally:
        opened.dispose()
        if request.param == "postgresql":
            drop_postgres_url(url)
