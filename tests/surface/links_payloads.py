"""The payloads Slack sends for a message shortcut, a `link_shared` event and a button in an
unfurl, as Slack builds them; and sending them signed to the app's HTTP endpoint."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.harness.driver import VERIFICATION_TOKEN, action_payload, find_element
from tests.harness.fakeslack import APP_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, FakeSlack
from tests.harness.signing import signed_headers

CALLBACK_ID = "oms_check_message"


def _trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**11}.{uuid.uuid4().hex}"


def _user(user: str) -> dict[str, str]:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID}


def message_action(
    fake: FakeSlack,
    text: str,
    *,
    user: str = "U_ALICE",
    channel: str = "C_OPS",
    author: str = "U_BOB",
    ts: str = "1764500000.000100",
    thread_ts: str | None = None,
    callback_id: str = CALLBACK_ID,
) -> dict[str, Any]:
    """The `message_action` payload of a message shortcut used on `author`'s message."""
    message: dict[str, Any] = {
        "type": "message",
        "user": author,
        "text": text,
        "ts": ts,
        "team": TEAM_ID,
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
    return {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": _user(user),
        "channel": {"id": channel, "name": "oms-ops"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": _trigger_id(),
        "response_url": fake.new_response_url(channel, user=user),
        "message_ts": ts,
        "message": message,
    }


def link_shared(
    urls: list[str],
    *,
    user: str = "U_BOB",
    channel: str = "C_OPS",
    ts: str = "1764500000.000200",
    bot_is_member: bool = True,
) -> dict[str, Any]:
    """The `event_callback` of a `link_shared` event for a message posted in `channel`."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": {
            "type": "link_shared",
            "channel": channel,
            "is_bot_user_member": bot_is_member,
            "user": user,
            "message_ts": ts,
            "unfurl_id": f"{channel}.{ts}.{uuid.uuid4().hex}",
            "source": "conversations_history",
            "links": [{"domain": httpx.URL(url).host, "url": url} for url in urls],
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def unfurl_click(
    fake: FakeSlack,
    blocks: list[dict[str, Any]],
    url: str,
    action_id: str,
    *,
    user: str = "U_ALICE",
    channel: str = "C_OPS",
    ts: str = "1764500000.000200",
) -> dict[str, Any]:
    """The `block_actions` payload of a button pressed in an app unfurl."""
    block_id, element = find_element(blocks, action_id)
    return {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message_attachment",
            "message_ts": ts,
            "attachment_id": 1,
            "channel_id": channel,
            "is_ephemeral": False,
            "is_app_unfurl": True,
            "app_unfurl_url": url,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "oms-ops"},
        "state": {"values": {}},
        "response_url": fake.new_response_url(channel, user=user),
        "actions": [action_payload(element, block_id or "unfurl", None)],
    }


def post_interactive(events_url: str, secret: str, payload: dict[str, Any]) -> httpx.Response:
    body = urlencode({"payload": json.dumps(payload)})
    return httpx.post(events_url, content=body, headers=signed_headers(secret, body), timeout=10)


def post_event(events_url: str, secret: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload)
    headers = signed_headers(secret, body, content_type="application/json")
    return httpx.post(events_url, content=body, headers=headers, timeout=10)
