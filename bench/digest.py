"""The failed-imports digest's own cost, against plain httpx paging the same pages.

The OMS is bench/digest_pages.py: every page the digest reads is encoded once before timing,
so the OMS costs nothing measurable. For each size, in the same run and each in a fresh
process of its own (so each peak RSS is that side's alone):

- bot: `build_report` through OmsClient (the tenant probes, the shops, the Shopify order
  MDM's logs and failed-records files, every logInsights page, grouped by cause with each
  order counted once, every row written to the CSV, then the previous window's count);
- httpx: plain httpx paging the same pages (the MDM logs of both configs for both windows,
  each failed log's records file, the logInsights pages of both windows), decoding the JSON
  and keeping the set of order names, nothing else.

Prints per size: both wall times, their ratio, the bot's own cost per row read
((bot - httpx) / rows, in µs) and each process's peak RSS (`ru_maxrss`).

Usage: python bench/digest.py [--sizes 1000,50000,500000] [--page-size 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DETAILS = "/rest/s1/admin/dataManager/details"
DOWNLOAD = "/rest/s1/admin/dataManager/downloadDataManagerFile"
WINDOW = 8 * 86400.0  # as bench/digest_pages.py lays the failures out


async def bot_side(url: str, since: float, until: float, page_size: int) -> int:
    from bot.oms import OmsClient
    from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME
    from handlers.digest.report import build_report

    async with OmsClient(url, username=DEMO_USERNAME, password=DEMO_PASSWORD) as oms:
        await oms.login()
        report = await build_report(oms, since=since, until=until, store=None, page_size=page_size)
        report.discard()
        return report.total


async def httpx_side(url: str, since: float, until: float, page_size: int) -> int:
    import httpx

    from bot.oms.loginsights import CORE, _request
    from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        login = await client.post("/api/login", json={"USERNAME": DEMO_USERNAME,
                                                      "PASSWORD": DEMO_PASSWORD})  # fmt: skip
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        names: set[str] = set()
        for window_since, window_until in ((since, until), (since - (until - since), since)):
            names |= await _mdm_names(client, window_since, window_until, page_size)
            start = 0
            while True:
                request = _request(window_since, window_until, start, page_size)
                body = {"json": request, "coreName": CORE}
                answer = (await client.post("/api/solr-query", json=body)).json()
                docs = answer["response"]["docs"]
                names.update(doc["shopifyOrderName"] for doc in docs)
                start += len(docs)
                if not docs or start >= answer["response"]["numFound"]:
                    break
            if window_since == since:
                counted = len(names)
        return counted


async def _mdm_names(client: Any, since: float, until: float, page_size: int) -> set[str]:
    from bot.oms.mdm import ORDER_CONFIGS, iso_ms

    names: set[str] = set()
    created_from = iso_ms(datetime.fromtimestamp(since, UTC))
    until_ms = until * 1000
    for config in ORDER_CONFIGS:
        index = 0
        while True:
            params: dict[str, str | int] = {
                "configId": config,
                "createdDate_from": created_from,
                "orderByField": "-createdDate",
                "pageIndex": index,
                "pageSize": page_size,
            }
            page = (await client.get(DETAILS, params=params)).json()
            for log in page["dataManagerLogs"]:
                failed = log["statusId"] == "DmlsFailed" or int(log.get("failedRecordCount") or 0)
                if failed and log["createdDate"] < until_ms:
                    content = {"configId": config, "logContentId": log["errorLogContentId"]}
                    file = (await client.get(DOWNLOAD, params=content)).json()
                    names.update(r["name"] for r in json.loads(file["csvData"]))
            index += 1
            if index * page_size >= int(page["dataManagerLogsCount"]):
                break
    return names


def child(side: str, url: str, since: float, until: float, page_size: int) -> None:
    """One side, timed in this process; prints {seconds, orders, rss_mib}."""
    work = bot_side if side == "bot" else httpx_side
    # Warm up on an empty window a year back (imports, connection, tenant probes); then time.
    asyncio.run(work(url, since - 365 * 86400, since - 364 * 86400, page_size))
    started = time.perf_counter()
    orders = asyncio.run(work(url, since, until, page_size))
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "orders": orders, "rss_mib": rss}), flush=True)


def run_side(side: str, info: dict[str, Any], page_size: int) -> dict[str, Any]:
    args = [side, info["url"], str(info["since"]), str(info["until"]), str(page_size)]
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
    parser.add_argument("--sizes", default="1000,50000,500000")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--child", nargs=5, metavar=("SIDE", "URL", "SINCE", "UNTIL", "PAGE"))
    args = parser.parse_args()
    if args.child:
        side, url, since, until, page = args.child
        child(side, url, float(since), float(until), int(page))
        return
    print(f"page size {args.page_size}; OMS: pre-built pages (bench/digest_pages.py)")
    print(f"{'rows':>7} {'orders':>7} | {'bot s':>7} {'httpx s':>7} {'ratio':>5} "
          f"{'µs/row':>6} | {'bot RSS MiB':>11} {'httpx RSS MiB':>13}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "digest_pages.py"), str(size),
             str(args.page_size)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            base = run_side("httpx", info, args.page_size)
            bot = run_side("bot", info, args.page_size)
            assert bot["orders"] == base["orders"] == info["orders"], (bot, base, info)
            rows = info["rows"]
            overhead = (bot["seconds"] - base["seconds"]) / rows * 1e6
            print(
                f"{rows:>7} {info['orders']:>7} | {bot['seconds']:>7.2f} "
                f"{base['seconds']:>7.2f} {bot['seconds'] / base['seconds']:>5.2f} "
                f"{overhead:>6.1f} | {bot['rss_mib']:>11.1f} {base['rss_mib']:>13.1f}",
                flush=True,
            )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
