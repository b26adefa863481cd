"""How often the shop's order sync runs: the interval of its ServiceJob's Quartz cron
expression (`0 */15 * ? * *`), which tells which Shopify orders are too recent to be missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from apscheduler.triggers.cron import CronTrigger

# Without a readable schedule: HotWax's order-sync clones run every 15 minutes in the
# seed data the company app cites [INF]; the message says this default was used.
DEFAULT_INTERVAL = timedelta(minutes=15)
# With runAsBatch the sync stops one minute short of now (thruDateBuffer, connector v4.1.1;
# bot/oms/ordersync.py): an order is due one interval plus this after its creation.
THRU_BUFFER = timedelta(minutes=1)


def cron_interval(expression: str | None, now: datetime | None = None) -> timedelta | None:
    """The longest gap between the next few runs of a Quartz cron expression (seconds minutes
    hours day-of-month month day-of-week [year]); None when it cannot be read."""
    if not expression:
        return None
    fields = expression.split()
    if len(fields) not in (6, 7):
        return None
    second, minute, hour, day, month, dow = (f.replace("?", "*") for f in fields[:6])
    try:
        trigger = CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            # Quartz numbers days 1-7 from Sunday, APScheduler 0-6 from Monday: a schedule on
            # named days is read as every day, which only lengthens nothing (the gap is a day).
            day_of_week="*" if dow != "*" and not dow.isalpha() else dow,
            timezone=UTC,
        )
    except ValueError:
        return None
    moment = now or datetime.now(UTC)
    fires: list[datetime] = []
    previous: datetime | None = None
    for _ in range(4):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        fires.append(fire)
        previous, moment = fire, fire + timedelta(microseconds=1)
    gaps = [b - a for a, b in pairwise(fires)]
    return max(gaps) if gaps else None
