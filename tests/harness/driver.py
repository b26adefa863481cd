"""SlackDriver: plays Slack's side of HTTP mode, sending signed requests to the app's /slack/events.

Bodies are built as Slack builds them (form fields for slash commands, `payload=<JSON>` for
interactivity) and every response_url in them is minted by the FakeSlack, so whatever the app
`respond()`s is recorded and gated there.

Each action has a sync form (httpx.Client; use when the app runs on another thread or process)
and an `a`-prefixed async form (httpx.AsyncClient; use when the app shares the test's loop).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from .fakeslack import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    Ephemeral,
    FakeSlack,
    Message,
    ResponsePost,
)
from .signing import signed_headers

DEFAULT_TEAM_ID = TEAM_ID
DEFAULT_APP_ID = APP_ID
# The deprecated verification token Slack still sends; Bolt ignores it in favour of signatures.
VERIFICATION_TOKEN = "fake-verification-token"


@dataclass(frozen=True)
class Sent:
    """What the driver sent and what the app answered."""

    http: httpx.Response
    body: str  # the exact signed body
    payload: dict[str, Any]  # form fields (slash) or the decoded JSON payload (interactivity)
    response_url: str | None


@dataclass(frozen=True)
class _Request:
    body: str
    payload: dict[str, Any]
    response_url: str | None


def slash_command_fields(
    text: str,
    *,
    response_url: str,
    user: str = "U_ALICE",
    user_name: str = "alice",
    channel: str = "C_OPS",
    channel_name: str = "oms-ops",
    command: str = "/oms",
    team_id: str = DEFAULT_TEAM_ID,
    app_id: str = DEFAULT_APP_ID,
) -> dict[str, str]:
    """The slash-command fields, in Slack's order (the order matters for the signed body)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": _trigger_id(),
    }


def find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]]:
    """Find the interactive element with `action_id`; return (its block_id, the element)."""
    for block in blocks:
        for element in _elements(block):
            if element.get("action_id") == action_id:
                return str(block.get("block_id", "")), element
    available = [e.get("action_id") for b in blocks for e in _elements(b)]
    raise AssertionError(f"no element with action_id {action_id!r}; message has {available}")


