"""The bot's overhead on a runbook: wall time against the time spent in OMS calls.

The embedded sandbox adds 50 ms to every OMS call. For `/oms check` (several scenarios) and
`/oms refresh` (command + confirm click, the run to its end), the bot runs in-process through
the console front end (the same Bolt app, a local Slack stand-in, SQLite). An httpx transport
wrapper times every OMS call. Prints, per runbook: OMS calls, the sum of their times, the wall
time, and the ratio wall / OMS time (1.0 would be zero overhead).

Usage: python bench/runbook.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kit.config import load_settings  # noqa: E402
from bot.oms import OmsClient  # noqa: E402
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME  # noqa: E402
from bot.surface.console import Console  # noqa: E402
from bot.surface.wiring import create_services  # noqa: E402

OMS_LATENCY = 0.05


class TimingTransport(httpx.AsyncBaseTransport):
    """Times every request the OMS client sends."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.times: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.times.append(time.perf_counter() - start)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def measure(lines: list[str], db: str, policy: Path) -> dict[str, Any]:
    settings = load_settings(_env_file=None, omsbot_database_url=db, omsbot_policy=policy)
    services = create_services(settings)
    services.prepare()
    assert services.sandbox is not None
    services.sandbox.state.latency = OMS_LATENCY
    services.sandbox.state.job_run_seconds = 0.0
    timing = TimingTransport()
    await services.oms.aclose()
    services.oms = OmsClient(
        services.sandbox.url, username=DEMO_USERNAME, password=DEMO_PASSWORD, transport=timing
    )
    await services.oms.check_login()  # log in before the clock starts
    timing.times.clear()
    console = Console(services, user_id="U0BENCH", out=io.StringIO())
    console.start()
    try:
        start = time.perf_counter()
        ok = [await console.run_line(line) for line in lines]
        wall = time.perf_counter() - start
    finally:
        console.stop()
        await services.aclose()
    return {"wall": wall, "oms": sum(timing.times), "calls": len(timing.times), "ok": all(ok)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "check 10002 (POS, fulfilled)": ["/oms check 10002"],
        "check #1006 (missing, failure)": ["/oms check #1006"],
        "check 10009 (stale index)": ["/oms check 10009"],
        "refresh 10002 (card + run)": ["/oms refresh 10002", "click 1"],
    }
    print(f"OMS latency {OMS_LATENCY * 1000:.0f} ms per call; median of {args.rounds} rounds")
    print(f"{'runbook':<32} {'calls':>5} {'OMS s':>7} {'wall s':>7} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.toml"
        policy.write_text("[roles]\noperator = []\n")
        for name, lines in cases.items():
            runs = [
                asyncio.run(measure(lines, f"sqlite:///{tmp}/b{i}.db", policy))
                for i in range(args.rounds)
            ]
            assert all(r["ok"] for r in runs), f"{name} failed"
            wall = statistics.median(r["wall"] for r in runs)
            oms = statistics.median(r["oms"] for r in runs)
            calls = statistics.median(r["calls"] for r in runs)
            print(f"{name:<32} {calls:>5.0f} {oms:>7.3f} {wall:>7.3f} {wall / oms:>6.2f}")


if __name__ == "__main__":
    main()
