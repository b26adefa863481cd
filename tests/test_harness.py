"""Tests for the harness itself: the fake must behave like Slack wherever the app relies on it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.builtin import SocketModeClient as BuiltinSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.harness import (
    FakeSlack,
    ManualClock,
    SlackDriver,
    SocketModeServer,
    check_message,
    check_view,
    sign,
    slash_command_fields,
)
from tests.harness.fixtures import fake_slack, fake_slack_server, socket_server

__all__ = ["fake_slack", "fake_slack_server", "socket_server"]  # fixtures used below

SIGNING_SECRET = "test-signing-secret"
# The SDK warns client-side about blocks without text; tests that omit it do so on purpose.
no_text_warning = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


# ---- signing ---------------------------------------------------------------------------------

# Slack's published example (docs "Verifying requests from Slack"); test data, not code.
SLACK_DOCS_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_DOCS_TIMESTAMP = 1531420618
SLACK_DOCS_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_DOCS_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_sign_matches_slack_test_vector() -> None:
    assert sign(SLACK_DOCS_SECRET, SLACK_DOCS_TIMESTAMP, SLACK_DOCS_BODY) == SLACK_DOCS_SIGNATURE


# ---- Block Kit gate --------------------------------------------------------------------------


def button(action_id: str, label: str = "Go", **extra: Any) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "text": text, "action_id": action_id} | extra


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}} | extra


def approval_message() -> dict[str, Any]:
    """A message shaped like the bot's approval request."""
    confirm = {
        "title": {"type": "plain_text", "text": "Cancel order?"},
        "text": {"type": "mrkdwn", "text": "This cancels *ORD-42* in HotWax."},
        "confirm": {"type": "plain_text", "text": "Cancel it"},
        "deny": {"type": "plain_text", "text": "Keep it"},
    }
    return {
        "text": "Approval needed: cancel order ORD-42",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
            section(
                "*<@U_ALICE>* wants to cancel *ORD-42*",
                block_id="req-42",
                fields=[
                    {"type": "mrkdwn", "text": "*Store*\nNYC-01"},
                    {"type": "mrkdwn", "text": "*Total*\n$120.00"},
                ],
            ),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Expires in 30 min"}]},
            {"type": "divider"},
            {
                "type": "actions",
                "block_id": "req-42-actions",
                "elements": [
                    button("approve", "Approve", value="req-42", style="primary", confirm=confirm),
                    button("deny", "Deny", value="req-42", style="danger"),
                ],
            },
        ],
    }


