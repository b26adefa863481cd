"""Load generator, run as its own process: signed slash commands at a fixed concurrency.

Prints one JSON object: the latency of every request (seconds), errors and wall time.
Usage: python bench/loadgen.py URL SECRET COUNT CONCURRENCY TEXT [TEXT ...]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier


def signed(secret: str, text: str, n: int) -> tuple[str, dict[str, str]]:
    body = urlencode(
        {
            "token": "bench",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0BENCH",
            "channel_name": "bench",
            "user_id": f"U0BENCH{n % 50}",
            "user_name": "bench",
            "command": "/oms",
            "text": text,
            "api_app_id": "A0BENCH",
            "is_enterprise_install": "false",
            "response_url": RESPONSE_URL,
            "trigger_id": f"{n}.bench",
        }
    )
    ts = str(int(time.time()))
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert sig is not None  # None only when the secret is empty
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sig,
    }
    return body, headers


RESPONSE_URL = ""


async def run(url: str, secret: str, count: int, concurrency: int, texts: list[str]) -> None:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                body, headers = signed(secret, texts[i % len(texts)], i)
                start = time.perf_counter()
                try:
                    resp = await client.post(url, content=body, headers=headers)
                    if resp.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - start)

        begin = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - begin
    print(json.dumps({"latencies": latencies, "errors": errors, "wall": wall}))


def main() -> None:
    global RESPONSE_URL
    url, secret, count, concurrency, response_url, *texts = sys.argv[1:]
    RESPONSE_URL = response_url
    asyncio.run(run(url, secret, int(count), int(concurrency), texts))


if __name__ == "__main__":
    main()
