"""State in one SQL database via SQLAlchemy Core: SQLite by default, PostgreSQL for replicas."""

from bot.store.db import Store, StoreUnavailable, open_store

__all__ = ["Store", "StoreUnavailable", "open_store"]
