"""Pytest fixtures for tests/conftest.py to import (`from tests.harness.fixtures import *`).

One FakeSlack server lives for the whole session (starting a server per test costs more than
resetting its state); each test gets it freshly reset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fakeslack import FakeSlack
from .socketmode import SocketModeServer

__all__ = ["fake_slack", "fake_slack_server", "socket_server"]


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    """The session's FakeSlack; use `fake_slack` in tests, which also resets and gates it."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    """A freshly seeded FakeSlack; fails the test if any message broke the Block Kit gate.

    The check runs even when the app swallowed the `invalid_blocks` error, which is the point:
    a message Slack would reject is a bug whether or not the app noticed.
    A test that sends bad blocks on purpose should clear `fake_slack.gate_violations` itself.
    """
    fake_slack_server.reset()
    yield fake_slack_server
    violations = list(fake_slack_server.gate_violations)
    fake_slack_server.reset()
    if violations:
        details = "\n".join(f"  {v.method}: {v.problems}" for v in violations)
        pytest.fail(f"Block Kit gate violations:\n{details}", pytrace=False)


@pytest.fixture
def socket_server(fake_slack: FakeSlack) -> Iterator[SocketModeServer]:
    """A Socket Mode server that fake_slack's apps.connections.open points at."""
    with SocketModeServer() as server:
        fake_slack.set_socket_url(server.new_url)
        yield server
        fake_slack.set_socket_url(None)
