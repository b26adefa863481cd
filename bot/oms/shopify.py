"""Shopify as HotWax sees it, through the Maarg Shopify proxy (the "compare with Shopify" step).

`GET shopify/order/details` by Shopify order GID and `POST shopify/graphql` to search by name;
both need the shop's connection (its SystemMessageRemote id). Sources in docs/oms-api.md,
"Order runbooks".
"""

from __future__ import annotations

from datetime import datetime
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
