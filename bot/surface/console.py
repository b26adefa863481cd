"""`oms-bot shell`: the bot in a terminal, against the embedded sandbox (or a real OMS).

It runs the same Bolt app as Slack does. Commands are dispatched as Socket Mode requests (no
signature to forge), the Web API points at a local stand-in, and every message the bot
sends or updates is printed as text, marked with who sees it (only you, or the channel).
Buttons are numbered across every message shown (`[3] Approve`) and `click N` presses one;
a button with Slack's "are you sure?" dialog asks the same as a y/N question. Files the bot
uploads are saved in a folder whose path is printed.

At a terminal, lines are read with readline (editing, and a history kept in the user's state
folder) and the prompt comes back while a run goes on: its updates print as they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.kit.serve import ThreadedServer
from bot.store.runs import list_runs
from bot.surface.app import build_bolt_app
from bot.surface.console_slack import (
    CONSOLE_CHANNEL,
    CONSOLE_DM,
    CONSOLE_TEAM,
    ConsoleMessage,
    ConsoleSlack,
)
from bot.surface.render import mrkdwn_to_text, render_blocks
from bot.surface.wiring import Services

DEFAULT_USER = "U0CONSOLE"
PROMPT = "oms> "
INTRO = (
    "oms-bot console{target}. Type /oms help, `click N` to press a button, `as U123` to act\n"
    "as another user (a second person for approvals), help for the console, or quit.\n"
    "Acting as {user}. Files the bot uploads are saved in a temporary folder (each path is\n"
    "printed)."
)
CONSOLE_HELP = """The console's own lines:
  /oms <command>   what you would type in Slack (/oms help lists the commands)
  click N          press button [N] of any message shown; one that asks to confirm asks y/N
  buttons          list the buttons that can be clicked now
  as U123          act as another Slack user (a second person, to approve a request)
  home             show the bot's Home tab (what waits for you, quick actions); a form it
                   opens is asked field by field
  quit             leave (Ctrl-D too; Ctrl-C drops the line typed)
