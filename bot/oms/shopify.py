"""Shopify as HotWax sees it, through the Maarg Shopify proxy (the "compare with Shopify" step).

`GET shopify/order/details` by Shopify order GID and `POST shopify/graphql` to search by name;
both need the shop's connection (its SystemMessageRemote id). Sources in docs/oms-api.md,
"Order runbooks".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.oms.client import OmsClient
from bot.oms.conventions import parse_models
from bot.oms.errors import OmsBadResponse, OmsRequestError

ORDER_QUERY = (
    "query findOrders($query: String!) { orders(first: 5, query: $query) { edges { node { "
    "id legacyResourceId name createdAt updatedAt sourceName displayFulfillmentStatus "
    "displayFinancialStatus shippingAddress { countryCode } "
    "totalPriceSet { shopMoney { amount currencyCode } } } } } }"
)
# One page of a window's orders, as HotWax's own reconciliation pages them: 100 at a time,
# by cursor (mantle-shopify-connector template/graphQL/OrderReconciliationSearchQuery.ftl).
WINDOW_PAGE_SIZE = 100
WINDOW_QUERY = (
    "query windowOrders($query: String!, $after: String) { orders(first: %d, after: $after, "
    "query: $query) { edges { node { id legacyResourceId name createdAt } } "
    "pageInfo { hasNextPage endCursor } } }"
)
# get#OrderCount reads its dates with Timestamp.valueOf (ShopifyOrderServices.xml:39-40).
COUNT_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
GID_PREFIX = "gid://shopify/Order/"
# The Shopify order fields the bot keeps (ShopifyOrder); everything else is dropped on reading.
_KEPT = (
    "name",
    "createdAt",
    "updatedAt",
    "sourceName",
    "displayFulfillmentStatus",
    "displayFinancialStatus",
)


def order_gid(shopify_id: str) -> str:
    """The GraphQL id `get#OrderDetails` looks the order up by (a numeric id is refused)."""
    return shopify_id if shopify_id.startswith(GID_PREFIX) else f"{GID_PREFIX}{shopify_id}"


class ShopifyOrder(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    name: str
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    source_name: str | None = Field(default=None, alias="sourceName")
    fulfillment_status: str | None = Field(default=None, alias="displayFulfillmentStatus")
    financial_status: str | None = Field(default=None, alias="displayFinancialStatus")
    # Whether the order has a shipping address (HotWax's import needs one). The address
    # itself is customer data: it is never kept, and the search does not ask for it.
    has_shipping_address: bool = False

    @model_validator(mode="before")
    @classmethod
    def _numeric_id(cls, data: Any) -> Any:
        # GraphQL ids are GIDs ("gid://shopify/Order/6178678210724"); HotWax stores the
        # numeric id (OrderHeader.externalId), which Shopify also gives as legacyResourceId.
        # Only what the runbooks read is kept: no customer, no address, no line items.
        if isinstance(data, dict):
            legacy = data.get("legacyResourceId")
            gid = str(data.get("id") or "")
            numeric = str(legacy) if legacy else gid.rsplit("/", 1)[-1]
            kept = {k: data[k] for k in _KEPT if k in data}
            data = {
                **kept,
                "id": numeric,
                "has_shipping_address": bool(data.get("shippingAddress")),
            }
        return data

    @property
    def fulfilled(self) -> bool:
        return (self.fulfillment_status or "").upper() == "FULFILLED"

    @property
    def is_pos(self) -> bool:
        return (self.source_name or "").lower() == "pos"


class ShopifyProxy:
    def __init__(self, oms: OmsClient, remote_id: str) -> None:
        self.oms = oms
        self.remote_id = remote_id

    async def order_by_id(self, shopify_id: str) -> ShopifyOrder | None:
        """The order, or None when Shopify has no such order: HotWax answers that with a
        warning, HTTP 200 without `orderDetail` (mantle-shopify-connector
        ShopifyOrderServices.xml:116-118); a 404 is read the same way."""
        operation = "read the order from Shopify"
        try:
            body = await self.oms.maarg_call(
                "GET",
                "shopify/order/details",
                operation=operation,
                params={
                    "systemMessageRemoteId": self.remote_id,
                    "shopifyOrderId": order_gid(shopify_id),
                    # The bot reads none of these: fewer Shopify calls, less customer data
                    # (get#OrderDetails, ShopifyOrderServices.xml:104-106).
                    "includeLineItems": "false",
                    "includeFulfillmentOrders": "false",
                    "includeShippingLines": "false",
                },
            )
        except OmsRequestError as exc:
            if exc.status_code == 404:
                return None
            raise
        if not isinstance(body, dict):
            raise OmsBadResponse(operation, "the answer is not a JSON object")
        detail = body.get("orderDetail")
        if detail is None:
            return None
        if not isinstance(detail, dict):
            raise OmsBadResponse(operation, "orderDetail is not an object")
        order: ShopifyOrder = parse_models(ShopifyOrder, [detail], operation)[0]
        return order

    async def order_by_name(self, name: str) -> ShopifyOrder | None:
        operation = "search Shopify orders by name"
        body = await self.oms.maarg_call(
            "POST",
            "shopify/graphql",
            operation=operation,
            json={
                "systemMessageRemoteId": self.remote_id,
                "queryText": ORDER_QUERY,
                "variables": {"query": f"name:{name}"},
            },
        )
        wrapped = body.get("response") or body.get("data") if isinstance(body, dict) else None
        try:
            edges = wrapped["orders"]["edges"]  # type: ignore[index]
            nodes = [edge["node"] for edge in edges]
        except (KeyError, TypeError) as exc:
            raise OmsBadResponse(operation, f"unexpected answer shape ({exc})") from None
        nodes = [n for n in nodes if isinstance(n, dict) and n.get("name") == name]
        matches = parse_models(ShopifyOrder, nodes, operation)
        return matches[0] if matches else None


def window_search(since: datetime, until: datetime) -> str:
    """The Shopify order search for orders created in [since, until), as HotWax's reconciliation
    writes it (ShopifyOrderReconciliationServices.xml: `created_at:>=` and `created_at:<`, ISO
    with an offset, UTC)."""
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    return f"created_at:>={since.astimezone(UTC).strftime(fmt)} " + (
        f"created_at:<{until.astimezone(UTC).strftime(fmt)}"
    )


@dataclass(frozen=True)
class WindowOrder:
    """A Shopify order of a window: its numeric id, name and creation, nothing else (the
    rows are many, so they are read without a model)."""

    id: str
    name: str
    created_at: datetime | None


@dataclass(frozen=True)
class WindowPage:
    orders: list[WindowOrder]
    cursor: str | None  # where the next page starts; None: this was the last page


def _window_order(node: Any, operation: str) -> WindowOrder:
    if not isinstance(node, dict):
        raise OmsBadResponse(operation, "an order is not an object")
    legacy = node.get("legacyResourceId")
    numeric = str(legacy) if legacy else str(node.get("id") or "").rsplit("/", 1)[-1]
    if not numeric.isdigit():
        raise OmsBadResponse(operation, "an order has no numeric id")
    created = node.get("createdAt")
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None
    except (AttributeError, ValueError):
        raise OmsBadResponse(operation, "an order's createdAt is not a time") from None
    return WindowOrder(numeric, str(node.get("name") or f"Shopify {numeric}"), moment)


async def order_count(proxy: ShopifyProxy, since: datetime, until: datetime) -> int:
    """Shopify's count of the shop's orders created in the window, any status: the connector's
    `GET shopify/order/count` (get#OrderCount, shopify.rest.xml:27-32, ShopifyOrderServices.xml
    :20-57), which answers `{orderCount}`. Its dates are `yyyy-MM-dd HH:mm:ss`, read in the
    server's zone (Timestamp.valueOf); they are sent in UTC, the zone HotWax's servers run in
    [INF]."""
    operation = "count the Shopify orders"
    body = await proxy.oms.maarg_call(
        "GET",
        "shopify/order/count",
        operation=operation,
        params={
            "systemMessageRemoteId": proxy.remote_id,
            "createdFromDate": since.astimezone(UTC).strftime(COUNT_TIMESTAMP),
            "createdThruDate": until.astimezone(UTC).strftime(COUNT_TIMESTAMP),
            "status": "any",
        },
    )
    count = body.get("orderCount") if isinstance(body, dict) else None
    if isinstance(count, bool) or not isinstance(count, int | str):
        raise OmsBadResponse(operation, "the answer has no orderCount")
    try:
        value = int(count)
    except ValueError:
        raise OmsBadResponse(operation, "orderCount is not a number") from None
    if value < 0:
        raise OmsBadResponse(operation, "orderCount is negative")
    return value


async def window_page(
    proxy: ShopifyProxy,
    since: datetime,
    until: datetime,
    *,
    after: str | None = None,
    page_size: int = WINDOW_PAGE_SIZE,
) -> WindowPage:
    """One page of the orders created in [since, until), through the Shopify GraphQL proxy,
    as HotWax's reconciliation pages them (cursor `after`, `pageInfo`)."""
    operation = "list the Shopify orders of the window"
    variables: dict[str, Any] = {"query": window_search(since, until)}
    if after is not None:
        variables["after"] = after
    body = await proxy.oms.maarg_call(
        "POST",
        "shopify/graphql",
        operation=operation,
        json={
            "systemMessageRemoteId": proxy.remote_id,
            "queryText": WINDOW_QUERY % page_size,
            "variables": variables,
        },
    )
    wrapped = body.get("response") or body.get("data") if isinstance(body, dict) else None
    try:
        orders = wrapped["orders"]  # type: ignore[index]
        nodes = [edge["node"] for edge in orders["edges"]]
        info = orders.get("pageInfo") or {}
    except (KeyError, TypeError, AttributeError) as exc:
        raise OmsBadResponse(operation, f"unexpected answer shape ({exc})") from None
    if not isinstance(info, dict):
        # Read below as an object: anything else is the proxy's mistake, named as such.
        raise OmsBadResponse(
            operation, f"pageInfo is a {type(info).__name__}, not an object"
        ) from None
    parsed = [_window_order(node, operation) for node in nodes]
    cursor = info.get("endCursor") if info.get("hasNextPage") else None
    if info.get("hasNextPage") and not isinstance(cursor, str):
        raise OmsBadResponse(operation, "hasNextPage without an endCursor")
    return WindowPage(parsed, cursor)
