"""Fixtures: the real app under uvicorn, the fake Slack, the OMS sandbox, all on loopback."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.kit.config import Settings, load_settings
from bot.kit.serve import ThreadedServer
from bot.sandbox import DEMO_PASSWORD, DEMO_USERNAME, SandboxServer
from bot.surface.app import build_asgi_app, build_bolt_app
from bot.surface.wiring import Services, create_services
from tests.harness.blockkit import check_message
from tests.harness.driver import Sent, SlackDriver
from tests.harness.fakeslack import FakeSlack, ResponsePost
from tests.harness.fixtures import fake_slack, fake_slack_server, socket_server

__all__ = ["fake_slack", "fake_slack_server", "socket_server"]

SIGNING_SECRET = "test-signing-secret-8f742231b10e"
BOT_TOKEN = "xoxb-test-bot-token"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    """The session's sandbox with its data and knobs reset for this test."""
    sandbox_server.state.reset()
    yield sandbox_server
    sandbox_server.state.reset()


def bot_env(fake: FakeSlack, sandbox: SandboxServer, db_path: Path | str) -> dict[str, str]:
    """The environment of a bot wired to the fakes (used for subprocess runs too).

    `db_path` is a SQLite file, or a whole database URL (PostgreSQL)."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "OMS_BASE_URL": sandbox.url,
        "OMS_USERNAME": DEMO_USERNAME,
        "OMS_PASSWORD": DEMO_PASSWORD,
        "OMS_TIMEOUT": "3",
        "OMSBOT_DATABASE_URL": db_path if isinstance(db_path, str) else f"sqlite:///{db_path}",
        "OMSBOT_SHUTDOWN_TIMEOUT": "10",
        # Coalescing stays on, at a pace that does not add a second to every run's end
        # (tests/engine/test_i16_updates.py checks the default of 1 s).
        "OMSBOT_UPDATE_INTERVAL_SECONDS": "0.2",
        # The audit spool beside a SQLite file by default; a PostgreSQL bot's default (the
        # user's state directory) would be shared by every test: each gets its own.
        **(
            {"OMSBOT_AUDIT_SPOOL": str(Path(tempfile.mkdtemp(prefix="oms-spool-")) / "spool")}
            if isinstance(db_path, str)
            else {}
        ),
    }


def settings_for(
    fake: FakeSlack, sandbox: SandboxServer, db_path: Path | str, **extra: Any
) -> Settings:
    values: dict[str, Any] = {k.lower(): v for k, v in bot_env(fake, sandbox, db_path).items()}
    values.update(extra)
    return load_settings(_env_file=None, **values)


@dataclass
class RunningBot:
    """The bot serving HTTP on loopback, with a driver that sends it signed requests."""

    url: str
    services: Services
    driver: SlackDriver
    fake: FakeSlack
    sandbox: SandboxServer

    def slash(self, text: str, **kwargs: Any) -> Sent:
        return self.driver.slash(text, **kwargs)

    def ack(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send `/oms <text>`; return the ack's JSON body after passing it through the gate."""
        sent = self.slash(text, **kwargs)
        assert sent.http.status_code == 200, sent.http.text
        return gated(json.loads(sent.http.text))

    def wait_message(
        self, predicate: Callable[[Any], bool], channel: str = "C_OPS", timeout: float = 10.0
    ) -> Any:
        """The newest message in `channel` the predicate accepts (waiting for it)."""

        def find() -> Any:
            matches = [m for m in self.fake.messages(channel) if predicate(m)]
            return matches[-1] if matches else None

        return self.fake.wait_for(find, timeout)

    def reply_post(self, sent: Sent, timeout: float = 10.0) -> ResponsePost:
        """The (newest) ephemeral reply the command got through its response_url."""
        assert sent.response_url is not None
        url = sent.response_url
        posts = self.fake.wait_for(lambda: self.fake.response_posts(url) or None, timeout)
        return posts[-1]

    def replies(self, sent: Sent, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait for `count` posts to the command's response_url; return their bodies."""
        assert sent.response_url is not None

        def ready() -> list[dict[str, Any]] | None:
            posts = self.fake.response_posts(sent.response_url)
            return [p.body for p in posts] if len(posts) >= count else None

        return self.fake.wait_for(ready, timeout)


def gated(message: dict[str, Any]) -> dict[str, Any]:
    """Every message the bot sends passes the Block Kit gate, acks included."""
    problems = check_message(message)
    assert not problems, f"Block Kit gate: {problems}\n{json.dumps(message, indent=1)}"
    return message


def start_bot(
    fake: FakeSlack, sandbox: SandboxServer, db_path: Path, **extra: Any
) -> tuple[ThreadedServer, Services]:
    settings = settings_for(fake, sandbox, db_path, **extra)
    services = create_services(settings)
    services.prepare()
    bolt_app = build_bolt_app(
        services, token=BOT_TOKEN, signing_secret=SIGNING_SECRET, api_url=fake.api_url
    )
    server = ThreadedServer(build_asgi_app(services, bolt_app))
    server.start()
    return server, services


@pytest.fixture
def bot(fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path) -> Iterator[RunningBot]:
    server, services = start_bot(fake_slack, sandbox, tmp_path / "bot.db")
    driver = SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, fake_slack)
    try:
        yield RunningBot(server.url, services, driver, fake_slack, sandbox)
    finally:
        server.stop()


# Roles for the core tests. S_OPERATORS = [U_ALICE, U_BOB] and S_APPROVERS = [U_CAROL] in the
# fake Slack, so Bob is an operator only through his user group, Carol an approver likewise.
POLICY = """
[roles]
operator = ["U_ALICE", "S_OPERATORS", "U_DAVE"]
approver = ["S_APPROVERS", "U_DAVE"]

[approvals]
channel = "C_APPROVALS"
expiry_minutes = {expiry}

[stores]
shopify_remote = "DEMO_SHOP_REMOTE"
order_sync_job = "queue_ShopifyOrderSync_10000"

[approvals.actions]
{actions}
"""


def write_policy(tmp_path: Path, *, two_person: bool = True, expiry: float = 15) -> Path:
    path = tmp_path / f"policy-{time.monotonic_ns()}.toml"
    actions = 'approve = ["approver"]' if two_person else ""
    path.write_text(POLICY.format(expiry=expiry, actions=actions))
    return path


BotFactory = Callable[..., RunningBot]


@pytest.fixture
def make_bot(fake_slack: FakeSlack, sandbox: SandboxServer, tmp_path: Path) -> Iterator[BotFactory]:
    """Start bots with settings of the test's choosing (several may share one database)."""
    servers: list[ThreadedServer] = []

    def make(*, db_path: Path | None = None, **settings: Any) -> RunningBot:
        server, services = start_bot(
            fake_slack, sandbox, db_path or tmp_path / "bot.db", **settings
        )
        servers.append(server)
        driver = SlackDriver(f"{server.url}/slack/events", SIGNING_SECRET, fake_slack)
        return RunningBot(server.url, services, driver, fake_slack, sandbox)

    yield make
    for server in servers:
        server.stop()


def text_of(message: dict[str, Any]) -> str:
    """All the text a user would read in a message: fallback text and every block's text."""
    parts = [str(message.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                parts.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks") or [])
    # Slack shows &lt; &gt; &amp; as the characters they escape.
    shown = "\n".join(parts)
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


Waiter = Callable[[], Any]

# Every log record and Slack message of the session is scanned for the configured secrets.
pytest_plugins = ["tests.secret_scan"]
