"""Issue 17, point 8: Socket Mode and HTTP treat every envelope alike, through real processes.

Every envelope is acknowledged whatever its content (a foreign button's unknown
`action_id` too), and a click Slack redelivers (Socket Mode `retry_attempt`, HTTP
`X-Slack-Retry-Num`) after it was handled acts and speaks at most once: the replica that
gets the redelivery says nothing, and the OMS gets one write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import SandboxServer
from tests.conftest import SIGNING_SECRET, text_of, write_policy
from tests.harness.driver import SlackDriver, slash_command_fields
from tests.harness.fakeslack import FakeSlack, ResponsePost
from tests.harness.signing import signed_headers
from tests.harness.socketmode import SocketModeServer
from tests.replica_fixtures import Replicas, make_replicas
from tests.store_fixtures import postgres_url

__all__ = ["postgres_url"]

CONFIRM = "oms:approve.confirm#0"
CHANGE_STATUS = "/api/service/changeOrderStatus"


def _writes(sandbox: SandboxServer, order_id: str) -> int:
    return sum(
        1
        for r in sandbox.state.requests(CHANGE_STATUS, "POST")
        if isinstance(r.body, dict) and str(r.body.get("orderId")) == order_id
    )


def _said(fake: FakeSlack, url: str, user: str) -> list[str]:
    """Everything the user was told after a click: its response_url posts and ephemerals."""
    return [text_of(p.body) for p in fake.response_posts(url)] + [
        text_of({"text": e.text, "blocks": e.blocks}) for e in fake.ephemerals(user=user)
    ]


def _card(fake: FakeSlack, url: str) -> ResponsePost:
    """The confirmation card `/oms approve` answers with through the response_url."""

    def find() -> ResponsePost | None:
        posts = [p for p in fake.response_posts(url) if "approve.confirm" in str(p.body)]
        return posts[-1] if posts else None

    return fake.wait_for(find, 20)


@pytest.fixture
def operators(
    fake_slack: FakeSlack, sandbox: SandboxServer, postgres_url: str, tmp_path: Path
) -> Iterator[Replicas]:
    """Two HTTP replicas where U_ALICE approves orders herself (no second person)."""
    group = make_replicas(
        fake_slack, sandbox, postgres_url, tmp_path, policy=write_policy(tmp_path, two_person=False)
    )
    yield group
    print(group.logs())
    group.stop()


def test_socket_mode_acks_unknown_actions_and_a_redelivered_click_is_silent(
    fake_slack: FakeSlack,
    socket_server: SocketModeServer,
    sandbox: SandboxServer,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    fake = fake_slack
    group = make_replicas(
        fake,
        sandbox,
        postgres_url,
        tmp_path,
        policy=write_policy(tmp_path, two_person=False),
        socket_mode=True,
    )
    try:
        group.start()
        socket_server.wait_connected(2, timeout=20)
        first, second = socket_server.open_connections()
        # A foreign button (an action_id no listener takes) is acknowledged, and nothing said.
        foreign_url = fake.new_response_url("C_OPS", user="U_ALICE")
        foreign: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": "U_ALICE", "username": "alice", "team_id": "T0TEST"},
            "api_app_id": "A0OMS",
            "container": {"type": "message", "message_ts": "1.1", "channel_id": "C_OPS"},
            "trigger_id": "1.2.foreign",
            "team": {"id": "T0TEST", "domain": "test"},
            "channel": {"id": "C_OPS", "name": "oms-ops"},
            "response_url": foreign_url,
            "actions": [
                {"type": "button", "action_id": "other-app:do", "block_id": "b", "value": "x"}
            ],
        }
        envelope = socket_server.send_envelope("interactive", foreign, connection=first)
        assert socket_server.wait_ack(envelope, timeout=10) is not None
        # /oms approve through the socket: its confirmation card comes on the response_url.
        url = fake.new_response_url("C_OPS", user="U_ALICE")
        command = dict(slash_command_fields("approve 10014", response_url=url))
        socket_server.wait_ack(
            socket_server.send_envelope("slash_commands", command, True, connection=first), 15
        )
        card = _card(fake, url)
        driver = SlackDriver("http://unused", SIGNING_SECRET, fake)
        click = driver._ephemeral_click_request(card, CONFIRM, None, None)
        # The click goes to one replica and is handled: one write.
        delivered = socket_server.send_envelope("interactive", click.payload, connection=first)
        socket_server.wait_ack(delivered, 10)
        assert click.response_url is not None
        fake.wait_for(lambda: _writes(sandbox, "10014") == 1 or None, 20)
        fake.wait_for(lambda: fake.response_posts(click.response_url) or None, 10)
        said = len(_said(fake, click.response_url, "U_ALICE"))
        # Slack did not see the ack in time and sends it again, to the other replica.
        again = socket_server.send_envelope(
            "interactive", click.payload, retry_attempt=1, retry_reason="timeout",
            connection=second,
        )  # fmt: skip
        socket_server.wait_ack(again, 10)
        time.sleep(1.5)  # let a (wrong) "Already handled" reply or second write show itself
        assert socket_server.acks_of(envelope) == socket_server.acks_of(again) == 1
        assert _writes(sandbox, "10014") == 1
        assert len(_said(fake, click.response_url, "U_ALICE")) == said
        assert not any("Already handled" in t for t in _said(fake, click.response_url, "U_ALICE"))
        assert fake.response_posts(foreign_url) == []
    except AssertionError:
        print(group.logs())
        raise
    finally:
        group.stop()


def test_http_redelivered_click_to_the_other_replica_acts_and_speaks_once(
    operators: Replicas,
) -> None:
    fake, sandbox = operators.fake, operators.sandbox
    operators.start()
    one, other = operators.drivers
    sent = one.slash("approve 10014")
    assert sent.response_url is not None
    card = _card(fake, sent.response_url)
    click = one.click_ephemeral(card, CONFIRM)
    assert click.http.status_code == 200 and click.response_url is not None
    fake.wait_for(lambda: _writes(sandbox, "10014") == 1 or None, 20)
    fake.wait_for(lambda: fake.response_posts(click.response_url) or None, 10)
    said = len(_said(fake, click.response_url, "U_ALICE"))
    # The same signed body again, as Slack redelivers it, to the other replica.
    headers = signed_headers(SIGNING_SECRET, click.body)
    headers |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    again = other.raw(click.body, headers)
    assert again.status_code == 200
    time.sleep(1.5)  # let a (wrong) "Already handled" reply or second write show itself
    assert _writes(sandbox, "10014") == 1
    told = _said(fake, click.response_url, "U_ALICE")
    assert len(told) == said and not any("Already handled" in t for t in told)
    # The same replica getting it again says nothing either.
    assert one.raw(click.body, headers).status_code == 200
    time.sleep(1.0)
    assert len(_said(fake, click.response_url, "U_ALICE")) == said
