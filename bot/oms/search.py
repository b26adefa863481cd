"""What the order search index (Solr) says, to tell a stale index from a stuck order, and the
logInsights import failures recorded for one Shopify order.

logInsights exists only where the tenant records failed imports there (`failure_sources` of
the tenant profile; a Moqui-only tenant has no OFBiz solr-query at all): elsewhere, and where
the OMS answers that it has no such core, there is no logged failure to read (docs/oms-api.md,
"Failed Shopify imports"); the order runbooks read the MDM's failed records as well."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.kit.redact import redact_contacts
from bot.oms.client import OmsClient
from bot.oms.errors import OmsError
from bot.oms.loginsights import CORE, LOGINSIGHTS, QUERY, core_unreadable
from bot.oms.stores import shop_host


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def indexed_status(oms: OmsClient, order_id: str) -> str | None:
    """The order status the search index holds for `order_id`, or None if not indexed."""
    body = await oms.solr_query(
        {
            "query": "*:*",
            "filter": "docType: ORDER AND orderTypeId: SALES_ORDER AND orderId: "
            + _quoted(order_id),
            "params": {"rows": 1},
        },
        core=None,
        operation="read the order search index",
    )
    docs = (body.get("response") or {}).get("docs") or []
    first: dict[str, Any] = docs[0] if docs and isinstance(docs[0], dict) else {}
    status = first.get("orderStatusId")
    return str(status) if status else None


@dataclass(frozen=True)
class LoggedFailure:
    shopify_order_name: str
    error_message: str
    first_attempted: str
    # The shop's host, from the document's `site` (the customer's order-status page, with its
    # access token: the URL itself is never kept).
    shop: str | None


async def import_failures(oms: OmsClient, shopify_order_name: str) -> list[LoggedFailure]:
    """logInsights SHOPIFY_ORDER documents for one Shopify order name, newest first.

    A tenant without the logInsights core (a Moqui-only tenant records failed imports in
    the MDM logs alone) has none to show: an empty list, not an error. An unsettled profile
    (a probe could not reach the OMS) says nothing, so the core is asked. The core's schema
    is not public: a refused sort is asked again without it and sorted here."""
    profile = await oms.profile()
    if profile.settled and LOGINSIGHTS not in profile.failure_sources:
        return []
    query: dict[str, Any] = {
        "query": QUERY,
        "filter": f"shopifyOrderName:{_quoted(shopify_order_name)}",
        "params": {"rows": 20, "sort": "timestamp desc"},
    }
    operation = "read the import failures (logInsights)"
    try:
        body = await oms.solr_query(query, core=CORE, operation=operation)
    except OmsError as exc:
        if not core_unreadable(exc):
            raise
        query["params"] = {"rows": 20}
        try:
            body = await oms.solr_query(query, core=CORE, operation=operation)
        except OmsError as again:
            if core_unreadable(again):
                return []  # no such core on this tenant
            raise
    docs = [d for d in (body.get("response") or {}).get("docs") or [] if isinstance(d, dict)]
    docs.sort(key=lambda d: str(d.get("timestamp") or ""), reverse=True)
    return [
        LoggedFailure(
            shopify_order_name=str(d.get("shopifyOrderName") or ""),
            error_message=redact_contacts(str(d.get("errorMessage") or "")),
            first_attempted=str(d.get("firstAttemptedImport") or ""),
            shop=shop_host(str(d.get("site") or "")),
        )
        for d in docs
    ]