def test_gate_passes_realistic_approval_message() -> None:
    assert check_message(approval_message()) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            {"text": "t", "blocks": [{"type": "divider"}] * 51},
            "must contain at most 50 blocks [json-pointer:/blocks]",
            id="too-many-blocks",
        ),
        pytest.param(
            {
                "text": "t",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {"type": "button", "text": {"type": "mrkdwn", "text": "*Go*"}}
                        ],
                    }
                ],
            },
            "button text must be a plain_text object [json-pointer:/blocks/0/elements/0/text]",
            id="mrkdwn-button",
        ),
        pytest.param(
            {"text": "t", "blocks": [section("a", block_id="x"), section("b", block_id="x")]},
            "block_id 'x' repeats block 0 [json-pointer:/blocks/1/block_id]",
            id="duplicate-block-id",
        ),
        pytest.param(
            {"text": "t", "blocks": [{"type": "actions", "elements": [button("a"), button("a")]}]},
            "action_id 'a' repeats in block [json-pointer:/blocks/0/elements/1/action_id]",
            id="duplicate-action-id-in-block",
        ),
        pytest.param(
            {
                "text": "t",
                "blocks": [
                    {"type": "actions", "elements": [button("a")]},
                    {"type": "actions", "elements": [button("a")]},
                ],
            },
            "action_id 'a' repeats /blocks/0/elements/0"
            " [json-pointer:/blocks/1/elements/0/action_id]",
            id="duplicate-action-id-in-message",
        ),
        pytest.param(
            {
                "text": "t",
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {"type": "button", "text": {"type": "plain_text", "text": "Go"}}
                            | {"acton_id": "a"}
                        ],
                    }
                ],
            },
            "unknown or misplaced key 'acton_id' [json-pointer:/blocks/0/elements/0/acton_id]",
            id="typo-key",
        ),
        pytest.param(
            {"text": "t", "blocks": [section("x" * 3001)]},
            "must be at most 3000 characters [json-pointer:/blocks/0/text/text]",
            id="long-section",
        ),
        pytest.param(
            {"blocks": [section("hello")]},
            "fallback text is required when blocks are given [json-pointer:/text]",
            id="missing-text",
        ),
        pytest.param(
            {"text": "t", "blocks": [{"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}]},
            "unknown block type 'sectoin' [json-pointer:/blocks/0/type]",
            id="unknown-block-type",
        ),
        pytest.param(
            {"text": "x" * 40001},
            "must be at most 40000 characters [json-pointer:/text]",
            id="long-text",
        ),
        pytest.param(
            {"text": "t", "blocks": [{"type": "section", "text": {"text": "no type"}}]},
            "missing required key 'type' [json-pointer:/blocks/0]",
            id="missing-nested-type",
        ),
        pytest.param(
            {"text": "t", "blocks": [section("at &lt;!date^1796028912^{time}|08:55 UTC&gt;")]},
            "escaped <!date> token shows as raw text [json-pointer:/blocks/0/text/text]",
            id="escaped-date",
        ),
    ],
)
def test_gate_catches(message: dict[str, Any], expected: str) -> None:
    assert expected in check_message(message)


def test_gate_allows_100_blocks_in_modals() -> None:
    blocks = [section(f"line {i}") for i in range(60)]
    assert check_message({"text": "t", "blocks": blocks}, surface="modal") == []
    view = {
        "type": "modal",
        "callback_id": "deny-reason",
        "title": {"type": "plain_text", "text": "Deny request"},
        "blocks": blocks,
    }
    assert check_view(view) == []
    too_long = view | {"title": {"type": "plain_text", "text": "A title longer than 24 chars"}}
    assert any("title must be between 1 and 24" in p for p in check_view(too_long))


# ---- FakeSlack Web API with the real SDK client ----------------------------------------------


@pytest.fixture
async def client(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    web = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    yield web
    if web.session is not None:
        await web.session.close()


async def test_post_update_and_ephemeral(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="#oms-ops", text="first")
    assert posted["channel"] == "C_OPS"
    second = await client.chat_postMessage(channel="C_OPS", **approval_message())
    assert float(second["ts"]) > float(posted["ts"])

    await client.chat_update(channel="C_OPS", ts=second["ts"], text="Approved", blocks=[])
    current = fake_slack.message("C_OPS", second["ts"])
    assert (current.text, current.blocks) == ("Approved", [])
    assert current.history[0].text == "Approval needed: cancel order ORD-42"
    assert [m.text for m in fake_slack.messages("C_OPS")] == ["first", "Approved"]

    eph = await client.chat_postEphemeral(channel="C_OPS", user="U_BOB", text="only you")
    assert fake_slack.ephemerals(user="U_BOB")[0].ts == eph["message_ts"]
    call = fake_slack.calls("chat.postMessage")[0]
    assert call.headers["authorization"] == "Bearer xoxb-test"
    assert call.body == {"channel": "#oms-ops", "text": "first"}


@no_text_warning
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C_NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "C_RANDOM", "text": "x"}, "not_in_channel"),
        ({"channel": "C_OLD", "text": "x"}, "is_archived"),
        ({"channel": "G_SECRET", "text": "x"}, "channel_not_found"),
        ({"channel": "C_OPS"}, "no_text"),
    ],
)
async def test_post_message_errors(
    client: AsyncWebClient, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(**kwargs)
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == error


async def test_update_missing_message(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C_OPS", ts="1.000001", text="x")


@no_text_warning
async def test_gate_rejects_and_records(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C_OPS", blocks=[section("x" * 3001)])
    body = caught.value.response.data
    assert isinstance(body, dict)
    assert body["error"] == "invalid_blocks"
    assert any("/blocks/0/text/text" in e for e in body["errors"])
    assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")
    [violation] = fake_slack.gate_violations
    assert violation.method == "chat.postMessage"
    assert fake_slack.messages() == []
    fake_slack.gate_violations.clear()  # deliberate violation; keep the fixture's check green


async def test_lookups(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    auth = await client.auth_test()
    assert (auth["team_id"], auth["user_id"]) == ("T0OMS", "U0OMSBOT")
    assert "chat:write" in auth.headers["x-oauth-scopes"]

    carol = await client.users_info(user="U_CAROL")
    assert carol["user"]["tz"] == "Asia/Kolkata"
    assert (await client.users_info(user="U_ALICE"))["user"]["tz"] == "America/New_York"
    group = await client.usergroups_users_list(usergroup="S_OPERATORS")
    assert group["users"] == ["U_ALICE", "U_BOB"]
    info = await client.conversations_info(channel="C_APPROVALS")
    assert info["channel"]["name"] == "oms-approvals"
    assert info["channel"]["is_member"] is True
    assert [c.method for c in fake_slack.calls()][-1] == "conversations.info"
    assert fake_slack.calls("users.info")[0].body == {"user": "U_CAROL"}  # sent as a GET query

    for call, error in [
        (client.users_info(user="U_NOPE"), "user_not_found"),
        (client.usergroups_users_list(usergroup="S_NOPE"), "no_such_subteam"),
        (client.conversations_info(channel="C_NOPE"), "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError, match=error):
            await call


async def test_bad_tokens(fake_slack: FakeSlack) -> None:
    for token, error in [("bogus", "invalid_auth"), ("xapp-1-x", "not_allowed_token_type")]:
        web = AsyncWebClient(token=token, base_url=fake_slack.api_url)
        with pytest.raises(SlackApiError, match=error):
            await web.auth_test()
    web = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await web.apps_connections_open(app_token="xoxb-test")


async def test_file_upload_v2(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C_OPS", text="summary")
    result = await client.files_upload_v2(
        channel="C_OPS",
        thread_ts=parent["ts"],
        filename="failures.csv",
        title="Failures",
        content="order,error\nORD-1,boom\n",
    )
    [uploaded] = fake_slack.files()
    assert result["file"]["id"] == uploaded.id
    assert uploaded.content == b"order,error\nORD-1,boom\n"
    assert (uploaded.channel, uploaded.thread_ts, uploaded.title) == (
        "C_OPS",
        parent["ts"],
        "Failures",
    )


async def test_rate_limit_surfaces_then_retries(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    fake_slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C_OPS", text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.response["error"] == "ratelimited"

    fake_slack.rate_limit_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    posted = await client.chat_postMessage(channel="C_OPS", text="retried")
    assert posted["ok"]
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 429, 200]


async def test_injected_errors(fake_slack: FakeSlack, client: AsyncWebClient) -> None:
    fake_slack.fail_next("users.info", "user_not_visible", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError, match="user_not_visible"):
            await client.users_info(user="U_ALICE")
    assert (await client.users_info(user="U_ALICE"))["ok"]

    fake_slack.server_error_next("chat.postMessage")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C_OPS", text="x")
    assert caught.value.response.status_code == 500
    assert fake_slack.messages() == []


# ---- response_url ----------------------------------------------------------------------------


async def test_response_url_five_uses(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url("C_OPS", user="U_ALICE")
    hook = AsyncWebhookClient(url)
    for n in range(5):
        sent = await hook.send(text=f"reply {n}", response_type="ephemeral")
        assert (sent.status_code, sent.body) == (200, "ok")
    sixth = await hook.send(text="one too many")
    assert sixth.status_code == 404
    assert sixth.body == "used_url"
    posts = fake_slack.response_posts(url)
    assert [p.text for p in posts] == [f"reply {n}" for n in range(5)]
    assert posts[0].response_type == "ephemeral"
    assert len(fake_slack.response_posts(url, include_rejected=True)) == 6


async def test_response_url_expiry_and_effects(fake_slack: FakeSlack) -> None:
    clock = ManualClock()
    fake_slack.clock = clock
    url = fake_slack.new_response_url("C_OPS")
    sent = await AsyncWebhookClient(url).send(text="visible", response_type="in_channel")
    assert sent.status_code == 200
    assert [m.via for m in fake_slack.messages("C_OPS")] == ["response_url"]

    clock.advance(30 * 60 + 1)
    late = await AsyncWebhookClient(url).send(text="too late")
    assert (late.status_code, late.body) == (404, "expired_url")


async def test_response_url_replaces_clicked_message(
    fake_slack: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C_OPS", **approval_message())
    url = fake_slack.new_response_url("C_OPS", message_ts=posted["ts"])
    hook = AsyncWebhookClient(url)
    sent = await hook.send(text="Approved by <@U_CAROL>", replace_original=True)
    assert sent.status_code == 200
    assert fake_slack.message("C_OPS", posted["ts"]).text == "Approved by <@U_CAROL>"
    bad = await hook.send(blocks=[section("no fallback")], replace_original=True)
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    assert fake_slack.gate_violations[0].method == "response_url"
    fake_slack.gate_violations.clear()
    await hook.send(delete_original=True)
    assert fake_slack.messages("C_OPS") == []


# ---- driver against a real Bolt app (HTTP mode under uvicorn) -----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bolt_url(fake_slack: FakeSlack) -> Iterator[str]:
    """A tiny Bolt app on uvicorn in its own thread, to prove the driver's payloads parse."""
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url),
        signing_secret=SIGNING_SECRET,
    )

    @app.command("/oms")
    async def oms(ack: Any, respond: Any, command: dict[str, Any], client: Any) -> None:
        await ack(text=f"working on {command['text']}", response_type="ephemeral")
        await client.chat_postMessage(channel=command["channel_id"], **approval_message())

    @app.action("approve")
    async def approve(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"Approved {body['actions'][0]['value']}", replace_original=True)

    @app.view("deny-reason")
    async def deny(ack: Any, view: dict[str, Any]) -> None:
        await ack(response_action="errors", errors={"reason": "too short"})

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/slack/events", events, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    fake_slack.wait_for(lambda: server.started)
    yield f"http://127.0.0.1:{port}/slack/events"
    server.should_exit = True
    thread.join(timeout=5)


def test_driver_slash_click_and_submit(fake_slack: FakeSlack, bolt_url: str) -> None:
    driver = SlackDriver(bolt_url, SIGNING_SECRET, fake_slack)
    sent = driver.slash("cancel ORD-42")
    assert sent.http.status_code == 200
    assert sent.http.json() == {"text": "working on cancel ORD-42", "response_type": "ephemeral"}
    assert sent.response_url is not None and sent.response_url.startswith(fake_slack.base_url)
    assert (sent.payload["user_name"], sent.payload["channel_name"]) == ("alice", "oms-ops")

    message = fake_slack.wait_for(lambda: fake_slack.messages("C_OPS"))[-1]
    clicked = driver.click(message, "approve", user="U_CAROL")
    assert clicked.http.status_code == 200
    assert clicked.payload["actions"][0]["value"] == "req-42"
    fake_slack.wait_for(lambda: fake_slack.message("C_OPS", message.ts).text == "Approved req-42")

    submitted = driver.submit_view("deny-reason", {"reason": {"text": "no"}}, "req-42")
    assert submitted.http.json() == {"response_action": "errors", "errors": {"reason": "too short"}}

    # An ephemeral reply with a button: the click carries is_ephemeral and no `message`.
    reply_url = fake_slack.new_response_url("C_OPS", user="U_ALICE")
    ephemeral = approval_message() | {"response_type": "ephemeral"}
    assert httpx.post(reply_url, json=ephemeral).text == "ok"
    [reply] = fake_slack.response_posts(reply_url)
    eph_click = driver.click_ephemeral(reply, "approve")
    assert eph_click.payload["container"]["is_ephemeral"] is True
    assert "message" not in eph_click.payload
    answer = fake_slack.wait_for(lambda: fake_slack.response_posts(eph_click.response_url))
    assert (answer[0].text, answer[0].replace_original) == ("Approved req-42", True)

    forged = driver.slash("x", signature="v0=" + "0" * 64)
    assert forged.http.status_code == 401
    stale = driver.raw("a=b", {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=1"})
    assert stale.status_code == 401


async def test_driver_async_variants(fake_slack: FakeSlack, bolt_url: str) -> None:
    driver = SlackDriver(bolt_url, SIGNING_SECRET, fake_slack)
    sent = await driver.aslash("status", user="U_BOB", channel="C_APPROVALS")
    assert sent.http.status_code == 200
    assert sent.payload["channel_name"] == "oms-approvals"
    stale = await driver.aslash("status", timestamp=1)
    assert stale.http.status_code == 401


# ---- Socket Mode -----------------------------------------------------------------------------


async def test_socket_mode_round_trip(
    fake_slack: FakeSlack, socket_server: SocketModeServer
) -> None:
    web = AsyncWebClient(token="xoxb-test", base_url=fake_slack.api_url)
    # Typed as Any: the SDK leaves connect()/close() unannotated, which --strict rejects.
    client: Any = SocketModeClient(app_token="xapp-1-test", web_client=web)

    async def on_request(sm: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        payload = {"text": f"ack {req.payload['text']}"} if req.type == "slash_commands" else None
        await sm.send_socket_mode_response(SocketModeResponse(req.envelope_id, payload))

    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        await socket_server.await_connected()
        opened = fake_slack.calls("apps.connections.open")[0]
        assert opened.headers["authorization"] == "Bearer xapp-1-test"

        slash = dict(slash_command_fields("status", response_url=fake_slack.new_response_url()))
        first = socket_server.send_envelope("slash_commands", slash, accepts_response_payload=True)
        second = socket_server.send_envelope("events_api", {"type": "event_callback"})
        assert (await socket_server.await_ack(second)) == {"envelope_id": second}
        assert (await socket_server.await_ack(first))["payload"] == {"text": "ack status"}

        socket_server.disconnect("refresh_requested")
        await asyncio.to_thread(fake_slack.wait_for, lambda: socket_server.total_connections >= 2)
        # Each reconnect fetches a fresh URL (tickets are single-use). The client may reconnect
        # twice, once for the frame and once for the close, so only a lower bound holds.
        assert len(fake_slack.calls("apps.connections.open")) >= 2
    finally:
        await client.close()
        if web.session is not None:
            await web.session.close()


def test_socket_mode_builtin_client(fake_slack: FakeSlack, socket_server: SocketModeServer) -> None:
    """The stdlib client Bolt's SocketModeHandler uses also speaks to the fake."""
    web = WebClient(token="xoxb-test", base_url=fake_slack.api_url)
    client: Any = BuiltinSocketModeClient(app_token="xapp-1-test", web_client=web)

    def on_request(sm: Any, req: SocketModeRequest) -> None:
        sm.send_socket_mode_response(SocketModeResponse(req.envelope_id))

    client.socket_mode_request_listeners.append(on_request)
    try:
        client.connect()
        socket_server.wait_connected()
        envelope = socket_server.send_envelope("interactive", {"type": "block_actions"})
        assert socket_server.wait_ack(envelope) == {"envelope_id": envelope}
        # The builtin client's close() waits out a 3 s blocking recv unless the server hangs
        # up first; link_disabled is the server-side way to end the session.
        socket_server.disconnect("link_disabled")
    finally:
        client.close()


def test_socket_tickets_are_single_use(socket_server: SocketModeServer) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = socket_server.new_url()
    with connect(url) as ws:
        assert json.loads(ws.recv())["type"] == "hello"
    with pytest.raises(InvalidStatus):
        connect(url)
