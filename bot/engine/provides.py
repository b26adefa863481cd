"""What one runbook module adds to the bot: its commands, runbooks, buttons, dangerous actions
and scheduled posts. A module declares one `PROVIDES`; the Slack surface finds every one in
`handlers/` and registers it, so nothing is registered by hand (bot/surface/discovery.py)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.audit import ReadBack
from bot.engine.contract import ActionSpec, CommandSpec, ShortcutSpec, UnfurlSpec
from bot.engine.dangerous import DangerousAction
from bot.engine.scheduled import ScheduledPost
from bot.engine.steps import Runbook
from bot.engine.watching import WatchSource


@dataclass(frozen=True)
class Provides:
    commands: tuple[CommandSpec, ...] = ()
    runbooks: tuple[Runbook, ...] = ()
    actions: tuple[ActionSpec, ...] = ()
    dangerous: tuple[DangerousAction, ...] = ()
    scheduled: tuple[ScheduledPost, ...] = ()
    watches: tuple[WatchSource, ...] = ()  # what a family reads for `[[watches]]`
    shortcuts: tuple[ShortcutSpec, ...] = ()
    unfurls: tuple[UnfurlSpec, ...] = ()
    # How to read back a write of each operation whose outcome is unknown (bot/engine/audit.py).
    read_backs: tuple[ReadBack, ...] = ()
