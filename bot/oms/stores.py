"""Product stores, their Shopify shops, each shop's Shopify connection and access scope (the
rollback; docs/oms-api.md, "Rollback").

The access scope of a Shopify shop lives on its SystemMessageRemote (`accessScopeEnumId`);
`SHOP_NO_ACCESS` stops every Shopify call and incoming webhook for that shop. Order brokering
is the product store's `enableBrokering` flag. HotWax's Company app writes a store by sending
the whole record with the changed field, and so do we: a partial body would be refused.

Which remote is a shop's connection: HotWax's publishers resolve it through the shop's
`ShopifyShopRemote` link with purpose `SsctShopifyDefaultApp`, which newer Maarg instances nest
in the shop rows as `shopRemotes`; where a shop has no such link, the legacy metadata of the
remotes is matched as HotWax's Company app does (`internalId` = shopId, `remoteId` =
shopifyShopId, or the remote's id = shopId). More than one match is ambiguous: the caller must
refuse rather than pick one. The remotes list answers every column, decrypted secrets included,
so the model below keeps only the fields named in it, and no body is ever logged or shown.
Sources for each endpoint: docs/oms-api.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from bot.oms.client import OmsClient, path_part
from bot.oms.conventions import parse_models
from bot.oms.errors import OmsBadResponse, OmsError, OmsRequestError

NO_ACCESS = "SHOP_NO_ACCESS"
# HotWax reads an unset scope as read-only access.
UNSET_SCOPE = "SHOP_READ_ACCESS"
SCOPES = ("SHOP_NO_ACCESS", "SHOP_READ_ACCESS", "SHOP_RW_ACCESS", "SHOP_READ_WRITE_ACCESS")
# The purpose of a shop's link to the remote its publishers send through.
DEFAULT_APP_PURPOSE = "SsctShopifyDefaultApp"
# What the connector answers for any Shopify call through a remote at SHOP_NO_ACCESS.
NO_ACCESS_ANSWER = "No Access is enabled for Shopify"
# The order the access check asks Shopify for: a GID no order has, so an open connection
# answers "no such order" and nothing of a customer comes back.
PROBE_ORDER_GID = "gid://shopify/Order/0"
REMOTES_PAGE = "100"
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")


class ShopRemoteLink(BaseModel):
    """One `ShopifyShopRemote` row nested in a shop (`shopRemotes`)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    system_message_remote_id: str | None = Field(default=None, alias="systemMessageRemoteId")
    purpose_type_id: str | None = Field(default=None, alias="purposeTypeId")


