"""Schema migrations with Alembic, run in code: no alembic.ini, the Store's own engine."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select

from bot.store.db import Store

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Any constant works as long as every replica uses the same one: it names the PostgreSQL
# advisory lock that serialises schema upgrades ("omsb" in ASCII).
PG_UPGRADE_LOCK = 0x6F6D7362

# Alembic keeps its `context` and `op` proxies in module globals, so two threads of one process
# must not run it at once; the database lock below covers other processes.
_in_process = threading.Lock()


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration, built in code; env.py takes `conn` from its attributes."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(store: Store) -> str | None:
    """The applied migration revision, None for an empty database."""
    with store.guard(), store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store) -> None:
    """Bring the schema to the newest migration (`alembic upgrade head`), holding a
    database-wide lock so replicas starting together take turns: the second one finds the
    schema current and does nothing."""
    with _in_process, store.guard(), store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Session-level lock: survives the commits Alembic makes, released below.
            conn.execute(select(func.pg_advisory_lock(PG_UPGRADE_LOCK)))
            conn.commit()
            try:
                command.upgrade(alembic_config(conn), "head")
                conn.commit()
            finally:
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(PG_UPGRADE_LOCK)))
                conn.commit()
        else:
            # SQLite: take the write lock first, so the whole upgrade (DDL included, which
            # SQLite runs transactionally) is one transaction another process waits for.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            command.upgrade(alembic_config(conn), "head")
            conn.commit()
