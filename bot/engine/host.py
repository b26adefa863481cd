"""What the engine's own classes need of the bot that hosts them, beyond the runbooks' toolbox.

The Slack surface's composition root (bot/surface/wiring.py) satisfies this protocol; the
engine never imports it.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.changes import Changes
from bot.engine.contract import Toolbox
from bot.engine.tasks import TaskTracker
from bot.kit.posting import MessageUpdates
from bot.store import Store


class Host(Toolbox, Protocol):
    @property
    def store(self) -> Store: ...

    @property
    def tasks(self) -> TaskTracker: ...

    @property
    def slack(self) -> AsyncWebClient | None:
        """The Web API client of the Bolt app, for work no request carries (sweeps, digests)."""
        ...

    @property
    def run_lease(self) -> float:
        """Seconds without a heartbeat after which a run counts as interrupted."""
        ...

    @property
    def updates(self) -> MessageUpdates:
        """The pace and budget of every message update this bot makes (one per process)."""
        ...

    @property
    def changes(self) -> Changes:
        """Where the engine says what changed for whom (the App Home tab refreshes)."""
        ...

    def http_session(self) -> aiohttp.ClientSession:
        """The shared session for response_url posts."""
        ...

    def report(self, command: str, outcome: str) -> None:
        """Tell the listeners (metrics, the console) how a command or click ended."""
        ...
