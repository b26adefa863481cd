"""The sandbox's reconciliation routes over real HTTP, as the connector answers them: the
Shopify order count (`shopify/order/count`), the window search of the GraphQL proxy with its
cursor paging, and the order list's `externalId_op=in` (docs/oms-api.md, "Reconciliation")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.sandbox import DEMO_SHOPIFY_REMOTE, SandboxServer

COUNT = "/rest/s1/shopify/order/count"
GRAPHQL = "/rest/s1/shopify/graphql"
WINDOW = (
    "query w($query: String!, $after: String) { orders(first: %d, after: $after, "
    "query: $query) { edges { node { legacyResourceId createdAt } } "
    "pageInfo { hasNextPage endCursor } } }"
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _search(since: datetime, until: datetime) -> str:
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    return f"created_at:>={since.strftime(fmt)} created_at:<{until.strftime(fmt)}"


def _page(http: httpx.Client, search: str, size: int, after: str | None) -> Any:
    variables: dict[str, Any] = {"query": search}
    if after is not None:
        variables["after"] = after
    body = {
        "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
        "queryText": WINDOW % size,
        "variables": variables,
    }
    answer = http.post(GRAPHQL, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["response"]["orders"]


def test_count_and_window_pages_cover_the_same_orders_once(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    # Whole seconds, as the count takes them, and no scenario order on a bound.
    now = sandbox.state.now().replace(microsecond=0)
    since, until = now - timedelta(days=3, minutes=30), now
    expected = {
        o.shopify_id for o in sandbox.state.data.shopify.values() if since <= o.created_at < until
    }
    count = http.get(
        COUNT,
        params={
            "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
            "createdFromDate": _stamp(since),
            "createdThruDate": _stamp(until),
        },
    )
    assert count.json() == {"orderCount": len(expected)}
    seen: list[str] = []
    after = None
    while True:
        orders = _page(http, _search(since, until), 7, after)
        assert len(orders["edges"]) <= 7
        seen += [edge["node"]["legacyResourceId"] for edge in orders["edges"]]
        if not orders["pageInfo"]["hasNextPage"]:
            break
        after = orders["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(expected)


def test_count_refuses_a_date_timestamp_valueof_cannot_read(http: httpx.Client) -> None:
    answer = http.get(
        COUNT,
        params={
            "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
            "createdFromDate": "2026-11-30T10:00:00Z",
        },
    )
    assert answer.status_code == 400
    assert "yyyy-mm-dd hh:mm:ss" in answer.json()["errors"]


def test_count_needs_a_connection_with_access(http: httpx.Client) -> None:
    answer = http.get(COUNT, params={"systemMessageRemoteId": "NOPE"})
    assert answer.status_code == 400
    assert "SystemMessageRemote not found with ID NOPE" in answer.json()["errors"]


def test_window_search_needs_first(sandbox: SandboxServer, http: httpx.Client) -> None:
    now = sandbox.state.now()
    body = {
        "systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
        "queryText": "query w($query: String!) { orders(query: $query) { edges { node { id } } } }",
        "variables": {"query": _search(now - timedelta(days=1), now)},
    }
    answer = http.post(GRAPHQL, json=body)
    assert answer.status_code == 400 and "first or last" in answer.json()["errors"]


def test_orders_in_a_list_of_shopify_ids(http: httpx.Client) -> None:
    ids = ["6100000000002", "6100000000007", "6100000000003"]
    answer = http.get(
        "/rest/s1/oms/orders", params={"externalId": ",".join(ids), "externalId_op": "in"}
    )
    found = sorted((row["externalId"], row["orderId"]) for row in answer.json())
    # #1007 is in Shopify only; #1003 has two versions (refreshed).
    assert found == [
        ("6100000000002", "10002"),
        ("6100000000003", "10003"),
        ("6100000000003", "10013"),
    ]
    assert answer.headers["X-Total-Count"] == "3"
