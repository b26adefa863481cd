"""Channel posts that respect Slack's limits: at most one post a second per channel (paced
within this process), and 429s waited out beyond the Web API client's own retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.kit.blocks import Message

log = logging.getLogger(__name__)

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


def slack_error(exc: Exception) -> str:
    """What Slack (or the network) answered, in a few words: `not_in_channel`, `429`."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc.response.status_code)
    return str(exc) or type(exc).__name__
