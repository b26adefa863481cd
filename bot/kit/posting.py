"""Channel posts that respect Slack's limits: at most one post a second per channel (paced
within this process), and 429s waited out beyond the Web API client's own retries; message
updates coalesced (see `MessageUpdates`); and file uploads whose failure becomes a note in the
thread instead of an error.

Runbooks name the Web API client and its error through `SlackClient` and `SlackError` here:
they never import slack_sdk themselves (tests/test_layers.py holds them to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.kit.blocks import Message, context, escape

log = logging.getLogger(__name__)

# The Web API client and the error Slack's answers raise, as runbooks name them.
SlackClient = AsyncWebClient
SlackError = SlackApiError
# What an upload can fail with: Slack's answer, the upload URL's answer (SlackRequestError),
# or the network.
UPLOAD_FAILURES: tuple[type[BaseException], ...] = (
    SlackClientError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)
# What to do about the usual refusals, said after Slack's error code.
UPLOAD_HINTS = {
    "not_in_channel": "invite me to this channel with `/invite @oms-bot`",
    "channel_not_found": "invite me to this channel with `/invite @oms-bot`",
    "missing_scope": "the Slack app needs the `files:write` scope (see manifest.yml)",
    "not_allowed_token_type": "the Slack app needs the `files:write` scope (see manifest.yml)",
}

POST_INTERVAL = 1.0  # seconds between posts to one channel (Slack allows about one a second)
MAX_RATE_LIMIT_WAITS = 5
T = TypeVar("T")


class ChannelPacer:
    """At most one post per `interval` per channel, within this process. A reservation, not
    a lock, so it works from any event loop (tests run several)."""

    def __init__(self, interval: float = POST_INTERVAL) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        now = time.monotonic()
        at = max(now, self._next.get(channel, 0.0))
        self._next[channel] = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


PACER = ChannelPacer()


async def with_rate_limit(call: Callable[[], Awaitable[T]], *, budget: float | None = None) -> T:
    """Run a Web API call, waiting out 429s beyond the client's own retries; with `budget`,
    waiting no more than that many seconds in all (the 429 is raised beyond it)."""
    waited = 0.0
    for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
        try:
            return await call()
        except SlackApiError as exc:
            if exc.response.status_code != 429 or attempt == MAX_RATE_LIMIT_WAITS:
                raise
            retry_after = min(float(exc.response.headers.get("Retry-After", "1") or 1), 60.0)
            if budget is not None and waited + retry_after > budget:
                raise
            log.warning("Slack rate limited the post; waiting %.0fs", retry_after)
            await asyncio.sleep(retry_after)
            waited += retry_after
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class PostMark:
    """Slack message metadata that names what a post is for (a scheduled slot), so the bot can
    find its own post in the channel later: `event_type` and `event_payload` as Slack's
    `metadata` argument of chat.postMessage takes them."""

    channel: str
    event_type: str
    payload: dict[str, str]

    def as_metadata(self) -> dict[str, object]:
        return {"event_type": self.event_type, "event_payload": dict(self.payload)}

    def matches(self, message: dict[str, Any]) -> bool:
        meta = message.get("metadata")
        return (
            isinstance(meta, dict)
            and meta.get("event_type") == self.event_type
            and meta.get("event_payload") == self.payload
        )


# The mark every top-level post in its channel carries while it is set: a scheduled post's
# code (a runbook's) posts through post_message without knowing about marks.
_MARK: ContextVar[PostMark | None] = ContextVar("post_mark", default=None)


@contextlib.contextmanager
def marked_posts(mark: PostMark) -> Iterator[None]:
    """Within this block (and the tasks it starts), top-level posts in `mark.channel` carry
    `mark` as their metadata."""
    token = _MARK.set(mark)
    try:
        yield
    finally:
        _MARK.reset(token)


async def find_marked_post(
    client: AsyncWebClient, mark: PostMark, *, since: float, pages: int = 5
) -> str | None:
    """The ts of the bot's post carrying `mark` in its channel since `since` (epoch seconds),
    or None. Reads conversations.history with the metadata (`include_all_metadata`), newest
    first, up to `pages` pages of 200; Slack's errors are raised."""
    cursor: str | None = None
    for _ in range(pages):
        resp = await with_rate_limit(
            lambda cursor=cursor: client.conversations_history(  # type: ignore[misc]
                channel=mark.channel,
                oldest=f"{since:.6f}",
                limit=200,
                include_all_metadata=True,
                cursor=cursor,
            )
        )
        for message in resp.get("messages") or []:
            if isinstance(message, dict) and message.get("bot_id") and mark.matches(message):
                return str(message.get("ts"))
        cursor = ((resp.get("response_metadata") or {}).get("next_cursor")) or None
        if not cursor:
            return None
    return None


