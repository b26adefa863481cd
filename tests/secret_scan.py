"""A session-wide secret scan: no configured secret in any log record or any Slack message.

Registered from tests/conftest.py (`pytest_plugins`). For the whole test session it keeps
every log record (a handler on the root logger, at DEBUG, so third-party debug lines count
too) and every message the fake Slack received (Web API call bodies, response_url posts,
uploaded files). The fake is reset between tests, so it is harvested at every setup and
teardown boundary, before the reset. At the end of the session the run fails if any secret
appears, or if the scan saw nothing at all while tests used the fake Slack (a scan that
looked at nothing proves nothing).

Secrets: the test settings' SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and OMS_PASSWORD, the
sandbox's integration token (DEMO_API_TOKEN), and every OMS session token the session's
sandbox issued (harvested with the messages).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.sandbox import DEMO_API_TOKEN, DEMO_PASSWORD, SandboxServer
from tests.harness.fakeslack import FakeSlack

PLUGIN_NAME = "omsbot_secret_scan"


def configured_secrets() -> set[str]:
    from tests.conftest import BOT_TOKEN, SIGNING_SECRET

    return {BOT_TOKEN, SIGNING_SECRET, DEMO_PASSWORD, DEMO_API_TOKEN}


@dataclass(frozen=True)
class Seen:
    where: str  # the test (node id) during which it was seen
    kind: str  # "log" or "slack"
    text: str


class _Capture(logging.Handler):
    def __init__(self, scan: SecretScan) -> None:
        super().__init__(level=logging.DEBUG)
        self.scan = scan

    def emit(self, record: logging.LogRecord) -> None:
        try:
            parts = [record.getMessage()]
        except Exception:  # a broken format string still has its raw parts
            parts = [str(record.msg), repr(record.args)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        if extras:
            parts.append(json.dumps(extras, default=str))
        self.scan.add_log("\n".join(parts))


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


@dataclass(eq=False)  # a pytest plugin: pluggy keeps plugins in sets, so it must hash
class SecretScan:
    secrets: set[str] = field(default_factory=configured_secrets)
    records: list[Seen] = field(default_factory=list)
    messages: list[Seen] = field(default_factory=list)
    where: str = "session"
    fake_used: bool = False
    _seen_messages: set[str] = field(default_factory=set)
    _fakes: dict[int, FakeSlack] = field(default_factory=dict)
    _sandboxes: dict[int, SandboxServer] = field(default_factory=dict)
    _handler: _Capture | None = None
    _old_level: int = logging.WARNING

    # ---- capturing ----------------------------------------------------------------------

    def start(self) -> None:
        root = logging.getLogger()
        self._handler = _Capture(self)
        root.addHandler(self._handler)
        self._old_level = root.level
        root.setLevel(logging.DEBUG)

    def stop(self) -> None:
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
        root.setLevel(self._old_level)

    def add_log(self, text: str) -> None:
        self.records.append(Seen(self.where, "log", text))

    def add_message(self, text: str) -> None:
        if text not in self._seen_messages:
            self._seen_messages.add(text)
            self.messages.append(Seen(self.where, "slack", text))

    def watch(self, item: pytest.Item) -> None:
        """Remember the session's fake Slack and sandbox once a test has set them up."""
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        fake = funcargs.get("fake_slack_server")
        if isinstance(fake, FakeSlack):
            self._fakes[id(fake)] = fake
            self.fake_used = True
        sandbox = funcargs.get("sandbox_server")
        if isinstance(sandbox, SandboxServer):
            self._sandboxes[id(sandbox)] = sandbox

    def harvest(self) -> None:
        """Copy what the fake Slack received and the tokens the sandbox issued, so far."""
        for fake in self._fakes.values():
            for call in fake.calls():
                self.add_message(json.dumps(call.body, sort_keys=True, default=str))
            for post in fake.response_posts():
                self.add_message(json.dumps(post.body, sort_keys=True, default=str))
            for upload in fake.files():
                text = upload.content.decode(errors="replace")
                self.add_message(f"{upload.title}\n{upload.initial_comment}\n{text}")
        for sandbox in self._sandboxes.values():
            # The session tokens issued by /api/login are secrets too (the OMS session).
            with sandbox.state.lock:
                self.secrets.update(sandbox.state._tokens)

    # ---- checking -----------------------------------------------------------------------

    def leaks(self) -> list[tuple[Seen, str]]:
        secrets = [s for s in self.secrets if s]
        return [
            (seen, secret)
            for seen in _chain(self.records, self.messages)
            for secret in secrets
            if secret in seen.text
        ]

    def problems(self) -> list[str]:
        found = [
            f"{seen.kind} during {seen.where} contains the secret {secret[:4]}…: "
            f"{seen.text[:300]!r}"
            for seen, secret in self.leaks()
        ]
        if self.fake_used and not self.messages:
            found.append("the secret scan saw no Slack message although tests used the fake")
        if self.fake_used and not self.records:
            found.append("the secret scan saw no log record although tests ran the bot")
        return found

    # ---- pytest hooks -------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        self.harvest()
        self.where = item.nodeid
        yield
        self.watch(item)
        self.harvest()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        yield
        self.watch(item)
        self.harvest()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        self.watch(item)
        self.harvest()  # before the fake_slack fixture resets the fake
        yield
        self.harvest()
        self.where = "between tests"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.harvest()
        self.stop()
        problems = self.problems()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"secret scan: {len(self.records)} log records and {len(self.messages)} "
                f"Slack messages checked for {len(self.secrets)} secrets: "
                + ("FAILED" if problems else "clean")
            )
            for problem in problems[:20]:
                reporter.write_line(f"  {problem}", red=True)
        if problems:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _chain(*groups: Iterable[Seen]) -> Iterable[Seen]:
    for group in groups:
        yield from group


def pytest_configure(config: pytest.Config) -> None:
    scan = SecretScan()
    scan.start()
    config.pluginmanager.register(scan, PLUGIN_NAME)
