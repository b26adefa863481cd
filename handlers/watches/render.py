"""The alerts both Job Managers share: late, paused or unscheduled, and the Show history
button (it runs `/oms job <job>` as the presser: the job's card with its last runs)."""

from __future__ import annotations

from bot.engine import ButtonSpec, Click, WatchEvent
from bot.kit.blocks import clip, escape
from bot.kit.durations import describe_duration, slack_time

HISTORY_ACTION = "watches.history"
STATE_WORDS = {"paused": "paused", "unscheduled": "unscheduled (it has no schedule any more)"}


def could_not_read(job: str, exc: Exception) -> str:
    """The poll's note (shown by `/oms watches`) for a job whose runs the OMS did not give."""
    return f"could not read `{escape(job)}`: {escape(clip(str(exc), 200))}"


def took(seconds: float) -> str:
    """How long a run took: seconds under a minute, else in words."""
    return f"{seconds:.0f} s" if seconds < 60 else describe_duration(seconds)


def history_button(job: str) -> ButtonSpec:
    return ButtonSpec("Show history", HISTORY_ACTION, {"job": job})


async def on_history(click: Click) -> None:
    job = str(click.params.get("job") or "")
    await click.tools.run_command(click, f"job {job}")


def late_event(
    job: str,
    name: str,
    last: float,
    interval: float,
    schedule: str,
    *,
    last_run: str | None,
    buttons: tuple[ButtonSpec, ...],
) -> WatchEvent:
    """No run for more than twice the job's interval while it is scheduled. One alert per
    missing stretch: the key names the last run, so a new run ends it and a later stretch is
    a new alert."""
    since = (
        f"its last run started {slack_time(last)}" if last_run else "no run since the watch began"
    )
    late_at = last + 2 * interval
    return WatchEvent(
        key=f"late:{job}:{last_run or 'none'}",
        kind="late",
        subject=job,
        at=late_at,
        title=f"{name} is late",
        text=(
            f"*{escape(name)}* (`{escape(job)}`) runs {escape(schedule)} but has not run for more "
            f"than twice that ({describe_duration(2 * interval)}): {since}. It is scheduled, "
            "not paused: the job runner may be stuck, or the schedule lost."
        ),
        buttons=buttons,
    )


def schedule_change(
    job: str,
    name: str,
    state: str,
    at: float,
    who: str | None,
    *,
    key_part: str,
    buttons: tuple[ButtonSpec, ...],
) -> WatchEvent:
    """The job was paused or unscheduled since the last poll."""
    by = f"by `{escape(who)}`" if who else "(the OMS does not say by whom)"
    return WatchEvent(
        key=f"{state}:{job}:{key_part}",
        kind="paused",
        subject=job,
        at=at,
        title=f"{name} was {state}",
        text=(
            f"*{escape(name)}* (`{escape(job)}`) was {STATE_WORDS.get(state, state)} {by}, "
            f"seen at {slack_time(at)}. Its runs stop until it is scheduled again "
            f"(`/oms job resume {escape(job)}`)."
        ),
        buttons=buttons,
    )