async def find_marked_reply(
    client: AsyncWebClient, mark: PostMark, *, thread_ts: str, pages: int = 5
) -> str | None:
    """The ts of the bot's reply carrying `mark` in the thread of `thread_ts`, or None. Reads
    conversations.replies with the metadata, up to `pages` pages of 200; Slack's errors are
    raised."""
    cursor: str | None = None
    for _ in range(pages):
        resp = await with_rate_limit(
            lambda cursor=cursor: client.conversations_replies(  # type: ignore[misc]
                channel=mark.channel,
                ts=thread_ts,
                limit=200,
                include_all_metadata=True,
                cursor=cursor,
            )
        )
        for message in resp.get("messages") or []:
            if (
                isinstance(message, dict)
                and message.get("ts") != thread_ts
                and message.get("bot_id")
                and mark.matches(message)
            ):
                return str(message.get("ts"))
        cursor = ((resp.get("response_metadata") or {}).get("next_cursor")) or None
        if not cursor:
            return None
    return None


async def post_message(
    client: AsyncWebClient, channel: str, message: Message, thread_ts: str | None = None
) -> str:
    """Post in `channel` (paced, 429s waited out); return the message's ts. A top-level post
    in the channel of the current `marked_posts` block carries its mark."""
    await PACER.wait(channel)
    mark = _MARK.get()
    metadata = mark.as_metadata() if mark and mark.channel == channel and not thread_ts else None
    resp = await with_rate_limit(
        lambda: client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
            metadata=metadata,
        )
    )
    return str(resp["ts"])


# ---- message updates ---------------------------------------------------------------------

# chat.update is Tier 3: "50+ per minute", per method and workspace, with occasional bursts
# (docs.slack.dev/apis/web-api/rate-limits). The bot keeps under the documented minimum.
UPDATES_PER_MINUTE = 50.0
UPDATE_BURST = 20.0
# Tokens only a message's final state may take, so a run's result never queues behind
# (or gets a 429 because of) other runs' progress.
FINAL_RESERVE = 5.0
DEFAULT_UPDATE_INTERVAL = 1.0  # seconds between updates of one message (the setting's default)
# How long a shutdown gives the latest states still waiting to go (MessageUpdates.aclose):
# an interval and a request or two, short next to the shutdown's own timeout.
UPDATES_CLOSE_TIMEOUT = 5.0
SEND_FAILURES: tuple[type[BaseException], ...] = (
    SlackApiError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)


