"""What the Job Manager modules share: the role, lease keys, times in the user's time zone,
run statuses of both backends (OFBiz JobSandbox, Moqui ServiceJobRun) and cron schedules."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.engine import job_lock_key
from bot.kit.blocks import clip, escape
from bot.kit.durations import slack_time, slack_time_or
from bot.kit.reply import user_zone as user_zone  # the user's Slack zone (users.info)
from bot.oms import ServiceJobRun

log = logging.getLogger(__name__)

ROLE = "operator"
MOQUI = "moqui"
OFBIZ = "ofbiz"
BACKEND_LABELS = {
    MOQUI: "Moqui Job Manager",
    OFBIZ: "OFBiz JobSandbox (legacy)",
}

# A job parameter whose name looks like a credential: its value is never shown.
_SECRET_NAME = re.compile(r"password|passwd|secret|token|key|auth|credential", re.IGNORECASE)
HIDDEN = "(hidden)"


def is_secret_parameter(name: str) -> bool:
    """Whether a job parameter's name looks like a credential (`password`, `clientSecret`,
    `accessToken`, `apiKey`, `authHeader`…): its value is shown as `(hidden)`."""
    return bool(_SECRET_NAME.search(name))


def parameter_text(name: str, value: str | None, width: int = 60) -> str:
    """A parameter's value as Slack may show it: hidden when the name looks secret."""
    if value and is_secret_parameter(name):
        return HIDDEN
    return clip(value or "", width) if value else "(empty)"


STATUS_WORDS = {
    "SERVICE_DRAFT": "draft",
    "SERVICE_PENDING": "pending",
    "SERVICE_QUEUED": "queued",
    "SERVICE_RUNNING": "running",
    "SERVICE_FINISHED": "finished",
    "SERVICE_FAILED": "failed",
    "SERVICE_CRASHED": "crashed",
    "SERVICE_CANCELLED": "cancelled",
}
STATUS_ICONS = {
    "SERVICE_QUEUED": ":hourglass:",
    "SERVICE_RUNNING": ":hourglass_flowing_sand:",
    "SERVICE_FINISHED": ":white_check_mark:",
    "SERVICE_FAILED": ":x:",
    "SERVICE_CRASHED": ":boom:",
    "SERVICE_CANCELLED": ":no_entry_sign:",
}
RUN_ICONS = {
    "running": ":hourglass_flowing_sand:",
    "finished": ":white_check_mark:",
    "failed": ":x:",
    "terminated": ":no_entry_sign:",
}


def status_words(status_id: str | None) -> str:
    return STATUS_WORDS.get(status_id or "", (status_id or "unknown").lower())


def lock_key(job: str) -> str:
    """The run engine's lease key: one bot run per job at a time, across replicas (an OFBiz
    enum id or a Moqui job name); the order runbooks lease the order-sync job the same way."""
    return job_lock_key(job)


# ---- time shown in the user's time zone ------------------------------------------------------


def fmt_local(epoch_ms: int | None, zone: ZoneInfo) -> str:
    if epoch_ms is None:
        return "unknown"
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def slack_ms(epoch_ms: int | None) -> str:
    """A Job Manager moment (epoch ms) in mrkdwn: Slack shows it in each reader's zone.
    `fmt_local` is for plain text (confirm dialogs) and texts that are escaped."""
    return "unknown" if epoch_ms is None else slack_time(epoch_ms / 1000)


def fmt_moment(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "unknown"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f} min"


# ---- Moqui runs and schedules ---------------------------------------------------------------


def run_line(run: ServiceJobRun, zone: ZoneInfo, *, error_chars: int = 300) -> str:
    """One Moqui run: status, start, duration, id, and the error of a failed run."""
    line = (
        f"{RUN_ICONS.get(run.status, '•')} {run.status} · "
        f"{slack_time_or(run.start_time or run.end_time)} · "
        f"{fmt_duration(run.duration_seconds)} · run {run.job_run_id}"
    )
    if run.status == "failed" and run.errors:
        line += f"\n      {escape(clip(run.errors, error_chars))}"
    return line


_EVERY = re.compile(r"^(?:\*|0)/(\d+)$")


def describe_cron(expression: str | None) -> str:
    """A Quartz cron expression in words for the common schedules (HotWax's presets: every
    5/15/30 minutes, hourly, every six hours, daily); anything else as written."""
    if not expression:
        return "no schedule"
    fields = expression.split()
    if len(fields) not in (6, 7) or fields[0] != "0":
        return f"cron `{expression}`"
    minute, hour, day, month, weekday = fields[1:6]
    if any(f not in ("*", "?") for f in (day, month, weekday)):
        return f"cron `{expression}`"
    every_minutes = _EVERY.match(minute)
    if every_minutes and hour == "*":
        return f"every {every_minutes[1]} minutes"
    if not minute.isdigit():
        return f"cron `{expression}`"
    every_hours = _EVERY.match(hour)
    if hour == "*":
        return "hourly" if minute == "0" else f"hourly at :{int(minute):02d}"
    if every_hours:
        return f"every {every_hours[1]} hours"
    if hour.isdigit():
        return f"daily at {int(hour):02d}:{int(minute):02d} OMS time"
    return f"cron `{expression}`"
