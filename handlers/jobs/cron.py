"""How often a Quartz cron expression (a Moqui ServiceJob's `cronExpression`) fires: the one
reading shared by the job watches (lateness) and the reconciliation (too-recent orders)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

FIRES = 12  # the longest gap among this many fires is the job's interval
_QUARTZ_ONLY = re.compile(r"[LW#]")
_DAY_NUMBER = re.compile(r"\d+")


def _field(value: str) -> str:
    return "*" if value == "?" else value


def _weekday(value: str) -> str:
    """Quartz numbers the week 1 (Sunday) to 7; APScheduler 0 (Monday) to 6."""
    return _DAY_NUMBER.sub(lambda m: str((int(m[0]) - 2) % 7), _field(value))


def cron_interval(expression: str | None, *, now: datetime | None = None) -> float | None:
    """The longest time between two fires (seconds) over the next few, or None for an
    expression this cannot read (the job is then not checked for lateness). The longest, so
    a weekday job is late after twice its weekend gap, not on every Monday."""
    if not expression:
        return None
    fields = expression.split()
    if len(fields) not in (6, 7) or _QUARTZ_ONLY.search(expression):
        return None
    second, minute, hour, day, month, weekday = fields[:6]
    try:
        trigger = CronTrigger(
            second=_field(second),
            minute=_field(minute),
            hour=_field(hour),
            day=_field(day),
            month=_field(month),
            day_of_week=_weekday(weekday),
            year=fields[6] if len(fields) == 7 else None,
            timezone=UTC,
        )
    except ValueError:
        return None
    moment = now or datetime.now(UTC)
    fires: list[datetime] = []
    previous = None
    for _ in range(FIRES):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        fires.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    return max(gaps) if gaps else None
