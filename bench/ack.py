"""Ack latency of /oms under load, against a bare Bolt app measured in the same run.

The bot runs as `oms-bot run` in HTTP mode with the sandbox answering every OMS call after
2 s; the load generator is a separate process sending signed `/oms help` (answered in the
ack) and `/oms order ...` (acked at once, OMS work after the ack). The baseline is a bare
Bolt AsyncApp with default settings that only acks. Prints p50/p99/max and requests/s for
both, and the ratios (bot / baseline).

Usage: python bench/ack.py [--requests N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kit.serve import ThreadedServer  # noqa: E402
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer  # noqa: E402
from bot.surface.console_slack import ConsoleSlack  # noqa: E402

SECRET = "bench-signing-secret"
OMS_LATENCY = 2.0
TEXTS = ["help", "order 10002", "order #1003", "", "order 6100000000002"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            httpx.post(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_quiet(sandbox: SandboxServer, quiet_for: float = OMS_LATENCY + 1.0) -> None:
    """Wait until the bot's OMS work from the last run is done, so runs don't overlap."""
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_for:
        count = len(sandbox.state.requests())
        if count != seen:
            seen, since = count, time.monotonic()
        time.sleep(0.2)


def load(url: str, count: int, concurrency: int, response_url: str) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "loadgen.py"),
            url,
            SECRET,
            str(count),
            str(concurrency),
            response_url,
            *TEXTS,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout)
    lat = sorted(data["latencies"])
    return {
        "p50": statistics.median(lat) * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "max": lat[-1] * 1000,
        "rps": len(lat) / data["wall"],
        "errors": data["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()

    slack = ConsoleSlack(lambda _m: None)
    with (
        SandboxServer() as sandbox,
        ThreadedServer(slack.app) as slack_server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        slack.base_url = slack_server.url
        sandbox.state.latency = OMS_LATENCY
        bot_port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": f"{slack_server.url}/api/",
            "OMS_BASE_URL": sandbox.url,
            "OMS_USERNAME": DEMO_USERNAME,
            "OMS_PASSWORD": DEMO_PASSWORD,
            "OMS_TIMEOUT": "30",
            "OMSBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "OMSBOT_PORT": str(bot_port),
            "OMSBOT_HOST": "127.0.0.1",
            "OMSBOT_LOG_LEVEL": "WARNING",
            "OMSBOT_SHUTDOWN_TIMEOUT": "5",
        }
        env.pop("SLACK_APP_TOKEN", None)
        bot = subprocess.Popen([str(Path(sys.executable).parent / "oms-bot"), "run"], env=env)
        bare = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "bare_app.py"),
                str(bare_port),
                SECRET,
                f"{slack_server.url}/api/",
            ]
        )
        try:
            bot_url = f"http://127.0.0.1:{bot_port}/slack/events"
            bare_url = f"http://127.0.0.1:{bare_port}/slack/events"
            wait_up(bot_url, bot)
            wait_up(bare_url, bare)
            response_url = slack.response_url()
            # Warm both up (Bolt's first request runs auth.test).
            load(bot_url, 10, 1, response_url)
            load(bare_url, 10, 1, response_url)
            print(
                f"OMS latency {OMS_LATENCY:.0f}s per call; {args.requests} requests per run;"
                f" texts: {TEXTS}"
            )
            header = (
                f"{'concurrency':>11} {'app':>6} {'p50 ms':>8} {'p99 ms':>8} "
                f"{'max ms':>8} {'req/s':>8} {'errors':>6}"
            )
            print(header)
            for concurrency in (1, 50):
                wait_quiet(sandbox)
                bare_fig = load(bare_url, args.requests, concurrency, response_url)
                bot_fig = load(bot_url, args.requests, concurrency, response_url)
                for name, fig in (("bot", bot_fig), ("bare", bare_fig)):
                    print(
                        f"{concurrency:>11} {name:>6} {fig['p50']:8.2f} {fig['p99']:8.2f} "
                        f"{fig['max']:8.2f} {fig['rps']:8.1f} {fig['errors']:6.0f}"
                    )
                print(
                    f"{concurrency:>11} {'ratio':>6} {bot_fig['p50'] / bare_fig['p50']:8.2f} "
                    f"{bot_fig['p99'] / bare_fig['p99']:8.2f} "
                    f"{bot_fig['max'] / bare_fig['max']:8.2f} "
                    f"{bot_fig['rps'] / bare_fig['rps']:8.2f}   (bot / bare)"
                )
            wait_quiet(sandbox)
        finally:
            for proc in (bot, bare):
                proc.terminate()
            for proc in (bot, bare):
                proc.wait(30)


if __name__ == "__main__":
    main()
