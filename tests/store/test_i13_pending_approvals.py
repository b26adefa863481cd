"""One identical approval request waits at a time, whatever the replicas (issue 13): on SQLite
and PostgreSQL, threads on two Store objects standing in for two replicas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.store import Store, approvals, open_store
from tests.store.test_store import race
from tests.store_fixtures import store, store_url

__all__ = ["store", "store_url"]

NOW = 1_700_000_000.0


@pytest.fixture
def replica(store: Store) -> Iterator[Store]:
    """A second Store on the same database: another replica's engine and connection pool."""
    other = open_store(store.url)
    yield other
    other.dispose()


def ask(
    store: Store, *, params_hash: str = "ph", by: str = "U1", now: float = NOW
) -> tuple[approvals.Approval, bool]:
    return approvals.create_unless_pending(
        store,
        action="rollback",
        params={"store": "STORE"},
        params_hash=params_hash,
        preview={"lines": []},
        preview_hash="vh",
        requested_by=by,
        requested_channel="C1",
        approvals_channel="C2",
        approver_role="approver",
        expires_at=now + 900,
        now=now,
    )


def test_twenty_identical_requests_on_two_replicas_record_one(store: Store, replica: Store) -> None:
    stores = [store, replica]
    made = race(20, lambda i: ask(stores[i % 2], by=f"U{i}"))
    created = [a for a, new in made if new]
    assert len(created) == 1
    # Every other caller got the one that was recorded.
    assert {a.id for a, _ in made} == {created[0].id}
    assert len(approvals.list_pending(store, now=NOW)) == 1


def test_a_decided_expired_or_withdrawn_request_no_longer_blocks(store: Store) -> None:
    first, new = ask(store)
    assert new and ask(store)[0].id == first.id
    other, new = ask(store, params_hash="other")
    assert new and other.id != first.id  # other parameters: another request
    approvals.decide(store, first.id, decision="denied", by="U2", now=NOW + 1)
    second, new = ask(store, now=NOW + 2)
    assert new and second.id != first.id
    # Overdue but not yet swept: a new request may be made; the sweep still closes the old one.
    third, new = ask(store, now=NOW + 2000)
    assert new and third.id != second.id
    expired = {a.id for a in approvals.expire_due(store, now=NOW + 2000)}
    assert expired == {other.id, second.id}
    assert approvals.withdraw(store, third.id, now=NOW + 2001)
    fourth, new = ask(store, now=NOW + 2002)
    assert new and fourth.id != third.id
    got = approvals.get_approval(store, third.id)
    assert got is not None and got.state == "failed"
