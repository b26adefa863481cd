"""The failed-imports digest at scale, against plain httpx fetching the same pages.

The sandbox runs in a separate process (so its memory is not counted) seeded with 1,000,
10,000 and 50,000 extra failures. For each size, in the same run:

- digest: `build_report` (the Shopify order MDM's failed logs, then every logInsights page
  through OmsClient, grouped by cause as the pages arrive with each order counted once, every
  row written to the CSV, plus the previous-window count);
- baseline: plain httpx fetching the same pages (the MDM's log pages of both order configs
  and each failed log's records file, then the `solr-query` pages), decoding the JSON and
  keeping the set of order names, nothing else.

Prints wall time and tracemalloc peak of each, and the ratios (digest / baseline).

Usage: python bench/digest.py [--sizes 1000,10000,50000] [--page-size 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.oms import OmsClient  # noqa: E402
from bot.oms.loginsights import CORE, _request  # noqa: E402
from bot.oms.mdm import ORDER_CONFIGS  # noqa: E402
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME  # noqa: E402
from handlers.digest.report import build_report  # noqa: E402

DETAILS = "/rest/s1/admin/dataManager/details"
DOWNLOAD = "/rest/s1/admin/dataManager/downloadDataManagerFile"
SANDBOX = """
import sys, time
from bot.sandbox import SandboxServer
from bot.sandbox.state import SandboxState
server = SandboxServer(SandboxState(extra_failures=int(sys.argv[1]))).start()
print(server.url, flush=True)
time.sleep(1e9)
"""


async def measure(work: Callable[[], Awaitable[Any]]) -> tuple[float, int, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, result


async def digest(url: str, since: float, until: float, page_size: int) -> int:
    async with OmsClient(url, username=DEMO_USERNAME, password=DEMO_PASSWORD) as oms:
        await oms.login()
        report = await build_report(oms, since=since, until=until, store=None, page_size=page_size)
        report.discard()
        return report.total


async def baseline(url: str, since: float, until: float, page_size: int) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        login = await client.post("/api/login", json={"USERNAME": DEMO_USERNAME,
                                                      "PASSWORD": DEMO_PASSWORD})  # fmt: skip
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        names = await _mdm_names(client, since, page_size)
        start = 0
        while True:
            body = {"json": _request(since, until, start, page_size), "coreName": CORE}
            answer = (await client.post("/api/solr-query", json=body)).json()
            docs = answer["response"]["docs"]
            names.update(doc["shopifyOrderName"] for doc in docs)
            start += len(docs)
            if not docs or start >= answer["response"]["numFound"]:
                return len(names)


async def _mdm_names(client: httpx.AsyncClient, since: float, page_size: int) -> set[str]:
    names: set[str] = set()
    created_from = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
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
                if log["statusId"] == "DmlsFailed" or int(log.get("failedRecordCount") or 0):
                    content = {"configId": config, "logContentId": log["errorLogContentId"]}
                    file = (await client.get(DOWNLOAD, params=content)).json()
                    names.update(r["name"] for r in json.loads(file["csvData"]))
            index += 1
            if index * page_size >= int(page["dataManagerLogsCount"]):
                break
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    print(f"page size {args.page_size}; wall time and tracemalloc peak (this process only)")
    print(f"{'failures':>9} | {'digest s':>9} {'httpx s':>8} {'ratio':>6} | "
          f"{'digest MiB':>10} {'httpx MiB':>9} {'ratio':>6}")  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        proc = subprocess.Popen(
            [sys.executable, "-c", SANDBOX, str(size)], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            until = time.time()
            since = until - 8 * 86400  # every seeded failure is within the last seven days
            # Warm up both paths once (imports, connections), then measure.
            asyncio.run(baseline(url, since, until, args.page_size))
            b_time, b_peak, b_rows = asyncio.run(
                measure(partial(baseline, url, since, until, args.page_size))
            )
            d_time, d_peak, d_rows = asyncio.run(
                measure(partial(digest, url, since, until, args.page_size))
            )
            assert b_rows == d_rows, (b_rows, d_rows)
            print(
                f"{d_rows:>9} | {d_time:>9.2f} {b_time:>8.2f} {d_time / b_time:>6.2f} | "
                f"{d_peak / 2**20:>10.2f} {b_peak / 2**20:>9.2f} {d_peak / b_peak:>6.2f}"
            )
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
