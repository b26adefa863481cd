"""What a runbook sees: the command, button and toolbox types the engine hands to handlers.

A handler answers an `Invocation` (a parsed `/oms` command, who asked where, how to answer)
or a `Click` (a valid, consumed button press). Both carry the `Toolbox`: the narrow set of
things a runbook may use (the OMS client, the audit, runs, approvals, buttons, the policy),
never the database, Bolt or the Slack surface. The engine's concrete classes satisfy the
protocols below; the Slack surface hands them over.

Runbooks import these through `bot.engine`, never from this module directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.audit import Audit
from bot.engine.metrics import Metrics
from bot.engine.policy import Authorizer, Policy
from bot.kit.blocks import Block, Message, button
from bot.kit.reply import Replier
from bot.oms import OmsClient
from bot.store.approvals import Approval
from bot.store.runs import RunRecord
from bot.store.slots import SlotRecord
from bot.store.tokens import ActionToken
from bot.store.watch_events import WatchState

DEFAULT_BUTTON_TTL = 24 * 3600.0

Handler = Callable[["Invocation"], Awaitable[None]]
# An answer given inside the ack itself: no OMS call, no database write (help and the like).
Answer = Callable[["ParsedCommand", "CommandIndex"], Message]
ValueParser = Callable[[str], Any]
ClickHandler = Callable[["Click"], Awaitable[None]]


class NotConfigured(Exception):
    """A setting the command needs is missing; the message says which and where."""


# ---- commands --------------------------------------------------------------------------------


def _identity(value: str) -> str:
    return value


@dataclass(frozen=True)
class Arg:
    """A positional argument. `parse` turns the text into a value or raises ValueError."""

    name: str
    help: str
    required: bool = True
    repeat: bool = False  # takes one or more values (the last positional only)
    parse: ValueParser = _identity
    max_count: int | None = None  # with repeat: the most values accepted

    def usage(self) -> str:
        text = f"<{self.name}>" + (" [...]" if self.repeat else "")
        return text if self.required else f"[{text}]"


@dataclass(frozen=True)
class Flag:
    """A `--name` option, either a switch or one that takes a value (`--since 7d`)."""

    name: str
    help: str
    metavar: str | None = None  # None: a switch without a value
    parse: ValueParser = _identity

    @property
    def takes_value(self) -> bool:
        return self.metavar is not None

    def usage(self) -> str:
        return f"[--{self.name} {self.metavar}]" if self.metavar else f"[--{self.name}]"


@dataclass(frozen=True)
class CommandSpec:
    """One /oms command: what it takes, what it does, who may run it, what runs it."""

    name: str
    summary: str
    handler: Handler | None = None
    answer: Answer | None = None
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    examples: tuple[str, ...] = ()
    # The policy role needed to run it; None means open to everyone unless the policy says
    # otherwise. Commands that change the OMS always name a role.
    role: str | None = None
    changes_oms: bool = False

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.answer is None):
            raise ValueError(f"command {self.name!r} needs exactly one of handler and answer")

    def usage(self) -> str:
        parts = [f"/oms {self.name}"]
        parts += [a.usage() for a in self.args]
        parts += [f.usage() for f in self.flags]
        return " ".join(parts)


@dataclass(frozen=True)
class ParsedCommand:
    spec: CommandSpec
    args: Mapping[str, Any] = field(default_factory=dict)
    flags: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""

    def arg(self, name: str) -> Any:
        return self.args.get(name)

    def flag(self, name: str) -> Any:
        return self.flags.get(name)


class UsageError(Exception):
    """The text does not make a valid command. `problem` says what; `spec` gives the usage."""

    def __init__(
        self, problem: str, spec: CommandSpec | None = None, suggestion: str | None = None
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.spec = spec
        self.suggestion = suggestion


class CommandIndex(Protocol):
    """The commands as help sees them (the engine's Registry)."""

    def get(self, name: str) -> CommandSpec | None: ...

    def all(self) -> list[CommandSpec]: ...

    def closest(self, word: str) -> str | None: ...


@dataclass
class Invocation:
    """What a command handler gets: the parsed command, who asked where, how to answer."""

    command: ParsedCommand
    user_id: str
    channel_id: str
    team_id: str
    reply: Replier
    client: AsyncWebClient
    tools: Toolbox
    correlation_id: str


# ---- buttons ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ButtonSpec:
    """A button to issue: what pressing it does and who may press it."""

    label: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    style: str | None = None
    confirm: Block | None = None  # Slack's "are you sure?" dialog, for destructive actions
    allowed_users: tuple[str, ...] | None = None
    allowed_role: str | None = None
    denied_users: tuple[str, ...] = ()


@dataclass
class Click:
    """One valid, consumed button press, handed to the action's handler."""

    token: ActionToken
    user_id: str
    channel_id: str
    message_ts: str | None
    is_ephemeral: bool
    trigger_id: str | None
    client: AsyncWebClient
    reply: Replier
    tools: Toolbox

    @property
    def params(self) -> dict[str, Any]:
        return self.token.params


def _pressed_by(click: Click) -> str:
    return f"Pressed by <@{click.user_id}>"


@dataclass(frozen=True)
class ActionSpec:
    """A button action: its name (the ButtonSpec's `action`) and what a press does."""

    name: str
    handler: ClickHandler
    # What replaces the buttons the moment the press wins, e.g. "Approved by <@U1>".
    pressed_note: Callable[[Click], str] = _pressed_by
    # Why a user in the token's denied list may not press it.
    denied_reason: str = "You may not use this button."
    # What a press after the button expired answers (mrkdwn), when "run the command again"
    # is wrong: an approver cannot ask again for someone else's request.
    expired_reason: Callable[[ActionToken], Awaitable[str]] | None = None
    # What a press of a button someone else already pressed answers (mrkdwn), when "Already
    # handled by" alone would hide what became of it (an approval that has not started).
    consumed_reason: Callable[[ActionToken], Awaitable[str]] | None = None


# ---- the toolbox -----------------------------------------------------------------------------


class Runs(Protocol):
    """Starting runs of a runbook (the engine's RunEngine)."""

    async def start(
        self,
        runbook_name: str,
        params: dict[str, Any],
        *,
        actor: str,
        channel_id: str,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]] | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """Record the run, take its leases, post its checklist and run it; raises OrderBusy
        when one of its orders is held by another run. `run_id`: the id it must have (an
        approved request names its run at the decision), else a new one."""
        ...

    async def try_start(
        self,
        runbook_name: str,
        params: dict[str, Any],
        *,
        actor: str,
        channel_id: str,
        client: AsyncWebClient,
        reply: Replier,
        notify: list[tuple[str, str | None]] | None = None,
    ) -> RunRecord | None:
        """`start`, telling the user who holds the order instead when it is busy."""
        ...

    async def get(self, run_id: str) -> RunRecord | None: ...


