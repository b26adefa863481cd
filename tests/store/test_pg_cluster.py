"""The private PostgreSQL cluster of the outage tests really goes down and comes back."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.store.db import StoreUnavailable, open_store
from tests.pg_cluster import PrivateCluster, pg_cluster

__all__ = ["pg_cluster"]


def test_private_cluster_stops_and_starts_with_its_data(pg_cluster: PrivateCluster) -> None:
    store = open_store(pg_cluster.url)
    try:
        with store.begin() as conn:
            conn.execute(text("CREATE TABLE kept (n int)"))
            conn.execute(text("INSERT INTO kept VALUES (7)"))
        pg_cluster.stop()
        with pytest.raises(StoreUnavailable, match="unavailable"):
            store.ping()
        pg_cluster.start()
        with store.begin() as conn:
            assert conn.execute(text("SELECT n FROM kept")).scalar_one() == 7
    finally:
        store.dispose()
