"""Channel posts that respect Slack's limits: at most one post a second per channel (paced
within this process), and 429s waited out beyond the Web API client's own retries; and file
uploads whose failure becomes a note in the thread instead of an error.

Runbooks name the Web API client and its error through `SlackClient` and `SlackError` here:
they never import slack_sdk themselves (tests/test_layers.py holds them to it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
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


async def with_rate_limit(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Web API call, waiting out 429s beyond the client's own retries."""
    for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
        try:
            return await call()
        except SlackApiError as exc:
            if exc.response.status_code != 429 or attempt == MAX_RATE_LIMIT_WAITS:
                raise
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            log.warning("Slack rate limited the post; waiting %.0fs", retry_after)
            await asyncio.sleep(min(retry_after, 60.0))
    raise AssertionError("unreachable")


async def post_message(
    client: AsyncWebClient, channel: str, message: Message, thread_ts: str | None = None
) -> str:
    """Post in `channel` (paced, 429s waited out); return the message's ts."""
    await PACER.wait(channel)
    resp = await with_rate_limit(
        lambda: client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts
        )
    )
    return str(resp["ts"])


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
