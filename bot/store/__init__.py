"""State in one SQL database via SQLAlchemy Core: SQLite by default, PostgreSQL for replicas.

One module per concern (audit, runs, locks, tokens, approvals, slots); every function there is
synchronous, runs its own short transaction, and is meant to be called via asyncio.to_thread.
"""

from bot.store.db import Store, StoreUnavailable, open_store

__all__ = ["Store", "StoreUnavailable", "open_store"]