def _elements(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    # Interactive elements live in actions.elements, section.accessory and input.element.
    yield from block.get("elements") or []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            yield block[key]


def action_payload(element: dict[str, Any], block_id: str, value: str | None) -> dict[str, Any]:
    """The `actions[0]` entry Slack sends for a clicked/selected element."""
    action: dict[str, Any] = {
        "type": element.get("type"),
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if element.get("type") == "button":
        action["text"] = element.get("text")
        chosen = value if value is not None else element.get("value")
        if chosen is not None:
            action["value"] = chosen
        if "style" in element:
            action["style"] = element["style"]
    else:  # selects and overflow menus report the chosen option instead of a value
        options = [o for g in element.get("option_groups") or [] for o in g.get("options", [])]
        options += element.get("options") or []
        picked = next((o for o in options if o.get("value") == value), None)
        if value is not None and picked is None:
            raise AssertionError(f"{element.get('action_id')!r} has no option {value!r}")
        if picked is not None:
            action["selected_option"] = picked
    return action


class SlackDriver:
    """Sends signed slash commands, clicks and view submissions to the app."""

    def __init__(
        self,
        events_url: str,
        signing_secret: str,
        fake: FakeSlack,
        team_id: str = DEFAULT_TEAM_ID,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.fake = fake
        self.team_id = team_id
        self.timeout = timeout

    # ---- slash commands ------------------------------------------------------------------------

    def slash(
        self,
        text: str,
        *,
        user: str = "U_ALICE",
        channel: str = "C_OPS",
        command: str = "/oms",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Sent:
        request = self._slash_request(text, user, channel, command)
        return self._post(request, timestamp, signature)

    async def aslash(
        self,
        text: str,
        *,
        user: str = "U_ALICE",
        channel: str = "C_OPS",
        command: str = "/oms",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Sent:
        request = self._slash_request(text, user, channel, command)
        return await self._apost(request, timestamp, signature)

    def _slash_request(self, text: str, user: str, channel: str, command: str) -> _Request:
        response_url = self.fake.new_response_url(channel, user=user)
        fields = slash_command_fields(
            text,
            response_url=response_url,
            user=user,
            user_name=self._user_name(user),
            channel=channel,
            channel_name=self._channel_name(channel),
            command=command,
            team_id=self.team_id,
        )
        return _Request(urlencode(fields), dict(fields), response_url)

    # ---- block_actions -------------------------------------------------------------------------

    def click(
        self, message: Message, action_id: str, *, user: str = "U_ALICE", value: str | None = None
    ) -> Sent:
        """Click a button (or pick `value` in a select) in a message stored by the fake."""
        return self._post(self._click_request(message, action_id, user, value))

    async def aclick(
        self, message: Message, action_id: str, *, user: str = "U_ALICE", value: str | None = None
    ) -> Sent:
        return await self._apost(self._click_request(message, action_id, user, value))

    def click_ephemeral(
        self,
        reply: ResponsePost | Ephemeral,
        action_id: str,
        *,
        user: str | None = None,
        value: str | None = None,
    ) -> Sent:
        """Click a button in an ephemeral reply (a response_url post or chat.postEphemeral)."""
        return self._post(self._ephemeral_click_request(reply, action_id, user, value))

    async def aclick_ephemeral(
        self,
        reply: ResponsePost | Ephemeral,
        action_id: str,
        *,
        user: str | None = None,
        value: str | None = None,
    ) -> Sent:
        return await self._apost(self._ephemeral_click_request(reply, action_id, user, value))

    def _click_request(
        self, message: Message, action_id: str, user: str, value: str | None
    ) -> _Request:
        block_id, element = find_element(message.blocks, action_id)
        response_url = self.fake.new_response_url(message.channel, user=user, message_ts=message.ts)
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        payload = self._block_actions(user, message.channel, container, response_url)
        payload["message"] = message.as_payload()
        payload["actions"] = [action_payload(element, block_id, value)]
        return _interactive(payload, response_url)

    def _ephemeral_click_request(
        self,
        reply: ResponsePost | Ephemeral,
        action_id: str,
        user: str | None,
        value: str | None,
    ) -> _Request:
        channel = reply.channel or "C_OPS"
        clicker = user or reply.user or "U_ALICE"
        block_id, element = find_element(reply.blocks, action_id)
        response_url = self.fake.new_response_url(
            channel, user=clicker, message_ts=reply.ts, ephemeral=True
        )
        container = {
            "type": "message",
            "message_ts": reply.ts,
            "channel_id": channel,
            "is_ephemeral": True,
        }
        # Slack sends no `message` for ephemeral sources: the app only has the container.
        payload = self._block_actions(clicker, channel, container, response_url)
        payload["actions"] = [action_payload(element, block_id, value)]
        return _interactive(payload, response_url)

    def _block_actions(
        self, user: str, channel: str, container: dict[str, Any], response_url: str
    ) -> dict[str, Any]:
        return {
            "type": "block_actions",
            "user": self._user_object(user),
            "api_app_id": DEFAULT_APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": _trigger_id(),
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "state": {"values": {}},
            "response_url": response_url,
        }

    # ---- view_submission -----------------------------------------------------------------------

    def submit_view(
        self,
        callback_id: str,
        values: Mapping[str, Mapping[str, str | dict[str, Any]]],
        private_metadata: str = "",
        user: str = "U_ALICE",
        *,
        view: dict[str, Any] | None = None,
    ) -> Sent:
        """Submit a modal. `values` is {block_id: {action_id: text or full state value}}.

        `view` (e.g. `fake.views()[-1].view`) supplies id, title and blocks when given.
        """
        return self._post(self._view_request(callback_id, values, private_metadata, user, view))

    async def asubmit_view(
        self,
        callback_id: str,
        values: Mapping[str, Mapping[str, str | dict[str, Any]]],
        private_metadata: str = "",
        user: str = "U_ALICE",
        *,
        view: dict[str, Any] | None = None,
    ) -> Sent:
        request = self._view_request(callback_id, values, private_metadata, user, view)
        return await self._apost(request)

    def _view_request(
        self,
        callback_id: str,
        values: Mapping[str, Mapping[str, str | dict[str, Any]]],
        private_metadata: str,
        user: str,
        view: dict[str, Any] | None,
    ) -> _Request:
        base = view or {}
        view_id = str(base.get("id") or f"V{uuid.uuid4().hex[:10].upper()}")
        state = {
            block_id: {
                action_id: (
                    {"type": "plain_text_input", "value": entry}
                    if isinstance(entry, str)
                    else dict(entry)
                )
                for action_id, entry in actions.items()
            }
            for block_id, actions in values.items()
        }
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": TEAM_DOMAIN},
            "user": self._user_object(user),
            "api_app_id": DEFAULT_APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": _trigger_id(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": {
                "id": view_id,
                "team_id": self.team_id,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "external_id": "",
                "hash": uuid.uuid4().hex[:16],
                "title": base.get("title") or {"type": "plain_text", "text": "OMS"},
                "submit": base.get("submit") or {"type": "plain_text", "text": "Submit"},
                "close": base.get("close") or {"type": "plain_text", "text": "Cancel"},
                "blocks": base.get("blocks") or [],
                "state": {"values": state},
                "previous_view_id": None,
                "root_view_id": view_id,
                "app_id": DEFAULT_APP_ID,
                "app_installed_team_id": self.team_id,
                "bot_id": BOT_ID,
                "clear_on_close": False,
                "notify_on_close": False,
            },
            "response_urls": [],
        }
        return _interactive(payload, None)

    # ---- events and views (the App Home tab) ---------------------------------------------------

    def event(self, event: Mapping[str, Any]) -> Sent:
        """Send an Events API `event_callback` wrapping `event`, signed, as JSON."""
        request = event_request(dict(event), self.team_id)
        headers = signed_headers(self.signing_secret, request.body, content_type="application/json")
        response = httpx.post(
            self.events_url, content=request.body, headers=headers, timeout=self.timeout
        )
        return Sent(response, request.body, request.payload, None)

    def home_opened(self, user: str = "U_ALICE", tab: str = "home") -> Sent:
        """`app_home_opened`: `user` opened the app's Home tab (their DM with the bot)."""
        return self.event(home_opened_event(user, self.fake.dm_channel(user), tab))

    def click_view(self, view: dict[str, Any], action_id: str, *, user: str = "U_ALICE") -> Sent:
        """Press a button of a published or opened view (container `view`: no channel, no
        message, no response_url, as Slack sends it)."""
        return self._post(self._view_click_request(view, action_id, user))

    def _view_click_request(self, view: dict[str, Any], action_id: str, user: str) -> _Request:
        payload = view_click_payload(view, action_id, self._user_object(user), self.team_id)
        return _interactive(payload, None)

    # ---- raw -----------------------------------------------------------------------------------

    def raw(self, body: str | bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST exactly these bytes and headers (for bad-signature and malformed-body tests)."""
        return httpx.post(
            self.events_url, content=body, headers=dict(headers), timeout=self.timeout
        )

    async def araw(self, body: str | bytes, headers: Mapping[str, str]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            return await client.post(self.events_url, content=body, headers=dict(headers))

    # ---- plumbing ------------------------------------------------------------------------------

    def _headers(self, body: str, timestamp: int | None, signature: str | None) -> dict[str, str]:
        headers = signed_headers(self.signing_secret, body, timestamp)
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        return headers

    def _post(
        self, request: _Request, timestamp: int | None = None, signature: str | None = None
    ) -> Sent:
        headers = self._headers(request.body, timestamp, signature)
        response = httpx.post(
            self.events_url, content=request.body, headers=headers, timeout=self.timeout
        )
        return Sent(response, request.body, request.payload, request.response_url)

    async def _apost(
        self, request: _Request, timestamp: int | None = None, signature: str | None = None
    ) -> Sent:
        headers = self._headers(request.body, timestamp, signature)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(self.events_url, content=request.body, headers=headers)
        return Sent(response, request.body, request.payload, request.response_url)

    def _user_name(self, user: str) -> str:
        try:
            return self.fake.user(user).name
        except KeyError:
            return user.lower()

    def _user_object(self, user: str) -> dict[str, str]:
        name = self._user_name(user)
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _channel_name(self, channel: str) -> str:
        try:
            found = self.fake.channel(channel)
        except KeyError:
            return channel.lower()
        if found.is_im:
            return "directmessage"
        return "privategroup" if found.is_private else found.name


def _interactive(payload: dict[str, Any], response_url: str | None) -> _Request:
    return _Request(urlencode({"payload": json.dumps(payload)}), payload, response_url)


def _trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**11}.{uuid.uuid4().hex}"


def home_opened_event(user: str, dm_channel: str, tab: str = "home") -> dict[str, Any]:
    """An `app_home_opened` event as Slack sends it (the Home's DM channel in `channel`)."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": dm_channel,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def event_request(event: dict[str, Any], team_id: str) -> _Request:
    """An Events API `event_callback` body (JSON) around `event`."""
    payload = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": DEFAULT_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }
    return _Request(json.dumps(payload), payload, None)


def view_click_payload(
    view: dict[str, Any], action_id: str, user: dict[str, str], team_id: str = DEFAULT_TEAM_ID
) -> dict[str, Any]:
    """A `block_actions` payload for a button of a view (a modal or the Home tab): its
    container is the view; there is no channel, message or response_url."""
    block_id, element = find_element(view.get("blocks") or [], action_id)
    return {
        "type": "block_actions",
        "user": user,
        "api_app_id": DEFAULT_APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": str(view.get("id") or "")},
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
        "state": {"values": {}},
        "actions": [action_payload(element, block_id, None)],
    }
