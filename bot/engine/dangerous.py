"""Dangerous actions: what a runbook declares for the two-person rule (bot/engine/approvals.py).

A `DangerousAction` says, for its parameters, what will happen (`summary`), what it means
for operations (`consequences`), what it would change read live from the OMS (`preview`),
how the approver reads its parameters (`parameters`, labelled), and how to start it once
approved (`execute`, usually `run_approved(runbook)`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.contract import Toolbox
from bot.engine.policy import DEFAULT_APPROVER_ROLE
from bot.engine.steps import OrderBusy
from bot.kit.reply import Replier
from bot.store.approvals import Approval


@dataclass(frozen=True)
class PreviewLine:
    what: str
    current: str
    new: str


@dataclass(frozen=True)
class Preview:
    """What an action would change, read from the live OMS."""

    lines: tuple[PreviewLine, ...]
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": [[ln.what, ln.current, ln.new] for ln in self.lines],
            "notes": list(self.notes),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Preview:
        return Preview(
            lines=tuple(PreviewLine(*row) for row in data.get("lines", [])),
            notes=tuple(data.get("notes", [])),
        )

    def digest(self) -> str:
        # Only the state (current -> new) is bound; wording of notes may change freely.
        return digest([[ln.what, ln.current, ln.new] for ln in self.lines])


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Approved:
    """An approved request about to execute."""

    approval: Approval
    approver: str
    client: AsyncWebClient
    reply: Replier  # answers the requester where they asked
    tools: Toolbox
    # The id the started run must have: named at the decision, so a request found approved
    # without a run after a crash can tell "never started" from "started" (approvals.py).
    run_id: str | None = None


@dataclass(frozen=True)
class NotStarted:
    """An approved action that could not start, and why (mrkdwn, ready to show)."""

    reason: str


# Parameters the approver never needs to read: the audit's order index (`order_keys`) and
# the engine's own bookkeeping (names starting with "_").
HIDDEN_PARAMETERS = frozenset({"order_keys"})
# Labels for the parameter names runbooks share; any other name is shown as words.
PARAMETER_LABELS = {
    "order_id": "Order",
    "orders": "Orders",
    "store": "Product store",
    "shopify_id": "Shopify order id",
    "product_id": "Product",
    "mode": "Mode",
}
PARAMETER_VALUE_MAX = 300


def labelled_parameters(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The parameters as (label, readable value) pairs, for an approver rather than a parser:
    lists joined with commas, mappings as `key: value`, internal names left out."""
    shown = []
    for name, value in sorted(params.items()):
        if name in HIDDEN_PARAMETERS or name.startswith("_"):
            continue
        label = PARAMETER_LABELS.get(name) or name.replace("_", " ").capitalize()
        text = _readable(value)
        if len(text) > PARAMETER_VALUE_MAX:
            text = text[: PARAMETER_VALUE_MAX - 1] + "…"
        shown.append((label, text))
    return shown


def _readable(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_readable(v)}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(_readable(v) for v in value) or "none"
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True)
class DangerousAction:
    name: str
    # "Approve orders 10005, 10006": what will happen, in a few words.
    summary: Callable[[dict[str, Any]], str]
    # What it means for operations, in plain words.
    consequences: Callable[[dict[str, Any]], str]
    preview: Callable[[Toolbox, dict[str, Any]], Awaitable[Preview]]
    # Starts the work (usually a run) and returns its run id, or NotStarted saying why it
    # could not start (an order is busy); the approvals tell the approver and the requester.
    execute: Callable[[Approved], Awaitable[str | NotStarted]]
    # Roles that approve it when the policy names none. None: only dangerous if the policy
    # says so (the policy's [approvals.actions] lists it).
    default_roles: tuple[str, ...] | None = (DEFAULT_APPROVER_ROLE,)
    # The parameters as the approval card shows them: (label, value) pairs, plain text.
    parameters: Callable[[dict[str, Any]], list[tuple[str, str]]] = labelled_parameters


def run_approved(runbook: str) -> Callable[[Approved], Awaitable[str | NotStarted]]:
    """The usual execution of an approved action: start `runbook` with the approved
    parameters, as the approver, where it was asked, reporting in the request's thread."""

    async def execute(approved: Approved) -> str | NotStarted:
        approval = approved.approval
        try:
            run = await approved.tools.runs.start(
                runbook,
                approval.params,
                actor=approved.approver,
                channel_id=approval.requested_channel,
                client=approved.client,
                reply=approved.reply,
                notify=[(approval.approvals_channel, approval.request_message_ts)],
                run_id=approved.run_id,
            )
        except OrderBusy as busy:
            return NotStarted(busy.reason())
        return run.id

    return execute
