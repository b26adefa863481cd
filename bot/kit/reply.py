"""How a command or click answers the user: ephemeral replies, channel posts and updates."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.kit.blocks import MAX_BLOCKS, Message, context
from bot.kit.posting import (
    MessageUpdates,
    PostMark,
    Upload,
    Uploaded,
    slack_error,
    upload_file,
    with_rate_limit,
)

log = logging.getLogger(__name__)

# The longest a post waits out Slack's 429s beyond the Web API client's own retries.
POST_WAIT_BUDGET = 10.0


async def user_zone(client: AsyncWebClient, user_id: str) -> ZoneInfo:
    """The user's Slack time zone (users.info `tz`), or UTC when it cannot be read."""
    try:
        resp = await client.users_info(user=user_id)
        user = resp.get("user") or {}
        return ZoneInfo(str(user.get("tz") or "UTC"))
    except (SlackApiError, ZoneInfoNotFoundError, ValueError) as exc:
        log.info("no time zone for %s (%s); showing UTC", user_id, exc)
        return ZoneInfo("UTC")


def replacing(message: Message, error: str) -> Message:
    """`message` posted anew because Slack refused to update the one before: it says so, so
    nobody goes by the older one, which may still say "running"."""
    note = (
        f":arrows_counterclockwise: Slack would not let me update the message above "
        f"(`{error[:80]}`), so this one replaces it."
    )
    if not message.blocks:  # the text is what shows: the note goes under it
        return Message(text=f"{message.text}\n{note}", blocks=[])
    return Message(text=message.text, blocks=[*message.blocks[: MAX_BLOCKS - 1], context(note)])