Each reply says who would see it in Slack: "only you see this", or the channel (#console)."""
# How long the console waits for a command's last message once its work is done.
SETTLE_SECONDS = 0.05
# At a terminal, how long a line waits for its work before the prompt comes back (the rest
# of a run prints as it goes).
PROMPT_BACK_SECONDS = 1.0
YES = ("y", "yes")
NO = ("n", "no")
# A line's messages that mean it failed: error_message's shape (bot/kit/blocks.py).
_ERROR_MARK = ":warning: *"

Ask = Callable[[str], Awaitable[str | None]]
T = TypeVar("T")


def state_dir() -> Path:
    """Where the console keeps its history: $XDG_STATE_HOME/oms-bot (~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "oms-bot"


class LineEditing:
    """readline when the standard library has it (editing, arrows, a history file);
    plain input() when it does not (some Python builds lack it)."""

    def __init__(self, history: Path | None) -> None:
        self.history = history
        try:
            import readline
        except ImportError:  # pragma: no cover - depends on how Python was built
            self._readline: Any = None
            return
        self._readline = readline
        readline.set_history_length(1000)
        if history is not None and history.exists():
            # An unreadable history is not worth refusing to start.
            with contextlib.suppress(OSError):
                readline.read_history_file(history)

    @property
    def active(self) -> bool:
        return self._readline is not None

    def buffer(self) -> str:
        """What the user has typed at the prompt so far."""
        return str(self._readline.get_line_buffer()) if self._readline else ""

    def forget_last(self) -> None:
        """Drop the newest history line (a y/N answer is not a command to recall)."""
        if self._readline is not None:
            length = self._readline.get_current_history_length()
            if length:
                self._readline.remove_history_item(length - 1)

    def save(self) -> None:
        if self._readline is None or self.history is None:
            return
        try:
            self.history.parent.mkdir(parents=True, exist_ok=True)
            self._readline.write_history_file(self.history)
        except OSError:
            pass  # a read-only home loses the history, not the session


class Console:
    """Feeds lines to the app and prints what the bot answers."""

    def __init__(
        self,
        services: Services,
        *,
        user_id: str,
        out: TextIO,
        ask: Ask | None = None,
        files_dir: Path | None = None,
    ) -> None:
        self.services = services
        self.user_id = user_id
        self.out = out
        self.ask = ask
        # Every button shown, by its number; a message's buttons are renumbered when it
        # changes, and the numbers it had go stale.
        self.buttons: dict[int, dict[str, Any]] = {}
        self._numbers: dict[tuple[str, str], list[int]] = {}
        self._next_number = 1
        self._inbox: queue.Queue[ConsoleMessage] = queue.Queue()
        self._slack = ConsoleSlack(self._inbox.put, files_dir)
        self._server = ThreadedServer(self._slack.app)
        self._app: AsyncApp | None = None
        self._outcomes: list[str] = []
        self._error_replies = 0
        # Modals the bot opened (a denial's reason), asked once the line is done.
        self.views: deque[dict[str, Any]] = deque()
        # At a terminal: the prompt is showing, so a message arriving redraws it below.
        self.at_prompt = False
        self.prompt = PROMPT
        self.line_editing: LineEditing | None = None
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

    # ---- lines -----------------------------------------------------------------------------

    async def run_line(
        self, line: str, *, wait: float | None = None, confirmed: bool = False
    ) -> bool:
        """Run one console line; False when it failed (bad input, an error reply, a run that
        failed, ...). `wait`: at most this long for its work (None: until it is done).
        `confirmed`: a click's y/N question was already answered yes (see dialog_for)."""
        line = line.strip()
        if not line:
            return True
        if line == "click" or line.startswith("click "):
            return await self._click(line, wait, confirmed)
        if line.startswith("as "):
            return self._switch_user(line.removeprefix("as ").strip())
        if line in ("help", "?"):
            self.print(CONSOLE_HELP)
            return True
        if line == "buttons":
            self.print(self._shown_numbers())
            return True
        if line == "home":
            return await self._open_home(wait)
        if line == "oms" or line.startswith("oms "):
            line = "/" + line  # the slash is easy to forget at a terminal
        if not line.startswith("/oms"):
            self.print("Type a command such as /oms help, `click N`, or help for the console.")
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
        return await self._dispatch(body, wait)

    async def _open_home(self, wait: float | None) -> bool:
        """Open the Home tab, as Slack reports it to the bot (`app_home_opened`)."""
        body = {
            "type": "event_callback",
            "team_id": CONSOLE_TEAM,
            "api_app_id": "A0CONSOLE",
            "event_id": f"Ev{uuid.uuid4().hex[:10]}",
            "event": {
                "type": "app_home_opened",
                "user": self.user_id,
                "channel": CONSOLE_DM,
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
        return await self._dispatch(body, wait)

    def _switch_user(self, user_id: str) -> bool:
        """Act as another local user, e.g. to approve a request as a second person."""
        if not user_id.replace("_", "").isalnum() or user_id[:1] not in "UW":
            self.print("`as` takes a Slack user id such as U0SECOND.")
            return False
        self.user_id = user_id
        self.services.set_policy(self.services.policy.with_superuser(user_id))
        self.print(f"Now acting as {user_id}.")
        return True

    def _shown_numbers(self) -> str:
        numbers = sorted(self.buttons)
        if not numbers:
            return "There is no button to click."
        return "Buttons shown: " + ", ".join(
            f"[{n}] {mrkdwn_to_text(str(self.buttons[n]['text'].get('text', '')))}" for n in numbers
        )

    def dialog_for(self, line: str) -> dict[str, Any] | None:
        """The confirm dialog of the button a `click N` line presses, if it has one."""
        _, _, number = line.strip().partition(" ")
        if not line.strip().startswith("click") or not number.strip().isdigit():
            return None
        button = self.buttons.get(int(number))
        return button.get("confirm") if button else None

    async def _click(self, line: str, wait: float | None, confirmed: bool) -> bool:
        _, _, number = line.partition(" ")
        if not number.strip().isdigit():
            self.print("click takes the number of a button, e.g. `click 1`.")
            self.print(self._shown_numbers())
            return False
        button = self.buttons.get(int(number))
        if button is None:
            gone = 1 <= int(number) < self._next_number
            self.print(
                f"Button {int(number)} is no longer shown: its message changed or was removed."
                if gone
                else f"There is no button {int(number)}."
            )
            self.print(self._shown_numbers())
            return False
        if button.get("confirm") and not confirmed and not await self.confirm(button["confirm"]):
            return False
        if button.get("_view") is not None:
            return await self._dispatch(self._view_press(button), wait)
        channel, ts = button["_channel"], button["_ts"]
        body = {
            "type": "block_actions",
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": CONSOLE_TEAM},
            "team": {"id": CONSOLE_TEAM, "domain": "console"},
            "channel": {"id": channel, "name": "console"},
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": button["_ephemeral"],
            },
            "message": {"ts": ts, "text": "", "blocks": button["_blocks"]},
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
            "response_url": self._slack.response_url((channel, ts)),
            "trigger_id": uuid.uuid4().hex,
        }
        return await self._dispatch(body, wait)

    def _view_press(self, button: dict[str, Any]) -> dict[str, Any]:
        """A press of a button on the Home tab: its container is the view (no channel, no
        message, no response_url), as Slack sends it."""
        view = button["_view"]
        return {
            "type": "block_actions",
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": CONSOLE_TEAM},
            "team": {"id": CONSOLE_TEAM, "domain": "console"},
            "container": {"type": "view", "view_id": str(view.get("id") or "")},
            "view": view,
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
            "trigger_id": uuid.uuid4().hex,
        }

    def show_dialog(self, dialog: dict[str, Any]) -> str:
        """Print Slack's "are you sure?" dialog; return its y/N question."""
        title = mrkdwn_to_text(str((dialog.get("title") or {}).get("text", "Are you sure?")))
        text = mrkdwn_to_text(str((dialog.get("text") or {}).get("text", "")))
        yes = mrkdwn_to_text(str((dialog.get("confirm") or {}).get("text", "Yes")))
        self.print(title)
        if text:
            self.print(text)
        return f"{yes}? [y/N] "

    async def confirm(self, dialog: dict[str, Any]) -> bool:
        """The dialog as a y/N question, answered by `ask`; with nobody to ask (a script, a
        benchmark) the click is taken as meant, and the console says so."""
        question = self.show_dialog(dialog)
        if self.ask is None:
            answer: str | None = "y"
            self.print(f"{question}y (the -c click; put -c n after it to answer no)")
        else:
            answer = await self.ask(question)
        if answer is None or answer.strip().lower() not in YES:
            if answer is None:
                self.print(f"{question}(no answer)")
            self.print("Not pressed.")
            return False
        return True

    @staticmethod
    def view_inputs(view: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
        """A modal's text inputs: (block id, action id, label, optional)."""
        found = []
        for block in view.get("blocks") or []:
            element = block.get("element") or {}
            kind = element.get("type")
            if block.get("type") == "input" and kind in ("plain_text_input", "static_select"):
                label = mrkdwn_to_text(str((block.get("label") or {}).get("text", "")))
                if kind == "static_select":  # a select becomes a question with its choices
                    label += " [" + ", ".join(_option_values(element)) + "]"
                found.append(
                    (
                        str(block.get("block_id") or ""),
                        str(element.get("action_id") or ""),
                        label,
                        bool(block.get("optional")),
                    )
                )
        return found

    def view_title(self, view: dict[str, Any]) -> str:
        return mrkdwn_to_text(str((view.get("title") or {}).get("text", "A form")))

    async def submit_view(self, view: dict[str, Any], answers: dict[str, str]) -> bool:
        """Submit a modal with the answers given to its inputs (by block id)."""
        selects = {
            str(b.get("block_id")): b["element"]
            for b in view.get("blocks") or []
            if (b.get("element") or {}).get("type") == "static_select"
        }
        values: dict[str, dict[str, Any]] = {}
        for block_id, action_id, _, _ in self.view_inputs(view):
            answer = answers.get(block_id)
            if block_id in selects:
                chosen = next(
                    (o for o in selects[block_id].get("options") or [] if o.get("value") == answer),
                    None,
                )
                values[block_id] = {action_id: {"type": "static_select", "selected_option": chosen}}
            else:
                values[block_id] = {action_id: {"type": "plain_text_input", "value": answer}}
        body = {
            "type": "view_submission",
            "team": {"id": CONSOLE_TEAM, "domain": "console"},
            "user": {"id": self.user_id, "name": self.user_id.lower(), "team_id": CONSOLE_TEAM},
            "view": {**view, "state": {"values": values}},
            "trigger_id": uuid.uuid4().hex,
        }
        return await self._dispatch(body, None)

    async def _dispatch(self, body: dict[str, Any], wait: float | None) -> bool:
        assert self._app is not None, "start() first"
        self._outcomes.clear()
        self._error_replies = 0
        started = time.time()
        response = await self._app.async_dispatch(AsyncBoltRequest(body=body, mode="socket_mode"))
        ok = response.status == 200
        if response.status == 404:
            self.print("That button is not handled by this bot.")
        elif not ok:
            self.print(f"The bot answered HTTP {response.status}: {response.body}")
        elif response.body and json.loads(response.body).get("response_action") == "errors":
            # A form the bot refused: Slack keeps it open with the errors under its fields;
            # the console says them and asks the form again.
            errors = json.loads(response.body).get("errors") or {}
            for field, problem in errors.items():
                self.print(f"⚠ {field}: {problem}")
            if body.get("view"):
                self.views.appendleft(body["view"])
            return False
        elif response.body and json.loads(response.body).get("response_action"):
            pass  # a form replaced by another (a form that could not be read)
        elif response.body:
            ack = json.loads(response.body)
            message = ConsoleMessage(
                "response",
                CONSOLE_CHANNEL,
                self._slack.new_ts(),
                ack.get("text", ""),
                ack.get("blocks") or [],
                in_channel=ack.get("response_type") == "in_channel",
            )
            # The ack is the reply a later replace_original (the command's answer) replaces.
            self._slack.set_original(str(body["response_url"]), (message.channel, message.ts))
            self._show(message)
        finished = await self._follow(wait)
        if not finished:
            return ok and all(outcome == "ok" for outcome in self._outcomes)
        runs_failed = await self._runs_failed_since(started)
        return (
            ok
            and all(outcome == "ok" for outcome in self._outcomes)
            and not self._error_replies
            and not runs_failed
        )

    async def _runs_failed_since(self, started: float) -> bool:
        """Whether a run that ended since `started` failed or was interrupted (its failure is
        the line's, though the click that started it went fine)."""
        ended = await asyncio.to_thread(
            list_runs, self.services.store, states=("failed", "interrupted"), limit=10
        )
        return any(run.finished_at is not None and run.finished_at >= started for run in ended)

    async def _follow(self, wait: float | None) -> bool:
        """Print the line's later messages as they arrive, until its work is done (True) or
        `wait` seconds have passed (False: the rest prints as it arrives)."""
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            self.drain_inbox()
            if not self.services.tasks.pending:
                await asyncio.sleep(SETTLE_SECONDS)
                self.drain_inbox()
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)

    def drain_inbox(self) -> None:
        while True:
            try:
                self._show(self._inbox.get_nowait())
            except queue.Empty:
                return

    # ---- showing messages ------------------------------------------------------------------

    def _where(self, message: ConsoleMessage) -> str:
        name = "#console" if message.channel == CONSOLE_CHANNEL else f"#{message.channel}"
        if message.channel == CONSOLE_DM:
            name = "your DM with the bot"
        where = "only you see this" if message.only_you else f"in {name}"
        if message.thread_ts and not message.only_you:
            where += ", in a thread"
        if message.kind in ("updated", "replaced"):
            where = f"updated, {where}"
        return f"({where})"

    def _number(self, message: ConsoleMessage, found: list[dict[str, Any]]) -> int:
        """Number the message's buttons; the numbers it had before go stale."""
        key = (message.channel, message.ts)
        for old in self._numbers.pop(key, []):
            self.buttons.pop(old, None)
        first = self._next_number
        numbers = []
        for button in found:
            number = self._next_number
            self._next_number += 1
            self.buttons[number] = button
            numbers.append(number)
            button.update(
                _channel=message.channel,
                _ts=message.ts,
                _ephemeral=message.only_you,
                _blocks=message.blocks,
            )
        if numbers:
            self._numbers[key] = numbers
        return first

    def _show(self, message: ConsoleMessage) -> None:
        if message.kind == "home":
            self._show_home(message)
            return
        if message.kind == "view":
            if message.view:
                self.views.append(message.view)
            return
        if message.kind == "deleted":
            self._number(message, [])
            self._write(["(the reply above was removed)", ""])
            return
        if message.file is not None:
            note = message.file
            lines = [
                self._where(message),
                f"📎 {note.name} ({note.lines} lines) saved to {note.path}",
            ]
            if message.text:
                lines.append(mrkdwn_to_text(message.text))
            self._write([*lines, ""])
            return
        if message.blocks and message.blocks[0].get("type") == "section":
            first_text = str((message.blocks[0].get("text") or {}).get("text", ""))
            if first_text.startswith(_ERROR_MARK):
                self._error_replies += 1
        found: list[dict[str, Any]] = []
        # Render once to collect the buttons, then number them and render with the numbers.
        render_blocks(message.blocks, message.text, found)
        first = self._number(message, found)
        lines = render_blocks(message.blocks, message.text, [], first_number=first)
        self._write([self._where(message), *lines, ""])

    def _show_home(self, message: ConsoleMessage) -> None:
        """The Home tab: its buttons are numbered like a message's, and pressed as the
        Home's (`_view_press`)."""
        found: list[dict[str, Any]] = []
        render_blocks(message.blocks, message.text, found)
        first = self._number(message, found)
        for button in found:
            button["_view"] = message.view
        lines = render_blocks(message.blocks, message.text, [], first_number=first)
        self._write(["(your Home tab, only you see it)", *lines, ""])

    def _write(self, lines: list[str]) -> None:
        """Print lines; at a terminal prompt, above the prompt and what is typed so far."""
        redraw = self.at_prompt and self.line_editing is not None
        if redraw:
            self.out.write("\r\x1b[K")
        for line in lines:
            self.print(line)
        if redraw and self.line_editing is not None:
            self.out.write(self.prompt + self.line_editing.buffer())
            self.out.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def _pump(console: Console) -> None:
    """Print messages as they arrive while the prompt waits (a run's progress)."""
    while True:
        console.drain_inbox()
        await asyncio.sleep(0.05)


async def _close(console: Console, services: Services) -> None:
    """Let the work still running finish (its messages still print), then stop."""
    timeout = services.settings.omsbot_shutdown_timeout
    if services.tasks.pending:
        console.print(f"(waiting at most {timeout:.0f}s for the work still running)")
    await services.tasks.drain(timeout)
    console.drain_inbox()
    console.stop()
    await services.aclose()


async def run_script(
    services: Services,
    lines: list[str],
    *,
    user_id: str = DEFAULT_USER,
    out: TextIO = sys.stdout,
    files_dir: Path | None = None,
) -> int:
    """Run the lines one after the other, each until its work is done; 1 if one failed."""
    script = deque(lines)

    async def answer_from_script(question: str) -> str | None:
        # A `-c n` (or `-c y`) right after a click answers its question; without one, the
        # script's click is taken as meant, and the console says so.
        if script and script[0].strip().lower() in YES + NO:
            answer = script.popleft().strip()
            console.print(f"{question}{answer}")
            return answer
        console.print(f"{question}y (the -c click; put -c n after it to answer no)")
        return "y"

    console = Console(
        services, user_id=user_id, out=out, ask=answer_from_script, files_dir=files_dir
    )
    console.start()
    try:
        await services.sweep()  # runs a dead console left behind show up as interrupted
        results = []
        while script:
            results.append(await console.run_line(script.popleft()))
            while console.views:
                title = console.view_title(console.views.popleft())
                console.print(f"({title}: a form, skipped; the interactive console asks it)")
        return 0 if all(results) else 1
    finally:
        await _close(console, services)


class _Session:
    """The interactive console: the bot's event loop on a thread of its own, the user's
    input() on the main thread, so Ctrl-C reaches the prompt (and only the prompt) and
    readline restores the terminal itself."""

    def __init__(self, services: Services, console: Console, terminal: bool) -> None:
        self.services = services
        self.console = console
        self.terminal = terminal
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="console", daemon=True)
        # Lines read from a pipe are a script: one that failed makes the exit code 1, as -c.
        self.failed = False

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def read(self, prompt: str) -> str:
        self.console.at_prompt, self.console.prompt = True, prompt
        try:
            return input(prompt)
        finally:
            self.console.at_prompt = False

    def ask(self, question: str) -> bool:
        try:
            answer = self.read(question)
        except (EOFError, KeyboardInterrupt):
            self.console.print()
            answer = ""
        if self.console.line_editing is not None and answer.strip():
            self.console.line_editing.forget_last()  # an answer is not a command to recall
        if answer.strip().lower() in YES:
            return True
        self.console.print("Not pressed.")
        return False

    def run(self, user_id: str) -> int:
        self._thread.start()
        console = self.console
        pump = None
        try:
            console.start()
            self.call(self.services.sweep())  # runs a dead console left behind: interrupted
            if self.terminal:
                console.line_editing = LineEditing(state_dir() / "console_history")
                pump = asyncio.run_coroutine_threadsafe(_pump(console), self.loop)
            target = " (embedded HotWax sandbox)" if self.services.sandbox else ""
            console.print(INTRO.format(target=target, user=user_id))
            while True:
                try:
                    line = self.read(PROMPT)
                except EOFError:
                    console.print()
                    break
                except KeyboardInterrupt:
                    console.print()  # Ctrl-C drops the line typed, as a shell does
                    continue
                if line.strip() in ("quit", "exit"):
                    break
                if not self.run_line(line):
                    self.failed = True
            return 1 if self.failed and not self.terminal else 0
        finally:
            if console.line_editing is not None:
                console.line_editing.save()
            self.call(_close(console, self.services))
            if pump is not None:
                pump.cancel()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def run_line(self, line: str) -> bool:
        """Run a line; False when it failed (or its click was not confirmed)."""
        dialog = self.console.dialog_for(line)
        # A click's question is asked here, on the main thread, where the user types.
        if dialog is not None and not self.ask(self.console.show_dialog(dialog)):
            return False
        # At a terminal the prompt comes back while a run goes on (it prints as it goes);
        # piped lines wait for each line's work, as a script must.
        wait = PROMPT_BACK_SECONDS if self.terminal else None
        future = asyncio.run_coroutine_threadsafe(
            self.console.run_line(line, wait=wait, confirmed=dialog is not None), self.loop
        )
        try:
            ok = future.result()
        except KeyboardInterrupt:
            # Ctrl-C while waiting: back to the prompt; the work goes on and prints.
            self.console.print("(still working; its messages print as they arrive)")
            return True
        self.fill_views()
        return ok

    def fill_views(self) -> None:
        """Ask a modal's inputs (Slack's form) one by one; all skipped, it is not sent."""
        console = self.console
        while console.views:
            view = console.views.popleft()
            inputs = console.view_inputs(view)
            if not inputs:
                continue
            console.print(f"{console.view_title(view)} (a form; Enter skips an optional field)")
            answers: dict[str, str] = {}
            for block_id, _, label, optional in inputs:
                try:
                    answer = self.read(f"{label}{'' if optional else ' (required)'}: ")
                except (EOFError, KeyboardInterrupt):
                    console.print()
                    answers = {}
                    break
                if console.line_editing is not None and answer.strip():
                    console.line_editing.forget_last()
                if answer.strip():
                    answers[block_id] = answer.strip()
            if answers:
                self.call(console.submit_view(view, answers))
            else:
                console.print("(form skipped)")


def run_interactive(
    services: Services,
    *,
    user_id: str = DEFAULT_USER,
    out: TextIO = sys.stdout,
    files_dir: Path | None = None,
) -> int:
    """Read lines until EOF or quit; with readline and a history at a terminal."""

    async def unasked(_question: str) -> str | None:
        return None  # the session asks before the click reaches the loop (see run_line)

    console = Console(services, user_id=user_id, out=out, ask=unasked, files_dir=files_dir)
    return _Session(services, console, _is_terminal(sys.stdin)).run(user_id)


def _option_values(select: dict[str, Any]) -> list[str]:
    return [str(o.get("value")) for o in select.get("options") or [] if isinstance(o, dict)]
