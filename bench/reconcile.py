"""`/oms reconcile`'s own cost, against plain httpx fetching the same pages.

The OMS serves every page a reconciliation reads pre-built (encoded once before any timing),
so the OMS costs nothing measurable: Shopify's count, HotWax's count, Shopify's orders of the
window through the GraphQL proxy (100 a page, by cursor) and HotWax's `externalId_op=in`
lookups (one per page of 100). 1 % of the Shopify orders are missing in HotWax. Everything
else (login, the tenant probes, the failure logs of the missing orders, the order-sync job)
is the sandbox's own answer: a fixed, small number of calls.

For each size, each side runs in a fresh process of its own (so each peak RSS is that side's):

- bot: `handlers.reconcile.compare.run` through OmsClient (both counts, every Shopify page,
  every lookup, the missing orders' failures and the sync interval), as the command runs it;
- httpx: plain httpx fetching the same counts, pages and lookups one after another, decoding
  the JSON and keeping the set of missing ids, nothing else.

Prints per size: both wall times and their ratio, the bot's own cost per Shopify order
((bot - httpx) / orders, in µs), both CPU times and their ratio (on a shared machine the wall
time also counts other processes' turns), OMS calls of each side, and each process's peak RSS
(`ru_maxrss`).

Usage: python bench/reconcile.py [--sizes 1000,10000,50000]
       python bench/reconcile.py --serve N    (the page server alone; prints its URL as JSON)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRAPHQL = "/rest/s1/shopify/graphql"
COUNT = "/rest/s1/shopify/order/count"
ORDERS = "/rest/s1/oms/orders"
PAGE = 100
MISSING_EVERY = 100  # 1 % of the Shopify orders are not in HotWax
WINDOW = 7 * 86400.0

Page = tuple[bytes, dict[str, str]]  # body, extra headers


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Pages:
    """Every page of one reconciliation of `size` Shopify orders, encoded."""

    def __init__(self, size: int, now: datetime) -> None:
        start = now - timedelta(days=6)
        step = timedelta(days=5) / max(size, 1)
        self.size = size
        ids = [f"7{n:012d}" for n in range(size)]
        self.missing = {i for n, i in enumerate(ids) if n % MISSING_EVERY == MISSING_EVERY - 1}
        self.graphql: dict[str | None, bytes] = {}
        self.lookups: dict[str, Page] = {}
        pages = [ids[k : k + PAGE] for k in range(0, size, PAGE)] or [[]]
        for number, chunk in enumerate(pages):
            nodes = [
                {
                    "id": f"gid://shopify/Order/{i}",
                    "legacyResourceId": i,
                    "name": f"#{int(i[1:]) + 1000}",
                    "createdAt": (start + step * int(i[1:])).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for i in chunk
            ]
            more = number + 1 < len(pages)
            info = {"hasNextPage": more, "endCursor": f"c{number + 1}" if chunk else None}
            body = {
                "response": {"orders": {"edges": [{"node": n} for n in nodes], "pageInfo": info}}
            }
            self.graphql[None if number == 0 else f"c{number}"] = _encode(body)
            present = [i for i in chunk if i not in self.missing]
            rows = [
                {"orderId": f"M{i}", "externalId": i, "orderName": f"#{int(i[1:]) + 1000}",
                 "statusId": "ORDER_APPROVED", "productStoreId": "STORE"}
                for i in present
            ]  # fmt: skip
            self.lookups[",".join(sorted(chunk))] = (
                _encode(rows),
                {"x-total-count": str(len(rows))},
            )
        self.shopify_count = _encode({"orderCount": size})
        self.hotwax_count: Page = (b"[]", {"x-total-count": str(size - len(self.missing))})


class PageServer:
    """The sandbox app with the reconciliation's routes answered from `pages`."""

    def __init__(self, sandbox: Any, pages: Pages) -> None:
        self._sandbox = sandbox
        self._pages = pages

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path, method = scope.get("path", ""), scope.get("method", "")
        page: Page | None = None
        if scope["type"] == "http" and path == COUNT:
            page = (self._pages.shopify_count, {})
        elif scope["type"] == "http" and path == ORDERS and method == "GET":
            query = dict(parse_qsl(scope.get("query_string", b"").decode()))
            if query.get("externalId_op") == "in":
                page = self._pages.lookups.get(query.get("externalId", ""), (b"[]", {}))
            elif "orderDate_from" in query:
                page = self._pages.hotwax_count
        elif scope["type"] == "http" and path == GRAPHQL and method == "POST":
            body = await _body(receive)
            after = (json.loads(body).get("variables") or {}).get("after")
            page = (self._pages.graphql[after], {})
        if page is None:
            await self._sandbox(scope, receive, send)
            return
        content, extra = page
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            *((k.encode(), v.encode()) for k, v in extra.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _body(receive: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def serve(size: int) -> None:
    import uvicorn

    from bot.kit.serve import bind
    from bot.sandbox.server import build_app
    from bot.sandbox.state import SandboxState

    now = datetime.now(UTC)
    pages = Pages(size, now)
    app = PageServer(build_app(SandboxState()), pages)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    sock = bind("127.0.0.1", 0)
    sock.listen(128)
    until = now.timestamp()
    info = {
        "url": f"http://127.0.0.1:{sock.getsockname()[1]}",
        "since": until - WINDOW,
        "until": until,
        "missing": len(pages.missing),
    }
    print(json.dumps(info), flush=True)
    asyncio.run(server.serve(sockets=[sock]))


@dataclass
class _Tools:
    """What compare.run reads of the Toolbox: the client and the policy."""

    oms: Any
    policy: Any


async def bot_side(url: str, since: float, until: float) -> tuple[int, int]:
    from bot.engine import Policy, Stores, Toolbox
    from bot.oms import OmsClient
    from bot.sandbox import DEMO_ORDER_SYNC_JOB, DEMO_PASSWORD, DEMO_SHOPIFY_REMOTE, DEMO_USERNAME
    from handlers.reconcile import compare

    calls = 0

    def count(_: object) -> None:
        nonlocal calls
        calls += 1

    async def nothing(_: compare.Reconciliation) -> None:
        return None

    stores = Stores(shopify_remote=DEMO_SHOPIFY_REMOTE, order_sync_job=DEMO_ORDER_SYNC_JOB)
    async with OmsClient(url, username=DEMO_USERNAME, password=DEMO_PASSWORD) as oms:
        oms.add_call_observer(count)
        await oms.login()
        tools = cast(Toolbox, _Tools(oms, Policy(stores=stores)))
        shops = [compare.Shop("bench", DEMO_SHOPIFY_REMOTE)]
        result = await compare.run(
            tools, since=since, until=until, store=None, shops=shops, progress=nothing
        )
        assert result.stopped is None, result.stopped
        return len(result.missing), calls


async def httpx_side(url: str, since: float, until: float) -> tuple[int, int]:
    import httpx

    from bot.oms.shopify import WINDOW_QUERY, window_search
    from bot.sandbox import DEMO_PASSWORD, DEMO_SHOPIFY_REMOTE, DEMO_USERNAME

    calls = 0
    start, end = datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        login = await client.post("/api/login", json={"USERNAME": DEMO_USERNAME,
                                                      "PASSWORD": DEMO_PASSWORD})  # fmt: skip
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        await client.get(COUNT, params={"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE})
        await client.get(ORDERS, params={"orderDate_from": "0", "pageSize": "1"})
        calls += 3
        missing: set[str] = set()
        after: str | None = None
        while True:
            variables: dict[str, Any] = {"query": window_search(start, end)}
            if after:
                variables["after"] = after
            body = {"systemMessageRemoteId": DEMO_SHOPIFY_REMOTE,
                    "queryText": WINDOW_QUERY % PAGE, "variables": variables}  # fmt: skip
            orders = (await client.post(GRAPHQL, json=body)).json()["response"]["orders"]
            ids = [edge["node"]["legacyResourceId"] for edge in orders["edges"]]
            params = {"externalId": ",".join(sorted(ids)), "externalId_op": "in",
                      "pageSize": str(max(len(ids), 20)), "pageIndex": "0"}  # fmt: skip
            rows = (await client.get(ORDERS, params=params)).json()
            calls += 2
            missing |= set(ids) - {row["externalId"] for row in rows}
            if not orders["pageInfo"]["hasNextPage"]:
                break
            after = orders["pageInfo"]["endCursor"]
        return len(missing), calls


def child(side: str, url: str, since: float, until: float) -> None:
    """One side, timed in this process; prints {seconds, missing, calls, rss_mib}."""
    work = bot_side if side == "bot" else httpx_side
    asyncio.run(work(url, since, until))  # warm up: imports, connections, tenant probes
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    missing, calls = asyncio.run(work(url, since, until))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time too: on a shared machine the wall time also counts other processes' turns.
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    rss = usage.ru_maxrss / 1024  # KiB on Linux
    result = {"seconds": seconds, "cpu": cpu, "missing": missing, "calls": calls, "rss_mib": rss}
    print(json.dumps(result))


def run_side(side: str, info: dict[str, Any]) -> dict[str, Any]:
    args = [side, info["url"], str(info["since"]), str(info["until"])]
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--serve", type=int)
    parser.add_argument("--child", nargs=4, metavar=("SIDE", "URL", "SINCE", "UNTIL"))
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    if args.child:
        side, url, since, until = args.child
        child(side, url, float(since), float(until))
        return
    print(f"{PAGE} Shopify orders a page, 1 in {MISSING_EVERY} missing; OMS: pre-built pages")
    print(f"{'orders':>7} {'missing':>7} | {'bot s':>7} {'httpx s':>7} {'ratio':>5} "
          f"{'µs/order':>8} | {'bot CPU s':>9} {'httpx CPU s':>11} {'ratio':>5} | "
          f"{'bot calls':>9} {'httpx calls':>11} | "
          f"{'bot RSS MiB':>11} {'httpx RSS MiB':>13}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(size)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            base = run_side("httpx", info)
            bot = run_side("bot", info)
            assert bot["missing"] == base["missing"] == info["missing"], (bot, base, info)
            overhead = (bot["seconds"] - base["seconds"]) / size * 1e6
            print(
                f"{size:>7} {info['missing']:>7} | {bot['seconds']:>7.2f} "
                f"{base['seconds']:>7.2f} {bot['seconds'] / base['seconds']:>5.2f} "
                f"{overhead:>8.1f} | {bot['cpu']:>9.2f} {base['cpu']:>11.2f} "
                f"{bot['cpu'] / base['cpu']:>5.2f} | {bot['calls']:>9} {base['calls']:>11} | "
                f"{bot['rss_mib']:>11.1f} {base['rss_mib']:>13.1f}",
                flush=True,
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
