"""Product stores, Shopify shops and their SystemMessageRemotes: the simulated OMS's data.

The routes that serve them are in bot/sandbox/stores.py; this module holds only the data, so
the sandbox state can own it without importing the routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.data import DEMO_SHOPIFY_REMOTE, DEMO_SHOPIFY_SHOP_ID, SHOP_DOMAIN
from bot.sandbox.records import DEMO_SHOP, DEMO_STORE

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
# The purpose of a shop's link to the remote its publishers use (ShopifyShopRemote).
DEFAULT_APP_PURPOSE = "SsctShopifyDefaultApp"


@dataclass
class StoresData:
    """Shops, remotes and product stores, plus the knobs tests turn."""

    shops: dict[str, dict[str, Any]] = field(default_factory=dict)
    remotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    product_stores: dict[str, dict[str, Any]] = field(default_factory=dict)
    # remote id -> the error a PUT on it answers (tests: a rollback failing halfway).
    failing_remote_writes: dict[str, str] = field(default_factory=dict)
    # remote id -> the scope the Shopify proxy keeps acting on whatever the remote now holds
    # (tests: a node whose cached SystemMessageRemote is stale).
    stale_proxy_scopes: dict[str, str] = field(default_factory=dict)

    def proxy_scope(self, remote_id: str) -> str | None:
        """The access scope the Shopify proxy applies to a remote; None: no such remote.
        Unset reads as read access (ShopifyHelperServices.xml:45-48)."""
        remote = self.remotes.get(remote_id)
        if remote is None:
            return None
        stale = self.stale_proxy_scopes.get(remote_id)
        return stale or remote.get("accessScopeEnumId") or "SHOP_READ_ACCESS"


def _remote(
    remote_id: str, shop_id: str, name: str, shopify_id: str, domain: str
) -> dict[str, Any]:
    """A Shopify SystemMessageRemote as `GET oms/systemMessageRemotes` answers it: every column,
    the decrypted credentials included [INF: `encrypt="true"` fields, moqui-framework
    ServiceEntities.xml:327-338]. The token is a made-up sandbox value."""
    return {
        "systemMessageRemoteId": remote_id,
        "description": f"Shopify {name}",
        "sendUrl": f"https://{domain}",
        "remoteId": shopify_id,
        "remoteIdType": "SHOPIFY_SHOP_ID",
        "internalId": shop_id,
        "internalIdType": "HOTWAX_SHOP_ID",
        "accessScopeEnumId": "SHOP_RW_ACCESS",
        "authHeaderName": "X-Shopify-Access-Token",
        "password": f"shpat_sandbox{shop_id}0f3c9a7d2e",
    }


def seed_stores() -> StoresData:
    """Product store STORE with two shops, connected the two ways HotWax links them.

    Shop 10000 is the shop the sandbox's orders come from (`demo-shop.myshopify.com`): its
    connection is DEMO_SHOP_REMOTE, the remote its order-sync job runs through, named by a
    `shopRemotes` link with purpose SsctShopifyDefaultApp as newer Maarg instances nest it
    (hotwax/job-manager src/utils/index.ts getShopDefaultAppRemoteId). Shop 10001 has no such
    link, as on an older instance, and is matched by its remote's `internalId` (hotwax/company
    src/composables/useProductStoreData.ts:225-250).
    """
    data = StoresData()
    for shop_id, name, shopify_id, domain, remote_id, linked in (
        (DEMO_SHOP, "Demo Shop US", DEMO_SHOPIFY_SHOP_ID, SHOP_DOMAIN, DEMO_SHOPIFY_REMOTE, True),
        ("10001", "Demo Shop CA", "60123456790", "demo-shop-ca.myshopify.com",
         "SHOP_CONFIG_10001", False),
    ):  # fmt: skip
        data.shops[shop_id] = {
            "shopId": shop_id,
            "shopifyShopId": shopify_id,
            "myshopifyDomain": domain,
            "name": name,
            "productStoreId": DEMO_STORE,
            "isEnabled": "Y",
        }
        if linked:
            data.shops[shop_id]["shopRemotes"] = [
                {
                    "shopId": shop_id,
                    "systemMessageRemoteId": remote_id,
                    "purposeTypeId": DEFAULT_APP_PURPOSE,
                }
            ]
        data.remotes[remote_id] = _remote(remote_id, shop_id, name, shopify_id, domain)
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