class Replier:
    """Answers one user in one conversation.

    Ephemeral replies go through the interaction's `response_url` (it works in DMs and in
    channels the bot has not joined); when that URL is used up or missing they fall back to
    `chat.postEphemeral`.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel_id: str,
        user_id: str,
        response_url: str | None,
        session: aiohttp.ClientSession | None = None,
        can_replace: bool = True,
        updates: MessageUpdates | None = None,
        trigger_id: str | None = None,
        notes_channel: str | None = None,
    ) -> None:
        self.client = client
        # A slash command's or click's trigger: opens one modal, within 3 s of the request.
        self.trigger_id = trigger_id
        # A press on the App Home tab has no response_url and no channel the user looks at:
        # what would be an ephemeral note goes to the user's DM with the bot (the Home's
        # Messages tab) instead.
        self.notes_channel = notes_channel
        # The bot's pace and budget of chat.update (coalescing); a Replier made without one
        # sends every update at once.
        self.updates = updates or MessageUpdates(interval=0)
        self.session = session
        # A click's response_url points at the message holding the button; when that is a
        # channel message (a digest, a report), a reply must never replace it.
        self.can_replace = can_replace
        self.channel_id = channel_id
        self.user_id = user_id
        self.response_url = response_url
        # Why Slack refused the last final update (its error), until a new post replaces it.
        self._refused_update: str | None = None

    async def ephemeral(self, message: Message, *, replace: bool = False) -> None:
        if self.notes_channel and not self.response_url:
            await self.client.chat_postMessage(
                channel=self.notes_channel, text=message.text, blocks=message.blocks
            )
            return
        if self.response_url:
            # A shared session keeps connections alive; without one each reply opens its own.
            hook = AsyncWebhookClient(self.response_url, session=self.session)
            resp = await hook.send(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral",
                replace_original=replace and self.can_replace,
            )
            if resp.status_code == 200:
                return
            log.warning("response_url answered %s; falling back to postEphemeral", resp.status_code)
        await self.client.chat_postEphemeral(
            channel=self.channel_id, user=self.user_id, text=message.text, blocks=message.blocks
        )

    async def post(
        self, message: Message, *, thread_ts: str | None = None, mark: PostMark | None = None
    ) -> str:
        """Post in the conversation (429s waited out beyond the client's own retries); return
        the message ts for later updates. A post that follows a refused final update says it
        replaces the message above, which still shows an older state. With `mark`, the post
        carries it as its metadata, so the bot can find it in the channel later
        (`find_marked_post`: a watch alert whose poster stopped before recording it)."""
        if self._refused_update is not None and thread_ts is None:
            message = replacing(message, self._refused_update)
        resp = await with_rate_limit(
            lambda: self.client.chat_postMessage(
                channel=self.channel_id,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                metadata=mark.as_metadata() if mark is not None else None,
            ),
            # Bounded: a run's first post comes before its heartbeat starts, and must not
            # outlast the run's lease.
            budget=POST_WAIT_BUDGET,
        )
        if thread_ts is None:
            self._refused_update = None
        return str(resp["ts"])

    async def update(self, ts: str, message: Message) -> None:
        """Replace the message `ts` with its final state: after any progress update of it in
        flight, ahead of other messages' progress, 429s waited out (posting.MessageUpdates).
        Raises when Slack refuses it for good, so the caller can post it anew (and the new
        post says why)."""
        try:
            await self.updates.final(self.client, self.channel_id, ts, message)
        except Exception as exc:
            self._refused_update = slack_error(exc)
            raise

    async def replace(self, ts: str, message: Message) -> None:
        """Update the message `ts` once, now: outside the coalesced updates and their budget,
        for a clicked message's buttons, which must not wait behind runs' progress (the
        click's handler comes after it, and a modal's trigger_id expires in 3 s)."""
        await self.client.chat_update(
            channel=self.channel_id, ts=ts, text=message.text, blocks=message.blocks
        )

    async def progress(self, ts: str, message: Message) -> None:
        """Show a new state of the message `ts`: at most one update per interval, the newest
        state always going last (coalesced; returns at once, never raising for Slack's sake).
        With an interval of 0 every state is sent at once, as before."""
        await self.updates.progress(self.client, self.channel_id, ts, message)

    async def safe_ephemeral(self, message: Message) -> bool:
        """Best effort: used when reporting a failure must not raise a second one.

        Returns whether the message was delivered."""
        try:
            await self.ephemeral(message)
        except (SlackApiError, OSError) as exc:
            log.error("could not tell user %s: %s", self.user_id, exc)
            return False
        return True

    async def upload(self, upload: Upload, *, thread_ts: str | None = None) -> Uploaded:
        """Attach a file in the conversation (in the thread of `thread_ts`). It never raises
        for Slack's sake: a failure is said in a short note in the thread, or to the user
        when even that cannot be posted (see posting.upload_file)."""
        result = await upload_file(self.client, self.channel_id, upload, thread_ts=thread_ts)
        if not result.attached and not result.noted:
            await self.safe_ephemeral(result.note(upload.what))
        return result

    async def user_zone(self) -> ZoneInfo:
        """The time zone of the user this replier answers (UTC when Slack does not say)."""
        return await user_zone(self.client, self.user_id)

    # ---- views (modals) -------------------------------------------------------------------

    async def open_view(self, view: dict[str, Any]) -> str | None:
        """Open a modal on the request's trigger; its view id, or None when there is no
        trigger or Slack refused it (an expired trigger: the caller says what to type)."""
        if not self.trigger_id:
            return None
        trigger, self.trigger_id = self.trigger_id, None  # a trigger opens one view
        try:
            resp = await self.client.views_open(trigger_id=trigger, view=view)
        except SlackApiError as exc:
            log.info("could not open a modal: %s", exc.response.get("error"))
            return None
        return str((resp.get("view") or {}).get("id") or "") or None

    async def update_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """Replace an open modal (a form that finished loading); False when Slack refused
        (the user closed it)."""
        try:
            await self.client.views_update(view_id=view_id, view=view)
        except SlackApiError as exc:
            log.info("could not update modal %s: %s", view_id, exc.response.get("error"))
            return False
        return True
