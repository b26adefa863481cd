"""Load on two replicas: many users sending commands and clicks for a fixed time.

Two `oms-bot run` processes (HTTP mode) share one PostgreSQL database (a fresh schema of the
local server, dropped at the end), the sandbox answers every OMS call after 1 s, and a local
Slack stand-in takes the bot's replies. The load generators are separate processes; each
user sends to one replica (as a load balancer would spread them) a mix of `/oms help`,
`/oms order <ref>`, `/oms check <ref>`, `/oms history`, and clicks: Approve/Cancel on confirm
cards (the first press wins, later ones get "already handled") and Resume on a run that has
finished (always "already handled"). Every request's ack time is measured.

The baseline, measured in the same run the same way: two bare Bolt AsyncApps that only ack
(bench/bare_app.py), sent the same number of users with slash commands only (they have no
button listener). Prints ack p50, p99, max, errors and the count of acks over 3 s (must be 0)
for both, and the ratios bot / baseline.

Each user pauses between actions (`--think`, 3 s on average) as a person would; with
`--think 0` the users send flat out and the figures show the machine's saturation instead.

Usage: python bench/load.py [--seconds 30] [--users 200] [--think 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-load-signing-secret"
OMS_LATENCY = 1.0
SLOW_ACK = 3.0  # Slack gives up on an ack after 3 s
CHANNEL = "C0CONSOLE"
COMMANDS = ["help", "order 10002", "order #1003", "check 10014", "history"]
# One op per step of each user's cycle: four commands, three clicks, one more command.
OPS = ["cmd", "click", "cmd", "resume", "cmd", "click", "cmd", "cmd"]
CARDS = 40


@dataclass(frozen=True)
class Button:
    """A button the bot rendered, as a user would press it."""

    user: str
    message_ts: str
    action_id: str
    value: str
    block_id: str
    ephemeral: bool


# ---- the load generator (its own process) -------------------------------------------------


def _signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def command_body(text: str, user: str, response_url: str) -> str:
    return urlencode(
        {
            "token": "load",
            "team_id": "T0CONSOLE",
            "team_domain": "load",
            "channel_id": CHANNEL,
            "channel_name": "load",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/oms",
            "text": text,
            "api_app_id": "A0LOAD",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{time.time()}.load",
        }
    )


def click_body(button: Button, response_url: str) -> str:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": button.user, "username": button.user.lower(), "team_id": "T0CONSOLE"},
        "api_app_id": "A0LOAD",
        "token": "load",
        "team": {"id": "T0CONSOLE", "domain": "load"},
        "container": {
            "type": "message",
            "message_ts": button.message_ts,
            "channel_id": CHANNEL,
            "is_ephemeral": button.ephemeral,
        },
        "channel": {"id": CHANNEL, "name": "load"},
        "trigger_id": f"{time.time()}.load",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": button.action_id,
                "block_id": button.block_id,
                "value": button.value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if not button.ephemeral:
        payload["message"] = {"type": "message", "ts": button.message_ts, "text": "", "blocks": []}
    return urlencode({"payload": json.dumps(payload)})


async def generate(config: dict[str, Any]) -> dict[str, Any]:
    """Each user loops over OPS until the time is up; returns every ack time and the errors."""
    urls: list[str] = config["urls"]
    cards = [Button(**b) for b in config["cards"]]
    resume = Button(**config["resume"]) if config["resume"] else None
    commands_only: bool = config["commands_only"]
    deadline = time.monotonic() + float(config["seconds"])
    latencies: list[float] = []
    errors: dict[str, int] = {}
    users: list[int] = config["users"]
    think = float(config["think"])
    rng = random.Random(users[0] if users else 0)
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so a
    # paused user never sends on a connection the server is closing (a client-side error).
    limits = httpx.Limits(
        max_connections=len(users), max_keepalive_connections=len(users), keepalive_expiry=4
    )

    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def user_loop(number: int) -> None:
            user = f"U_LOAD{number:03d}"
            url = urls[number % len(urls)]
            step = number  # users start at different points of the cycle
            while time.monotonic() < deadline:
                op = OPS[step % len(OPS)]
                response_url = f"{config['response_base']}/load-{number}-{step}"
                if op == "cmd" or commands_only or (op == "resume" and resume is None):
                    text = COMMANDS[step % len(COMMANDS)]
                    body = command_body(text, user, response_url)
                elif op == "resume" and resume is not None:
                    body = click_body(Button(**{**asdict(resume), "user": user}), response_url)
                else:
                    card = cards[step % len(cards)]
                    body = click_body(card, response_url)
                step += 1
                start = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=_signed(body))
                    if response.status_code != 200:
                        key = f"HTTP {response.status_code}"
                        errors[key] = errors.get(key, 0) + 1
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - start)
                # A person reads the answer before the next action: on average `think`
                # seconds, spread so that the users do not fall into step.
                await asyncio.sleep(rng.uniform(0, 2 * think))

        begin = time.perf_counter()
        await asyncio.gather(*(user_loop(n) for n in users))
        wall = time.perf_counter() - begin
    return {"latencies": latencies, "errors": errors, "wall": wall}


def worker() -> None:
    print(json.dumps(asyncio.run(generate(json.loads(sys.stdin.read())))))


# ---- the harness ----------------------------------------------------------------------------


@dataclass
class Figures:
    requests: int
    p50: float
    p99: float
    max: float
    slow: int
    errors: dict[str, int]
    rate: float

    def row(self, name: str) -> str:
        errors = sum(self.errors.values())
        detail = f" {self.errors}" if self.errors else ""
        return (
            f"{name:>9} {self.requests:>9} {self.p50 * 1000:>8.1f} {self.p99 * 1000:>8.1f} "
            f"{self.max * 1000:>8.1f} {self.slow:>10} {errors:>7} {self.rate:>8.1f}{detail}"
        )


def run_load(
    urls: list[str],
    *,
    users: int,
    processes: int,
    seconds: float,
    think: float,
    response_base: str,
    cards: list[Button],
    resume: Button | None,
    commands_only: bool,
) -> Figures:
    """Spread the users over `processes` load-generator processes; merge what they measured."""
    procs = []
    for index in range(processes):
        config = {
            "urls": urls,
            "users": list(range(index, users, processes)),
            "seconds": seconds,
            "think": think,
            "response_base": response_base,
            "cards": [asdict(c) for c in cards],
            "resume": asdict(resume) if resume else None,
            "commands_only": commands_only,
        }
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config))
        proc.stdin.close()
        procs.append(proc)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    wall = 0.0
    for proc in procs:
        assert proc.stdout is not None
        data = json.loads(proc.stdout.read())
        proc.wait()
        latencies += data["latencies"]
        for key, count in data["errors"].items():
            errors[key] = errors.get(key, 0) + count
        wall = max(wall, data["wall"])
    latencies.sort()
    return Figures(
        requests=len(latencies),
        p50=statistics.median(latencies),
        p99=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        max=latencies[-1],
        slow=sum(1 for x in latencies if x > SLOW_ACK),
        errors=errors,
        rate=len(latencies) / wall,
    )


class Recorder:
    """Keeps what the local Slack stand-in received, to find the buttons the bot rendered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[Any] = []

    def __call__(self, message: Any) -> None:
        with self.lock:
            self.seen.append(message)

    def wait(self, predicate: Callable[[Any], bool], since: int = 0, timeout: float = 30.0) -> Any:
        """The newest message received after the first `since` that `predicate` accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.seen[since:] if predicate(m)]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise RuntimeError("the bot did not answer during setup")


def buttons_of(message: Any, user: str, ephemeral: bool) -> dict[str, Button]:
    """The message's buttons by action name (e.g. "approve.confirm")."""
    found = {}
    for block in message.blocks:
        for element in block.get("elements") or []:
            if element.get("type") == "button" and "value" in element:
                name = str(element["action_id"]).removeprefix("oms:").split("#")[0]
                found[name] = Button(
                    user,
                    message.ts,
                    element["action_id"],
                    element["value"],
                    block.get("block_id", ""),
                    ephemeral,
                )
    return found


