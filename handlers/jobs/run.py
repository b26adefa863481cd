"""Running a Job Manager job now, as a run of the run engine (docs/oms-api.md, "Jobs and
webhooks"), on either backend the tenant has.

Moqui (HotWax's current Job Manager): the runbook checks that the job is set up for a store
(not a template) and has no run in progress, starts a run with `runNow`, then follows that
run in the job's runs until it ends; the result names the MDM log the run created, or the
OMS's error. OFBiz JobSandbox (legacy): it checks the job is not queued or running, schedules
the run-now copy of its template (`scheduleService` without SERVICE_TIME), then follows the
copy until it finishes or fails. Following stops after `[limits] job_follow_minutes`
(default 15) with a note on how to check later; `[limits] job_poll_seconds` (default 5) is
how often the OMS is asked.

Other families offer the run through `handlers.jobs` (the order runbooks offer "Run the New
orders job"): `run_job_button(job_key)` gives a ButtonSpec for an OFBiz catalogue job and
`run_service_job_button(job_name)` one for a Moqui job; their action (registered here) starts
the run; `start_job_run(tools, job, ...)` starts it directly.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from zoneinfo import ZoneInfo

from bot.engine import (
    ActionSpec,
    ButtonSpec,
    Click,
    EventKind,
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
from bot.kit.blocks import Message, clip, confirm_dialog, escape, section
from bot.kit.durations import slack_time
from bot.kit.posting import SlackClient
from bot.kit.reply import Replier
from bot.oms import Job, JobNotRunnable, JobsApi, ServiceJob, ServiceJobRun, ServiceJobsApi
from bot.oms import jobs as oms_jobs
from handlers.jobs.catalog import JobInfo, job_by_enum, oms_job, parse_job
from handlers.jobs.common import (
    MOQUI,
    OFBIZ,
    ROLE,
    fmt_duration,
    fmt_local,
    fmt_moment,
    lock_key,
    status_words,
    user_zone,
)

NAME = "job.run"
RUN_ACTION = "jobs.run"
# A copy scheduled this long before the run started still counts as this run's copy: the
# OMS clock and ours may differ a little.
CLOCK_SLACK_MS = 60_000
RUN_NOW = "start a job run now"  # the audited write of a Moqui run-now
RUNS_READ = 20
BEFORE = "runs_before"  # the snapshot's key: the job's run ids before this bot run

# ---- the runbook -----------------------------------------------------------------------------


def _job(params: dict[str, Any]) -> JobInfo:
    """The job of a run: a catalogue job, or one the OMS has that the catalogue does not
    name (its OMS name travels in the parameters)."""
    enum_id = str(params["job"])
    name = params.get("name")
    return job_by_enum(enum_id) or oms_job(enum_id, str(name) if name else None, None, None)


def _since_ms(ctx: RunContext) -> int:
    return int(ctx.run.created_at * 1000) - CLOCK_SLACK_MS


async def _own_copy(ctx: RunContext, api: JobsApi, draft: Job) -> Job | None:
    """The run-now copy this bot run scheduled, or None while there is none.

    The copies of the template scheduled since this run began (less the clock slack) that
    were not there before it wrote (the snapshot of `_check_idle`): a run now a minute after
    another must not take the other's copy, finished or not, as its own. `scheduleService`
    answers no job id, so this is how the copy is told apart. Without a snapshot (a run
    recorded before one was taken) only copies strictly after the run began count."""
    saved = await ctx.saved_snapshot()
    if saved is None or BEFORE not in saved:
        since, before = int(ctx.run.created_at * 1000), set[str]()
    else:
        since, before = _since_ms(ctx), {str(i) for i in saved[BEFORE]}
    mine = [c for c in await api.copies_since(draft.job_id, since) if c.job_id not in before]
    # The first copy since this run wrote: a later one is someone else's run now.
    return min(mine, key=lambda c: (c.run_time or 0, c.job_id)) if mine else None


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
    draft, schedule = await api.templates(job.enum_id)
    if draft is None:
        raise StepFailed(
            f"{job.name} ({job.enum_id}) has no job template in this OMS, so it cannot be run "
            "from here. Set it up in the Job Manager first."
        )
    try:
        # What HotWax's app would send, checked before anything is written.
        oms_jobs.run_now_body(draft, schedule, user=ctx.actor)
    except JobNotRunnable as exc:
        raise StepFailed(f"{job.name} was not run: {exc}.") from None
    # The copies already there (an earlier run now's, finished or not): none is this run's.
    copies = await api.copies_since(draft.job_id, _since_ms(ctx))
    await ctx.audit_snapshot(
        f"run-now copies of {job.enum_id} before this run",
        {"job": job.enum_id, BEFORE: [c.job_id for c in copies]},
    )
    return f"not queued or running; template {draft.job_id} ({draft.service_name})"


async def _schedule(ctx: RunContext) -> str:
    job = _job(ctx.params)
    api = JobsApi(ctx.tools.oms)
    draft, schedule = await api.templates(job.enum_id)
    if draft is None:
        raise StepFailed(f"the template of {job.name} disappeared from the OMS")
    # This step stopped after scheduleService scheduled the copy (its answer lost): the
    # copy is there, and scheduling another would run the job twice.
    copy = await _own_copy(ctx, api, draft)
    if copy is not None:
        raise StepSkipped(f"the run-now copy is already scheduled (job {copy.job_id})")
    try:
        oms_jobs.run_now_body(draft, schedule, user=ctx.actor)
    except JobNotRunnable as exc:
        raise StepFailed(f"{job.name} was not run: {exc}.") from None
    await ctx.oms_write(
        "schedule a job to run now",
        {"job": job.enum_id, "service": draft.service_name, "template": draft.job_id},
        api.run_now(draft, schedule, user=ctx.actor),
    )
    copy = await _own_copy(ctx, api, draft)
    if copy is not None:
        return f"job {copy.job_id} is {status_words(copy.status_id)}"
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
        copy = await _own_copy(ctx, api, draft)
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


# ---- the Moqui runbook -------------------------------------------------------------------------


def _backend(params: dict[str, Any]) -> str:
    return MOQUI if params.get("backend") == MOQUI else OFBIZ


def template_text(job: ServiceJob) -> str:
    empty = ", ".join(p.name for p in job.store_parameters)
    return (
        f"{job.job_name} is a template: its {empty} is empty, so it is not set up for a "
        "store. HotWax's Job Manager clones a template for a store before running it; run "
        "that store's copy instead (`/oms jobs` lists the jobs)."
    )


def moqui_running_text(job_name: str, run: ServiceJobRun, zone: ZoneInfo | None = None) -> str:
    when = fmt_moment(run.start_time, zone or ZoneInfo("UTC"))
    return (
        f"{job_name} is already running in the OMS (run {run.job_run_id}, since {when}), so it "
        f"was not started again. Follow it with `/oms job {job_name}`."
    )


async def _moqui_check_idle(ctx: RunContext) -> str:
    name = str(ctx.params["job"])
    api = ServiceJobsApi(ctx.tools.oms)
    job = await api.job(name)
    if job is None:
        raise StepFailed(f"{name} is not a job of this OMS's Moqui Job Manager.")
    if job.is_template:
        raise StepFailed(template_text(job))
    runs = await api.runs(name, RUNS_READ)
    running = [run for run in runs if run.status == "running"]
    if running:
        raise StepFailed(moqui_running_text(name, running[0]))
    # The runs that exist before this bot run starts one: none of them is its run (a run
    # that ended a moment ago is not the one Resume should follow).
    await ctx.audit_snapshot(
        f"runs of {name} before this run", {"job": name, BEFORE: [r.job_run_id for r in runs]}
    )
    return f"set up and not running; service {job.service_name or 'unknown'}"


async def _started_run(ctx: RunContext, api: ServiceJobsApi) -> str | None:
    """The run this bot run started: kept in memory, in the audit (a resume elsewhere), or
    else any run of the job started since this bot run was created (a runNow whose answer
    was lost may have started one, and a short run may already have ended)."""
    if ctx.scratch.get("job_run_id"):
        return str(ctx.scratch["job_run_id"])
    for event in await ctx.tools.audit.run_events(ctx.run.id, EventKind.OMS_WRITE):
        result = (event.detail or {}).get("result")
        if event.summary == RUN_NOW and event.outcome == "ok" and result:
            ctx.scratch["job_run_id"] = str(result)
            return str(result)
    saved = await ctx.saved_snapshot()
    if saved is None or BEFORE not in saved:
        # No list of the runs before this one: only a run strictly after it began counts.
        since, before = ctx.run.created_at, set[str]()
    else:
        since = ctx.run.created_at - CLOCK_SLACK_MS / 1000
        before = {str(i) for i in saved[BEFORE]}
    started = [
        run
        for run in await api.runs(str(ctx.params["job"]), RUNS_READ)
        if run.start_time is not None
        and run.start_time.timestamp() >= since
        and run.job_run_id not in before
    ]
    if started:
        # The first run since this bot run began (a later one is another run).
        first = min(started, key=lambda run: (run.start_time, run.job_run_id))
        ctx.scratch["job_run_id"] = first.job_run_id
        return first.job_run_id
    return None


async def _moqui_start(ctx: RunContext) -> str:
    name = str(ctx.params["job"])
    api = ServiceJobsApi(ctx.tools.oms)
    # A run that began after this bot run did is the one asked for, running or ended: this
    # step stopped after runNow started it (its answer lost), or the job started on its
    # schedule meanwhile. Starting another would run the job twice.
    started = await _started_run(ctx, api)
    if started:
        raise StepSkipped(f"run {started} was started already")
    run_id = await ctx.oms_write(RUN_NOW, {"job": name}, api.run_now(name))
    ctx.scratch["job_run_id"] = run_id
    return f"run {run_id} started"


async def _moqui_follow(ctx: RunContext) -> str:
    name = str(ctx.params["job"])
    api = ServiceJobsApi(ctx.tools.oms)
    run_id = await _started_run(ctx, api)
    if run_id is None:
        raise StepFailed(f"this run did not start a run of {name}; run the job again")
    limits = ctx.tools.policy.limits
    poll = limits.job_poll_seconds
    started = time.monotonic()
    deadline = started + limits.job_follow_minutes * 60
    shown: str | None = None
    while True:
        runs = await api.runs(name, RUNS_READ)
        run = next((r for r in runs if r.job_run_id == run_id), None)
        if run is not None and run.ended:
            break
        status = run.status if run is not None else "not listed yet"
        note = f"{status} · run {run_id}"
        if note != shown:
            await ctx.progress(f"{note} (checking every {poll:g}s)")
            shown = note
        if time.monotonic() >= deadline:
            waited = (time.monotonic() - started) / 60
            text = (
                f"{name} is still {status} after {waited:.0f} min (run {run_id}); I stopped "
                f"following it. Check it later with `/oms job {name}`."
            )
            ctx.scratch["summary"] = text
            return text
        await asyncio.sleep(poll)
    if run.status != "finished":
        raise StepFailed(
            f"{name} {run.status} (run {run_id}): "
            f"{clip(run.errors or '', 500) or 'the OMS gave no message'}"
        )
    logs = await api.mdm_logs_of_run(run_id)
    if logs:
        first = logs[0]
        failed = f", {first.failed_records} failed records" if first.failed_records else ""
        where = (
            f"MDM log {first.log_id} ({first.config_id or 'data manager'}: "
            f"{first.status_id or 'unknown'}{failed})"
        )
    else:
        where = "no MDM log names this run"
    text = f"finished in {fmt_duration(run.duration_seconds)} (run {run_id}); {where}"
    if run.messages:
        text += f". {clip(run.messages.splitlines()[0], 200)}"
    ctx.scratch["summary"] = f"{name} {text}"
    return text


# ---- the runbook of both backends ------------------------------------------------------------


async def _outcome(ctx: RunContext) -> Outcome:
    default = f"{_title_name(ctx.params)} ran; see the steps above."
    return Outcome(str(ctx.scratch.get("summary") or default))


def _steps(params: dict[str, Any]) -> list[Step]:
    if _backend(params) == MOQUI:
        return [
            Step("Check the job is set up and not running", _moqui_check_idle),
            Step("Start a run (runNow)", _moqui_start),
            Step("Follow the run until it ends", _moqui_follow),
        ]
    return [
        Step("Check the job is not already running", _check_idle),
        Step("Schedule the run-now copy", _schedule),
        Step("Follow the job until it ends", _follow),
    ]


RUNBOOK = Runbook(
    name=NAME,
    title=lambda p: f"Run {_title_name(p)} now",
    steps=_steps,
    order_keys=lambda p: [lock_key(str(p["job"]))],
    role=ROLE,
    outcome=_outcome,
)


def _title_name(params: dict[str, Any]) -> str:
    if _backend(params) == MOQUI:
        return f"the {params.get('job')} job"
    return f"the {_job(params).name} job"


# ---- starting a run (the public API) ---------------------------------------------------------


def run_job_button(job_key: str, label: str | None = None) -> ButtonSpec:
    """A "Run the <job> job" button for any message; pressing it (operators only) starts
    the run-job runbook on an OFBiz JobSandbox job. `job_key` is a friendly name or enum id
    (`new-orders`, `JOB_APR_ORD`); an unknown one raises ValueError listing the valid ones."""
    return job_run_button(parse_job(job_key), label)


def job_run_button(job: JobInfo, label: str | None = None) -> ButtonSpec:
    """The Run now button of an OFBiz job, catalogued or only in the OMS (`/oms job`)."""
    params: dict[str, Any] = {"job": job.enum_id, "order_keys": [lock_key(job.enum_id)]}
    if not job.catalogued:
        params["name"] = job.name
    return ButtonSpec(
        label or f"Run the {job.name} job",
        RUN_ACTION,
        params,
        style="primary",
        allowed_role=ROLE,
        confirm=confirm_dialog(
            f"Run {job.name} now?",
            f"A copy of the {job.name} job ({job.enum_id}) is created in the OMS and runs "
            "immediately; its schedule is not changed.",
            "Run now",
        ),
    )


def run_service_job_button(job_name: str, label: str | None = None) -> ButtonSpec:
    """A Run now button for a Moqui Job Manager job, by its job name."""
    return ButtonSpec(
        label or f"Run {job_name} now",
        RUN_ACTION,
        {"job": job_name, "backend": MOQUI, "order_keys": [lock_key(job_name)]},
        style="primary",
        allowed_role=ROLE,
        confirm=confirm_dialog(
            f"Run {job_name} now?",
            f"The Moqui Job Manager starts a run of {job_name} now, with the job's current "
            "parameters; its schedule is not changed.",
            "Run now",
        ),
    )


async def start_job_run(
    tools: Toolbox,
    job_key: str,
    *,
    actor: str,
    channel_id: str,
    client: SlackClient,
    reply: Replier,
    backend: str = OFBIZ,
    oms_name: str | None = None,
) -> RunRecord | None:
    """Start the run-job runbook, unless the job is already queued or running (in the OMS,
    or as another bot run); the user is told why when it is not started. `oms_name`: the
    OMS's name of an OFBiz job the catalogue does not name."""
    if backend == MOQUI:
        name, shown = job_key, job_key
        params: dict[str, Any] = {"job": job_key, "backend": MOQUI}
        running = [
            r for r in await ServiceJobsApi(tools.oms).runs(name, 5) if r.status == "running"
        ]
        refusal = (
            moqui_running_text(name, running[0], await user_zone(client, actor))
            if running
            else None
        )
    else:
        # An OFBiz job the catalogue does not name comes with the name the OMS gives it.
        job = _job({"job": job_key, "name": oms_name}) if oms_name else parse_job(job_key)
        name, shown = job.enum_id, job.name
        params = {"job": job.enum_id}
        if not job.catalogued:
            params["name"] = job.name
        active = await JobsApi(tools.oms).active(job.enum_id)
        refusal = (
            already_running_text(job, active[0], await user_zone(client, actor)) if active else None
        )
    if refusal:
        await reply.safe_ephemeral(
            Message(text=refusal, blocks=[section(f":lock: {escape(refusal)}")])
        )
        return None
    try:
        return await tools.runs.start(
            NAME, params, actor=actor, channel_id=channel_id, client=client, reply=reply
        )
    except OrderBusy as busy:
        h = busy.holder
        text = (
            f"{shown} is already being run by <@{h.holder}> (“{h.what}”, since "
            f"{slack_time(h.acquired_at)}), so it was not started again."
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
        backend=_backend(click.params),
        oms_name=str(click.params["name"]) if click.params.get("name") else None,
    )


PROVIDES = Provides(
    runbooks=(RUNBOOK,),
    actions=(
        ActionSpec(RUN_ACTION, _on_run, pressed_note=lambda c: f"Run started by <@{c.user_id}>"),
    ),
)
