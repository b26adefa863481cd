"""The policy file (OMSBOT_POLICY, TOML): roles, who may run what, who approves what.

```toml
[roles]
operator = ["U0123ALICE", "S0OPERATORS"]   # Slack user ids and user-group ids
approver = ["S0LEADS"]

[commands]
approve = ["operator"]      # override a command's roles; [] opens it to everyone
history = ["operator"]

[approvals]
channel = "C0APPROVALS"     # where requests are posted
expiry_minutes = 15

[approvals.actions]
approve = ["approver"]      # this action needs a second person holding one of these roles

[stores]                    # typed: `Stores` below lists every key with its meaning
[limits]                    # typed: `Limits` below lists every key with its default
[[digests]]                 # schedules: bot/engine/schedules.py
[[watches]]                 # job watches: bot/engine/watchlist.py
```

Read-only commands are open unless the policy names roles for them; commands that change the
OMS need a role, and with no policy file at all they are refused with a note on how to grant
them. The console's local user holds every role.

A bad file stops the start naming the problem: an unknown key anywhere, an undefined role, a
malformed id, and (`Policy.check_names`, once the runbooks are known) a `[commands]` or
`[approvals.actions]` name that is not a command or an approval action, with the closest one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.schedules import Schedule, parse_schedules
from bot.engine.watchlist import Watch, parse_watches
from bot.kit.config import ConfigError
from bot.kit.suggest import closest
from bot.oms import parse_store_id

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 300.0
DEFAULT_APPROVER_ROLE = "approver"


_MEMBER_ID = re.compile(r"^[UWS][A-Z0-9_]{1,40}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9_]{1,40}$")


def _slack_ids(values: list[str]) -> list[str]:
    for value in values:
        if not _MEMBER_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack user id (U…/W…) or user-group id (S…)")
    return values


class Limits(BaseModel):
    """`[limits]`: every limit a runbook reads, with its default. An unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_orders: int = Field(default=20, ge=1, le=20, strict=True)  # most orders in one /oms approve
    max_import: int = Field(default=20, ge=1, le=20, strict=True)  # most orders in one /oms import
    stuck_minutes: float = Field(default=30.0, gt=0)  # /oms check: Created this long is stuck
    sync_poll_seconds: float = Field(default=0.5, gt=0, le=60)  # order-sync job polling
    # A re-import waits this long for HotWax's MDM import of the order, at most...
    import_wait_minutes: float = Field(default=5.0, gt=0, le=60)
    # ... and concludes nothing more will come after this long without MDM activity.
    import_quiet_seconds: float = Field(default=60.0, gt=0, le=3600)
    job_follow_minutes: float = Field(default=15.0, gt=0, le=24 * 60)  # follow a job run
    job_poll_seconds: float = Field(default=5.0, gt=0, le=600)  # how often a run is read
    digest_page_size: int = Field(
        default=500, ge=1, le=10_000, strict=True
    )  # MDM logs and logInsights rows per page
    # How often every replica polls the `[[watches]]` (bot/engine/watching.py).
    watch_poll_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    # /oms reconcile: the longest window it compares (`--since`), in days.
    reconcile_max_days: float = Field(default=7.0, gt=0, le=90)


class Stores(BaseModel):
    """`[stores]`: which store, Shopify connection and jobs the runbooks act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    default: str | None = None  # the product store /oms rollback acts on when none is given
    shopify_remote: str | None = None  # the SystemMessageRemote of the shop the runbooks use
    order_sync_job: str | None = None  # that shop's order-sync ServiceJob (re-imports)
    shopify_config_id: str | None = None  # the Shopify config of /oms webhooks

    @field_validator("default")
    @classmethod
    def _store_id(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_store_id(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a product store id (e.g. STORE)") from None
        return value


class _ApprovalsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str | None = None
    expiry_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    actions: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (C… or G…)")
        return value


class _PolicyFile(BaseModel):
    """The file's shape; unknown keys are errors, so a typo cannot silently open a command."""

    model_config = ConfigDict(extra="forbid")
    roles: dict[str, list[str]] = Field(default_factory=dict)
    commands: dict[str, list[str]] = Field(default_factory=dict)
    approvals: _ApprovalsSection = Field(default_factory=_ApprovalsSection)
    digests: list[dict[str, Any]] = Field(default_factory=list)  # checked by parse_schedules
    watches: list[Any] = Field(default_factory=list)  # checked by parse_watches
    stores: Stores = Field(default_factory=Stores)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for members in value.values():
            _slack_ids(members)
        return value


