"""The engine: runs and their progress, buttons, approvals, audit, policy, the /oms grammar,
tasks, metrics and the scheduler with its slot claims.

This module is the ONE public face of the engine: runbooks in `handlers/` import from here
and from nowhere else in it. The engine imports the kit, the OMS client and the store; it
never imports the Slack surface or the runbooks.
"""

from bot.engine.approvals import decision_words
from bot.engine.audit import EventKind, ReadBack
from bot.engine.contract import (
    COMMAND_BUTTON_PREFIX,
    ActionSpec,
    ApprovalDesk,
    Arg,
    Buttons,
    ButtonSpec,
    Click,
    CommandIndex,
    CommandSpec,
    Flag,
    Invocation,
    NotConfigured,
    ParsedCommand,
    Runs,
    SharedLinks,
    Shortcut,
    ShortcutSpec,
    Toolbox,
    UnfurlSpec,
    UsageError,
    command_button,
)
from bot.engine.dangerous import Approved, DangerousAction, Preview, PreviewLine, run_approved
from bot.engine.policy import Limits, Policy, Stores
from bot.engine.provides import Provides
from bot.engine.scheduled import (
    SYSTEM_ACTOR,
    ScheduledPost,
    Slot,
    SlotResult,
    post_note,
    record_post,
)
from bot.engine.schedules import Schedule
from bot.engine.steps import (
    Failure,
    OrderBusy,
    Outcome,
    Runbook,
    RunContext,
    Step,
    StepFailed,
    StepSkipped,
    job_lock_key,
    restorer,
)
from bot.engine.usage import command_help, help_list
from bot.engine.watching import Findings, Recovery, WatchEvent, WatchSource, WatchView
from bot.engine.watchlist import Watch
from bot.store.approvals import Approval
from bot.store.audit import AuditEvent
from bot.store.runs import RunRecord
from bot.store.watch_events import AlertRecord, WatchState

__all__ = [
    "COMMAND_BUTTON_PREFIX",
    "SYSTEM_ACTOR",
    "ActionSpec",
    "AlertRecord",
    "Approval",
    "ApprovalDesk",
    "Approved",
    "Arg",
    "AuditEvent",
    "ButtonSpec",
    "Buttons",
    "Click",
    "CommandIndex",
    "CommandSpec",
    "DangerousAction",
    "EventKind",
    "Failure",
    "Findings",
    "Flag",
    "Invocation",
    "Limits",
    "NotConfigured",
    "OrderBusy",
    "Outcome",
    "ParsedCommand",
    "Policy",
    "Preview",
    "PreviewLine",
    "Provides",
    "ReadBack",
    "Recovery",
    "RunContext",
    "RunRecord",
    "Runbook",
    "Runs",
    "Schedule",
    "ScheduledPost",
    "SharedLinks",
    "Shortcut",
    "ShortcutSpec",
    "Slot",
    "SlotResult",
    "Step",
    "StepFailed",
    "StepSkipped",
    "Stores",
    "Toolbox",
    "UnfurlSpec",
    "UsageError",
    "Watch",
    "WatchEvent",
    "WatchSource",
    "WatchState",
    "WatchView",
    "command_button",
    "command_help",
    "decision_words",
    "help_list",
    "job_lock_key",
    "post_note",
    "record_post",
    "restorer",
    "run_approved",
]
