"""Maarg's Shopify proxy: read the Shopify side of an order through the shop's connection.

`GET shopify/order/details` is the connector's get#OrderDetails [SRC hotwax/mantle-shopify-
connector:service/shopify.rest.xml]; `POST shopify/graphql` forwards an Admin GraphQL query,
of which the sandbox answers the order search HotWax's company app sends
(`orders(query: "name:#1006" | "id:6100000000006")`) [SRC hotwax/company:src/composables/
useShopify.ts searchShopifyOrders]. Errors follow Maarg: non-2xx with `{"errors": "..."}`.

Both go through the connector's send#ShopifyGraphqlRequest, which reads the remote from the
OMS's SystemMessageRemotes (the sandbox's stores data) and refuses before calling Shopify when
its access scope is SHOP_NO_ACCESS, or for a mutation when it is read-only; a service error is
Moqui's HTTP 400 (mantle-shopify-connector ShopifyHelperServices.xml:182-200; moqui-framework
WebFacadeImpl.groovy:1100-1104).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox.records import ShopifyOrder
from bot.sandbox.shapes import iso_z
from bot.sandbox.state import SandboxState
from bot.sandbox.web import maarg_authed, maarg_error, read_json_object

_SEARCH = re.compile(r"^\s*(?P<field>name|id):\s*(?P<value>#?[\w-]+)\s*$")
_FULFILLMENT = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED"}


def shopify_order_json(order: ShopifyOrder) -> dict[str, Any]:
    """The order as the Admin GraphQL API describes it (the fields the runbooks read)."""
    address = order.shipping_address
    return {
        "id": f"gid://shopify/Order/{order.shopify_id}",
        "legacyResourceId": order.shopify_id,
        "name": order.name,
        "createdAt": iso_z(order.created_at),
        "updatedAt": iso_z(order.updated_at),
        "sourceName": order.source_name,
        "displayFulfillmentStatus": _FULFILLMENT.get(order.fulfillment_status or "", "UNFULFILLED"),
        "displayFinancialStatus": order.financial_status.upper(),
        "email": order.email,
        "phone": order.phone,
        "shippingAddress": None
        if address is None
        else {
            "address1": address.get("address1"),
            "city": address.get("city"),
            "provinceCode": address.get("province_code"),
            "zip": address.get("zip"),
        },
        "totalPrice": f"{order.total_price:.2f}",
        "lineItems": [
            {
                "sku": line.get("sku"),
                "title": line.get("title"),
                "quantity": line.get("quantity", 1),
            }
            for line in order.line_items
        ],
    }


def remote_problem(state: SandboxState, remote: Any, *, mutation: bool = False) -> str | None:
    """Why the connector would refuse a Shopify call through `remote` (None: it would not):
    the remote is read from the OMS's remotes and its access scope checked
    (ShopifyHelperServices.xml:45-55, 187-200)."""
    if not remote:
        return "The following required parameter is missing: systemMessageRemoteId"
    with state.lock:
        scope = state.stores.proxy_scope(str(remote))
    if scope is None:
        return f"SystemMessageRemote not found with ID {remote}"
    if scope == "SHOP_NO_ACCESS":
        return f"No Access is enabled for Shopify with systemMessageRemoteId, {remote}."
    if mutation and scope == "SHOP_READ_ACCESS":
        return (
            "Cannot post graphQL mutation, only read access is enabled for Shopify with "
            f"systemMessageRemoteId, {remote}."
        )
    return None


def _search(state: SandboxState, query: str) -> list[ShopifyOrder]:
    hit = _SEARCH.match(query)
    if hit is None:
        raise ValueError(
            f"Unsupported order search {query!r}: the sandbox answers name:#<number> or "
            "id:<Shopify order id>"
        )
    value = hit["value"]
    with state.lock:
        orders = list(state.data.shopify.values())
    if hit["field"] == "id":
        return [order for order in orders if order.shopify_id == value]
    wanted = value if value.startswith("#") else f"#{value}"
    return [order for order in orders if order.name == wanted]


GID_PREFIX = "gid://shopify/Order/"
# A window search, as HotWax's reconciliation writes it (mantle-shopify-connector
# ShopifyOrderReconciliationServices.xml): `created_at:>=<ISO> created_at:<<ISO>`.
_WINDOW = re.compile(r"^\s*created_at:>=(?P<since>\S+)\s+created_at:<(?P<until>\S+)\s*$")
_FIRST = re.compile(r"orders\s*\(\s*first:\s*(?P<first>\d+)")
_CURSOR = "cursor:"
# Shopify's most items on one connection page (its Admin GraphQL API pagination limit) [INF].
MAX_FIRST = 250
# Timestamp.valueOf, which get#OrderCount reads its dates with (ShopifyOrderServices.xml:39-40).
_TIMESTAMP = re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$")


def _iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment


def window_orders(state: SandboxState, since: datetime, until: datetime) -> list[ShopifyOrder]:
    """The shop's orders created in [since, until), in a stable order for cursor paging."""
    with state.lock:
        orders = [o for o in state.data.shopify.values() if since <= o.created_at < until]
    return sorted(orders, key=lambda order: (order.created_at, order.shopify_id))


