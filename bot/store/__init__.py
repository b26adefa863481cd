"""State in one SQL database via SQLAlchemy Core: SQLite by default, PostgreSQL for replicas.

One module per concern (audit, runs, locks, tokens, approvals, slots); every function there is
synchronous, runs its own short transaction, and is meant to be called via asyncio.to_thread.
The schema is versioned with Alembic (`migrate`). The store imports only the kit.
"""

from bot.store.db import Store, StoreUnavailable, open_store
from bot.store.migrate import current_revision as schema_version
from bot.store.migrate import upgrade

__all__ = ["Store", "StoreUnavailable", "open_store", "schema_version", "upgrade"]
