"""A run's progress message: the checklist of its steps, its state, and its buttons.

The run engine renders it when the run starts, after every step, and at the end; a failed or
interrupted run gets a Resume button that continues from the first unfinished step, unless the
runbook's failure outcome says a retry cannot help (then only its own buttons show); Resume is
primary only when the outcome offers no primary button of its own.
"""

from __future__ import annotations

import time

from bot.engine.contract import Buttons, ButtonSpec
from bot.engine.steps import Outcome, Runbook
from bot.kit.blocks import Block, Message, actions, context, escape, header, section
from bot.store.runs import RunRecord, StepRecord

RESUME_ACTION = "run.resume"
STEP_ICONS = {
    "pending": ":white_circle:",
    "running": ":hourglass_flowing_sand:",
    "done": ":white_check_mark:",
    "failed": ":x:",
    "skipped": ":fast_forward:",
}


def state_words(run: RunRecord) -> str:
    return {
        "done": "finished",
        "failed": "failed",
        "interrupted": "interrupted",
        "running": "running",
    }.get(run.state, run.state)


def run_summary(run: RunRecord, outcome: Outcome | None) -> Message:
    """The one-section result posted where else the run reports (an approval's thread)."""
    return Message(
        text=f"{run.title}: {state_words(run)}",
        blocks=[
            section(
                f"*{escape(run.title)}*: {state_words(run)}"
                + (f"\n{escape(outcome.summary)}" if outcome else "")
            )
        ],
    )


def _step_lines(steps: list[StepRecord], now: float) -> list[str]:
    lines = []
    for step in steps:
        line = f"{STEP_ICONS.get(step.state, '•')} {escape(step.name)}"
        if step.started_at:
            end = step.finished_at or now
            line += f"  _{end - step.started_at:.1f}s_"
        if step.detail:
            line += f"\n      {escape(step.detail)}"
        lines.append(line)
    return lines


def _state_block(run: RunRecord, steps: list[StepRecord], outcome: Outcome | None) -> list[Block]:
    if run.state == "done" and outcome is not None:
        return [section(f":white_check_mark: {escape(outcome.summary)}")]
    if run.state == "failed":
        error = run.error or "a step failed"
        failed = next((s for s in steps if s.state == "failed" and s.detail == error), None)
        # When the failed step above already shows a long reason (a rollback's state of every
        # value, an import failure with its cause and fix) or the outcome below explains it,
        # name the step instead of printing the reason again; a short one is repeated here.
        long_reason = "\n" in error or len(error) > 160 or outcome is not None
        stopped = (
            f"The run stopped at “{escape(failed.name)}” (the reason is under that step)."
            if failed is not None and long_reason
            else f"The run stopped: {escape(error)}"
        )
        resume = (
            "\nResume retries what failed and what did not run; steps check the OMS "
            "first, so nothing is done twice."
            if _resumable(outcome)
            else ""
        )
        blocks = [section(f":x: {stopped}{resume}")]
        if outcome is not None:
            blocks.append(section(escape(outcome.summary)))
        return blocks
    if run.state == "interrupted":
        first = next((s for s in steps if s.state not in ("done", "skipped")), None)
        where = f" during “{escape(first.name)}”" if first else ""
        return [
            section(
                f":warning: Interrupted{where}: the bot stopped before the run finished. "
                "Resume continues from the first unfinished step; steps check the OMS "
                "first, so nothing is written twice."
            )
        ]
    return []


def _resumable(outcome: Outcome | None) -> bool:
    return outcome is None or outcome.resumable


async def render_run(
    run: RunRecord,
    steps: list[StepRecord],
    outcome: Outcome | None,
    runbook: Runbook | None,
    buttons: Buttons,
) -> Message:
    """The progress message of `run` as it stands; `buttons` issues its button tokens."""
    now = time.time()
    blocks: list[Block] = [header(run.title), section("\n".join(_step_lines(steps, now)))]
    blocks += _state_block(run, steps, outcome)
    state = state_words(run)
    elapsed = (run.finished_at or now) - run.created_at
    blocks.append(
        context(f"Run `{run.id[:8]}` · started by <@{run.requested_by}> · {state} · {elapsed:.1f}s")
    )
    specs: list[ButtonSpec] = list(outcome.buttons) if outcome is not None else []
    resumable = run.state == "interrupted" or (run.state == "failed" and _resumable(outcome))
    if resumable and runbook is not None:
        # The runbook's own next step, when it offers one, is the one to take: Resume is
        # then the second choice.
        leads = any(spec.style == "primary" for spec in specs)
        specs.append(
            ButtonSpec(
                "Resume",
                RESUME_ACTION,
                {"run_id": run.id, "order_keys": list(run.order_keys)},
                style=None if leads else "primary",
                allowed_role=runbook.role,
            )
        )
    if specs:
        _, elements = await buttons.buttons(
            specs, created_by=run.requested_by, channel_id=run.channel_id
        )
        blocks.append(actions(elements))
    return Message(text=f"{run.title}: {state}", blocks=blocks)