def _window_page(state: SandboxState, search: str, query_text: str, after: Any) -> dict[str, Any]:
    hit = _WINDOW.match(search)
    if hit is None:
        raise ValueError(f"Unsupported order search {search!r}")
    first = _FIRST.search(query_text)
    if first is None:
        raise ValueError("you must provide one of first or last")
    size = int(first["first"])
    if not 1 <= size <= MAX_FIRST:
        raise ValueError(f"first must be between 1 and {MAX_FIRST}")
    start = 0
    if after is not None:
        if not isinstance(after, str) or not after.startswith(_CURSOR):
            raise ValueError("Invalid cursor for current pagination sort.")
        start = int(after.removeprefix(_CURSOR))
    orders = window_orders(state, _iso(hit["since"]), _iso(hit["until"]))
    chosen = orders[start : start + size]
    more = start + size < len(orders)
    with state.lock:
        edges = [{"node": shopify_order_json(order)} for order in chosen]
    return {
        "orders": {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": more,
                "endCursor": f"{_CURSOR}{start + len(chosen)}" if chosen else None,
            },
        }
    }


def _count_bound(text: str | None) -> datetime | None:
    if not text:
        return None
    if not _TIMESTAMP.match(text.strip()):
        raise ValueError("Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]")
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def shopify_routes(state: SandboxState) -> list[Route]:
    async def order_details(request: Request, user: str) -> Response:
        problem = remote_problem(state, request.query_params.get("systemMessageRemoteId"))
        if problem:
            return maarg_error(400, problem)
        given = request.query_params.get("shopifyOrderId", "").strip()
        if not given:
            return maarg_error(400, "The following required parameter is missing: shopifyOrderId")
        if not given.startswith(GID_PREFIX):
            # get#OrderDetails runs `node(id: "${shopifyOrderId}")`: Shopify refuses a numeric
            # id, and the service fails (ShopifyTemplateData.xml:13, ShopifyHelperServices.xml
            # :246-248 in hotwax/mantle-shopify-connector).
            return maarg_error(500, f"Invalid global id '{given}'")
        with state.lock:
            order = state.data.shopify.get(given.removeprefix(GID_PREFIX))
            if order is None:
                # A missing order is a warning: HTTP 200 without orderDetail
                # (ShopifyOrderServices.xml:116-118).
                return JSONResponse({"messages": [f"No order found for {given}"]})
            return JSONResponse({"orderDetail": shopify_order_json(order)})

    async def graphql(request: Request, user: str) -> Response:
        try:
            body = await read_json_object(request)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        query_text = body.get("queryText")
        mutation = isinstance(query_text, str) and query_text.lstrip().startswith("mutation")
        problem = remote_problem(state, body.get("systemMessageRemoteId"), mutation=mutation)
        if problem:
            return maarg_error(400, problem)
        if not isinstance(query_text, str) or "orders" not in query_text:
            return maarg_error(
                400, "queryText must be a GraphQL query over orders (the sandbox has no other)"
            )
        variables = body.get("variables")
        search = variables.get("query") if isinstance(variables, dict) else None
        if not isinstance(search, str):
            return maarg_error(400, "variables.query (a Shopify order search string) is required")
        if _WINDOW.match(search) and isinstance(variables, dict):
            try:
                page = _window_page(state, search, query_text, variables.get("after"))
            except ValueError as exc:
                return maarg_error(400, str(exc))
            return JSONResponse({"response": page})
        try:
            found = _search(state, search)
        except ValueError as exc:
            return maarg_error(400, str(exc))
        with state.lock:  # sync timers change these orders
            edges = [{"node": shopify_order_json(order)} for order in found]
        return JSONResponse({"response": {"orders": {"edges": edges}}})

    async def order_count(request: Request, user: str) -> Response:
        # get#OrderCount: Shopify's orders/count.json over created_at_min/max (both inclusive
        # in Shopify's REST API), any status by default (ShopifyOrderServices.xml:20-57).
        query = request.query_params
        problem = remote_problem(state, query.get("systemMessageRemoteId"))
        if problem:
            return maarg_error(400, problem)
        try:
            low = _count_bound(query.get("createdFromDate"))
            high = _count_bound(query.get("createdThruDate"))
        except ValueError as exc:
            return maarg_error(400, str(exc))
        with state.lock:
            count = sum(
                1
                for o in state.data.shopify.values()
                if (low is None or o.created_at >= low) and (high is None or o.created_at <= high)
            )
        return JSONResponse({"orderCount": count})

    return [
        Route(
            "/rest/s1/shopify/order/count",
            maarg_authed(state, order_count),
            methods=["GET"],
        ),
        Route(
            "/rest/s1/shopify/order/details",
            maarg_authed(state, order_details),
            methods=["GET"],
        ),
        Route("/rest/s1/shopify/graphql", maarg_authed(state, graphql), methods=["POST"]),
    ]
