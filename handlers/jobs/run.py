"""Running a Job Manager job now, as a run of the run engine (docs/oms-api.md, "Jobs and webhooks").

The runbook checks that the job is not already queued or running, schedules the run-now copy
of its template (`scheduleService` without SERVICE_TIME), then follows the copy until it
finishes or fails, showing its status in the progress message. The result names the MDM log
the run created, or the OMS's error. Following stops after `[limits] job_follow_minutes`
(default 15) with a note on how to check later; `[limits] job_poll_seconds` (default 5) is
how often the OMS is asked.

Other families offer the run through `handlers.jobs` (the order runbooks offer "Run the New
orders job"): `run_job_button(job_key)` gives a ButtonSpec whose action (registered here)
starts the run; `start_job_run(tools, job_key, ...)` starts it directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import (
    ActionSpec,
    ButtonSpec,
    Click,
    OrderBusy,
    Outcome,
    Provides,
    Runbook,
    RunContext,
    RunRecord,
    Step,
    StepFailed,
    StepSkipped,
    Toolbox,
)
from bot.kit.blocks import Message, confirm_dialog, escape, section
from bot.kit.durations import fmt_time
from bot.kit.reply import Replier
from bot.oms import Job, JobsApi
from bot.oms import jobs as oms_jobs
from handlers.jobs.catalog import JobInfo, job_by_enum, parse_job

log = logging.getLogger(__name__)

NAME = "job.run"
ROLE = "operator"
RUN_ACTION = "jobs.run"
# A copy scheduled this long before the run started still counts as this run's copy: the
# OMS clock and ours may differ a little.
CLOCK_SLACK_MS = 60_000

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


def status_words(status_id: str | None) -> str:
    return STATUS_WORDS.get(status_id or "", (status_id or "unknown").lower())


def lock_key(enum_id: str) -> str:
    """The run engine's lease key: one bot run per job at a time, across replicas."""
    return f"job:{enum_id}"


# ---- time shown in the user's time zone ------------------------------------------------------


async def user_zone(client: AsyncWebClient, user_id: str) -> ZoneInfo:
    """The user's Slack time zone (users.info `tz`), or UTC when it cannot be read."""
    try:
        resp = await client.users_info(user=user_id)
        user = resp.get("user") or {}
        return ZoneInfo(str(user.get("tz") or "UTC"))
    except (SlackApiError, ZoneInfoNotFoundError, ValueError) as exc:
        log.info("no time zone for %s (%s); showing UTC", user_id, exc)
        return ZoneInfo("UTC")


def fmt_local(epoch_ms: int | None, zone: ZoneInfo) -> str:
    if epoch_ms is None:
        return "unknown"
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f} min"


# ---- the runbook -----------------------------------------------------------------------------


def _job(params: dict[str, Any]) -> JobInfo:
    job = job_by_enum(str(params["job"]))
    if job is None:
        raise StepFailed(f"{params['job']} is not a job this bot knows")
    return job


def _since_ms(ctx: RunContext) -> int:
    return int(ctx.run.created_at * 1000) - CLOCK_SLACK_MS


def already_running_text(job: JobInfo, active: Job, zone: ZoneInfo | None = None) -> str:
    when = fmt_local(active.start_date_time or active.run_time, zone or ZoneInfo("UTC"))
    return (
        f"{job.name} is already {status_words(active.status_id)} in the OMS (job "
        f"{active.job_id}, since {when}), so it was not started again. Follow it with "
        f"`/oms job {job.key}`."
    )


async def _check_idle(ctx: RunContext) -> str:
    job = _job(ctx.params)
    api = JobsApi(ctx.tools.oms)
    active = await api.active(job.enum_id)
    if active:
        raise StepFailed(already_running_text(job, active[0]))
    draft, _ = await api.templates(job.enum_id)
    if draft is None:
        raise StepFailed(
            f"{job.name} ({job.enum_id}) has no job template in this OMS, so it cannot be run "
            "from here. Set it up in the Job Manager first."
        )
    return f"not queued or running; template {draft.job_id} ({draft.service_name})"


async def _schedule(ctx: RunContext) -> str:
    job = _job(ctx.params)
    api = JobsApi(ctx.tools.oms)
    draft, schedule = await api.templates(job.enum_id)
    if draft is None:
        raise StepFailed(f"the template of {job.name} disappeared from the OMS")
    copies = await api.copies_since(draft.job_id, _since_ms(ctx))
    if copies:
        raise StepSkipped(f"the run-now copy is already scheduled (job {copies[0].job_id})")
    await ctx.oms_write(
        "schedule a job to run now",
        {"job": job.enum_id, "service": draft.service_name, "template": draft.job_id},
        api.run_now(draft, schedule, user=ctx.actor),
    )
    copies = await api.copies_since(draft.job_id, _since_ms(ctx))
    if copies:
        return f"job {copies[0].job_id} is {status_words(copies[0].status_id)}"
    return "scheduled with scheduleService"


