"""What a watch finds in OFBiz JobSandbox jobs (docs/oms-api.md, "Job watches").

Per job, one `findJobs` of its newest rows in the run and schedule statuses: the runs that
ended SERVICE_FAILED or SERVICE_CRASHED since the watch's baseline (each an alert, with its
`jobResult` and the MDM logs it created), the newest SERVICE_FINISHED run (closes the job's
failure alert), the recurring SERVICE_PENDING schedule (a job without one is paused: its
schedule was cancelled, by `lastModifiedByUserLogin` where the row has it; or unscheduled),
and lateness: no run for more than twice its frequency (`TemporalExpression`) while scheduled.
"""

from __future__ import annotations

from bot.engine import ButtonSpec, Findings, Recovery, Toolbox, Watch, WatchEvent, WatchView
from bot.kit.blocks import clip, escape
from bot.kit.durations import slack_time
from bot.kit.redact import redact_contacts
from bot.oms import Frequency, Job, JobsApi, OmsError, jobs
from handlers.jobs import find_job, job_run_button, oms_job, run_job_button
from handlers.watches.render import (
    could_not_read,
    history_button,
    late_event,
    schedule_change,
    took,
)

ROWS = 20  # the newest rows of a job read per poll
FAILED = (jobs.FAILED, jobs.CRASHED)
RAN = (jobs.FINISHED, *FAILED)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


async def detect(tools: Toolbox, watch: Watch, view: WatchView, enums: dict[str, str]) -> Findings:
    found = Findings()
    if not enums:
        return found
    api = JobsApi(tools.oms)
    freqs = await api.frequencies()
    for enum_id, name in sorted(enums.items()):
        try:
            rows = await api.jobs_of(
                [enum_id],
                [*jobs.ENDED, jobs.PENDING],
                order_by="runTime DESC",
                view_size=ROWS,
                operation=f"read the runs of {enum_id}",
            )
        except OmsError as exc:
            # As for Moqui jobs: the other jobs of the watch are still read.
            found.notes.append(could_not_read(enum_id, exc))
            continue
        await _job(api, tools, view, enum_id, name, rows, freqs, found)
    return found


async def _job(
    api: JobsApi,
    tools: Toolbox,
    view: WatchView,
    enum_id: str,
    name: str,
    rows: list[Job],
    freqs: dict[str, Frequency],
    found: Findings,
) -> None:
    ran = sorted(
        (r for r in rows if r.status_id in RAN and r.ended_ms is not None),
        key=lambda r: r.ended_ms or 0,
        reverse=True,
    )
    for run in ran:
        ended = _seconds(run.ended_ms) or view.now
        if run.status_id in FAILED and ended >= view.baseline:
            found.events.append(await _failure(api, enum_id, name, run, ended))
    finished = next((r for r in ran if r.status_id == jobs.FINISHED), None)
    if finished is not None:
        at = _seconds(finished.ended_ms) or view.now
        found.recoveries.append(
            Recovery("failed", enum_id, at, f"run {finished.job_id} succeeded at {slack_time(at)}")
        )
    schedule = next((r for r in rows if r.status_id == jobs.PENDING and r.temp_expr_id), None)
    cancelled = next((r for r in rows if r.status_id == jobs.CANCELLED and r.temp_expr_id), None)
    state = "scheduled" if schedule else ("paused" if cancelled else "unscheduled")
    before = await view.changed(enum_id, "schedule", state)
    if before == "scheduled" and state != "scheduled":
        who = cancelled.last_modified_by if cancelled else None
        cancelled_at = _seconds(cancelled.cancel_date_time) if cancelled else None
        found.events.append(
            schedule_change(
                enum_id, name, state, cancelled_at or view.now, who,
                key_part=cancelled.job_id if cancelled else str(int(view.now)),
                buttons=(history_button(enum_id),),
            )
        )  # fmt: skip
    elif state == "scheduled" and before in ("paused", "unscheduled"):
        found.recoveries.append(
            Recovery("paused", enum_id, view.now, f"scheduled again by {slack_time(view.now)}")
        )
    if schedule is None:
        return
    frequency = freqs.get(schedule.temp_expr_id or "")
    if frequency is None or not frequency.interval_ms:
        return  # not a plain "every N units" frequency: lateness is not judged
    interval = frequency.interval_ms / 1000
    last = ran[0] if ran else None
    reference = (_seconds(last.start_date_time or last.run_time) if last else None) or view.baseline
    if view.now - reference > 2 * interval:
        found.events.append(
            late_event(
                enum_id, name, reference, interval, frequency.description,
                last_run=last.job_id if last else None,
                buttons=(_run_button(enum_id, name), history_button(enum_id)),
            )
        )  # fmt: skip
    elif last is not None:
        found.recoveries.append(
            Recovery("late", enum_id, reference, f"it ran at {slack_time(reference)}")
        )


def _run_button(enum_id: str, name: str) -> ButtonSpec:
    job = find_job(enum_id)
    if job is not None:
        return run_job_button(job.enum_id)
    return job_run_button(oms_job(enum_id, name, None, None))


async def _failure(api: JobsApi, enum_id: str, name: str, run: Job, ended: float) -> WatchEvent:
    status = "crashed" if run.status_id == jobs.CRASHED else "failed"
    error = redact_contacts(clip(run.job_result or "the OMS gave no error text", 600))
    try:
        logs = await api.mdm_logs(run.job_id)
    except OmsError as exc:
        logs, log_text = [], f"not read ({escape(clip(str(exc), 200))})"
    else:
        log_text = "none (the run created no MDM log)"
    if logs:
        log_text = ", ".join(
            f"`{escape(log.log_id)}` ({escape(log.status_id or 'unknown')}"
            + (f", {log.failed_records} failed records" if log.failed_records else "")
            + ")"
            for log in logs[:3]
        )
    duration = f" after {took(run.duration_seconds)}" if run.duration_seconds is not None else ""
    text = (
        f"*{escape(name)}* (`{escape(enum_id)}`, OFBiz) run `{escape(run.job_id)}` {status} at "
        f"{slack_time(ended)}{duration}.\n*Error:* {escape(error)}\n*MDM log:* {log_text}"
    )
    return WatchEvent(
        key=f"failed:{enum_id}:{run.job_id}",
        kind="failed",
        subject=enum_id,
        at=ended,
        title=f"{name} {status}",
        text=text,
        buttons=(_run_button(enum_id, name), history_button(enum_id)),
        fold=True,
        repeat=f"{escape(name)} {status} again (run `{escape(run.job_id)}`)",
    )
