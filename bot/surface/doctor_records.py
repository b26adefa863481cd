"""Doctor probes of the records the runbooks read: the Shopify Order MDM logs and their
failed-records file, product stores, Shopify shops, SystemMessageRemotes, and the logInsights
core (its documents, and how it filters and sorts: fidelity reference §4).
docs/oms-api.md, "Tenant profile and doctor", gives each probe's source."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from itertools import pairwise
from typing import Any

from bot.oms.client import path_part
from bot.oms.probes import SYNC_SHOPIFY_ORDER
from bot.surface.doctor_context import Context, Probe, dicts
from bot.surface.doctor_report import Verdict, field_list, shape

MDM_FIELDS = ("logId", "statusId", "createdDate", "logContentId", "errorLogContentId")
LOG_INSIGHTS_FIELDS = (
    "docType",
    "site",
    "shopifyOrderName",
    "orderCreatedDate",
    "firstAttemptedImport",
    "errorMessage",
    "timestamp",
)
_FAILED = {"statusId": "DmlsFailed,DmlsCrashed", "statusId_op": "in"}


async def _mdm_logs(ctx: Context, extra: dict[str, str]) -> Any:
    params = {
        "configId": SYNC_SHOPIFY_ORDER,
        "pageSize": "5",
        "orderByField": "-createdDate",
        **extra,
    }
    return await ctx.reads.get("admin/dataManager/details", params)


async def _mdm_details(ctx: Context) -> tuple[Verdict, str]:
    body = await _mdm_logs(ctx, {})
    if not isinstance(body, dict) or not isinstance(body.get("dataManagerLogs"), list):
        return "DIFFERENT", f"answered {shape(body)} without dataManagerLogs"
    logs = dicts(body["dataManagerLogs"])
    count = "with" if "dataManagerLogsCount" in body else "WITHOUT"
    if not logs:
        return "UNKNOWN", f"{{dataManagerLogs}} {count} dataManagerLogsCount, but no log yet"
    missing = [name for name in MDM_FIELDS if name not in logs[0]]
    dates = [log.get("createdDate") for log in logs]
    newest_first = all(
        isinstance(a, int) and isinstance(b, int) and a >= b for a, b in pairwise(dates)
    )
    evidence = f"{{dataManagerLogs}} {count} dataManagerLogsCount; a log: {field_list(logs[0])}"
    evidence += "; newest first" if newest_first else "; NOT newest first by createdDate"
    if missing or count == "WITHOUT" or not newest_first:
        extra = f"; lacks {', '.join(missing)}" if missing else ""
        return "DIFFERENT", evidence + extra
    return "CONFIRMED", evidence


def _file_kind(text: str) -> str:
    """What the failed-records file is, by its structure only."""
    try:
        parsed = json.loads(text)
    except ValueError:
        header = next(csv.reader(io.StringIO(text)), [])
        return f"CSV with columns {', '.join(header) or 'none'}"
    records = parsed if isinstance(parsed, list) else [parsed]
    first = next((r for r in records if isinstance(r, dict)), None)
    if first is None:
        return f"JSON {shape(parsed)}"
    marks = ", ".join(name for name in ("_ERROR_MESSAGE_", "_recordNumber") if name in first)
    return f"JSON, {len(records)} record(s) of {len(first)} fields; marks: {marks or 'none'}"


async def _mdm_download(ctx: Context) -> tuple[Verdict, str]:
    body = await _mdm_logs(ctx, _FAILED)
    logs = dicts(body.get("dataManagerLogs") if isinstance(body, dict) else None)
    log = next((entry for entry in logs if entry.get("errorLogContentId")), None)
    if log is None:
        return "UNKNOWN", "no failed Shopify Order MDM log with a failed-records file"
    text = await ctx.reads.download(
        "admin/dataManager/downloadDataManagerFile",
        {"configId": SYNC_SHOPIFY_ORDER, "logContentId": str(log["errorLogContentId"])},
    )
    try:
        envelope = json.loads(text)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and not envelope:
        return "CONFIRMED", "{} (no file stored for the log)"
    if isinstance(envelope, dict) and isinstance(envelope.get("csvData"), str):
        return "CONFIRMED", f"{{csvData: string}}; the file: {_file_kind(envelope['csvData'])}"
    return "DIFFERENT", f"not a {{csvData}} envelope: the body is {_file_kind(text)}"


async def _store_id(ctx: Context) -> str | None:
    if ctx.targets.product_store:
        return ctx.targets.product_store
    shops = dicts(await ctx.reads.get("oms/shopifyShops/shops", {"pageSize": "1"}))
    store = shops[0].get("productStoreId") if shops else None
    return str(store) if store else None


async def _product_store(ctx: Context) -> tuple[Verdict, str]:
    store = await _store_id(ctx)
    if store is None:
        return "UNKNOWN", "no product store known: set [stores] default in the policy"
    record = await ctx.reads.get(f"admin/productStores/{path_part(store)}")
    if not isinstance(record, dict):
        return "DIFFERENT", f"answered {shape(record)}, not the record"
    brokering = record.get("enableBrokering")
    evidence = f"the whole record ({len(record)} fields); enableBrokering ({shape(brokering)})"
    ok = "productStoreId" in record and "enableBrokering" in record
    return ("CONFIRMED" if ok else "DIFFERENT"), evidence


async def _shopify_shops(ctx: Context) -> tuple[Verdict, str]:
    store = await _store_id(ctx)
    params = {"pageSize": "5", **({"productStoreId": store} if store else {})}
    body = await ctx.reads.get("oms/shopifyShops/shops", params)
    if not isinstance(body, list):
        return "DIFFERENT", f"answered {shape(body)}, not an array"
    shops = dicts(body)
    if not shops:
        return "UNKNOWN", "no Shopify shop"
    ok = all(name in shops[0] for name in ("shopId", "productStoreId"))
    return ("CONFIRMED" if ok else "DIFFERENT"), f"array of shops: {field_list(shops[0])}"


async def _remotes(ctx: Context) -> tuple[Verdict, str]:
    body = await ctx.reads.get("oms/systemMessageRemotes", {"pageSize": "5"})
    wrapped = isinstance(body, dict) and "systemMessageRemoteList" in body
    rows = dicts(body["systemMessageRemoteList"] if wrapped else body)
    form = "{systemMessageRemoteList}" if wrapped else "a bare array"
    if not rows:
        return "UNKNOWN", f"{form}; no remote"
    # Field names only: these rows hold the shops' credentials.
    needed = ("systemMessageRemoteId", "internalId", "accessScopeEnumId")
    missing = [name for name in needed if name not in rows[0]]
    evidence = f"{form}; a remote: {field_list(rows[0], limit=30)}"
    if missing:
        return "DIFFERENT", f"{evidence}; lacks {', '.join(missing)}"
    return "CONFIRMED", evidence


async def _log_insights_docs(ctx: Context) -> tuple[Verdict, str]:
    if "logInsights" not in ctx.profile.failure_sources:
        reason = next((p.detail for p in ctx.profile.probes if p.source == "logInsights"), "")
        return "UNKNOWN", f"no logInsights core to read ({reason})"
    answer = await ctx.reads.solr(
        {
            "query": "docType:SHOPIFY_ORDER",
            "params": {"rows": 3, "sort": "timestamp desc"},
        },
        "logInsights",
    )
    docs = dicts((answer.get("response") or {}).get("docs"))
    if not docs:
        return "UNKNOWN", "the logInsights core holds no SHOPIFY_ORDER document"
    missing = [name for name in LOG_INSIGHTS_FIELDS if name not in docs[0]]
    evidence = f"SHOPIFY_ORDER documents: {field_list(docs[0], limit=20)}"
    if missing:
        return "DIFFERENT", f"{evidence}; lacks {', '.join(missing)}"
    return "CONFIRMED", evidence


def _shop_label(site: Any) -> str | None:
    """The myshopify subdomain in a `site` value (used in a query, never reported)."""
    text = str(site or "")
    marker = ".myshopify.com"
    if marker not in text:
        return None
    return text.split(marker, 1)[0].rsplit("/", 1)[-1] or None


async def _count(ctx: Context, filters: list[str]) -> int:
    answer = await ctx.reads.solr(
        {"query": "docType:SHOPIFY_ORDER", "filter": filters, "params": {"rows": 0}},
        "logInsights",
    )
    found = (answer.get("response") or {}).get("numFound")
    return found if isinstance(found, int) else 0


async def _log_insights_query(ctx: Context) -> tuple[Verdict, str]:
    if "logInsights" not in ctx.profile.failure_sources:
        return "UNKNOWN", "no logInsights core on this tenant"
    answer = await ctx.reads.solr(
        {"query": "docType:SHOPIFY_ORDER", "params": {"rows": 5, "sort": "timestamp desc"}},
        "logInsights",
    )
    docs = dicts((answer.get("response") or {}).get("docs"))
    if not docs:
        return "UNKNOWN", "the logInsights core holds no SHOPIFY_ORDER document"
    stamps = [str(doc.get("timestamp") or "") for doc in docs]
    try:
        moments = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    except ValueError:
        return "DIFFERENT", "timestamp is not an ISO-8601 time"
    sorted_ok = moments == sorted(moments, reverse=True)
    newest = stamps[0]
    in_range = await _count(ctx, [f"timestamp:[{newest} TO *]"])
    range_ok = in_range >= 1
    shop = _shop_label(docs[0].get("site"))
    site_ok = shop is not None and await _count(ctx, [f"site:*{shop}*"]) >= 1
    parts = [
        "sort timestamp desc: " + ("newest first" if sorted_ok else "NOT newest first"),
        "timestamp range filter: " + ("finds the newest" if range_ok else "finds nothing"),
        "site wildcard on the shop: "
        + ("matches" if site_ok else "no myshopify site" if shop is None else "matches nothing"),
    ]
    return ("CONFIRMED" if sorted_ok and range_ok and site_ok else "DIFFERENT"), "; ".join(parts)


PROBES = (
    Probe(
        "MDM logs (dataManager/details)",
        "GET admin/dataManager/details?configId=SYNC_SHOPIFY_ORDER&orderByField=-createdDate "
        "answers {dataManagerLogs, dataManagerLogsCount}, newest first, with logId, statusId, "
        "createdDate, logContentId, errorLogContentId",
        _mdm_details,
    ),
    Probe(
        "MDM failed-records file",
        "GET admin/dataManager/downloadDataManagerFile answers {csvData: <file text>} ({} when "
        "nothing is stored); for order sync the file is JSON records with _ERROR_MESSAGE_",
        _mdm_download,
    ),
    Probe(
        "product store record",
        "GET admin/productStores/{id} answers the whole record, with enableBrokering",
        _product_store,
    ),
    Probe(
        "Shopify shops",
        "GET oms/shopifyShops/shops?productStoreId= answers an array with shopId and "
        "productStoreId",
        _shopify_shops,
    ),
    Probe(
        "SystemMessageRemotes",
        "GET oms/systemMessageRemotes answers remotes with systemMessageRemoteId, internalId "
        "and accessScopeEnumId",
        _remotes,
    ),
    Probe(
        "logInsights documents",
        "core logInsights holds SHOPIFY_ORDER documents with site, shopifyOrderName, "
        "orderCreatedDate, firstAttemptedImport, errorMessage and timestamp",
        _log_insights_docs,
    ),
    Probe(
        "logInsights sort and filters",
        "logInsights sorts by timestamp desc, filters timestamp:[a TO b] and matches site:*<shop>*",
        _log_insights_query,
    ),
)