class UpdateBudget:
    """A token bucket for chat.update within this process: `per_minute` calls, in bursts of up
    to `burst`. A final state may borrow against future tokens (it waits for them); a progress
    update only goes while more than `reserve` tokens are left. A reservation with a thread
    lock, not an asyncio lock, so it works from any event loop (tests run several).

    `time_scale` multiplies Slack's minute: 1.0 in production; a benchmark running Slack's
    limits compressed in time sets the same factor here."""

    def __init__(
        self,
        per_minute: float = UPDATES_PER_MINUTE,
        burst: float = UPDATE_BURST,
        reserve: float = FINAL_RESERVE,
        time_scale: float = 1.0,
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.reserve = reserve
        self.time_scale = time_scale
        self._lock = threading.Lock()
        self._tokens = burst
        self._at = time.monotonic()
        self._blocked_until = 0.0

    @property
    def rate(self) -> float:
        """Tokens a second."""
        return self.per_minute / (60.0 * self.time_scale)

    @property
    def tokens(self) -> float:
        """Tokens left now (below 0 while final states are borrowing against the future)."""
        with self._lock:
            self._refill(time.monotonic())
            return self._tokens

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self, *, final: bool) -> float:
        """Seconds to wait before sending. A final state's token is taken at once (the wait
        pays it back) and it sends after the wait. A progress update's token is taken only
        when it can go now (0 returned); otherwise the caller waits and asks again."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            blocked = max(0.0, self._blocked_until - now)
            if final:
                self._tokens -= 1
                return max(blocked, -self._tokens / self.rate if self._tokens < 0 else 0.0)
            if blocked == 0.0 and self._tokens >= self.reserve + 1:
                self._tokens -= 1
                return 0.0
            short = max(0.0, self.reserve + 1 - self._tokens) / self.rate
            return max(blocked, short, 0.001)

    def give_back(self) -> None:
        """Return a token taken for an update that was never sent (a final state cancelled
        while it waited for its token): kept, it would leave the budget one token poorer
        for good."""
        with self._lock:
            self._refill(time.monotonic())
            self._tokens = min(self.burst, self._tokens + 1)

    def rate_limited(self, retry_after: float) -> None:
        """Slack answered 429: nothing goes before `retry_after`, and the bucket is empty."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            self._tokens = min(self._tokens, 0.0)
            self._blocked_until = max(self._blocked_until, now + retry_after)


@dataclass
class _Slot:
    """One message's coalescing state: the newest state not yet sent, and when the last went.
    Kept while its flusher has something to send or the interval since the last send has not
    passed; its final state, or the flusher at the end, removes it."""

    interval: float
    latest: Message | None = None
    sent_at: float = float("-inf")
    sending: bool = False
    flusher: asyncio.Task[None] | None = None
    closed: bool = False


def _retry_after(exc: SlackApiError) -> float | None:
    """The seconds a 429 asks to wait, or None for any other answer."""
    if exc.response.status_code != 429:
        return None
    try:
        return float(exc.response.headers.get("Retry-After", "1") or 1)
    except ValueError:
        return 1.0


