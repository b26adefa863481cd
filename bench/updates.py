"""Progress updates of many runs at once against a fake Slack that enforces Slack's rate limits.

20 runs of `/oms approve` (3 orders each: 4 steps, so 8 progress states and a final one) are
confirmed at once in one channel. The fake Slack (tests/harness/fakeslack.py) answers calls
beyond Slack's per-method limits with 429 and Retry-After (chat.update: Tier 3, 50 a minute
per workspace; chat.postMessage: about one a second per channel), with every window compressed
by --scale so a minute of Slack passes in 60 x scale seconds. The bot runs in-process with its
real settings; its update interval (1 s) and chat.update budget run on the same compressed
clock. The baseline, from the same run, is the behaviour before coalescing: interval 0, an
update at every step.

Prints, per behaviour: updates sent, 429s met (chat.update; all methods), final states
delivered (on the run's own message, or posted anew), updates lost (updates that failed for
good), 429s on a final update, and the time from the presses to the last final state, in
seconds and in Slack's (uncompressed) seconds.

Usage: python bench/updates.py [--runs 20] [--orders 3] [--scale 0.05]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kit.config import load_settings  # noqa: E402
from bot.kit.serve import ThreadedServer  # noqa: E402
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer  # noqa: E402
from bot.surface.app import build_asgi_app, build_bolt_app  # noqa: E402
from bot.surface.wiring import create_services  # noqa: E402
from tests.harness.driver import Sent, SlackDriver  # noqa: E402
from tests.harness.fakeslack import FakeSlack, ResponsePost  # noqa: E402

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"
CONFIRM = "oms:approve.confirm#0"
POLICY = '[roles]\noperator = ["U_ALICE"]\n'


class Failures(logging.Handler):
    """Counts the bot's warnings that an update failed for good."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.progress = 0
        self.final = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("progress update of"):
            self.progress += 1
        elif text.startswith("final update of run"):
            self.final += 1


@dataclass(frozen=True)
class Figures:
    updates: int
    update_429s: int
    all_429s: int
    delivered: int
    posted_anew: int
    lost: int
    final_429s: int
    seconds: float


def card_of(fake: FakeSlack, sent: Sent) -> ResponsePost:
    """The confirmation card a slash command got through its response_url."""
    url = sent.response_url
    assert url is not None
    return fake.wait_for(lambda: fake.response_posts(url) or None, 20)[-1]


def measure(
    fake: FakeSlack,
    sandbox: SandboxServer,
    *,
    runs: int,
    orders: int,
    scale: float,
    interval: float,
) -> Figures:
    fake.reset()
    sandbox.state.reset()
    fake.enforce_rate_limits(scale=scale)
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.toml"
        policy.write_text(POLICY)
        settings = load_settings(
            _env_file=None,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=fake.api_url,
            oms_base_url=sandbox.url,
            oms_username=DEMO_USERNAME,
            oms_password=DEMO_PASSWORD,
            omsbot_database_url=f"sqlite:///{tmp}/bot.db",
            omsbot_policy=str(policy),
            omsbot_update_interval_seconds=interval,
        )
        services = create_services(settings)
        services.prepare()
        services.updates.budget.time_scale = scale  # Slack's minute on the compressed clock
        app = build_bolt_app(services, token=TOKEN, signing_secret=SECRET, api_url=fake.api_url)
        server = ThreadedServer(build_asgi_app(services, app))
        server.start()
        failures = Failures()
        logging.getLogger("bot").addHandler(failures)
        try:
            driver = SlackDriver(f"{server.url}/slack/events", SECRET, fake)
            ids = sandbox.state.add_bulk_orders(runs * orders, template_id="10014")
            groups = [ids[i : i + orders] for i in range(0, len(ids), orders)]
            cards = [card_of(fake, driver.slash("approve " + " ".join(g))) for g in groups]
            started = time.monotonic()
            with ThreadPoolExecutor(len(cards)) as pool:
                list(pool.map(lambda card: driver.click_ephemeral(card, CONFIRM), cards))

            def titles_done() -> set[str] | None:
                done = {m.text for m in fake.messages("C_OPS") if m.text.endswith(": finished")}
                return done if len(done) == runs else None

            fake.wait_for(titles_done, timeout=600)
            # What Slack took last: a final update, or a final state posted anew.
            finals = [
                c
                for c in fake.calls()
                if c.method in ("chat.update", "chat.postMessage")
                and c.status == 200
                and str(c.body.get("text", "")).endswith(": finished")
            ]
        finally:
            logging.getLogger("bot").removeHandler(failures)
            server.stop()
        updates = fake.calls("chat.update")
        messages = fake.messages("C_OPS")
        on_own = sum(m.text.endswith(": finished") and bool(m.history) for m in messages)
        return Figures(
            updates=len(updates),
            update_429s=sum(c.status == 429 for c in updates),
            all_429s=sum(c.status == 429 for c in fake.calls()),
            delivered=len({m.text for m in messages if m.text.endswith(": finished")}),
            posted_anew=len(messages) - runs,
            lost=failures.progress + failures.final + (runs - on_own),
            final_429s=sum(
                c.status == 429 and str(c.body.get("text", "")).endswith(": finished")
                for c in updates
            ),
            seconds=max(c.at for c in finals) - started,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--orders", type=int, default=3, help="orders (steps - 1) per run")
    parser.add_argument("--scale", type=float, default=0.05, help="Slack's windows x this")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(
        f"{args.runs} runs of {args.orders + 1} steps at once in one channel; Slack's rate "
        f"limits with every window x {args.scale} (a Slack minute = {60 * args.scale:.0f} s)"
    )
    header = (
        f"{'behaviour':<26} {'updates':>7} {'429s':>5} {'429s all':>8} {'final':>6} "
        f"{'anew':>5} {'lost':>5} {'429 final':>9} {'last final s':>12} {'(Slack s)':>9}"
    )
    print(header)
    with FakeSlack() as fake, SandboxServer() as sandbox:
        cases = [("coalesced (interval 1 s)", 1.0), ("baseline (interval 0)", 0.0)]
        for name, interval in cases:
            f = measure(
                fake,
                sandbox,
                runs=args.runs,
                orders=args.orders,
                scale=args.scale,
                interval=interval * args.scale,
            )
            print(
                f"{name:<26} {f.updates:>7} {f.update_429s:>5} {f.all_429s:>8} "
                f"{f.delivered:>3}/{args.runs:<2} {f.posted_anew:>5} {f.lost:>5} "
                f"{f.final_429s:>9} {f.seconds:>12.2f} {f.seconds / args.scale:>9.0f}"
            )
    print(
        "updates: chat.update calls Slack received (429s included); final: runs whose final "
        "state shows in the channel; anew: final states posted as a new message; lost: "
        "updates that failed for good, and runs whose own message does not end on its final "
        "state"
    )


if __name__ == "__main__":
    main()