class ApprovalDesk(Protocol):
    """The two-person rule (the engine's Approvals)."""

    def roles_for(self, name: str) -> tuple[str, ...] | None:
        """The approver roles of action `name`, or None when it needs no second person."""
        ...

    async def request(
        self,
        name: str,
        params: dict[str, Any],
        *,
        requester: str,
        channel_id: str,
        client: AsyncWebClient,
        reply: Replier,
    ) -> Approval: ...

    async def pending(self) -> list[Approval]: ...

    def summary(self, approval: Approval) -> str:
        """What the request asks for, in a few words."""
        ...

    async def latest(
        self,
        action: str,
        matches: Callable[[dict[str, Any]], bool],
        *,
        states: tuple[str, ...] | None = None,
    ) -> Approval | None:
        """The newest request of `action` whose parameters `matches` accepts."""
        ...


class Buttons(Protocol):
    """Issuing buttons (the engine's Actions)."""

    async def buttons(
        self,
        specs: list[ButtonSpec],
        *,
        created_by: str,
        channel_id: str | None,
        ttl: float = DEFAULT_BUTTON_TTL,
        group_key: str | None = None,
        first_index: int = 0,
    ) -> tuple[str, list[Block]]:
        """Store a token per button (one group: the first press consumes all); return
        (group key, button elements)."""
        ...


class Toolbox(Protocol):
    """What a runbook may use, and nothing more."""

    @property
    def oms(self) -> OmsClient: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def authorizer(self) -> Authorizer: ...

    @property
    def audit(self) -> Audit: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def runs(self) -> Runs: ...

    @property
    def approvals(self) -> ApprovalDesk: ...

    @property
    def actions(self) -> Buttons: ...

    async def message_link(self, channel: str | None, ts: str | None) -> str | None:
        """A link to a Slack message, or None."""
        ...

    async def run_command(self, click: Click, text: str) -> None:
        """Run `/oms <text>` as the presser of `click`, with their roles checked, exactly as
        if they had typed it (a digest's Re-import button runs `/oms import`)."""
        ...

    async def slot_history(self, schedule_id: str, limit: int) -> list[SlotRecord]:
        """The newest slots of a schedule, newest first."""
        ...

    async def watch_state(self) -> WatchState:
        """Every watch's last poll and the alerts still open (`/oms watches`)."""
        ...


# ---- message shortcuts, link unfurls and command buttons (issue 15) --------------------------

# A button that runs `/oms <command> <argument>` as whoever presses it, with their roles
# checked as if they had typed it. It carries no token: its value is only the argument (an
# order reference), which anyone may type anyway, so it never expires and any number of
# people may press it (an unfurled order card is seen by a whole channel). Only commands that
# do not change the OMS may be run so.
COMMAND_BUTTON_PREFIX = "oms-command:"


def command_button(label: str, command: str, argument: str) -> Block:
    """The button element of a command button (see COMMAND_BUTTON_PREFIX)."""
    return button(label, f"{COMMAND_BUTTON_PREFIX}{command}", argument)


@dataclass
class Shortcut:
    """A message shortcut used on a message: who, where, the message, how to answer."""

    callback_id: str
    user_id: str
    channel_id: str
    message_ts: str
    # The thread to answer in: the message's own thread, or the message when it starts none.
    thread_ts: str
    text: str
    # Posts in the thread; where the bot may not post there, shows the message to the user
    # alone instead, and returns False.
    post_in_thread: Callable[[Message], Awaitable[bool]]
    reply: Replier
    tools: Toolbox
    correlation_id: str


# Returns the order references it acted on (the audit finds the shortcut by them).
ShortcutHandler = Callable[[Shortcut], Awaitable[list[str]]]


@dataclass(frozen=True)
class ShortcutSpec:
    """A message shortcut (the manifest's `callback_id`) and what using it does."""

    callback_id: str
    handler: ShortcutHandler
    # The /oms command whose roles the policy applies to the shortcut.
    command: str


@dataclass(frozen=True)
class SharedLinks:
    """Links posted in a conversation the bot is in, on the domains the manifest declares."""

    user_id: str
    channel_id: str
    urls: tuple[str, ...]
    tools: Toolbox


# Each URL it unfurls, with the message shown under it; a URL it leaves out is not unfurled.
Unfurler = Callable[[SharedLinks], Awaitable[dict[str, Message]]]


@dataclass(frozen=True)
class UnfurlSpec:
    name: str
    handler: Unfurler
