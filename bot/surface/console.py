"""`oms-bot shell`: the bot in a terminal, against the embedded sandbox (or a real OMS).

It runs the same Bolt app as Slack does. Commands are dispatched as Socket Mode requests (no
signature to forge), the Web API points at a local stand-in, and every message the bot
sends or updates is printed as text; buttons become numbered choices that `click N` presses.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sys
import time
import uuid
from typing import Any, TextIO

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.kit.serve import ThreadedServer
from bot.surface.app import build_bolt_app
from bot.surface.console_slack import CONSOLE_CHANNEL, CONSOLE_TEAM, ConsoleMessage, ConsoleSlack
from bot.surface.render import render_blocks
from bot.surface.wiring import Services

DEFAULT_USER = "U0CONSOLE"
PROMPT = "oms> "
INTRO = (
    "oms-bot console{target}. Type /oms help, `click N` to press a button, `as U123` to act\n"
    "as another user (a second person for approvals), or quit. Acting as {user}."
)
# How long the console waits for a command's last message once its work is done.
SETTLE_SECONDS = 0.05


class Console:
    """Feeds lines to the app and prints what the bot answers."""

    def __init__(self, services: Services, *, user_id: str, out: TextIO) -> None:
        self.services = services
        self.user_id = user_id
        self.out = out
        self.buttons: list[dict[str, Any]] = []
        self._fresh_output = True
        self._inbox: queue.Queue[ConsoleMessage] = queue.Queue()
        self._slack = ConsoleSlack(self._inbox.put)
        self._server = ThreadedServer(self._slack.app)
        self._app: AsyncApp | None = None
        self._outcomes: list[str] = []
        services.outcome_listeners.append(lambda _name, outcome: self._outcomes.append(outcome))
        # The console's local user holds every role (it is someone at the machine itself).
        services.set_policy(services.policy.with_superuser(user_id))

    def start(self) -> None:
        self._server.start()
        self._slack.base_url = self._server.url
        self._app = build_bolt_app(
            self.services,
            token="xoxb-console",
            signing_secret=None,
            api_url=f"{self._server.url}/api/",
        )

    def stop(self) -> None:
        self._server.stop()

    def print(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    async def run_line(self, line: str) -> bool:
        """Run one console line; False when it failed (bad input, an OMS error, ...)."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("click"):
            return await self._click(line)
        if line.startswith("as "):
            return self._switch_user(line.removeprefix("as ").strip())
        if not line.startswith("/oms"):
            self.print("Type a command such as /oms help, or `click N`.")
            return False
        text = line.removeprefix("/oms").strip()
        body = {
            "command": "/oms",
            "text": text,
            "user_id": self.user_id,
            "user_name": self.user_id.lower(),
            "channel_id": CONSOLE_CHANNEL,
            "channel_name": "console",
            "team_id": CONSOLE_TEAM,
            "response_url": self._slack.response_url(),
            "trigger_id": uuid.uuid4().hex,
        }
        return await self._dispatch(body)

    def _switch_user(self, user_id: str) -> bool:
        """Act as another local user, e.g. to approve a request as a second person."""
        if not user_id.replace("_", "").isalnum() or user_id[:1] not in "UW":
            self.print("`as` takes a Slack user id such as U0SECOND.")
            return False
        self.user_id = user_id
        self.services.set_policy(self.services.policy.with_superuser(user_id))
        self.print(f"Now acting as {user_id}.")
        return True

    async def _click(self, line: str) -> bool:
        _, _, number = line.partition(" ")
        if not number.strip().isdigit() or not 1 <= int(number) <= len(self.buttons):
            shown = len(self.buttons)
            self.print(
                f"click takes a button number from 1 to {shown}."
                if shown
                else "There is no button to click."
            )
            return False
        button = self.buttons[int(number) - 1]
        body = {
            "type": "block_actions",
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": CONSOLE_TEAM},
            "team": {"id": CONSOLE_TEAM, "domain": "console"},
            "channel": {"id": button["_channel"], "name": "console"},
            "container": {
                "type": "message",
                "message_ts": button["_ts"],
                "channel_id": button["_channel"],
                "is_ephemeral": button["_ephemeral"],
            },
            "message": {"ts": button["_ts"], "text": "", "blocks": button["_blocks"]},
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": button.get("block_id") or "",
                    "value": button.get("value", ""),
                    "text": button["text"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
            "response_url": self._slack.response_url(),
            "trigger_id": uuid.uuid4().hex,
        }
        return await self._dispatch(body)

    async def _dispatch(self, body: dict[str, Any]) -> bool:
        assert self._app is not None, "start() first"
        self._outcomes.clear()
        # Buttons stay pressable until newer ones appear (a refused press changes nothing).
        self._fresh_output = True
        response = await self._app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        ok = response.status == 200
        if response.status == 404:
            self.print("That button is not handled by this bot.")
        elif not ok:
            self.print(f"The bot answered HTTP {response.status}: {response.body}")
        elif response.body:
            ack = json.loads(response.body)
            self._show(
                ConsoleMessage(
                    "ack", CONSOLE_CHANNEL, "", ack.get("text", ""), ack.get("blocks") or []
                )
            )
        await self._follow()
        return ok and all(outcome == "ok" for outcome in self._outcomes)

    async def _follow(self) -> None:
        """Print the command's later messages as they arrive, until its work is done."""
        while True:
            self._drain_inbox()
            if not self.services.tasks.pending:
                await asyncio.sleep(SETTLE_SECONDS)
                self._drain_inbox()
                return
            await asyncio.sleep(0.02)

    def _drain_inbox(self) -> None:
        while True:
            try:
                self._show(self._inbox.get_nowait())
            except queue.Empty:
                return

    def _show(self, message: ConsoleMessage) -> None:
        labels = {"updated": "(updated)", "replaced": "(updated)", "ephemeral": "(only you)"}
        if self._fresh_output and any(b.get("type") == "actions" for b in message.blocks):
            self.buttons = []
            self._fresh_output = False
        first = len(self.buttons)
        lines = render_blocks(message.blocks, message.text, self.buttons)
        for button in self.buttons[first:]:
            button.update(
                _channel=message.channel,
                _ts=message.ts,
                _ephemeral=message.kind in ("ack", "response", "replaced", "ephemeral"),
                _blocks=message.blocks,
            )
        tag = labels.get(message.kind)
        if tag:
            self.print(tag)
        for line in lines:
            self.print(line)
        self.print()


async def run_console(
    services: Services,
    *,
    user_id: str = DEFAULT_USER,
    lines: list[str] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the given lines and return an exit code, or read lines until EOF / quit."""
    console = Console(services, user_id=user_id, out=out)
    console.start()
    await services.sweep()  # runs a dead console left behind show up as interrupted
    try:
        if lines is not None:
            results = [await console.run_line(line) for line in lines]
            return 0 if all(results) else 1
        target = " (embedded HotWax sandbox)" if services.sandbox else ""
        console.print(INTRO.format(target=target, user=user_id))
        while True:
            try:
                line = await asyncio.to_thread(input, PROMPT)
            except EOFError:
                return 0
            if line.strip() in ("quit", "exit"):
                return 0
            await console.run_line(line)
    finally:
        console.stop()
        await services.tasks.drain(services.settings.omsbot_shutdown_timeout)
        await services.aclose()