class MessageUpdates:
    """Every chat.update of a Replier goes through here.

    A progress state (`progress`) is coalesced: at most one update per message per interval,
    the newest state going when its turn comes and the ones in between skipped (each state
    holds the whole message, so nothing is lost). A final state (`final`) waits for the
    message's update in flight and its interval, goes ahead of every progress update, and has
    429s waited out; only when Slack refuses it for good does it raise, so the caller posts
    it anew. One per bot (the host's `updates`), so per process: replicas each keep their
    own pace and budget. At shutdown `aclose` sends the latest states still waiting."""

    def __init__(
        self, interval: float = DEFAULT_UPDATE_INTERVAL, budget: UpdateBudget | None = None
    ) -> None:
        self.interval = interval
        self.budget = budget or UpdateBudget()
        self._slots: dict[tuple[str, str], _Slot] = {}
        # Every flusher still running: a strong reference (the loop keeps only a weak one, so
        # an untracked task may be collected mid-flight), and what `aclose` waits for.
        self._flushers: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def tracked(self) -> frozenset[tuple[str, str]]:
        """The (channel, ts) of every message whose coalescing state is kept now."""
        return frozenset(self._slots)

    async def progress(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        message: Message,
    ) -> None:
        """Show `message` as the newest state of (channel, ts); returns at once when it is
        coalesced. An interval of 0 sends it now, as every step did before coalescing."""
        if self.interval <= 0:
            await _update(client, channel, ts, message)
            return
        if self._closing:
            # Shutting down: no flusher would be waited for, and the run showing it is being
            # cancelled anyway (its final state, if any, still goes through `final`).
            log.debug("dropping a progress update of %s: shutting down", ts)
            return
        slot = self._slots.setdefault((channel, ts), _Slot(self.interval))
        slot.latest = message
        if slot.flusher is None or slot.flusher.done():
            slot.flusher = asyncio.get_running_loop().create_task(
                self._flush(client, channel, ts, slot), name=f"updates of {ts}"
            )
            self._flushers.add(slot.flusher)
            slot.flusher.add_done_callback(self._flusher_done)

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        self._flushers.discard(task)
        # Retrieved here, so an unexpected error is logged once instead of as "Task exception
        # was never retrieved" whenever the task is collected.
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed", task.get_name(), exc_info=error)

    async def aclose(self, timeout: float = UPDATES_CLOSE_TIMEOUT) -> None:
        """At shutdown: each message's latest state still waiting goes once (at its pace and
        within the budget, as any progress update), best effort, up to `timeout` seconds in
        all; the flushers left then are cancelled and awaited, so none is abandoned pending
        (or collected mid-flight) when the loop stops. Progress shown afterwards is dropped;
        `final` still works."""
        self._closing = True
        loop = asyncio.get_running_loop()
        for slot in self._slots.values():
            if slot.latest is None and not slot.sending and slot.flusher is not None:
                slot.flusher.cancel()  # only staying out its interval: nothing left to send
        # Another loop's flushers cannot be awaited here (only tests run several loops).
        flushers = {task for task in self._flushers if task.get_loop() is loop}
        if flushers:
            _done, pending = await asyncio.wait(flushers, timeout=timeout)
            for task in pending:
                log.warning("%s: its latest state did not go in %.0fs", task.get_name(), timeout)
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        self._slots.clear()

    async def _flush(self, client: AsyncWebClient, channel: str, ts: str, slot: _Slot) -> None:
        while not slot.closed:
            if slot.latest is None and self._closing:
                return  # its last state went (or none waited): no pace left to keep at shutdown
            wait = slot.sent_at + slot.interval - time.monotonic()
            if wait > 0:
                # Also with nothing to send: the slot stays out its interval, so a progress
                # coming meanwhile still waits its turn (a new slot would send it at once).
                await asyncio.sleep(wait)
                continue
            if slot.latest is None:
                # Nothing to send and the pace kept: the slot goes, or a message never given
                # a final state (its run crashed; one only ever shown progress) would keep it
                # for ever. No await since the check, so no progress slips in between.
                if self._slots.get((channel, ts)) is slot:
                    del self._slots[(channel, ts)]
                return
            wait = self.budget.take(final=False)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            message, slot.latest = slot.latest, None
            slot.sent_at, slot.sending = time.monotonic(), True
            try:
                await _update(client, channel, ts, message)
            except SlackApiError as exc:
                retry_after = _retry_after(exc)
                if retry_after is not None:
                    self.budget.rate_limited(retry_after)
                    if slot.latest is None:
                        slot.latest = message  # still the newest: it goes after the wait
                    continue
                log.warning("progress update of %s failed: %s", ts, slack_error(exc))
            except SEND_FAILURES as exc:
                # The next state (or the final one) carries everything this one showed.
                log.warning("progress update of %s failed: %s", ts, slack_error(exc))
            finally:
                slot.sending = False

    async def final(self, client: AsyncWebClient, channel: str, ts: str, message: Message) -> None:
        """Show `message` as the last state of (channel, ts). Raises what Slack answered when
        the update fails for good (after 429s waited out), so the caller can post it anew.
        With an interval of 0 (no coalescing) it is sent at once, as before.

        It waits out the message's interval since its last update even when the budget has
        tokens to spare. Slack's own limit is per method and workspace (Tier 3) with bursts
        allowed, so that is not what the wait is for: the interval is the setting's promise,
        at most one update per message per interval, and the final state keeps it too. It
        costs at most one interval, and the state still goes, never dropped."""
        slot = self._slots.pop((channel, ts), None)
        if slot is not None:
            await self._close(slot)
        if self.interval <= 0:
            await _update(client, channel, ts, message)
            return
        if slot is not None:
            wait = slot.sent_at + slot.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
            wait = self.budget.take(final=True)
            if wait > 0:
                try:
                    await asyncio.sleep(wait)
                except asyncio.CancelledError:
                    # The token is taken but the update never goes (a shutdown, a run being
                    # cancelled): it goes back, or every such cancellation costs the budget one.
                    self.budget.give_back()
                    raise
            try:
                await _update(client, channel, ts, message)
                return
            except SlackApiError as exc:
                retry_after = _retry_after(exc)
                if retry_after is None or attempt == MAX_RATE_LIMIT_WAITS:
                    raise
                log.warning("Slack rate limited the final update of %s; waiting", ts)
                self.budget.rate_limited(retry_after)

    async def _close(self, slot: _Slot) -> None:
        """Stop the message's coalesced updates: one in flight finishes first (Slack must not
        get it after the final state), one still waiting is dropped."""
        slot.closed, slot.latest = True, None
        flusher = slot.flusher
        if flusher is None or flusher.done():
            return
        if flusher.get_loop() is not asyncio.get_running_loop():
            return  # another loop's message (cannot happen for one run); nothing to wait on
        if not slot.sending:
            flusher.cancel()
        # Wait for it without taking on its fate: `await flusher` would swallow a cancellation
        # of our own caller along with the flusher's, and raise an unexpected error of that
        # progress update into the final state, which must still go.
        await asyncio.wait({flusher})
        if not flusher.cancelled() and (error := flusher.exception()) is not None:
            log.warning("a progress update before the final state failed: %s", slack_error(error))


