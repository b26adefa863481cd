"""Where a reconciliation goes: one channel message (progress, then the result), and past a
screenful the CSV of every missing order and a Re-import button per order in its thread.

A command posts through its Replier; a scheduled slot through the Slack client. `Poster`
is what both give."""

from __future__ import annotations

from typing import Protocol

from bot.engine import Toolbox
from bot.kit.blocks import Message
from bot.kit.posting import SlackClient, Upload, Uploaded, post_message, upload_file
from handlers.reconcile.compare import Reconciliation
from handlers.reconcile.render import csv_upload, needs_thread, order_buttons_message


class Poster(Protocol):
    async def post(self, message: Message, *, thread_ts: str | None = None) -> str: ...

    async def upload(self, upload: Upload, *, thread_ts: str | None = None) -> Uploaded: ...


class ChannelPoster:
    """Posts in a channel with the bot's client (scheduled posts have no Replier)."""

    def __init__(self, client: SlackClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def post(self, message: Message, *, thread_ts: str | None = None) -> str:
        return await post_message(self.client, self.channel, message, thread_ts=thread_ts)

    async def upload(self, upload: Upload, *, thread_ts: str | None = None) -> Uploaded:
        return await upload_file(self.client, self.channel, upload, thread_ts=thread_ts)


async def post_thread(
    tools: Toolbox,
    poster: Poster,
    result: Reconciliation,
    ts: str,
    *,
    created_by: str,
    channel_id: str | None,
) -> str | None:
    """The CSV and the per-order buttons in the thread of `ts`, when the message does not
    list every missing order. Returns the CSV's file id."""
    if not needs_thread(result):
        return None
    uploaded = await poster.upload(csv_upload(result), thread_ts=ts)
    buttons = await order_buttons_message(
        tools, result, created_by=created_by, channel_id=channel_id
    )
    if buttons is not None:
        await poster.post(buttons, thread_ts=ts)
    return uploaded.file_id
