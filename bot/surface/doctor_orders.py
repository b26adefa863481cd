"""Doctor probes of orders: the order list and status shapes, the "Old Version" tag, the
search index, and the Shopify proxy's order details; plus the order questions no read can
settle (fidelity reference §4). docs/oms-api.md, "Tenant profile and doctor", gives each
probe's source."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.oms import OmsError, OmsRequestError
from bot.oms.client import path_part
from bot.surface.doctor_context import Context, Probe, dicts
from bot.surface.doctor_report import Verdict, field_list, shape

OLD_VERSION = "old version"
SHOPIFY_FIELDS = ("id", "name", "updatedAt", "displayFulfillmentStatus")


async def _orders_list(ctx: Context) -> tuple[Verdict, str]:
    body = await ctx.orders_body()
    if not isinstance(body, list):
        return "DIFFERENT", f"answered {shape(body)}, not an array"
    rows = dicts(body)
    if not rows:
        return "UNKNOWN", "the tenant answered no order"
    first = rows[0]
    groups = first.get("shipGroups")
    items = [
        item
        for group in (groups if isinstance(groups, list) else [])
        if isinstance(group, dict) and isinstance(group.get("items"), list)
        for item in group["items"]
        if isinstance(item, dict)
    ]
    plain = dicts(await ctx.reads.get("oms/orders", {"orderId": str(first.get("orderId"))}))
    added = sorted(set(first) - set(plain[0])) if plain else []
    levels = (
        f"dependentLevels=1 adds {', '.join(added)}"
        if added
        else "dependentLevels changes nothing (ignored)"
    )
    top = "items also at the top level" if "items" in first else "no top-level items"
    if items:
        return "CONFIRMED", (
            f"array of order masters; shipGroups[].items: {field_list(items[0])}; {top}; {levels}"
        )
    where = "items at the top level only" if "items" in first else "no items at all"
    return "DIFFERENT", f"no shipGroups[].items ({where}); header: {field_list(first)}; {levels}"


async def _status_history(ctx: Context) -> tuple[Verdict, str]:
    rows = await ctx.newest_orders()
    if not rows:
        return "UNKNOWN", "the tenant answered no order"
    body = await ctx.reads.get(f"oms/orders/{path_part(str(rows[0].get('orderId')))}/status")
    if not isinstance(body, list):
        return "DIFFERENT", f"answered {shape(body)}, not an array"
    statuses = dicts(body)
    if not statuses:
        return "UNKNOWN", "the newest order has no status row"
    row = statuses[0]
    ok = isinstance(row.get("statusId"), str) and isinstance(row.get("statusDatetime"), int)
    return ("CONFIRMED" if ok else "DIFFERENT"), f"array of rows: {field_list(row)}"


def _old_version_places(order: dict[str, Any]) -> set[str]:
    places = set()
    for status in dicts(order.get("statuses")):
        if OLD_VERSION in str(status.get("changeReason") or "").lower():
            places.add("statuses[].changeReason")
    for kind in ("attributes", "notes"):
        for row in dicts(order.get(kind)):
            for name, value in row.items():
                if isinstance(value, str) and OLD_VERSION in value.lower():
                    places.add(f"{kind}[].{name}")
    return places


async def _old_version(ctx: Context) -> tuple[Verdict, str]:
    body = await ctx.reads.get(
        "oms/orders",
        {
            "statusId": "ORDER_CANCELLED",
            "dependentLevels": "1",
            "orderByField": "-orderDate",
            "pageSize": "50",
        },
    )
    cancelled = dicts(body)
    if not cancelled:
        return "UNKNOWN", "no cancelled order to look at"
    found: Counter[str] = Counter()
    for order in cancelled:
        found.update(_old_version_places(order))
    seen = f"{len(cancelled)} newest cancelled orders"
    if not found:
        return "UNKNOWN", f"none of the {seen} carries 'Old Version'"
    places = ", ".join(f"{place} ({count})" for place, count in sorted(found.items()))
    if "statuses[].changeReason" in found:
        return "CONFIRMED", f"'Old Version' found among the {seen} in {places}"
    return "DIFFERENT", f"'Old Version' found among the {seen} in {places}, not in changeReason"


async def _search_index(ctx: Context) -> tuple[Verdict, str]:
    answer = await ctx.reads.solr(
        {
            "query": "*:*",
            "filter": "docType: ORDER AND orderTypeId: SALES_ORDER",
            "params": {"rows": 1},
        },
        None,
    )
    route = "Maarg admin/runSolrQuery" if ctx.profile.backend == "moqui" else "OFBiz solr-query"
    docs = dicts((answer.get("response") or {}).get("docs"))
    if not docs:
        return "UNKNOWN", f"{route}: no ORDER document"
    missing = [name for name in ("orderId", "orderStatusId") if name not in docs[0]]
    if missing:
        return "DIFFERENT", f"{route}: ORDER documents lack {', '.join(missing)}"
    return "CONFIRMED", f"{route}: ORDER documents carry orderId and orderStatusId"


async def _details(ctx: Context, remote: str, shopify_id: str) -> tuple[dict[str, Any] | None, str]:
    """The Shopify proxy's answer for one id: (orderDetail or None, a redacted summary)."""
    try:
        body = await ctx.reads.get(
            "shopify/order/details",
            {"systemMessageRemoteId": remote, "shopifyOrderId": shopify_id},
        )
    except OmsRequestError as exc:
        # Only the status: the message may quote the order id.
        return None, f"an error (HTTP {exc.status_code or '?'})"
    except OmsError:
        return None, "no answer (the OMS is unavailable)"
    detail = body.get("orderDetail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        return detail, f"orderDetail with {len(detail)} fields"
    return None, f"HTTP 200 without orderDetail ({shape(body)})"


async def _shopify_target(ctx: Context) -> tuple[str | None, str | None, str]:
    remote = await ctx.shopify_remote()
    if remote is None:
        return None, None, "no shop connection known: set [stores] shopify_remote in the policy"
    for order in await ctx.newest_orders():
        external = str(order.get("externalId") or "")
        if external.isdigit():
            return remote, external, ""
    return remote, None, "none of the 20 newest orders has a numeric Shopify id (externalId)"


async def _shopify_details(ctx: Context) -> tuple[Verdict, str]:
    remote, shopify_id, why = await _shopify_target(ctx)
    if remote is None or shopify_id is None:
        return "UNKNOWN", why
    detail, gid = await _details(ctx, remote, f"gid://shopify/Order/{shopify_id}")
    _, numeric = await _details(ctx, remote, shopify_id)
    evidence = f"gid://shopify/Order/<id>: {gid}; the numeric id: {numeric}"
    if detail is None:
        return "DIFFERENT", evidence
    missing = [name for name in SHOPIFY_FIELDS if name not in detail]
    if missing:
        return "DIFFERENT", f"{evidence}; orderDetail lacks {', '.join(missing)}"
    return "CONFIRMED", f"{evidence}; orderDetail has {', '.join(SHOPIFY_FIELDS)}"


async def _shopify_not_found(ctx: Context) -> tuple[Verdict, str]:
    remote = await ctx.shopify_remote()
    if remote is None:
        return "UNKNOWN", "no shop connection known: set [stores] shopify_remote in the policy"
    # Order 1 exists in no shop: Shopify's ids are large.
    detail, summary = await _details(ctx, remote, "gid://shopify/Order/1")
    if detail is None and summary.startswith("HTTP 200"):
        return "CONFIRMED", f"a missing order: {summary}"
    return "DIFFERENT", f"a missing order: {summary}"


async def _total_price(ctx: Context) -> tuple[Verdict, str]:
    return "UNKNOWN", "settling it needs a Shopify GraphQL query, and the doctor sends none"


async def _sync_classifier(ctx: Context) -> tuple[Verdict, str]:
    return "UNKNOWN", (
        "no read shows it: the classifier is not public and only an order sync (a write) "
        "would exercise it"
    )


async def _status_reason(ctx: Context) -> tuple[Verdict, str]:
    return "UNKNOWN", "settling it needs a status change (a write); the doctor writes nothing"


PROBES = (
    Probe(
        "orders list (oms/orders)",
        "GET oms/orders answers an array of OrderHeader masters with items under "
        "shipGroups[].items; dependentLevels is ignored",
        _orders_list,
    ),
    Probe(
        "order status history",
        "GET oms/orders/{id}/status answers an array of OrderStatus rows with statusId and "
        "statusDatetime (epoch ms)",
        _status_history,
    ),
    Probe(
        "'Old Version' tag",
        "a refreshed order's old version carries 'Old Version' in OrderStatus.changeReason",
        _old_version,
    ),
    Probe(
        "order search index",
        "Solr core enterpriseSearch holds ORDER documents with orderId and orderStatusId",
        _search_index,
    ),
    Probe(
        "Shopify order details",
        "GET shopify/order/details answers {orderDetail} with id, name, updatedAt and "
        "displayFulfillmentStatus for gid://shopify/Order/<id>",
        _shopify_details,
    ),
    Probe(
        "Shopify order not found",
        "a missing Shopify order answers HTTP 200 without orderDetail (a service warning)",
        _shopify_not_found,
    ),
    Probe(
        "Shopify Order.totalPrice",
        "the Admin GraphQL order search may ask for totalPrice",
        _total_price,
    ),
    Probe(
        "order-sync create/update/skip",
        "the Moqui order sync updates an order already in HotWax, or skips it, or imports a "
        "new version",
        _sync_classifier,
    ),
    Probe(
        "status change with changeReason (Moqui)",
        "POST oms/orders/{id}/status accepts changeReason",
        _status_reason,
    ),
)
