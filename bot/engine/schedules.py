"""Schedules from the policy file: `[[digests]]` entries, checked at start.

The scheduler (bot/engine/scheduler.py) posts each slot of a schedule exactly once.

```toml
[[digests]]
id = "daily-ops"            # names the schedule in the database and in /oms digest
channel = "C0OPS"           # where the digest is posted
cron = "0 8 * * *"          # five-field crontab: minute hour day month day-of-week
timezone = "Europe/Paris"   # the cron's time zone (default UTC)
window = "24h"              # failures this far back from the slot time (default 24h)
grace = "6h"                # a missed slot is still posted (late) within this (default 6h)
store = "STORE"             # optional: only this product store's shops' failures
reconcile = true            # optional: also post the Shopify/HotWax reconciliation of the window
```

A bad entry stops the start with a ConfigError naming the entry and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.kit.config import ConfigError
from bot.kit.durations import parse_duration

DEFAULT_WINDOW = 24 * 3600.0
DEFAULT_GRACE = 6 * 3600.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9_]{1,40}$")
_STORE = re.compile(r"^[A-Za-z0-9_.\-]{1,60}$")  # a product store id
_KEYS = {"id", "channel", "cron", "timezone", "window", "grace", "store", "reconcile"}


@dataclass(frozen=True)
class Schedule:
    id: str
    channel: str
    cron: str
    timezone: str
    window: float
    grace: float
    store: str | None = None
    reconcile: bool = False  # also post the reconciliation of the window (handlers/reconcile)

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))

    def slots_between(self, start: float, end: float) -> Iterator[float]:
        """Slot times (epoch seconds) in (start, end], oldest first."""
        trigger = self.trigger()
        moment = datetime.fromtimestamp(start, UTC) + timedelta(microseconds=1)
        fire = trigger.get_next_fire_time(None, moment)
        while fire is not None and fire.timestamp() <= end:
            yield fire.timestamp()
            fire = _next_after(trigger, fire)

    def last_slot(self, now: float) -> float | None:
        """The newest slot at or before `now` (looking back up to about a year)."""
        span, longest = 3600.0, 400 * 86400.0
        while True:
            slots = list(self.slots_between(now - span, now))
            if slots:
                return slots[-1]
            if span >= longest:
                return None
            span = min(span * 4, longest)

    def next_slot(self, now: float) -> float | None:
        fire = self.trigger().get_next_fire_time(
            None, datetime.fromtimestamp(now, UTC) + timedelta(microseconds=1)
        )
        return None if fire is None else fire.timestamp()


def _next_after(trigger: CronTrigger, fire: datetime) -> datetime | None:
    """The trigger's next fire time strictly after `fire`.

    In the hour the autumn clock change repeats, APScheduler can answer `fire` itself again
    (02:30+01:00 after 02:30+01:00): asking from further ahead steps past it, where asking
    again from the same moment would loop forever."""
    for ahead in (timedelta(seconds=1), timedelta(hours=1, seconds=1), timedelta(hours=2)):
        following: datetime | None = trigger.get_next_fire_time(fire, fire + ahead)
        if following is None or following.timestamp() > fire.timestamp():
            return following
    return None


def parse_schedules(
    entries: tuple[Mapping[str, Any], ...] | list[Any], where: str
) -> list[Schedule]:
    """Check every `[[digests]]` entry; raise ConfigError naming the first bad one."""
    schedules: list[Schedule] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        label = f"[[digests]] entry {number}"
        if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
            label += f' (id "{entry["id"]}")'

        def bad(problem: str, label: str = label) -> ConfigError:
            return ConfigError(f"OMSBOT_POLICY: {where}: {label}: {problem}")

        if not isinstance(entry, Mapping):
            raise bad("must be a table with id, channel and cron")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise bad(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
        ident, channel, cron = entry.get("id"), entry.get("channel"), entry.get("cron")
        if not isinstance(ident, str) or not _ID.match(ident):
            raise bad('needs an id of letters, digits, "-", "_" or "." (e.g. id = "daily-ops")')
        if ident in seen:
            raise bad(f'id "{ident}" is used by another entry; ids must be unique')
        seen.add(ident)
        if not isinstance(channel, str) or not _CHANNEL.match(channel):
            raise bad(f"channel {channel!r} is not a Slack channel id (C… or G…)")
        tz = entry.get("timezone", "UTC")
        try:
            zone = ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise bad(f'timezone "{tz}" is not an IANA time zone (e.g. "Europe/Paris")') from None
        if not isinstance(cron, str):
            raise bad('needs a cron expression (e.g. cron = "0 8 * * *")')
        try:
            CronTrigger.from_crontab(cron, timezone=zone)
        except ValueError as exc:
            raise bad(
                f'cron "{cron}" is not valid ({exc}); use five fields: '
                "minute hour day month day-of-week"
            ) from None
        window = _duration(entry, "window", DEFAULT_WINDOW, bad)
        grace = _grace(entry, bad)
        store = entry.get("store")
        if store is not None and (not isinstance(store, str) or not _STORE.match(store)):
            raise bad(f"store {store!r} is not a product store id (e.g. STORE)")
        reconcile = entry.get("reconcile", False)
        if not isinstance(reconcile, bool):
            raise bad(f"reconcile {reconcile!r} must be true or false")
        schedules.append(Schedule(ident, channel, cron, str(tz), window, grace, store, reconcile))
    return schedules


# A grace may be given in seconds too ("30s"): a minutely schedule needs less than a minute.
_SECONDS = re.compile(r"\s*(\d{1,5})s\s*")


def _grace(entry: Mapping[str, Any], bad: Any) -> float:
    raw = entry.get("grace")
    seconds = _SECONDS.fullmatch(raw.lower()) if isinstance(raw, str) else None
    if seconds is not None and int(seconds.group(1)) > 0:
        return float(seconds.group(1))
    return _duration(entry, "grace", DEFAULT_GRACE, bad)


def _duration(entry: Mapping[str, Any], key: str, default: float, bad: Any) -> float:
    raw = entry.get(key)
    if raw is None:
        return default
    try:
        return parse_duration(str(raw))
    except ValueError as exc:
        raise bad(f"{key}: {exc}") from None
