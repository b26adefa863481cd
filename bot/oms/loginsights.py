"""Failed Shopify order imports: the `logInsights` Solr core, `docType:SHOPIFY_ORDER`.

OFBiz `POST /api/solr-query` with `coreName: logInsights` (docs/oms-api.md, "Failed Shopify
imports"; HotWax documents `q=docType:SHOPIFY_ORDER`). Paging is `start`/`rows` [SRC]; the
window filter on `timestamp` and the `timestamp desc` sort are Solr JSON request features
[INF]. Pages are yielded one at a time so a caller can aggregate without holding every failure.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.oms.client import OmsClient
from bot.oms.errors import OmsBadResponse

CORE = "logInsights"
QUERY = "docType:SHOPIFY_ORDER"
OPERATION = "list failed Shopify order imports (logInsights)"
# Only shop names and domains: they go into a Solr wildcard term.
_STORE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,120}$")


@dataclass(frozen=True)
class FailedImport:
    """One logInsights document: a Shopify order the OMS could not import."""

    document_id: str
    shopify_order_name: str
    shopify_order_id: str | None
    site: str | None
    error_message: str
    first_attempted: str  # the OMS's human text, e.g. "January 3, 2024 10:15:12 PM"
    order_created: datetime | None
    timestamp: datetime


def solr_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_filter(since: float, until: float) -> str:
    # Half-open [since, until): consecutive windows never count a failure twice.
    return f"timestamp:[{solr_time(since)} TO {solr_time(until)}}}"


def store_filter(store: str) -> str:
    """Failures of one shop: its name or domain appears in the `site` URL [INF]."""
    if not _STORE.match(store):
        raise ValueError(f"`{store[:40]}` is not a shop name or domain, e.g. demo-shop")
    return f"site:*{store}*"


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():  # orderCreatedDate: epoch milliseconds as a string
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def parse_doc(doc: Any) -> FailedImport | None:
    """A document in the documented shape, or None for one too broken to show."""
    if not isinstance(doc, dict):
        return None
    timestamp = _parse_time(doc.get("timestamp"))
    if timestamp is None:
        return None
    name = str(doc.get("shopifyOrderName") or "").strip() or "(no order name)"
    site = str(doc.get("site") or "").strip() or None
    return FailedImport(
        document_id=str(doc.get("document-id") or ""),
        shopify_order_name=name,
        shopify_order_id=str(doc["shopifyOrderId"]) if doc.get("shopifyOrderId") else None,
        site=site,
        error_message=str(doc.get("errorMessage") or "").strip() or "(no error message)",
        first_attempted=str(doc.get("firstAttemptedImport") or "").strip(),
        order_created=_parse_time(doc.get("orderCreatedDate")),
        timestamp=timestamp,
    )


def _request(
    since: float, until: float, store: str | None, start: int, rows: int
) -> dict[str, Any]:
    filters = [window_filter(since, until)]
    if store:
        filters.append(store_filter(store))
    return {
        "params": {
            "q": QUERY,
            "start": start,
            "rows": rows,
            # Newest first with a fixed upper bound: failures logged while we page land
            # after `until` and cannot shift the pages.
            "sort": "timestamp desc",
        },
        "filter": filters,
    }


def _response(answer: dict[str, Any]) -> tuple[int, list[Any]]:
    response = answer.get("response")
    if not isinstance(response, dict):
        raise OmsBadResponse(OPERATION, "the Solr answer has no response")
    try:
        found = int(response.get("numFound") or 0)
    except (TypeError, ValueError):
        raise OmsBadResponse(OPERATION, "numFound is not a number") from None
    docs = response.get("docs") or []
    if not isinstance(docs, list):
        raise OmsBadResponse(OPERATION, "docs is not a list")
    return found, docs


async def count_failed_imports(
    client: OmsClient, *, since: float, until: float, store: str | None = None
) -> int:
    """How many failures the window holds (`rows: 0`: no documents are sent)."""
    answer = await client.solr_query(
        _request(since, until, store, 0, 0), core=CORE, operation=OPERATION
    )
    return _response(answer)[0]


async def iter_failed_import_pages(
    client: OmsClient,
    *,
    since: float,
    until: float,
    store: str | None = None,
    page_size: int,
) -> AsyncIterator[tuple[int, list[FailedImport]]]:
    """(numFound, page) for each page of the window's failures, newest first."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    start = 0
    while True:
        answer = await client.solr_query(
            _request(since, until, store, start, page_size), core=CORE, operation=OPERATION
        )
        found, docs = _response(answer)
        page = [f for f in (parse_doc(d) for d in docs) if f is not None]
        yield found, page
        start += len(docs)
        if not docs or start >= found:
            return