async def _follow(ctx: RunContext) -> str:
    job = _job(ctx.params)
    api = JobsApi(ctx.tools.oms)
    follow_minutes = ctx.tools.policy.limits.job_follow_minutes
    poll = ctx.tools.policy.limits.job_poll_seconds
    draft, _ = await api.templates(job.enum_id)
    if draft is None:
        raise StepFailed(f"the template of {job.name} disappeared from the OMS")
    started = time.monotonic()
    deadline = started + follow_minutes * 60
    shown: str | None = None
    copy: Job | None = None
    while True:
        copies = await api.copies_since(draft.job_id, _since_ms(ctx))
        copy = copies[0] if copies else None
        if copy is not None and copy.status_id in oms_jobs.ENDED:
            break
        waited = time.monotonic() - started
        status = status_words(copy.status_id) if copy else "not picked up yet"
        note = f"{status} · job {copy.job_id if copy else '?'}"
        if note != shown:
            await ctx.progress(f"{note} (checking every {poll:g}s)")
            shown = note
        if time.monotonic() >= deadline:
            text = (
                f"{job.name} is still {status} after {waited / 60:.0f} min (job "
                f"{copy.job_id if copy else 'not found yet'}); I stopped following it. Check "
                f"it later with `/oms job {job.key}`."
            )
            ctx.scratch["summary"] = text
            return text
        await asyncio.sleep(poll)
    if copy.status_id != oms_jobs.FINISHED:
        raise StepFailed(
            f"{job.name} {status_words(copy.status_id)} (job {copy.job_id}): "
            f"{copy.job_result or 'the OMS gave no message'}"
        )
    logs = await api.mdm_logs(copy.job_id)
    took = fmt_duration(copy.duration_seconds)
    if logs:
        first = logs[0]
        failed = f", {first.failed_records} failed records" if first.failed_records else ""
        where = (
            f"MDM log {first.log_id} ({first.config_id or 'data manager'}: "
            f"{status_words(first.status_id)}{failed})"
        )
    else:
        where = "no MDM log was created by this run"
    text = f"finished in {took} (job {copy.job_id}); {where}"
    ctx.scratch["summary"] = f"{job.name} {text}."
    return text


async def _outcome(ctx: RunContext) -> Outcome:
    job = _job(ctx.params)
    summary = ctx.scratch.get("summary") or f"{job.name} ran; see the steps above."
    return Outcome(str(summary))


RUNBOOK = Runbook(
    name=NAME,
    title=lambda p: f"Run {_title_name(p)} now",
    steps=lambda p: [
        Step("Check the job is not already running", _check_idle),
        Step("Schedule the run-now copy", _schedule),
        Step("Follow the job until it ends", _follow),
    ],
    order_keys=lambda p: [lock_key(str(p["job"]))],
    role=ROLE,
    outcome=_outcome,
)


def _title_name(params: dict[str, Any]) -> str:
    job = job_by_enum(str(params.get("job")))
    return f"the {job.name} job" if job else str(params.get("job"))


# ---- starting a run (the public API) ---------------------------------------------------------


def run_job_button(job_key: str, label: str | None = None) -> ButtonSpec:
    """A "Run the <job> job" button for any message; pressing it (operators only) starts
    the run-job runbook. `job_key` is a friendly name or enum id (`new-orders`,
    `JOB_APR_ORD`); an unknown one raises ValueError listing the valid ones."""
    job = parse_job(job_key)
    return ButtonSpec(
        label or f"Run the {job.name} job",
        RUN_ACTION,
        {"job": job.enum_id, "order_keys": [lock_key(job.enum_id)]},
        style="primary",
        allowed_role=ROLE,
        confirm=confirm_dialog(
            f"Run {job.name} now?",
            f"A copy of the {job.name} job ({job.enum_id}) is created in the OMS and runs "
            "immediately; its schedule is not changed.",
            "Run now",
        ),
    )


async def start_job_run(
    tools: Toolbox,
    job_key: str,
    *,
    actor: str,
    channel_id: str,
    client: AsyncWebClient,
    reply: Replier,
) -> RunRecord | None:
    """Start the run-job runbook, unless the job is already queued or running (in the OMS,
    or as another bot run); the user is told why when it is not started."""
    job = parse_job(job_key)
    active = await JobsApi(tools.oms).active(job.enum_id)
    if active:
        zone = await user_zone(client, actor)
        text = already_running_text(job, active[0], zone)
        await reply.safe_ephemeral(Message(text=text, blocks=[section(f":lock: {escape(text)}")]))
        return None
    try:
        return await tools.runs.start(
            NAME,
            {"job": job.enum_id},
            actor=actor,
            channel_id=channel_id,
            client=client,
            reply=reply,
        )
    except OrderBusy as busy:
        h = busy.holder
        text = (
            f"{job.name} is already being run by <@{h.holder}> (“{h.what}”, since "
            f"{fmt_time(h.acquired_at)}), so it was not started again."
        )
        # Not escaped: the mention must stay a mention; the other parts are our own text.
        await reply.safe_ephemeral(Message(text=text, blocks=[section(f":lock: {text}")]))
        return None


async def _on_run(click: Click) -> None:
    await start_job_run(
        click.tools,
        str(click.params["job"]),
        actor=click.user_id,
        channel_id=click.channel_id,
        client=click.client,
        reply=click.reply,
    )


PROVIDES = Provides(
    runbooks=(RUNBOOK,),
    actions=(
        ActionSpec(RUN_ACTION, _on_run, pressed_note=lambda c: f"Run started by <@{c.user_id}>"),
    ),
)