class Guarded(Protocol):
    """What the policy needs of a command: its name and the role it names by default."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str | None: ...


@dataclass(frozen=True)
class Policy:
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    command_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    approval_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    approvals_channel: str | None = None
    approval_expiry_seconds: float = 15 * 60.0
    digests: tuple[Schedule, ...] = ()
    stores: Stores = field(default_factory=Stores)
    limits: Limits = field(default_factory=Limits)
    source: Path | None = None  # None: no policy file
    # Users who hold every role: the console's local user.
    superusers: frozenset[str] = frozenset()
    watches: tuple[Watch, ...] = ()  # [[watches]]: bot/engine/watchlist.py

    @property
    def loaded(self) -> bool:
        return self.source is not None

    def roles_for_command(self, spec: Guarded) -> tuple[str, ...]:
        """The roles that may run `spec`; empty means everyone."""
        if spec.name in self.command_roles:
            return self.command_roles[spec.name]
        return (spec.role,) if spec.role else ()

    def approver_roles(self, action: str) -> tuple[str, ...] | None:
        """Roles that approve `action`, or None when the policy does not require approval."""
        return self.approval_roles.get(action)

    def with_superuser(self, user_id: str) -> Policy:
        return Policy(**{**self.__dict__, "superusers": self.superusers | {user_id}})

    def with_store_defaults(self, **defaults: str) -> Policy:
        """The same policy with `[stores]` values filled in where the file left them unset
        (the embedded sandbox supplies its own shop connection and order-sync job)."""
        filled = {k: v for k, v in defaults.items() if getattr(self.stores, k) is None}
        return Policy(**{**self.__dict__, "stores": self.stores.model_copy(update=filled)})

    def check_names(self, *, commands: Iterable[str], actions: Iterable[str]) -> None:
        """Refuse `[commands]` and `[approvals.actions]` entries that name nothing: a typo
        there would silently leave a command open or an action without a second person."""
        where = f"OMSBOT_POLICY: {self.source}" if self.source else "OMSBOT_POLICY"
        problems = []
        for section, table, valid in (
            ("commands", self.command_roles, sorted(commands)),
            ("approvals.actions", self.approval_roles, sorted(actions)),
        ):
            kind = "command" if section == "commands" else "approval action"
            for name in table:
                if name not in valid:
                    problems.append(
                        f"{where}: [{section}] {name} is not a{'n' if kind[0] == 'a' else ''} "
                        f"{kind}{_closest(name, valid)}; the {kind}s are {', '.join(valid)}"
                    )
        if problems:
            raise ConfigError(*problems)


def _closest(name: str, valid: list[str]) -> str:
    match = closest(name, valid)
    return f" (did you mean {match}?)" if match else ""


_SECTION_FIELDS = {"limits": Limits.model_fields, "stores": Stores.model_fields}


def _problem(err: Any) -> str:
    """One line of pydantic's report; an unknown `[limits]`/`[stores]` key gets its fix."""
    loc = [str(p) for p in err["loc"]]
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and len(loc) == 2 and loc[0] in _SECTION_FIELDS:
        valid = sorted(_SECTION_FIELDS[loc[0]])
        message = f"unknown key{_closest(loc[1], valid)}; [{loc[0]}] takes {', '.join(valid)}"
    return ".".join(loc) + ": " + message


