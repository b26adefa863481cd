"""What a handler gets: the parsed command, who asked where, how to answer, and the services."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import ParsedCommand
from bot.reply import Replier
from bot.services import Services


@dataclass
class Invocation:
    command: ParsedCommand
    user_id: str
    channel_id: str
    team_id: str
    reply: Replier
    client: AsyncWebClient
    services: Services
    correlation_id: str