def post(url: str, body: str) -> None:
    response = httpx.post(url, content=body, headers=_signed(body), timeout=30)
    response.raise_for_status()


def prepare(
    url: str, recorder: Recorder, response_base: str, sandbox: Any
) -> tuple[list[Button], Button]:
    """Confirm cards for the clicks, and a finished run whose Resume button was pressed."""
    cards = []
    for number in range(CARDS):
        user = f"U_LOAD{number:03d}"
        count = len(recorder.seen)
        post(url, command_body("approve 10014", user, f"{response_base}/card-{number}"))
        card = recorder.wait(lambda m: "approve.confirm" in str(m.blocks), since=count)
        buttons = buttons_of(card, user, ephemeral=True)
        cards += [buttons["approve.confirm"], buttons["approve.cancel"]]
    # A run that fails (the OMS refuses the write), then is resumed and finishes: its Resume
    # button has been pressed, so every later press is answered "already handled".
    user = "U_LOAD000"
    sandbox.state.inject_fault(
        "/api/service/changeOrderStatus", "json", 1, body={"_ERROR_MESSAGE_": "Order is locked"}
    )
    count = len(recorder.seen)
    post(url, command_body("approve 10015", user, f"{response_base}/resume-card"))
    card = recorder.wait(lambda m: "approve.confirm" in str(m.blocks), since=count)
    post(url, click_body(buttons_of(card, user, True)["approve.confirm"], f"{response_base}/rc"))
    failed = recorder.wait(lambda m: m.text.endswith(": failed") and "run.resume" in str(m.blocks))
    resume = buttons_of(failed, user, ephemeral=False)["run.resume"]
    post(url, click_body(resume, f"{response_base}/resume"))
    recorder.wait(lambda m: m.ts == failed.ts and m.text.endswith(": finished"))
    return cards, resume


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="load time (default 30)")
    parser.add_argument("--users", type=int, default=200, help="concurrent users (default 200)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="mean pause of a user between actions, seconds (default 3; 0 = flat out)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("OMSBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test"),
        help="the PostgreSQL server (a fresh schema is made in it and dropped afterwards)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    from bot.kit.serve import ThreadedServer
    from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
    from bot.surface.console_slack import ConsoleSlack

    base = make_url(args.database_url)
    libpq = base.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"load_{secrets.token_hex(4)}"
    db_url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    recorder = Recorder()
    slack = ConsoleSlack(recorder)
    procs: list[subprocess.Popen[bytes]] = []
    with (
        psycopg.connect(libpq, autocommit=True) as admin,
        SandboxServer() as sandbox,
        ThreadedServer(slack.app) as slack_server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            slack.base_url = slack_server.url
            api_url = f"{slack_server.url}/api/"
            policy = Path(tmp) / "policy.toml"
            users = [f"U_LOAD{n:03d}" for n in range(max(args.users, CARDS))]
            policy.write_text(f"[roles]\noperator = {json.dumps(users)}\n")
            bot_urls, bare_urls = [], []
            for index in range(2):
                port = free_port()
                env = {
                    key: value
                    for key, value in os.environ.items()
                    if not key.startswith(("SLACK_", "OMS_", "OMSBOT_"))
                }
                env.update(
                    SLACK_BOT_TOKEN="xoxb-load",
                    SLACK_SIGNING_SECRET=SECRET,
                    SLACK_API_URL=api_url,
                    OMS_BASE_URL=sandbox.url,
                    OMS_USERNAME=DEMO_USERNAME,
                    OMS_PASSWORD=DEMO_PASSWORD,
                    OMS_TIMEOUT="30",
                    OMSBOT_DATABASE_URL=db_url,
                    OMSBOT_POLICY=str(policy),
                    OMSBOT_PORT=str(port),
                    OMSBOT_HOST="127.0.0.1",
                    OMSBOT_LOG_LEVEL="WARNING",
                    OMSBOT_SHUTDOWN_TIMEOUT="5",
                )
                log = (Path(tmp) / f"replica-{index + 1}.log").open("w")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot.surface.cli", "run"],
                        env=env,
                        cwd=tmp,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
                bot_urls.append(f"http://127.0.0.1:{port}/slack/events")
                bare_port = free_port()
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(ROOT / "bench" / "bare_app.py"),
                            str(bare_port),
                            SECRET,
                            api_url,
                        ]
                    )
                )
                bare_urls.append(f"http://127.0.0.1:{bare_port}/slack/events")
            for url, proc in zip(bot_urls + bare_urls, procs[0::2] + procs[1::2], strict=True):
                wait_up(url.replace("/slack/events", "/healthz") if url in bot_urls else url, proc)
            response_base = slack_server.url + "/response"
            for url in bot_urls + bare_urls:  # warm up: Bolt's first request runs auth.test
                post(url, command_body("help", "U_LOAD000", f"{response_base}/warm"))
            cards, resume = prepare(bot_urls[0], recorder, response_base, sandbox)
            sandbox.state.latency = OMS_LATENCY
            print(
                f"{args.users} users for {args.seconds:.0f} s against 2 replicas (PostgreSQL "
                f"schema {schema}), the OMS answering after {OMS_LATENCY:.0f} s; "
                f"{args.processes} load-generator processes; a user pauses {args.think:.1f} s "
                "on average between actions.\nOps per user, in turn: "
                f"{', '.join(OPS)}; commands {COMMANDS}; clicks on {len(cards)} "
                "Approve/Cancel buttons of confirm cards and on a pressed Resume."
            )
            common = {
                "users": args.users,
                "processes": args.processes,
                "seconds": args.seconds,
                "think": args.think,
                "response_base": response_base,
            }
            before = len(recorder.seen)
            bot = run_load(bot_urls, cards=cards, resume=resume, commands_only=False, **common)
            answers = recorder.seen[before:]
            handled = sum(1 for m in answers if "Already handled" in m.text)
            bare = run_load(bare_urls, cards=[], resume=None, commands_only=True, **common)
            print(
                f"{'':>9} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
                f"{'acks > 3s':>10} {'errors':>7} {'req/s':>8}"
            )
            print(bot.row("bot"))
            print(bare.row("bare Bolt"))
            print(
                f"{'ratio':>9} {'':>9} {bot.p50 / bare.p50:>8.2f} {bot.p99 / bare.p99:>8.2f} "
                f"{bot.max / bare.max:>8.2f} {'':>10} {'':>7} {bot.rate / bare.rate:>8.2f}"
                "   (bot / bare)"
            )
            print(
                f"During the bot's load the Slack stand-in got {len(answers)} messages from the "
                f'replicas, {handled} of them "Already handled" answers to clicks.'
            )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


if __name__ == "__main__":
    main()