class ShopifyShop(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    shop_id: str = Field(alias="shopId")
    name: str | None = None
    product_store_id: str | None = Field(default=None, alias="productStoreId")
    myshopify_domain: str | None = Field(default=None, alias="myshopifyDomain")
    shopify_shop_id: str | None = Field(default=None, alias="shopifyShopId")
    # None: this instance does not nest the links in the shop rows (older Maarg releases).
    shop_remotes: list[ShopRemoteLink] | None = Field(default=None, alias="shopRemotes")

    @property
    def label(self) -> str:
        return f"shop {self.shop_id}" + (f" ({self.name})" if self.name else "")

    @property
    def domain(self) -> str | None:
        """The shop's myshopify host name, lower case (`demo-shop.myshopify.com`)."""
        return shop_host(self.myshopify_domain)

    @property
    def default_app_links(self) -> list[str]:
        """The remote ids of the shop's `SsctShopifyDefaultApp` links, each once."""
        ids = [
            link.system_message_remote_id
            for link in self.shop_remotes or []
            if link.purpose_type_id == DEFAULT_APP_PURPOSE and link.system_message_remote_id
        ]
        return list(dict.fromkeys(ids))


def shop_host(value: str | None) -> str | None:
    """The host of a shop domain or URL (`https://Demo-Shop.myshopify.com/x` → `demo-shop...`);
    None unless it is a plain host name."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        host = urlsplit(text if "//" in text else f"//{text}").hostname
    except ValueError:
        return None
    return host if host and _HOST.match(host) else None


class SystemMessageRemote(BaseModel):
    """The fields of a remote the bot reads; every other column (secrets) is dropped."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    system_message_remote_id: str = Field(alias="systemMessageRemoteId")
    internal_id: str | None = Field(default=None, alias="internalId")
    remote_id: str | None = Field(default=None, alias="remoteId")
    access_scope_enum_id: str | None = Field(default=None, alias="accessScopeEnumId")

    @property
    def scope(self) -> str:
        return self.access_scope_enum_id or UNSET_SCOPE


@dataclass(frozen=True)
class ShopConnection:
    """The remote(s) that are a shop's Shopify connection, and why each matched."""

    shop: ShopifyShop
    # "link": the shop's SsctShopifyDefaultApp link decided; "legacy": the remotes' metadata.
    basis: str
    matches: tuple[tuple[SystemMessageRemote, str], ...]
    # Remote ids a link names that the OMS does not list.
    dangling: tuple[str, ...] = ()

    @property
    def remote(self) -> SystemMessageRemote | None:
        """The one connection; None when there is none or more than one."""
        if self.dangling or len(self.matches) != 1:
            return None
        return self.matches[0][0]

    @property
    def remote_ids(self) -> list[str]:
        return [remote.system_message_remote_id for remote, _ in self.matches]

    @property
    def problem(self) -> str | None:
        """Why no single connection can be acted on, or None."""
        if self.dangling:
            return (
                f"it links to {', '.join(self.dangling)} (ShopifyShopRemote, purpose "
                f"{DEFAULT_APP_PURPOSE}), which the OMS does not list"
            )
        if not self.matches:
            return "no Shopify connection (SystemMessageRemote) matches it"
        if len(self.matches) > 1:
            named = "; ".join(f"{r.system_message_remote_id} ({why})" for r, why in self.matches)
            return f"{len(self.matches)} Shopify connections match it: {named}"
        return None


class AmbiguousRemote(OmsError):
    """More than one remote (or a dangling link) claims to be a shop's Shopify connection."""

    def __init__(self, operation: str, connection: ShopConnection) -> None:
        super().__init__(operation, connection.problem or "ambiguous Shopify connection")
        self.connection = connection


@dataclass(frozen=True)
class AccessCheck:
    """What the Shopify proxy answered through one remote: blocked, open, or neither."""

    remote_id: str
    blocked: bool | None  # None: the answer proves neither
    answer: str  # the proxy's words (an error text), never a response body


async def list_shops(oms: OmsClient, product_store_id: str | None = None) -> list[ShopifyShop]:
    """The Shopify shops of a product store (every shop when None):
    `GET oms/shopifyShops/shops?productStoreId=`."""
    if product_store_id is None:
        operation, params = "list the Shopify shops", {}
    else:
        operation = f"list the Shopify shops of product store {product_store_id}"
        params = {"productStoreId": product_store_id}
    listed = await oms.maarg_list("oms/shopifyShops/shops", params, operation=operation)
    shops: list[ShopifyShop] = parse_models(ShopifyShop, listed.rows, operation)
    # Moqui ignores a filter it does not know: keep only what was asked for.
    if product_store_id is not None:
        shops = [s for s in shops if s.product_store_id in (None, product_store_id)]
    return sorted(shops, key=lambda s: s.shop_id)


async def get_shop(oms: OmsClient, shop_id: str) -> ShopifyShop | None:
    """One shop by id: `GET oms/shopifyShops/shops?shopId=`."""
    operation = f"read Shopify shop {shop_id}"
    listed = await oms.maarg_list(
        "oms/shopifyShops/shops", {"shopId": shop_id}, operation=operation
    )
    shops: list[ShopifyShop] = parse_models(ShopifyShop, listed.rows, operation)
    return next((s for s in shops if s.shop_id == shop_id), None)


async def _remotes_where(
    oms: OmsClient, field_name: str, value: str, operation: str
) -> list[SystemMessageRemote]:
    """`GET oms/systemMessageRemotes?<field>=<value>`, checked: Moqui drops a filter it does not
    know and would answer every remote. The body carries secrets: it is parsed, never kept."""
    body = await oms.maarg_call(
        "GET",
        "oms/systemMessageRemotes",
        operation=operation,
        params={field_name: value, "pageSize": REMOTES_PAGE},
    )
    # Releases answer a bare array or `{systemMessageRemoteList: [...]}`.
    rows = body.get("systemMessageRemoteList") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise OmsBadResponse(operation, "expected a list of system message remotes")
    remotes: list[SystemMessageRemote] = parse_models(
        SystemMessageRemote, [r for r in rows if isinstance(r, dict)], operation
    )
    attribute = {
        "systemMessageRemoteId": "system_message_remote_id",
        "internalId": "internal_id",
        "remoteId": "remote_id",
    }[field_name]
    return [r for r in remotes if getattr(r, attribute) == value]


async def shop_connection(oms: OmsClient, shop: ShopifyShop | str) -> ShopConnection:
    """The remote(s) that are `shop`'s Shopify connection (a shop row, or a shop id to read)."""
    if isinstance(shop, str):
        shop = await get_shop(oms, shop) or ShopifyShop(shopId=shop)
    operation = f"read the Shopify connection of shop {shop.shop_id}"
    links = shop.default_app_links
    if links:
        # The canonical link decides; the remotes' legacy metadata does not matter then.
        found: list[tuple[SystemMessageRemote, str]] = []
        dangling = []
        for remote_id in links:
            rows = await _remotes_where(oms, "systemMessageRemoteId", remote_id, operation)
            if rows:
                found.append((rows[0], f"ShopifyShopRemote link, purpose {DEFAULT_APP_PURPOSE}"))
            else:
                dangling.append(remote_id)
        return ShopConnection(shop, "link", tuple(found), tuple(dangling))
    matched: dict[str, tuple[SystemMessageRemote, list[str]]] = {}
    queries = [("internalId", shop.shop_id, "internalId = shop id")]
    if shop.shopify_shop_id:
        queries.append(
            ("remoteId", shop.shopify_shop_id, f"remoteId = Shopify shop id {shop.shopify_shop_id}")
        )
    queries.append(("systemMessageRemoteId", shop.shop_id, "remote id = shop id"))
    for name, value, why in queries:
        for remote in await _remotes_where(oms, name, value, operation):
            entry = matched.setdefault(remote.system_message_remote_id, (remote, []))
            entry[1].append(why)
    # A remote whose internalId names another shop is that shop's, whatever else matches.
    kept = tuple(
        (remote, ", ".join(reasons))
        for remote_id, (remote, reasons) in sorted(matched.items())
        if remote.internal_id in (None, "", shop.shop_id)
    )
    return ShopConnection(shop, "legacy", kept)


async def get_remote(oms: OmsClient, remote_id: str) -> SystemMessageRemote | None:
    """One remote by its own id (a shop connection the policy names); None when there is none."""
    operation = f"read the shop connection {remote_id}"
    rows = await _remotes_where(oms, "systemMessageRemoteId", remote_id, operation)
    return rows[0] if rows else None


async def find_remote(oms: OmsClient, shop_id: str) -> SystemMessageRemote | None:
    """A shop's one Shopify connection; None when it has none; AmbiguousRemote when several
    remotes (or a link naming no remote) claim it."""
    connection = await shop_connection(oms, shop_id)
    if connection.dangling or len(connection.matches) > 1:
        raise AmbiguousRemote(f"read the Shopify connection of shop {shop_id}", connection)
    return connection.remote


async def check_shopify_access(oms: OmsClient, remote_id: str) -> AccessCheck:
    """Ask the Shopify proxy for an order through `remote_id`: a remote at SHOP_NO_ACCESS makes
    the connector refuse every call ("No Access is enabled for Shopify…") before it reaches
    Shopify; an open one answers (no such order). Only the proxy's error text is kept."""
    operation = f"check Shopify access through {remote_id}"
    try:
        await oms.maarg_call(
            "GET",
            "shopify/order/details",
            operation=operation,
            params={"systemMessageRemoteId": remote_id, "shopifyOrderId": PROBE_ORDER_GID},
        )
    except OmsRequestError as exc:
        said = " ".join(exc.message.split())[:300]
        if NO_ACCESS_ANSWER in exc.message:
            return AccessCheck(remote_id, True, said)
        return AccessCheck(remote_id, None, f"the proxy refused for another reason: {said}")
    return AccessCheck(
        remote_id, False, "the Shopify proxy answered the call: Shopify is reachable"
    )


async def set_access_scope(oms: OmsClient, remote_id: str, scope: str) -> None:
    """`PUT oms/systemMessageRemotes/{id}`; it echoes nothing useful, so callers read back."""
    await oms.maarg_call(
        "PUT",
        f"oms/systemMessageRemotes/{path_part(remote_id)}",
        operation=f"set the access scope of {remote_id} to {scope}",
        json={"systemMessageRemoteId": remote_id, "accessScopeEnumId": scope},
    )


async def list_product_stores(oms: OmsClient) -> list[tuple[str, str]]:
    """Every product store as (id, name): `GET admin/productStores` (a bare array)."""
    operation = "list the product stores"
    listed = await oms.maarg_list("admin/productStores", {}, operation=operation)
    stores = {
        str(row["productStoreId"]): str(row.get("storeName") or "")
        for row in listed.rows
        if row.get("productStoreId")
    }
    return sorted(stores.items())


async def get_product_store(oms: OmsClient, product_store_id: str) -> dict[str, Any]:
    """The whole product store record: `GET admin/productStores/{id}`."""
    operation = f"read product store {product_store_id}"
    body = await oms.maarg_call(
        "GET", f"admin/productStores/{path_part(product_store_id)}", operation=operation
    )
    if not isinstance(body, dict) or body.get("productStoreId") != product_store_id:
        raise OmsBadResponse(operation, "the answer is not the product store record")
    return body


async def set_store_flag(
    oms: OmsClient, record: dict[str, Any], field: str, value: str | None
) -> dict[str, Any]:
    """Change one field of a product store: `PUT admin/productStores/{id}` with the whole
    record plus the changed field, as the Company app does. Returns the OMS's answer, which
    is not proof of what was stored (ProductStoreDetails.vue:435-444 reads the store again):
    callers read the record back. None is sent as an explicit JSON null: the field is emptied
    (Moqui stores null)."""
    store_id = str(record["productStoreId"])
    operation = f"set {field} of product store {store_id} to {'null' if value is None else value}"
    body = await oms.maarg_call(
        "PUT",
        f"admin/productStores/{path_part(store_id)}",
        operation=operation,
        json={**record, "productStoreId": store_id, field: value},
    )
    return body if isinstance(body, dict) else {}