def load_policy(path: Path | None) -> Policy:
    """Read and check the policy file; a bad file stops the start naming what is wrong.

    The names in `[commands]` and `[approvals.actions]` are checked against the bot's
    commands and actions by `Policy.check_names`, once the runbooks are known."""
    if path is None:
        return Policy()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"OMSBOT_POLICY: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"OMSBOT_POLICY: {path} is not valid TOML: {exc}") from None
    try:
        parsed = _PolicyFile.model_validate(raw)
    except ValidationError as exc:
        # One line per problem: check-config and the start name every one.
        problems = [f"OMSBOT_POLICY: {path}: {_problem(err)}" for err in exc.errors()]
        raise ConfigError(*problems) from None
    known = set(parsed.roles)
    undefined = []
    for section, table in (
        ("commands", parsed.commands),
        ("approvals.actions", parsed.approvals.actions),
    ):
        for name, roles in table.items():
            unknown = [r for r in roles if r not in known]
            if unknown:
                undefined.append(
                    f"OMSBOT_POLICY: {path}: [{section}] {name} names undefined role(s) "
                    f"{', '.join(unknown)}; define them under [roles]"
                )
    if undefined:
        raise ConfigError(*undefined)
    return Policy(
        roles={name: frozenset(ids) for name, ids in parsed.roles.items()},
        command_roles={name: tuple(roles) for name, roles in parsed.commands.items()},
        approval_roles={name: tuple(roles) for name, roles in parsed.approvals.actions.items()},
        approvals_channel=parsed.approvals.channel,
        approval_expiry_seconds=parsed.approvals.expiry_minutes * 60,
        digests=tuple(parse_schedules(parsed.digests, str(path))),
        stores=parsed.stores,
        limits=parsed.limits,
        source=path,
        watches=tuple(parse_watches(parsed.watches, str(path))),
    )


@dataclass(frozen=True)
class Refusal:
    """Why a user may not do something, phrased for them."""

    reason: str
    roles: tuple[str, ...] = ()


class RoleCheckFailed(Exception):
    """Slack could not tell us a user group's members; the message says why."""


class Authorizer:
    """Answers "does this user hold this role?", resolving user groups through Slack."""

    def __init__(self, policy: Policy, client: AsyncWebClient | None = None) -> None:
        self.policy = policy
        self.client = client
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def _group_members(self, group_id: str) -> frozenset[str]:
        cached = self._groups.get(group_id)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        if self.client is None:
            return frozenset()
        async with self._lock:
            try:
                resp = await self.client.usergroups_users_list(usergroup=group_id)
            except SlackApiError as exc:
                raise RoleCheckFailed(
                    f"Slack did not list the members of user group {group_id} "
                    f"({exc.response.get('error', exc.response.status_code)})"
                ) from None
            members = frozenset(str(u) for u in resp.get("users") or [])
            self._groups[group_id] = (time.monotonic(), members)
            return members

    async def has_role(self, user_id: str, role: str) -> bool:
        if user_id in self.policy.superusers:
            return True
        members = self.policy.roles.get(role, frozenset())
        if user_id in members:
            return True
        for entry in members:
            if entry.startswith("S") and user_id in await self._group_members(entry):
                return True
        return False

    async def has_any(self, user_id: str, roles: tuple[str, ...]) -> bool:
        for role in roles:
            if await self.has_role(user_id, role):
                return True
        return False

    async def check_command(self, user_id: str, spec: Guarded) -> Refusal | None:
        """None when `user_id` may run `spec`; else why not and which roles would do."""
        roles = self.policy.roles_for_command(spec)
        if not roles or user_id in self.policy.superusers:
            return None
        if not self.policy.loaded:
            return Refusal(
                f"`/oms {spec.name}` changes the OMS, and no policy file grants it to anyone "
                "yet. Whoever runs the bot can grant it: write a TOML file with "
                f'`[roles]` `{roles[0]} = ["<your Slack user id or user group id>"]` and point '
                "OMSBOT_POLICY at it.",
                roles,
            )
        if await self.has_any(user_id, roles):
            return None
        names = " or ".join(f"*{r}*" for r in roles)
        return Refusal(
            f"`/oms {spec.name}` needs the {names} role, which you do not hold. Ask whoever "
            "runs the bot to add you (or one of your user groups) to it in the policy file.",
            roles,
        )
