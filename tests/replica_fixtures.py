"""Several real `oms-bot run` processes sharing one database, for the replica tests.

Each replica is its own process on its own port (HTTP mode) or with its own Socket Mode
connection, wired to the session's fake Slack and OMS sandbox. Its log goes to a file, shown
when a test fails, so a crash in a replica is visible rather than a timeout.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sandbox import SandboxServer
from tests.conftest import SIGNING_SECRET, bot_env
from tests.harness.driver import Sent, SlackDriver
from tests.harness.fakeslack import FakeSlack, Message, ResponsePost
from tests.processes import clean_env, free_port, spawn_bot, wait_healthy

APP_TOKEN = "xapp-1-A0OMS-1-replicas"
# Short enough that a dead replica's runs are found within seconds, long enough that a busy
# replica's heartbeat (every lease/3) never misses it.
RUN_LEASE = "3"

# The digest every replica schedules: hourly, with two hours of grace, so the slot of the
# current hour was missed before the replicas started and each of them tries to post it late
# at start (the catch-up). Exactly one may.
DIGEST = """
[[digests]]
id = "replicas-hourly"
channel = "C_DIGESTS"
cron = "0 * * * *"
timezone = "UTC"
window = "7d"
grace = "2h"
"""


@dataclass
class Replica:
    """One `oms-bot run` process; `driver` sends signed requests to it (HTTP mode)."""

    name: str
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['OMSBOT_PORT']}"

    @property
    def log_path(self) -> Path:
        return self.cwd / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def driver(self, fake: FakeSlack) -> SlackDriver:
        return SlackDriver(f"{self.url}/slack/events", SIGNING_SECRET, fake, timeout=30)

    def spawn(self) -> None:
        log = self.log_path.open("a")
        self.proc = spawn_bot(self.env, self.cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child has its own copy

    def wait_healthy(self) -> None:
        assert self.proc is not None
        wait_healthy(self.url, self.proc)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when a container is killed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Replicas:
    """Replicas of one deployment: same database, same policy, same Slack app."""

    members: list[Replica]
    fake: FakeSlack
    sandbox: SandboxServer
    database_url: str
    drivers: list[SlackDriver] = field(default_factory=list)

    def __getitem__(self, index: int) -> Replica:
        return self.members[index]

    def start(self, which: Iterable[Replica] | None = None) -> None:
        """Start the given (or every stopped) replica and wait until each serves."""
        chosen = [r for r in (which or self.members) if not r.alive]
        for replica in chosen:
            replica.spawn()
        for replica in chosen:
            replica.wait_healthy()

    def stop(self) -> None:
        for replica in self.members:
            replica.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {r.name} ---\n{r.log_tail()}" for r in self.members)


def make_replicas(
    fake: FakeSlack,
    sandbox: SandboxServer,
    database_url: str,
    cwd: Path,
    *,
    policy: Path,
    count: int = 2,
    socket_mode: bool = False,
) -> Replicas:
    """Replicas configured alike (not started): HTTP mode, or Socket Mode with an app token."""
    members = []
    for index in range(count):
        env = clean_env(**bot_env(fake, sandbox, database_url))
        env.update(
            OMSBOT_PORT=str(free_port()),
            OMSBOT_HOST="127.0.0.1",
            OMSBOT_RUN_LEASE=RUN_LEASE,
            OMSBOT_POLICY=str(policy),
            OMSBOT_SHUTDOWN_TIMEOUT="5",
            # Every progress update is sent before the step goes on (no coalescing): a test
            # stops a replica at one that Slack leaves hanging.
            OMSBOT_UPDATE_INTERVAL_SECONDS="0",
        )
        if socket_mode:
            env["SLACK_APP_TOKEN"] = APP_TOKEN
            del env["SLACK_SIGNING_SECRET"]
        members.append(Replica(f"replica-{index + 1}", env, cwd))
    replicas = Replicas(members, fake, sandbox, database_url)
    replicas.drivers = [r.driver(fake) for r in members]
    return replicas


def replica_policy(base: Path) -> Path:
    """The core test policy (two-person approve) plus the hourly digest."""
    path = base.with_name(base.stem + "-replicas.toml")
    path.write_text(base.read_text() + DIGEST)
    return path


def newest(fake: FakeSlack, channel: str, words: str) -> Message | None:
    """The newest message in `channel` whose fallback text contains `words`."""
    found = [m for m in fake.messages(channel) if words in m.text]
    return found[-1] if found else None


def posts_to(fake: FakeSlack, sent: Sent) -> list[ResponsePost]:
    assert sent.response_url is not None
    return fake.response_posts(sent.response_url)


def describe(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
