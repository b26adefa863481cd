"""Failed Shopify order imports in the `logInsights` Solr core, `docType:SHOPIFY_ORDER`.

OFBiz `POST /api/solr-query` with `coreName: logInsights` (docs/oms-api.md, "Failed Shopify
imports"; HotWax documents `q=docType:SHOPIFY_ORDER`). Paging is `start`/`rows` [SRC]; the
window filter on `timestamp` and the `timestamp desc` sort are Solr JSON request features
[INF]. Pages are yielded one at a time so a caller can aggregate without holding every failure.

What a document holds (seed 003, the documented sample): `site` is the order's status page on
the shop's myshopify domain (`https://<shop>.myshopify.com/<shop id>/orders/<token>/authenticate
?key=`), so a shop is matched by that host, never by a store name; there is no Shopify order id;
documents carry `ttl: +60DAYS`, so nothing older than 60 days is left. The URL carries the
order's token: only its host is kept. The core's schema is not public, so no filter relies on
how `site` is indexed: a shop's documents are picked here, from the host.

`FailedImport` is the one shape of a failed import the digests group, from either source
(the MDM's failed records are turned into it in bot/oms/failures.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple

from bot.kit.durations import parse_oms_text_time
from bot.kit.redact import redact_contacts
from bot.oms.client import OmsClient
from bot.oms.errors import OmsBadResponse, OmsError, OmsRequestError
from bot.oms.stores import shop_host

CORE = "logInsights"
QUERY = "docType:SHOPIFY_ORDER"
OPERATION = "list failed Shopify order imports (logInsights)"
# How long logInsights keeps a document (`ttl: "+60DAYS"` in the documented sample).
RETENTION_DAYS = 60
RETENTION_SECONDS = RETENTION_DAYS * 86400.0
MDM = "mdm"
LOGINSIGHTS = "logInsights"


class FailedImport(NamedTuple):
    """One Shopify order the OMS could not import: only what may be shown (never the order's
    payload, its customer or its status-page URL).

    Immutable as a named tuple rather than a frozen dataclass: a digest makes one per failed
    record, up to hundreds of thousands, and a frozen dataclass takes twice as long to build
    (it sets each field through object.__setattr__)."""

    source: str  # MDM or LOGINSIGHTS
    reference: str  # logInsights `document-id`, or the MDM log and record number
    shopify_order_name: str
    shopify_order_id: str | None
    shop: str | None  # the shop's myshopify host, where known
    error_message: str
    first_attempted: str  # the OMS's human text, e.g. "January 3, 2024 10:15:12 PM"
    order_created: datetime | None
    timestamp: datetime
    # `first_attempted` as a moment: the text names no zone; it is read in the OMS user's
    # zone (docs/oms-api.md, "Times without a zone"). None when that zone or the form is unknown.
    first_attempted_at: datetime | None = None


def solr_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_second(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC).replace(microsecond=0)


def window_filter(since: float, until: float) -> str:
    # Half-open [since, until): consecutive windows never count a failure twice.
    return f"timestamp:[{solr_time(since)} TO {solr_time(until)}}}"


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


# A digest parses up to hundreds of thousands of documents: what repeats across them (the
# error texts, the shop's URL prefix) is worked out once per distinct value.
_CACHED = 4096


@lru_cache(maxsize=_CACHED)
def _redacted_error(text: str) -> str:
    return redact_contacts(text.strip()) or "(no error message)"


_AUTHORITY_END = re.compile(r"[/?#]")


@lru_cache(maxsize=_CACHED)
def _host_of(prefix: str) -> str | None:
    return shop_host(prefix)


def _shop_of(site: str) -> str | None:
    """`shop_host(site)`: the host depends on the URL's scheme and authority only, so it is
    worked out once per `scheme://authority` (the path holds each order's token)."""
    text = site.strip()
    if text.startswith(("https://", "http://")):
        end = _AUTHORITY_END.search(text, text.index("//") + 2)
        return _host_of(text[: end.start()] if end else text)
    return shop_host(text)


_MONTH_NAMES = (
    "January February March April May June July August September October November December"
)
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), start=1)}
_TEXT_TIME = re.compile(r"([A-Z][a-z]+) (\d{1,2}), (\d{4}) (\d{1,2}):(\d\d):(\d\d) ([AP]M)")


