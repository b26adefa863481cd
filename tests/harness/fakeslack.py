"""FakeSlack: a stateful stand-in for https://slack.com/api/ on a loopback port.

The app under test talks real HTTP to it (`base_url=fake.api_url`), so the SDK's serialisation,
retry handlers and error handling are exercised for real. It also serves `response_url`s and the
file-upload URLs it hands out, and can hand out Socket Mode URLs (see socketmode.py).

Every message it receives goes through the Block Kit gate (blockkit.py). A violation is answered
as Slack would (`invalid_blocks`) and also kept in `gate_violations`, so a fixture can fail the
test even when the app swallowed the error. Messages answered otherwise (an injected fault, a
stalled call, a channel error or an expired response_url found first) are gated all the same:
a message Slack would reject is a bug whether or not it was delivered.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from .blockkit import check_blocks, check_message, check_view

T = TypeVar("T")

TEAM_ID = "T0OMS"
TEAM_DOMAIN = "oms"
TEAM_NAME = "OMS"
APP_ID = "A0OMS"
BOT_USER_ID = "U0OMSBOT"
BOT_ID = "B0OMSBOT"
BOT_SCOPES = (
    "chat:write,commands,users:read,usergroups:read,channels:read,groups:read,files:write,im:write,"
    "channels:history,groups:history"
)

RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60

_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_MESSAGE_KEYS = ("text", "blocks", "attachments")
# The methods whose content the gate checks: a message, or a view (in `view`).
_MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
_VIEW_METHODS = frozenset({"views.open", "views.push", "views.update", "views.publish"})


@dataclass(frozen=True)
class RateTier:
    """One method's limit: `calls` a `window` of seconds, in bursts of up to `burst` calls,
    counted for the whole workspace or `per_channel`."""

    calls: float
    window: float
    burst: float
    per_channel: bool = False


# Slack's tiers (docs.slack.dev/apis/web-api/rate-limits, ../shared/reference/slack-testing.md
# §4.1): Tier 2 20+/min, Tier 3 50+/min, Tier 4 100+/min, per method and workspace, with
# bursts; chat.postMessage is "special": about one a second per channel, short bursts allowed.
_TIER_2 = RateTier(20, 60, 20)
_TIER_3 = RateTier(50, 60, 50)
_TIER_4 = RateTier(100, 60, 100)
SLACK_RATE_TIERS: dict[str, RateTier] = {
    "chat.postMessage": RateTier(1, 1, 5, per_channel=True),
    "chat.update": _TIER_3,
    "chat.delete": _TIER_3,
    "chat.postEphemeral": _TIER_4,
    "chat.getPermalink": _TIER_4,
    "users.info": _TIER_4,
    "usergroups.users.list": _TIER_2,
    "conversations.info": _TIER_3,
    "conversations.history": _TIER_3,
    "conversations.replies": _TIER_3,
    "files.getUploadURLExternal": _TIER_4,
    "files.completeUploadExternal": _TIER_4,
    "views.open": _TIER_4,
    "views.push": _TIER_4,
    "views.update": _TIER_4,
    "views.publish": _TIER_4,
}


class _RateLimiter:
    """Token buckets per method (and channel), with every window times `scale` so a test can
    run Slack's limits compressed in time. Not thread-safe: the fake calls it under its lock."""

    def __init__(self, tiers: dict[str, RateTier], scale: float) -> None:
        self.tiers = tiers
        self.scale = scale
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, at

    def retry_after(self, method: str, params: dict[str, Any]) -> float | None:
        """None when the call may go (its token is taken), else the seconds until it may."""
        tier = self.tiers.get(method)
        if tier is None:
            return None
        key = (method, str(params.get("channel", "")) if tier.per_channel else "")
        now = time.monotonic()
        rate = tier.calls / (tier.window * self.scale)  # tokens a second
        tokens, at = self._buckets.get(key, (tier.burst, now))
        tokens = min(tier.burst, tokens + (now - at) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / rate


# ---- records handed to tests -------------------------------------------------------------------


@dataclass
class User:
    id: str
    name: str
    real_name: str
    tz: str = "America/New_York"
    is_bot: bool = False
    deleted: bool = False
    email: str | None = None


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_archived: bool = False
    is_private: bool = False
    is_im: bool = False
    members: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Call:
    """One Web API request as received, with what the fake answered."""

    method: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]  # query string, form and JSON fields merged
    status: int
    response: dict[str, Any] | None
    at: float = field(default_factory=time.monotonic)  # when it was answered


@dataclass(frozen=True)
class Revision:
    """A past version of a message, kept when chat.update or replace_original changes it."""

    text: str
    blocks: list[dict[str, Any]]
    via: str


