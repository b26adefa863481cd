"""Product stores, Shopify shops and their SystemMessageRemotes: the simulated OMS's data.

The routes that serve them are in bot/sandbox/stores.py; this module holds only the data, so
the sandbox state can own it without importing the routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEMO_STORE = "STORE"
ACCESS_SCOPES = ("SHOP_NO_ACCESS", "SHOP_READ_ACCESS", "SHOP_RW_ACCESS", "SHOP_READ_WRITE_ACCESS")
# The fields a product store record carries; a PUT must send every one of them.
STORE_FIELDS = (
    "productStoreId",
    "storeName",
    "companyName",
    "enableBrokering",
    "allowSplit",
    "reserveInventory",
    "autoApproveOrder",
    "orderNumberPrefix",
    "daysToCancelNonPay",
    "productIdentifierEnumId",
)
YN_FIELDS = ("enableBrokering", "allowSplit", "reserveInventory", "autoApproveOrder")


@dataclass
class StoresData:
    """Shops, remotes and product stores, plus the knob that fails chosen writes."""

    shops: dict[str, dict[str, Any]] = field(default_factory=dict)
    remotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    product_stores: dict[str, dict[str, Any]] = field(default_factory=dict)
    # remote id -> the error a PUT on it answers (tests: a rollback failing halfway).
    failing_remote_writes: dict[str, str] = field(default_factory=dict)

    def remote_of(self, shop_id: str) -> dict[str, Any] | None:
        return next((r for r in self.remotes.values() if r["internalId"] == shop_id), None)


def seed_stores() -> StoresData:
    data = StoresData()
    for shop_id, name, shopify_id in (
        ("10000", "Demo Shop US", "60123456789"),
        ("10001", "Demo Shop CA", "60123456790"),
    ):
        data.shops[shop_id] = {
            "shopId": shop_id,
            "shopifyShopId": shopify_id,
            "myshopifyDomain": f"demo-{shop_id}.myshopify.com",
            "name": name,
            "productStoreId": DEMO_STORE,
            "isEnabled": "Y",
        }
        remote_id = f"SHOP_CONFIG_{shop_id}"
        data.remotes[remote_id] = {
            "systemMessageRemoteId": remote_id,
            "description": f"Shopify {name}",
            "sendUrl": f"https://demo-{shop_id}.myshopify.com/admin/api/2024-07",
            "remoteId": shopify_id,
            "remoteIdType": "SHOPIFY_SHOP_ID",
            "internalId": shop_id,
            "internalIdType": "SHOPIFY_SHOP",
            "accessScopeEnumId": "SHOP_RW_ACCESS",
            "authHeaderName": "X-Shopify-Access-Token",
        }
    data.product_stores[DEMO_STORE] = {
        "productStoreId": DEMO_STORE,
        "storeName": "Demo Store",
        "companyName": "Demo Company",
        "enableBrokering": "Y",
        "allowSplit": "Y",
        "reserveInventory": "Y",
        "autoApproveOrder": "N",
        "orderNumberPrefix": "DS",
        "daysToCancelNonPay": 30,
        "productIdentifierEnumId": "SHOPIFY_PRODUCT_SKU",
    }
    # A second store without shops, so "which store" matters.
    data.product_stores["OUTLET"] = {
        **data.product_stores[DEMO_STORE],
        "productStoreId": "OUTLET",
        "storeName": "Outlet Store",
        "orderNumberPrefix": "OS",
    }
    return data