def _first_attempted_at(text: str, zone: tzinfo) -> datetime | None:
    """`parse_oms_text_time(text, zone)`, without strptime's cost for the form HotWax writes
    (`January 3, 2024 10:15:12 PM`); anything else, or out of range, goes to it."""
    # Most texts are already single-spaced: the whitespace is folded only when that fails.
    found = _TEXT_TIME.fullmatch(text) or _TEXT_TIME.fullmatch(" ".join(text.split()))
    if found:
        month_name, day, year, hour, minute, second, half = found.groups()
        month, h = _MONTHS.get(month_name), int(hour)
        if month and 1 <= h <= 12 and int(minute) < 60 and int(second) < 60 and int(day) > 0:
            h = h % 12 + (12 if half == "PM" else 0)
            try:
                return datetime(
                    int(year), month, int(day), h, int(minute), int(second), tzinfo=zone
                )
            except ValueError:
                pass
    return parse_oms_text_time(text, zone)


def parse_doc(doc: Any, zone: tzinfo | None = None) -> FailedImport | None:
    """A document in the documented shape, or None for one too broken to show; `zone` is the
    one its zone-less `firstAttemptedImport` is read in (OmsClient.time_zone)."""
    if not isinstance(doc, dict):
        return None
    timestamp = _parse_time(doc.get("timestamp"))
    if timestamp is None:
        return None
    name = str(doc.get("shopifyOrderName") or "").strip() or "(no order name)"
    first = str(doc.get("firstAttemptedImport") or "").strip()
    return FailedImport(
        source=LOGINSIGHTS,
        reference=str(doc.get("document-id") or ""),
        shopify_order_name=name,
        shopify_order_id=None,  # logInsights documents carry no Shopify order id
        shop=_shop_of(str(doc.get("site") or "")),
        error_message=_redacted_error(str(doc.get("errorMessage") or "")),
        first_attempted=first,
        order_created=_parse_time(doc.get("orderCreatedDate")),
        timestamp=timestamp,
        first_attempted_at=_first_attempted_at(first, zone) if zone else None,
    )


def core_unreadable(exc: OmsError) -> bool:
    """Whether a failed logInsights query is the OMS answering without documents, as a tenant
    without the core does: how it says so is not public (an HTTP 404, an OFBiz or Solr error
    object "No such core", a Solr error status), so any such answer counts. An outage or a
    refused login is not this: those are for the caller to retry or report."""
    return isinstance(exc, OmsRequestError | OmsBadResponse)


def _request(since: float, until: float, start: int, rows: int) -> dict[str, Any]:
    return {
        "params": {
            "q": QUERY,
            "start": start,
            "rows": rows,
            # Newest first with a fixed upper bound: failures logged while we page land
            # after `until` and cannot shift the pages.
            "sort": "timestamp desc",
        },
        "filter": [window_filter(since, until)],
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


async def iter_failed_import_pages(
    client: OmsClient,
    *,
    since: float,
    until: float,
    shops: Collection[str] | None = None,
    page_size: int,
) -> AsyncIterator[tuple[int, list[FailedImport]]]:
    """(numFound, page) for each page of the window's failures, newest first; with `shops`
    (myshopify hosts), only the documents whose `site` is on one of them."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    wanted = None if shops is None else {s.lower() for s in shops}
    # The window is checked again on each document: the core's schema is not public, and a
    # range it did not apply must not bring older failures in.
    low, high = (_whole_second(moment) for moment in (since, until))  # as window_filter says
    try:
        zone = await client.time_zone()
    except OmsError:
        zone = None  # the first attempts are shown as the OMS wrote them
    start = 0
    while True:
        answer = await client.solr_query(
            _request(since, until, start, page_size), core=CORE, operation=OPERATION
        )
        found, docs = _response(answer)
        page = [
            f
            for f in (parse_doc(d, zone) for d in docs)
            if f is not None and low <= f.timestamp < high
        ]
        if wanted is not None:
            page = [f for f in page if f.shop in wanted]
        yield found, page
        start += len(docs)
        if not docs or start >= found:
            return
