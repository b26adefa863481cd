"""Product stores, their Shopify shops and each shop's access scope (the rollback;
docs/oms-api.md, "Rollback").

The access scope of a Shopify shop lives on its SystemMessageRemote (`accessScopeEnumId`);
`SHOP_NO_ACCESS` stops every Shopify call and incoming webhook for that shop. Order brokering
is the product store's `enableBrokering` flag. HotWax's Company app writes a store by sending
the whole record with the changed field, and so do we: a partial body would be refused.
Sources for each endpoint: docs/oms-api.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.oms.client import OmsClient, path_part
from bot.oms.errors import OmsBadResponse

NO_ACCESS = "SHOP_NO_ACCESS"
# HotWax reads an unset scope as read-only access.
UNSET_SCOPE = "SHOP_READ_ACCESS"
SCOPES = ("SHOP_NO_ACCESS", "SHOP_READ_ACCESS", "SHOP_RW_ACCESS", "SHOP_READ_WRITE_ACCESS")


class ShopifyShop(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    shop_id: str = Field(alias="shopId")
    name: str | None = None
    product_store_id: str | None = Field(default=None, alias="productStoreId")
    myshopify_domain: str | None = Field(default=None, alias="myshopifyDomain")

    @property
    def label(self) -> str:
        return f"shop {self.shop_id}" + (f" ({self.name})" if self.name else "")


class SystemMessageRemote(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    system_message_remote_id: str = Field(alias="systemMessageRemoteId")
    internal_id: str | None = Field(default=None, alias="internalId")
    access_scope_enum_id: str | None = Field(default=None, alias="accessScopeEnumId")

    @property
    def scope(self) -> str:
        return self.access_scope_enum_id or UNSET_SCOPE


def _models(model: type[BaseModel], rows: Any, operation: str) -> list[Any]:
    try:
        return [model.model_validate(row) for row in rows]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OmsBadResponse(
            operation, f"unexpected {model.__name__} shape at {where}: {first['msg']}"
        ) from None


async def list_shops(oms: OmsClient, product_store_id: str) -> list[ShopifyShop]:
    """The Shopify shops of a product store: `GET oms/shopifyShops/shops?productStoreId=`."""
    operation = f"list the Shopify shops of product store {product_store_id}"
    listed = await oms.maarg_list(
        "oms/shopifyShops/shops", {"productStoreId": product_store_id}, operation=operation
    )
    shops: list[ShopifyShop] = _models(ShopifyShop, listed.rows, operation)
    return sorted(shops, key=lambda s: s.shop_id)


async def find_remote(oms: OmsClient, shop_id: str) -> SystemMessageRemote | None:
    """The SystemMessageRemote of a shop: `GET oms/systemMessageRemotes?internalId=<shopId>`."""
    operation = f"read the Shopify connection of shop {shop_id}"
    body = await oms.maarg_call(
        "GET", "oms/systemMessageRemotes", operation=operation, params={"internalId": shop_id}
    )
    # Releases answer a bare array or `{systemMessageRemoteList: [...]}`.
    rows = body.get("systemMessageRemoteList") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise OmsBadResponse(operation, "expected a list of system message remotes")
    remotes: list[SystemMessageRemote] = _models(SystemMessageRemote, rows, operation)
    # The filter is exact on a real OMS; check anyway so a lenient one cannot mislead us.
    mine = [r for r in remotes if r.internal_id in (None, shop_id)]
    return min(mine, key=lambda r: r.system_message_remote_id) if mine else None


async def set_access_scope(oms: OmsClient, remote_id: str, scope: str) -> None:
    """`PUT oms/systemMessageRemotes/{id}`; it echoes nothing useful, so callers read back."""
    await oms.maarg_call(
        "PUT",
        f"oms/systemMessageRemotes/{path_part(remote_id)}",
        operation=f"set the access scope of {remote_id} to {scope}",
        json={"systemMessageRemoteId": remote_id, "accessScopeEnumId": scope},
    )


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
    oms: OmsClient, record: dict[str, Any], field: str, value: str
) -> dict[str, Any]:
    """Change one field of a product store: `PUT admin/productStores/{id}` with the whole
    record plus the changed field, as the Company app does. Returns the stored record."""
    store_id = str(record["productStoreId"])
    operation = f"set {field} of product store {store_id} to {value}"
    body = await oms.maarg_call(
        "PUT",
        f"admin/productStores/{path_part(store_id)}",
        operation=operation,
        json={**record, "productStoreId": store_id, field: value},
    )
    return body if isinstance(body, dict) else {}