async def _update(client: AsyncWebClient, channel: str, ts: str, message: Message) -> None:
    await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)


def slack_error(exc: BaseException) -> str:
    """What Slack (or the network) answered, in a few words: `not_in_channel`, `429`."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class Upload:
    """A file to attach: its text (or a file on disk) and how Slack names it.

    `what` names it in the note posted when it cannot be attached ("The CSV of …")."""

    filename: str
    title: str
    content: str | bytes | None = None
    path: Path | None = None
    comment: str | None = None
    what: str = "The file"

    def __post_init__(self) -> None:
        if (self.content is None) == (self.path is None):
            raise ValueError("an upload takes exactly one of content and path")


@dataclass(frozen=True)
class Uploaded:
    """How an upload ended: the file's id, or why it was not attached and whether the note
    saying so reached the conversation."""

    file_id: str | None
    problem: str | None = None
    noted: bool = False

    @property
    def attached(self) -> bool:
        return self.problem is None

    def note(self, what: str) -> Message:
        return upload_note(what, self.problem or "")


def upload_note(what: str, problem: str) -> Message:
    text = f"{what} could not be attached: {problem}."
    return Message(text=text, blocks=[context(f":warning: {escape(text)}")])


def _problem(exc: BaseException) -> str:
    error = slack_error(exc)
    if isinstance(exc, SlackClientError) and not isinstance(exc, SlackApiError):
        # The upload URL refused the bytes: slack_sdk's message quotes the whole answer.
        error = "Slack's upload server refused the file"
    hint = UPLOAD_HINTS.get(error)
    return f"Slack answered `{error}`; {hint}" if hint else f"Slack answered `{error}`"


async def upload_file(
    client: AsyncWebClient, channel: str, upload: Upload, *, thread_ts: str | None = None
) -> Uploaded:
    """Attach `upload` in `channel` (in the thread of `thread_ts`). It never raises for
    Slack's or the network's sake: what it was for (a report, a digest) is already posted, so
    a failure becomes a short note in the same place, "<what> could not be attached: <why>".
    When even the note cannot be posted, `noted` is False and the caller may say it
    elsewhere (Replier.upload tells the user)."""
    try:
        resp: Any = await with_rate_limit(
            lambda: client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                filename=upload.filename,
                title=upload.title,
                initial_comment=upload.comment,
                **(
                    {"file": str(upload.path)}
                    if upload.path is not None
                    else {"content": upload.content}
                ),
            )
        )
    except UPLOAD_FAILURES as exc:
        problem = _problem(exc)
        log.warning("could not attach %s in %s: %s", upload.filename, channel, slack_error(exc))
        try:
            await post_message(client, channel, upload_note(upload.what, problem), thread_ts)
        except UPLOAD_FAILURES as note_exc:
            log.warning("could not say so in %s either: %s", channel, slack_error(note_exc))
            return Uploaded(None, problem, noted=False)
        return Uploaded(None, problem, noted=True)
    files = resp.get("files") or [resp.get("file") or {}]
    file_id = files[0].get("id") if files else None
    return Uploaded(str(file_id) if file_id else None)
