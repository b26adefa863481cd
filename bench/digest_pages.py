"""An OMS that serves the failed-imports digest's pages pre-built, so the OMS costs nothing
measurable: bench/digest.py runs it in its own process and times the bot against it.

The routes the digest pages through answer bytes encoded once before any timing, in the
sandbox's shapes (bot/sandbox/shapes.py, the same functions the sandbox answers with):

- `GET /rest/s1/admin/dataManager/details`: the Shopify order MDM logs of both order configs,
  newest first, `{dataManagerLogs, dataManagerLogsCount}`;
- `GET /rest/s1/admin/dataManager/downloadDataManagerFile`: a failed log's records file,
  `{csvData: "<JSON text>"}`, each record the staged GraphQL order with `_ERROR_MESSAGE_`
  and `_recordNumber`;
- `POST /api/solr-query` on core `logInsights`: the window's SHOPIFY_ORDER documents, newest
  first, paged by `start`/`rows`.

Every other route (login, the tenant probes, the shops, the user profile) is the sandbox's
own, answered by the sandbox app in this process: a fixed, small number of calls per digest.

The failures: half of them are MDM failed records (100 per failed log, one finished log with
no failure between two failed ones), half logInsights documents; 5 % of the logInsights
documents are orders the MDM failed too, so the digest counts `rows - overlap` orders. Every
failure is in the last seven days; the previous window (the week before) has none, as a
shop that just started failing would.

Usage (bench/digest.py does this): python bench/digest_pages.py FAILURES PAGE_SIZE
It prints one JSON line {url, since, until, rows, orders} once every page is encoded.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kit.serve import bind  # noqa: E402
from bot.oms.loginsights import CORE, _request  # noqa: E402
from bot.oms.mdm import ORDER_CONFIGS, iso_ms  # noqa: E402
from bot.sandbox.data import background_failures, shopify_payload  # noqa: E402
from bot.sandbox.records import ImportFailure, MdmFailedRecord, MdmLog, ShopifyOrder  # noqa: E402
from bot.sandbox.server import build_app  # noqa: E402
from bot.sandbox.shapes import log_insights_doc, moqui_mdm_log  # noqa: E402
from bot.sandbox.solr import answer_page, select  # noqa: E402
from bot.sandbox.state import SandboxState  # noqa: E402

DETAILS = "/rest/s1/admin/dataManager/details"
DOWNLOAD = "/rest/s1/admin/dataManager/downloadDataManagerFile"
SOLR = "/api/solr-query"
RECORDS_PER_LOG = 100
OVERLAP = 0.05  # of the logInsights documents: orders the MDM failed too
WINDOW = 8 * 86400.0
PAGING = ("start", "rows")  # the digest's window: every failure is within the last seven days

Page = tuple[int, bytes]  # status, JSON body


class Pages:
    """Every failure of the window, as the three routes answer them."""

    def __init__(self, failures: int, now: datetime) -> None:
        made, orders = background_failures(now, failures)
        by_id = {order.shopify_id: order for order in orders}
        mdm_count = failures // 2
        overlap = int((failures - mdm_count) * OVERLAP)
        self.rows = failures
        self.orders = failures - overlap
        self.logs = _mdm_logs(made[:mdm_count], by_id)
        docs = [log_insights_doc(f) for f in made[mdm_count - overlap : failures - overlap]]
        # The overlapping orders under their own names: the documents keep their own ids.
        docs.sort(key=lambda doc: doc["timestamp"], reverse=True)
        self.docs = docs
        self.files = {
            str(log.error_log_content_id): _encode({"csvData": _records_json(log)})
            for log in self.logs
            if log.failed_records
        }
        self._details: dict[tuple[str, str, str, str], Page] = {}
        self._solr: dict[str, Page] = {}
        self._hits: dict[str, list[dict[str, Any]]] = {}

    def details(self, query: dict[str, str]) -> Page:
        key = (
            query.get("configId", ""),
            query.get("createdDate_from", ""),
            query.get("pageIndex", "0"),
            query.get("pageSize", "20"),
        )
        page = self._details.get(key)
        if page is None:
            page = self._details[key] = self._details_page(*key)
        return page

    def _details_page(self, config: str, since: str, index: str, size: str) -> Page:
        start = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        logs = [
            log
            for log in self.logs
            if log.config_id == config and (start is None or log.created_date >= start)
        ]
        first = int(index) * int(size)
        rows = [moqui_mdm_log(log) for log in logs[first : first + int(size)]]
        return 200, _encode({"dataManagerLogs": rows, "dataManagerLogsCount": len(logs)})

    def download(self, query: dict[str, str]) -> Page:
        return 200, self.files.get(query.get("logContentId", ""), b"{}")

    def solr(self, body: bytes) -> Page | None:
        """The logInsights page asked for; None for another core (the sandbox answers)."""
        asked = json.loads(body)
        if asked.get("coreName") != CORE:
            return None
        key = json.dumps(asked, sort_keys=True)  # however the client spaced its JSON
        page = self._solr.get(key)
        if page is None:
            request = asked["json"]
            # The documents a query selects, once per query: its pages are slices of them.
            params = {k: v for k, v in request.get("params", {}).items() if k not in PAGING}
            query = json.dumps({**request, "params": params}, sort_keys=True)
            hits = self._hits.get(query)
            if hits is None:
                hits = self._hits[query] = select(self.docs, request, datetime.now(UTC))
            page = self._solr[key] = 200, _encode(answer_page(hits, request))
        return page

    def prebuild(self, since: float, until: float, page_size: int) -> None:
        """Encode every page one digest (and the plain httpx paging) asks for."""
        for window_since, window_until in ((since, until), (since - WINDOW, since)):
            created_from = iso_ms(datetime.fromtimestamp(window_since, UTC))
            for config in ORDER_CONFIGS:
                total = sum(1 for log in self.logs if log.config_id == config)
                for index in range(max(1, -(-total // page_size))):
                    self.details(
                        {
                            "configId": config,
                            "createdDate_from": created_from,
                            "pageIndex": str(index),
                            "pageSize": str(page_size),
                        }
                    )
            start = 0
            while True:
                body = solr_body(window_since, window_until, start, page_size)
                page = self.solr(body)
                assert page is not None
                start += page_size
                if start >= len(self.docs):
                    break


def solr_body(since: float, until: float, start: int, rows: int) -> bytes:
    """The body OmsClient.solr_query posts for one logInsights page."""
    return _encode({"json": _request(since, until, start, rows), "coreName": CORE})


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _records_json(log: MdmLog) -> str:
    records = [
        {**r.payload, "_ERROR_MESSAGE_": r.event_message, "_recordNumber": n}
        for n, r in enumerate(log.failed_records, start=1)
    ]
    return json.dumps(records)


def _chunks(items: list[ImportFailure], size: int) -> Iterator[list[ImportFailure]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def _mdm_logs(failures: list[ImportFailure], orders: dict[str, ShopifyOrder]) -> list[MdmLog]:
    """Failed logs of RECORDS_PER_LOG records, alternating between the two order configs,
    with a finished log without failures after each (the digest reads past those)."""
    logs: list[MdmLog] = []
    ordered = sorted(failures, key=lambda f: f.timestamp, reverse=True)
    for number, chunk in enumerate(_chunks(ordered, RECORDS_PER_LOG)):
        config = ORDER_CONFIGS[number % 2]
        created = chunk[-1].timestamp
        records = [
            MdmFailedRecord(
                f.shopify_order_id,
                f.shopify_order_name,
                f.error_message,
                shopify_payload(orders[f.shopify_order_id]),
            )
            for f in chunk
        ]
        for log_id, status, failed, moment in (
            (f"DMB{2 * number:07d}", "DmlsFinished", [], created + timedelta(seconds=1)),
            (f"DMB{2 * number + 1:07d}", "DmlsFinished", records, created),
        ):
            logs.append(
                MdmLog(
                    log_id=log_id,
                    config_id=config,
                    status_id=status,
                    created_date=moment,
                    start_date_time=moment,
                    finish_date_time=moment + timedelta(seconds=40),
                    failed_records=failed,
                    processed_orders=[{"id": 1, "name": "#1"}] * (len(failed) + 3),
                )
            )
    logs.sort(key=lambda log: (log.created_date, log.log_id), reverse=True)
    return logs


class PageServer:
    """The sandbox app with the digest's three routes answered from `pages`."""

    def __init__(self, sandbox: ASGIApp, pages: Pages) -> None:
        self._sandbox = sandbox
        self._pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        page: Page | None = None
        if scope["type"] == "http" and path in (DETAILS, DOWNLOAD):
            query = _query(scope)
            page = self._pages.details(query) if path == DETAILS else self._pages.download(query)
        elif scope["type"] == "http" and path == SOLR and scope["method"] == "POST":
            body = await _body(receive)
            page = self._pages.solr(body)
            if page is None:
                await self._sandbox(scope, _replay(body), send)
                return
        if page is None:
            await self._sandbox(scope, receive, send)
            return
        status, content = page
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _query(scope: Scope) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode()))


async def _body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def main() -> None:
    failures, page_size = int(sys.argv[1]), int(sys.argv[2])
    now = datetime.now(UTC)
    pages = Pages(failures, now)
    until = now.timestamp() + 60
    since = until - WINDOW
    pages.prebuild(since, until, page_size)
    app = PageServer(build_app(SandboxState()), pages)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    sock = bind("127.0.0.1", 0)  # with TCP_NODELAY: no 40 ms stall per response
    sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    info = {"url": url, "since": since, "until": until, "rows": pages.rows, "orders": pages.orders}
    print(json.dumps(info), flush=True)
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
