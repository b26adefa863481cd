"""What a watch finds in Moqui service jobs (docs/oms-api.md, "Job watches").

Per job, its newest runs (`admin/serviceJobs/{job}/runs`): a run with `hasError` Y that ended
since the watch's baseline is an alert (its `errors` and the MDM logs it created, read by
`createdByJobRunId`); the newest finished run closes the job's failure alert. The job's
`paused` flag and `cronExpression` say whether it is scheduled (Moqui's ServiceJob records no
user, so who paused it is not said); a job that is neither paused nor without a cron and has
not run for more than twice its cron's interval is late.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine import Findings, Recovery, Toolbox, Watch, WatchEvent, WatchView
from bot.kit.blocks import clip, escape
from bot.kit.durations import slack_time
from bot.kit.redact import redact_contacts
from bot.oms import OmsError, ServiceJob, ServiceJobRun, ServiceJobsApi
from handlers.jobs import cron_interval, describe_cron, run_service_job_button
from handlers.watches.render import (
    could_not_read,
    history_button,
    late_event,
    schedule_change,
    took,
)

RUNS = 10  # the newest runs of a job read per poll


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


async def detect(
    tools: Toolbox, watch: Watch, view: WatchView, watched: dict[str, ServiceJob]
) -> Findings:
    found = Findings()
    api = ServiceJobsApi(tools.oms)
    for name, job in sorted(watched.items()):
        try:
            runs = await api.runs(name, RUNS)
        except OmsError as exc:
            # One job the OMS cannot answer for (deleted since the poll listed it, say) must
            # not hide the others' failures: it is named in the poll's notes instead.
            found.notes.append(could_not_read(name, exc))
            continue
        await _job(api, view, job, runs, found)
    return found


async def _job(
    api: ServiceJobsApi,
    view: WatchView,
    job: ServiceJob,
    runs: list[ServiceJobRun],
    found: Findings,
) -> None:
    name = job.job_name
    for run in runs:
        ended = _epoch(run.end_time or run.start_time)
        if run.status == "failed" and ended is not None and ended >= view.baseline:
            found.events.append(await _failure(api, job, run, ended))
    finished = next((r for r in runs if r.status == "finished"), None)
    if finished is not None:
        at = _epoch(finished.end_time) or view.now
        found.recoveries.append(
            Recovery("failed", name, at, f"run {finished.job_run_id} succeeded at {slack_time(at)}")
        )
    state = "paused" if job.is_paused else ("scheduled" if job.cron_expression else "unscheduled")
    before = await view.changed(name, "schedule", state)
    buttons = (run_service_job_button(name), history_button(name))
    if before == "scheduled" and state != "scheduled":
        found.events.append(
            schedule_change(
                name, name, state, view.now, None,
                key_part=str(int(view.now)), buttons=(history_button(name),),
            )
        )  # fmt: skip
    elif state == "scheduled" and before in ("paused", "unscheduled"):
        found.recoveries.append(
            Recovery("paused", name, view.now, f"scheduled again by {slack_time(view.now)}")
        )
    if state != "scheduled":
        return
    interval = cron_interval(job.cron_expression, now=datetime.fromtimestamp(view.now, UTC))
    if interval is None:
        return  # a cron this cannot read: lateness is not judged
    last = runs[0] if runs else None
    reference = (_epoch(last.start_time) if last else None) or view.baseline
    if view.now - reference > 2 * interval:
        found.events.append(
            late_event(
                name, name, reference, interval,
                describe_cron(job.cron_expression),
                last_run=last.job_run_id if last else None, buttons=buttons,
            )
        )  # fmt: skip
    elif last is not None:
        found.recoveries.append(
            Recovery("late", name, reference, f"it ran at {slack_time(reference)}")
        )


async def _failure(
    api: ServiceJobsApi, job: ServiceJob, run: ServiceJobRun, ended: float
) -> WatchEvent:
    name = job.job_name
    error = redact_contacts(clip(run.errors or "the OMS gave no error text", 600))
    try:
        logs = await api.mdm_logs_of_run(run.job_run_id)
    except OmsError as exc:
        log_text = f"not read ({escape(clip(str(exc), 200))})"
    else:
        log_text = (
            ", ".join(
                f"`{escape(log.log_id)}` ({escape(log.status)}"
                + (f", {log.failed_records} failed records" if log.failed_records else "")
                + ")"
                for log in logs[:3]
            )
            or "none (the run created no MDM log)"
        )
    duration = f" after {took(run.duration_seconds)}" if run.duration_seconds is not None else ""
    text = (
        f"*{escape(name)}* (Moqui) run `{escape(run.job_run_id)}` failed at "
        f"{slack_time(ended)}{duration}.\n*Error:* {escape(error)}\n*MDM log:* {log_text}"
    )
    return WatchEvent(
        key=f"failed:{name}:{run.job_run_id}",
        kind="failed",
        subject=name,
        at=ended,
        title=f"{name} failed",
        text=text,
        buttons=(run_service_job_button(name), history_button(name)),
        fold=True,
        repeat=f"{escape(name)} failed again (run `{escape(run.job_run_id)}`)",
    )
