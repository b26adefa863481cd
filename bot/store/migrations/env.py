"""Alembic environment: runs on the connection Store.upgrade() passes in its attributes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "oms-bot migrations run through Store.upgrade() (bot.store.migrate), "
        "which passes the connection; there is no alembic.ini"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=True,
    compare_type=True,
)

with context.begin_transaction():
    context.run_migrations()