@dataclass
class Message:
    """A channel message in its current state; `history` holds the versions it replaced."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str = BOT_USER_ID
    bot_id: str | None = BOT_ID
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    via: str = "chat.postMessage"
    history: list[Revision] = field(default_factory=list)
    deleted: bool = False

    def as_payload(self, *, with_metadata: bool = False) -> dict[str, Any]:
        """The `message` object Slack embeds in API replies and block_actions payloads
        (`metadata` only where asked for: conversations.history's `include_all_metadata`)."""
        payload: dict[str, Any] = {
            "type": "message",
            "text": self.text,
            "user": self.user,
            "ts": self.ts,
            "team": TEAM_ID,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.bot_id:
            payload |= {"bot_id": self.bot_id, "app_id": APP_ID}
        if self.thread_ts:
            payload["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            payload["metadata"] = copy.deepcopy(self.metadata)
        return payload


@dataclass(frozen=True)
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass(frozen=True)
class ResponsePost:
    """One POST to a response_url. Rejected posts are kept too (`status` != 200)."""

    url: str
    channel: str | None
    user: str | None
    ts: str  # message_ts an ephemeral reply gets, so its buttons can be clicked
    body: dict[str, Any]
    status: int
    reason: str

    @property
    def text(self) -> str | None:
        value = self.body.get("text")
        return value if isinstance(value, str) else None

    @property
    def blocks(self) -> list[dict[str, Any]]:
        value = self.body.get("blocks")
        return value if isinstance(value, list) else []

    @property
    def response_type(self) -> str:
        return str(self.body.get("response_type", "ephemeral"))

    @property
    def replace_original(self) -> bool | None:
        value = self.body.get("replace_original")
        return None if value is None else bool(value)

    @property
    def delete_original(self) -> bool | None:
        value = self.body.get("delete_original")
        return None if value is None else bool(value)


@dataclass(frozen=True)
class UploadedFile:
    id: str
    filename: str
    title: str | None
    content: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None


@dataclass(frozen=True)
class OpenedView:
    id: str
    method: str  # views.open / views.push / views.update / views.publish
    trigger_id: str | None
    view: dict[str, Any]
    user: str | None = None  # views.publish: whose Home tab it is


@dataclass(frozen=True)
class Unfurl:
    """One chat.unfurl call: the message (channel and ts) or composer link it unfurls."""

    channel: str | None
    ts: str | None
    unfurl_id: str | None
    source: str | None
    unfurls: dict[str, dict[str, Any]]  # url -> its attachment (`blocks`)


class GateViolation(NamedTuple):
    method: str
    problems: list[str]
    message: dict[str, Any]


class Stall:
    """A Web API call left unanswered on purpose (`FakeSlack.stall_next`).

    The matching call hangs as on a stalled connection: not answered, not acted on, not listed
    in `calls()`. `wait()` returns once it hangs, so a test can act at that exact point (kill
    the client, say); `end()` (or leaving the `with` block) then closes its connection with no
    answer, as when the sender died before Slack got to it. Its content is gated all the same.
    """

    def __init__(
        self, method: str, match: Callable[[dict[str, Any]], bool], *, accept: bool = False
    ) -> None:
        self.method = method
        self.match = match
        # Acted on first (Slack took the call), then its answer never comes: the sender cannot
        # know it went through.
        self.accept = accept
        self.params: dict[str, Any] | None = None
        self._hanging = threading.Event()
        self._ended = threading.Event()

    def wait(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until a matching call hangs; return its parameters (`blocks` decoded)."""
        if not self._hanging.wait(timeout):
            raise AssertionError(f"no {self.method} call matched the stall within {timeout}s")
        assert self.params is not None
        return self.params

    def end(self) -> None:
        self._ended.set()

    def _hang(self, params: dict[str, Any]) -> None:
        self.params = params
        self._hanging.set()
        self._ended.wait()

    def __enter__(self) -> Stall:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()


class ManualClock:
    """Injectable clock for response_url expiry: `fake.clock = clock = ManualClock()`."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


# ---- internals ----------------------------------------------------------------------------------


class _ApiError(Exception):
    """Raised inside a method handler to answer HTTP 200 `{"ok": false, "error": code, ...}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    dropped: bool = False  # close the connection without answering (a stalled call)

    @classmethod
    def json(
        cls, payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> _Reply:
        body = json.dumps(payload).encode()
        return cls(status, body, "application/json; charset=utf-8", headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> _Reply:
        return cls(status, text.encode(), f"{content_type}; charset=utf-8")

    @classmethod
    def drop(cls) -> _Reply:
        return cls(0, b"", "", dropped=True)


@dataclass(frozen=True)
class _Fault:
    kind: str  # "error" | "ratelimit" | "server"
    error: str = ""
    retry_after: int = 0


@dataclass
class _ResponseUrl:
    channel: str | None
    user: str | None
    created: float
    source_ts: str | None  # the clicked message, for replace_original/delete_original
    source_ephemeral: bool
    uses: int = 0


@dataclass
class _PendingUpload:
    filename: str
    length: int
    content: bytes | None = None


_Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack:
    """Slack Web API, response_url and upload endpoints on 127.0.0.1, with inspectable state."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer((host, 0), _RequestHandler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        self.base_url = f"http://{host}:{self._httpd.server_address[1]}"
        self.api_url = f"{self.base_url}/api/"
        self._thread: threading.Thread | None = None
        self._socket_url: Callable[[], str] | None = None
        self._methods: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "chat.unfurl": self._chat_unfurl,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "apps.connections.open": self._apps_connections_open,
        }
        self._stalls: list[Stall] = []
        self._content_checked = False  # per call, under the lock: did the gate look at it?
        self.reset()

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget everything a test did and re-seed the default workspace."""
        with self._lock:
            for stall in self._stalls:
                stall.end()  # nothing stays hung past its test
            self._stalls = []
            self.clock: Callable[[], float] = time.time
            self.gate_violations: list[GateViolation] = []
            self._calls: list[Call] = []
            self._users: dict[str, User] = {}
            self._usergroups: dict[str, list[str]] = {}
            self._channels: dict[str, Channel] = {}
            self._messages: dict[tuple[str, str], Message] = {}
            self._ephemerals: list[Ephemeral] = []
            self._response_urls: dict[str, _ResponseUrl] = {}
            self._response_posts: list[ResponsePost] = []
            self._uploads: dict[str, _PendingUpload] = {}
            self._files: list[UploadedFile] = []
            self._views: list[OpenedView] = []
            self._unfurls: list[Unfurl] = []
            self._faults: dict[str, deque[_Fault]] = {}
            self._limiter: _RateLimiter | None = None
            self._seq = itertools.count(1)
            self._last_second = 0
            self._seed()

    def _seed(self) -> None:
        self.add_user(BOT_USER_ID, "omsbot", "OMS Bot", is_bot=True)
        self.add_user("U_ALICE", "alice", "Alice Adams", tz="America/New_York")
        self.add_user("U_BOB", "bob", "Bob Brown", tz="Europe/London")
        self.add_user("U_CAROL", "carol", "Carol Chen", tz="Asia/Kolkata")
        self.add_user("U_DAVE", "dave", "Dave Diaz", tz="America/Los_Angeles")
        self.add_usergroup("S_OPERATORS", ["U_ALICE", "U_BOB"], handle="oms-operators")
        self.add_usergroup("S_APPROVERS", ["U_CAROL"], handle="oms-approvers")
        self.add_channel("C_OPS", "oms-ops")
        self.add_channel("C_APPROVALS", "oms-approvals")
        self.add_channel("C_RANDOM", "random", is_member=False)
        self.add_channel("C_OLD", "oms-old", is_archived=True)
        self.add_channel("G_SECRET", "oms-secret", is_member=False, is_private=True)

    # ---- workspace setup ------------------------------------------------------------------------

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str | None = None,
        *,
        tz: str = "America/New_York",
        is_bot: bool = False,
        deleted: bool = False,
        email: str | None = None,
        channels: Iterable[str] | None = None,
    ) -> User:
        """Add a user; by default they join every public channel (matters for postEphemeral)."""
        user = User(id, name, real_name or name, tz, is_bot, deleted, email)
        with self._lock:
            self._users[id] = user
            joined = (
                [c.id for c in self._channels.values() if not c.is_private]
                if channels is None
                else list(channels)
            )
            for channel_id in joined:
                self._channels[channel_id].members.add(id)
        return user

    def add_usergroup(self, id: str, members: Iterable[str], *, handle: str | None = None) -> None:
        del handle  # accepted for readability at call sites; usergroups.users.list needs no handle
        with self._lock:
            self._usergroups[id] = list(members)

    def add_channel(
        self,
        id: str,
        name: str,
        *,
        is_member: bool = True,
        is_archived: bool = False,
        is_private: bool = False,
        members: Iterable[str] | None = None,
    ) -> Channel:
        """Add a channel; `members` defaults to every known user."""
        with self._lock:
            people = set(self._users) if members is None else set(members)
            if is_member:
                people.add(BOT_USER_ID)
            channel = Channel(id, name, is_member, is_archived, is_private, members=people)
            self._channels[id] = channel
            return channel

    def set_socket_url(self, url: str | Callable[[], str] | None) -> None:
        """What apps.connections.open returns: a fixed URL or a factory (server.new_url)."""
        with self._lock:
            self._socket_url = (lambda: url) if isinstance(url, str) else url

    # ---- fault injection ------------------------------------------------------------------------

    def fail_next(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` get HTTP 200 `{"ok": false, "error": error}`."""
        self._add_fault(method, _Fault("error", error=error), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls get HTTP 429 with `Retry-After` and `error: ratelimited`."""
        self._add_fault(method, _Fault("ratelimit", retry_after=retry_after), times)

    def enforce_rate_limits(
        self, scale: float = 1.0, tiers: dict[str, RateTier] | None = None
    ) -> None:
        """From now on (until reset) answer calls beyond Slack's per-method limits with HTTP 429,
        `Retry-After` and `error: ratelimited`, as Slack does. `scale` multiplies every window
        (0.05 runs a minute's limit in 3 s); Retry-After is whole seconds, at least 1, as
        Slack sends it."""
        with self._lock:
            self._limiter = _RateLimiter(tiers or SLACK_RATE_TIERS, scale)

    def server_error_next(self, method: str, times: int = 1) -> None:
        """The next `times` calls get an HTML HTTP 500, as Slack's edge sometimes does."""
        self._add_fault(method, _Fault("server"), times)

    def _add_fault(self, method: str, fault: _Fault, times: int) -> None:
        with self._lock:
            self._faults.setdefault(method, deque()).extend([fault] * times)

    def stall_next(
        self,
        method: str,
        match: Callable[[dict[str, Any]], bool] = lambda params: True,
        *,
        accept: bool = False,
    ) -> Stall:
        """The next call of `method` whose parameters `match` accepts is left hanging (Stall).

        `match` gets the call's parameters with `blocks` decoded. Use it as a context manager
        so the call never outlives the test: `with fake.stall_next(...) as stall:`. With
        `accept`, the call is carried out (a message is posted) before its answer hangs.
        """
        stall = Stall(method, match, accept=accept)
        with self._lock:
            self._stalls.append(stall)
        return stall

    def _take_stall(self, method: str, params: dict[str, Any]) -> Stall | None:
        with self._lock:
            decoded = dict(params)
            if isinstance(decoded.get("blocks"), str):
                with contextlib.suppress(ValueError):
                    decoded["blocks"] = json.loads(decoded["blocks"])
            for stall in self._stalls:
                if stall.method == method and stall.match(decoded):
                    self._stalls.remove(stall)
                    self._gate_unchecked(method, params)
                    return stall
            return None

    # ---- response_url ---------------------------------------------------------------------------

    def new_response_url(
        self,
        channel: str | None = "C_OPS",
        *,
        user: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """Mint a response_url; `message_ts` names the message a click came from, if any."""
        token = uuid.uuid4().hex
        kind = "actions" if message_ts else "commands"
        with self._lock:
            serial = next(self._seq)
            url = f"{self.base_url}/hooks/{kind}/{TEAM_ID}/{serial}/{token}"
            self._response_urls[url] = _ResponseUrl(
                channel, user, self.clock(), message_ts, ephemeral
            )
        return url

    # ---- queries for tests ----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(
        self, channel: str | None = None, *, include_deleted: bool = False
    ) -> list[Message]:
        """Channel messages in their current state (copies), oldest first."""
        with self._lock:
            found = [
                copy.deepcopy(m)
                for m in self._messages.values()
                if (channel is None or m.channel == channel) and (include_deleted or not m.deleted)
            ]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> Message:
        with self._lock:
            return copy.deepcopy(self._messages[(channel, ts)])

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        with self._lock:
            return [
                e
                for e in self._ephemerals
                if (channel is None or e.channel == channel) and (user is None or e.user == user)
            ]

    def response_posts(
        self, url: str | None = None, *, include_rejected: bool = False
    ) -> list[ResponsePost]:
        with self._lock:
            return [
                p
                for p in self._response_posts
                if (url is None or p.url == url) and (include_rejected or p.status == 200)
            ]

    def files(self) -> list[UploadedFile]:
        with self._lock:
            return list(self._files)

    def views(self) -> list[OpenedView]:
        with self._lock:
            return list(self._views)

    def unfurls(self) -> list[Unfurl]:
        with self._lock:
            return list(self._unfurls)

    def home_views(self, user: str) -> list[dict[str, Any]]:
        """Every Home tab published for `user` (views.publish), oldest first."""
        with self._lock:
            return [v.view for v in self._views if v.method == "views.publish" and v.user == user]

    def dm_channel(self, user: str) -> str:
        """The id of `user`'s DM with the bot (made on first use, as Slack has one per user)."""
        with self._lock:
            return self._resolve_channel(user).id

    def user(self, id: str) -> User:
        with self._lock:
            return self._users[id]

    def channel(self, id: str) -> Channel:
        with self._lock:
            return self._channels[id]

    def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Poll until `predicate` returns something truthy and return it.

        Needed because Bolt acks first and runs listeners afterwards. Falsy results (None, False,
        an empty list) keep polling; on timeout the error shows what the fake has seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout}s\n{self.dump()}")
            time.sleep(0.01)

    def dump(self) -> str:
        """A readable summary of calls, messages and replies, for assertion messages."""
        with self._lock:
            lines = ["-- calls:"]
            lines += [f"  {c.method} {c.status} {_short(c.body)}" for c in self._calls[-30:]]
            lines.append("-- messages:")
            lines += [
                f"  {m.channel} {m.ts} via={m.via}{' DELETED' if m.deleted else ''} {m.text!r}"
                for m in self._messages.values()
            ]
            lines.append("-- ephemerals:")
            lines += [f"  {e.channel} to {e.user}: {e.text!r}" for e in self._ephemerals]
            lines.append("-- response_url posts:")
            lines += [f"  {p.status} {_short(p.body)}" for p in self._response_posts]
            lines.append("-- gate violations:")
            lines += [f"  {v.method}: {v.problems}" for v in self.gate_violations]
        return "\n".join(lines)

    # ---- HTTP dispatch (called on server threads) -----------------------------------------------

    def handle(self, verb: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        """Route one HTTP request; the request handler calls this, tests never need to."""
        path = urlsplit(target).path
        if path.startswith("/api/"):
            return self._handle_api(path.removeprefix("/api/"), target, headers, body)
        if path.startswith("/hooks/") and verb == "POST":
            return self._handle_response_url(f"{self.base_url}{path}", body)
        if path.startswith("/upload/v1/") and verb == "POST":
            return self._handle_upload(path.removeprefix("/upload/v1/"), body)
        return _Reply.text("not found", 404)

    def _handle_api(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Reply:
        try:
            params = _parse_params(target, headers.get("content-type", ""), body)
        except ValueError:
            return _Reply.json({"ok": False, "error": "invalid_json"})
        stall = self._take_stall(method, params)
        if stall is not None and stall.accept:
            with self._lock:
                reply, payload = self._answer(method, headers, params)
                self._calls.append(Call(method, headers, params, reply.status, payload))
        if stall is not None:
            stall._hang(params)  # outside the lock: the fake goes on answering other calls
            return _Reply.drop()
        with self._lock:
            reply, payload = self._answer(method, headers, params)
            self._calls.append(Call(method, headers, params, reply.status, payload))
        return reply

    def _answer(
        self, method: str, headers: dict[str, str], params: dict[str, Any]
    ) -> tuple[_Reply, dict[str, Any] | None]:
        self._content_checked = False
        try:
            return self._dispatch(method, headers, params)
        finally:
            if not self._content_checked:  # answered before its content was looked at
                self._gate_unchecked(method, params)

    def _dispatch(
        self, method: str, headers: dict[str, str], params: dict[str, Any]
    ) -> tuple[_Reply, dict[str, Any] | None]:
        queue = self._faults.get(method)
        fault = queue.popleft() if queue else None
        payload: dict[str, Any]
        wait = self._limiter.retry_after(method, params) if self._limiter else None
        if fault is None and wait is not None:
            fault = _Fault("ratelimit", retry_after=max(1, math.ceil(wait)))
        if fault is not None and fault.kind == "ratelimit":
            payload = {"ok": False, "error": "ratelimited"}
            return _Reply.json(payload, 429, {"Retry-After": str(fault.retry_after)}), payload
        if fault is not None and fault.kind == "server":
            html = "<html><body><h1>500 Internal Server Error</h1></body></html>"
            return _Reply.text(html, 500, "text/html"), None
        try:
            handler = self._methods.get(method)
            if handler is None:
                raise _ApiError("unknown_method")
            self._authenticate(method, headers, params)
            if fault is not None:
                raise _ApiError(fault.error)
            payload = {"ok": True} | handler(params)
        except _ApiError as err:
            payload = {"ok": False, "error": err.code} | err.extra
        # Slack sends the granted scopes on every API response; Bolt reads them from auth.test.
        return _Reply.json(payload, headers={"x-oauth-scopes": BOT_SCOPES}), payload

    def _authenticate(self, method: str, headers: dict[str, str], params: dict[str, Any]) -> None:
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else str(params.get("token", ""))
        if not token:
            raise _ApiError("not_authed")
        wanted = ("xapp-",) if method in _APP_TOKEN_METHODS else ("xoxb-", "xoxp-")
        if token.startswith(wanted):
            return
        if token.startswith(("xapp-", "xoxb-", "xoxp-")):
            raise _ApiError("not_allowed_token_type")
        raise _ApiError("invalid_auth")

    # ---- Web API methods (run under self._lock) -----------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": self._users[BOT_USER_ID].name,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params.get("channel"))
        content = self._message_content("chat.postMessage", params)
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=str(content.get("text") or ""),
            blocks=_with_block_ids(content.get("blocks") or [], self._seq),
            thread_ts=_opt_str(params.get("thread_ts")),
            metadata=_opt_json(params.get("metadata")),
        )
        self._messages[(message.channel, message.ts)] = message
        return {"channel": channel.id, "ts": message.ts, "message": message.as_payload()}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params.get("channel"))
        message = self._messages.get((channel.id, str(params.get("ts", ""))))
        if message is None or message.deleted:
            raise _ApiError("message_not_found")
        if message.user != BOT_USER_ID:
            raise _ApiError("cant_update_message")
        content = self._message_content("chat.update", params)
        self._revise(message, content, via="chat.update")
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_payload(),
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params.get("channel"))
        message = self._messages.get((channel.id, str(params.get("ts", ""))))
        if message is None or message.deleted:
            raise _ApiError("message_not_found")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable_channel(params.get("channel"))
        user = str(params.get("user", ""))
        if user not in self._users:
            raise _ApiError("user_not_found")
        if user not in channel.members:
            raise _ApiError("user_not_in_channel")
        content = self._message_content("chat.postEphemeral", params)
        ephemeral = Ephemeral(
            channel=channel.id,
            user=user,
            ts=self._next_ts(),
            text=str(content.get("text") or ""),
            blocks=_with_block_ids(content.get("blocks") or [], self._seq),
            thread_ts=_opt_str(params.get("thread_ts")),
        )
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params.get("channel"))
        ts = str(params.get("message_ts", ""))
        if (channel.id, ts) not in self._messages:
            raise _ApiError("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        return {"channel": channel.id, "permalink": link}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user", "")))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": _user_payload(user)}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        members = self._usergroups.get(str(params.get("usergroup", "")))
        if members is None:
            raise _ApiError("no_such_subteam")
        return {"users": list(members)}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params.get("channel"))
        return {"channel": _channel_payload(channel, len(channel.members))}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        # A channel's top-level messages, newest first, in (oldest, latest]; a page of `limit`
        # with a cursor to the next. The bot must be in the channel (not_in_channel otherwise).
        channel = self._readable_channel(params.get("channel"))
        if not channel.is_member:
            raise _ApiError("not_in_channel")
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")
        limit = max(1, min(int(params.get("limit") or 100), 999))
        start = int(str(params.get("cursor") or "0") or 0)
        metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        found = sorted(
            (
                m
                for (cid, _), m in self._messages.items()
                if cid == channel.id
                and not m.deleted
                and (m.thread_ts is None or m.thread_ts == m.ts)
                and oldest < float(m.ts) <= latest
            ),
            key=lambda m: float(m.ts),
            reverse=True,
        )
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "messages": [m.as_payload(with_metadata=metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        # A thread: its parent, then its replies oldest first, in [oldest, latest]; a page of
        # `limit` with a cursor to the next. The bot must be in the channel.
        channel = self._readable_channel(params.get("channel"))
        if not channel.is_member:
            raise _ApiError("not_in_channel")
        parent = str(params.get("ts") or "")
        if (channel.id, parent) not in self._messages:
            raise _ApiError("thread_not_found")
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")
        limit = max(1, min(int(params.get("limit") or 100), 999))
        start = int(str(params.get("cursor") or "0") or 0)
        metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        found = sorted(
            (
                m
                for (cid, _), m in self._messages.items()
                if cid == channel.id
                and not m.deleted
                and (m.ts == parent or m.thread_ts == parent)
                and oldest <= float(m.ts) <= latest
            ),
            key=lambda m: float(m.ts),
        )
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "messages": [m.as_payload(with_metadata=metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        length = params.get("length")
        if not filename or length is None:
            raise _ApiError("invalid_arguments")
        file_id = f"F{next(self._seq):08d}"
        self._uploads[file_id] = _PendingUpload(str(filename), int(length))
        return {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = _opt_json_list(params.get("files"))
        channel_ref = params.get("channel_id") or next(
            iter(str(params.get("channels") or "").split(",")), ""
        )
        channel = self._writable_channel(channel_ref) if channel_ref else None
        pending: list[tuple[dict[str, Any], _PendingUpload]] = []
        for entry in entries:
            upload = self._uploads.get(str(entry.get("id")))
            if upload is None or upload.content is None:
                raise _ApiError("file_not_found")
            pending.append((entry, upload))
        shared = []
        for entry, upload in pending:
            assert upload.content is not None
            record = UploadedFile(
                id=str(entry["id"]),
                filename=upload.filename,
                title=_opt_str(entry.get("title")),
                content=upload.content,
                channel=channel.id if channel else None,
                thread_ts=_opt_str(params.get("thread_ts")),
                initial_comment=_opt_str(params.get("initial_comment")),
            )
            self._files.append(record)
            del self._uploads[record.id]
            shared.append(
                {
                    "id": record.id,
                    "name": record.filename,
                    "title": record.title or record.filename,
                    "size": len(record.content),
                    "channels": [record.channel] if record.channel else [],
                }
            )
        return {"files": shared}

    def _chat_unfurl(self, params: dict[str, Any]) -> dict[str, Any]:
        # Either the posted message (channel + ts) or a link in the composer (unfurl_id +
        # source); `unfurls` is a JSON map of URL -> attachment, whose blocks are gated.
        unfurls = _opt_json(params.get("unfurls"))
        if not unfurls or not all(isinstance(v, dict) for v in unfurls.values()):
            raise _ApiError("invalid_unfurls_format")
        unfurl_id, source = _opt_str(params.get("unfurl_id")), _opt_str(params.get("source"))
        channel: str | None = None
        ts = _opt_str(params.get("ts"))
        if not (unfurl_id and source):
            channel = self._readable_channel(params.get("channel")).id
            if not ts:
                raise _ApiError("invalid_arguments")
        self._content_checked = True
        for url, attachment in unfurls.items():
            self._gate(
                "chat.unfurl", {"url": url, **attachment}, check_blocks(attachment.get("blocks"))
            )
        self._unfurls.append(Unfurl(channel, ts, unfurl_id, source, copy.deepcopy(unfurls)))
        return {}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            raise _ApiError("invalid_arguments")
        view = self._checked_view("views.open", params.get("view"))
        view_id = f"V{next(self._seq):08d}"
        return self._store_view(view_id, "views.open", _opt_str(params.get("trigger_id")), view)

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not any(v.id == view_id for v in self._views):
            raise _ApiError("not_found")
        view = self._checked_view("views.update", params.get("view"))
        return self._store_view(str(view_id), "views.update", None, view)

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        # Slack keeps one Home view per user; the fake keeps each one published, in order.
        user = _opt_str(params.get("user_id"))
        if user is None or user not in self._users:
            raise _ApiError("user_not_found")
        view = self._checked_view("views.publish", params.get("view"))
        if view.get("type") != "home":
            raise _ApiError("invalid_arguments")
        view_id = f"VH_{user}"
        return self._store_view(view_id, "views.publish", None, view, user=user)

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._socket_url is None:
            # What a fake with no Socket Mode server attached can honestly say.
            raise _ApiError("app_connections_disabled")
        return {"url": self._socket_url()}

    # ---- helpers for the methods ----------------------------------------------------------------

    def _resolve_channel(self, ref: object) -> Channel:
        key = str(ref or "").removeprefix("#")
        if key in self._channels:
            return self._channels[key]
        for channel in self._channels.values():
            if channel.name == key:
                return channel
        if key in self._users:  # posting to a user id opens (or reuses) the DM with them
            dm_id = f"D_{key}"
            if dm_id not in self._channels:
                self._channels[dm_id] = Channel(
                    dm_id, key, is_private=True, is_im=True, members={key, BOT_USER_ID}
                )
            return self._channels[dm_id]
        raise _ApiError("channel_not_found")

    def _readable_channel(self, ref: object) -> Channel:
        channel = self._resolve_channel(ref)
        if channel.is_private and not channel.is_member:
            raise _ApiError("channel_not_found")  # Slack hides private channels it is not in
        return channel

    def _writable_channel(self, ref: object) -> Channel:
        channel = self._readable_channel(ref)
        if channel.is_archived:
            raise _ApiError("is_archived")
        if not channel.is_member:
            raise _ApiError("not_in_channel")
        return channel

    def _message_content(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Extract text/blocks, decoding form-encoded JSON, and run the Block Kit gate."""
        content: dict[str, Any] = {k: params[k] for k in _MESSAGE_KEYS if k in params}
        if isinstance(content.get("blocks"), str):
            try:
                content["blocks"] = json.loads(content["blocks"])
            except ValueError:
                raise _ApiError("invalid_blocks_format") from None
        if not any(content.get(k) for k in _MESSAGE_KEYS):
            raise _ApiError("no_text")
        self._gate(method, content, check_message(content))
        return content

    def _checked_view(self, method: str, raw: object) -> dict[str, Any]:
        view = _opt_json(raw)
        if view is None:
            raise _ApiError("invalid_arguments")
        self._gate(method, view, check_view(view), error="invalid_arguments")
        return view

    def _gate(
        self,
        method: str,
        message: dict[str, Any],
        problems: list[str],
        error: str = "invalid_blocks",
    ) -> None:
        self._content_checked = True
        if not problems:
            return
        self.gate_violations.append(GateViolation(method, problems, copy.deepcopy(message)))
        raise _ApiError(
            error,
            errors=problems,
            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
        )

    def _gate_unchecked(self, method: str, params: dict[str, Any]) -> None:
        """Record the gate's verdict on a call answered without its content being checked (an
        injected fault, a stall, an error found first); the answer itself stays as it was."""
        content: dict[str, Any] | None = None
        problems: list[str] = []
        if method in _MESSAGE_METHODS:
            content = {k: params[k] for k in _MESSAGE_KEYS if k in params}
            if isinstance(content.get("blocks"), str):
                try:
                    content["blocks"] = json.loads(content["blocks"])
                except ValueError:
                    return  # not JSON: Slack's invalid_blocks_format, no Block Kit to check
            if any(content.get(k) for k in _MESSAGE_KEYS):
                problems = check_message(content)
        elif method in _VIEW_METHODS:
            content = _opt_json(params.get("view"))
            if content is not None:
                problems = check_view(content)
        if content is not None and problems:
            self.gate_violations.append(GateViolation(method, problems, copy.deepcopy(content)))

    def _store_view(
        self,
        view_id: str,
        method: str,
        trigger_id: str | None,
        view: dict[str, Any],
        *,
        user: str | None = None,
    ) -> dict[str, Any]:
        stored = copy.deepcopy(view) | {
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "state": {"values": {}},
            "hash": uuid.uuid4().hex[:16],
        }
        self._views.append(OpenedView(view_id, method, trigger_id, stored, user))
        return {"view": stored}

    def _revise(self, message: Message, content: dict[str, Any], via: str) -> None:
        message.history.append(Revision(message.text, copy.deepcopy(message.blocks), message.via))
        if "text" in content:
            message.text = str(content["text"] or "")
        if "blocks" in content:  # omitted blocks are kept, [] clears them (as in Slack)
            message.blocks = _with_block_ids(content["blocks"] or [], self._seq)
        message.via = via

    def _next_ts(self) -> str:
        # Whole seconds never go backwards (even with a manual clock) and the serial is global,
        # so every ts is unique and larger than the previous one.
        self._last_second = max(self._last_second, int(self.clock()))
        return f"{self._last_second}.{next(self._seq):06d}"

    # ---- response_url and upload endpoints ------------------------------------------------------

    def _handle_response_url(self, url: str, body: bytes) -> _Reply:
        with self._lock:
            record = self._response_urls.get(url)
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                payload = None
            status, reason = self._accept_response_post(record, payload)
            if not isinstance(payload, dict):
                payload = {"unparsed": body.decode(errors="replace")}
            ts = self._next_ts()
            self._response_posts.append(
                ResponsePost(
                    url,
                    record.channel if record else None,
                    record.user if record else None,
                    ts,
                    payload,
                    status,
                    reason,
                )
            )
            if status == 200 and record is not None:
                record.uses += 1
                self._apply_response(record, payload, ts)
        return _Reply.text(reason, status)

    def _accept_response_post(
        self, record: _ResponseUrl | None, payload: object
    ) -> tuple[int, str]:
        """Decide the HTTP answer; Slack's exact texts are unverified, the statuses matter.

        The gate looks at every message posted, even one refused for its URL (unknown,
        expired, used up): what the bot sent must pass it whatever became of it."""
        problems: list[str] = []
        if (
            isinstance(payload, dict)
            and not payload.get("delete_original")
            and any(payload.get(k) for k in _MESSAGE_KEYS)
        ):
            problems = check_message(payload)
            if problems:
                self.gate_violations.append(
                    GateViolation("response_url", problems, copy.deepcopy(payload))
                )
        if record is None:
            return 404, "no_such_url"
        if self.clock() - record.created > RESPONSE_URL_TTL_SECONDS:
            return 404, "expired_url"
        if record.uses >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        if not isinstance(payload, dict):
            return 400, "invalid_payload"
        if payload.get("delete_original"):
            return 200, "ok"
        if not any(payload.get(k) for k in _MESSAGE_KEYS):
            return 400, "no_text"
        if problems:
            return 400, "invalid_blocks"
        return 200, "ok"

    def _apply_response(self, record: _ResponseUrl, payload: dict[str, Any], ts: str) -> None:
        """Mirror what Slack does to the channel: edit, delete or add a message."""
        source = None
        if record.source_ts and record.channel and not record.source_ephemeral:
            source = self._messages.get((record.channel, record.source_ts))
        if source is not None and payload.get("delete_original"):
            source.deleted = True
        elif source is not None and payload.get("replace_original"):
            self._revise(source, payload, via="response_url")
        elif payload.get("response_type") == "in_channel" and record.channel:
            self._messages[(record.channel, ts)] = Message(
                channel=record.channel,
                ts=ts,
                text=str(payload.get("text") or ""),
                blocks=_with_block_ids(payload.get("blocks") or [], self._seq),
                thread_ts=_opt_str(payload.get("thread_ts")),
                via="response_url",
            )

    def _handle_upload(self, file_id: str, body: bytes) -> _Reply:
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None:
                return _Reply.text("file not found", 404)
            upload.content = body
        return _Reply.text(f"OK - {len(body)}")


# ---- the HTTP layer -----------------------------------------------------------------------------


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps aiohttp's pooled connections usable between calls.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, verb: str) -> None:
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = fake.handle(verb, self.path, headers, self._read_body(headers))
        if reply.dropped:
            self.close_connection = True  # no answer at all: the caller sees the line drop
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(headers.get("content-length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; calls() is the log


# ---- parsing and payload helpers ----------------------------------------------------------------


def _parse_params(target: str, content_type: str, body: bytes) -> dict[str, Any]:
    """Merge query string, form body and JSON body, as Slack accepts all three."""
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    if not body:
        return params
    if "json" in content_type:
        parsed = json.loads(body)
        if not isinstance(parsed, dict):
            raise ValueError("JSON body must be an object")
        params.update(parsed)
    else:
        form = parse_qs(body.decode(), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items()})
    return params


def _with_block_ids(blocks: list[dict[str, Any]], seq: Iterable[int]) -> list[dict[str, Any]]:
    """Copy blocks, giving each one without a block_id a generated one, as Slack does."""
    counter = iter(seq)
    result = []
    for block in copy.deepcopy(blocks):
        if isinstance(block, dict) and "block_id" not in block:
            block["block_id"] = f"gen{next(counter)}"
        result.append(block)
    return result


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _opt_json(value: object) -> dict[str, Any] | None:
    """Form-encoded calls carry objects as JSON strings; JSON calls carry them as objects."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _ApiError("invalid_arguments") from None
    return value if isinstance(value, dict) else None


def _opt_json_list(value: object) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _ApiError("invalid_arguments") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _ApiError("invalid_arguments")
    return value


def _user_payload(user: User) -> dict[str, Any]:
    now = datetime.now(ZoneInfo(user.tz))
    offset = now.utcoffset()
    return {
        "id": user.id,
        "team_id": TEAM_ID,
        "name": user.name,
        "deleted": user.deleted,
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": now.tzname(),
        "tz_offset": int(offset.total_seconds()) if offset else 0,
        "is_admin": False,
        "is_owner": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": 1700000000,
        "profile": {
            "display_name": user.name,
            "real_name": user.real_name,
            **({"email": user.email} if user.email else {}),
        },
    }


def _channel_payload(channel: Channel, num_members: int) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": not channel.is_private and not channel.is_im,
        "is_group": channel.is_private and not channel.is_im,
        "is_im": channel.is_im,
        "is_mpim": False,
        "is_private": channel.is_private,
        "is_archived": channel.is_archived,
        "is_general": False,
        "is_member": channel.is_member,
        "created": 1700000000,
        "creator": "U_ALICE",
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "num_members": num_members,
    }


def _short(value: object, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else f"{text[:limit]}..."
