"""Job watches from the policy file: `[[watches]]` entries, checked at start.

The poller (bot/engine/watching.py) polls every watch each `[limits] watch_poll_seconds`.

```toml
[[watches]]
id = "ops-jobs"                 # optional: names the watch in the database and /oms watches
channel = "C0OPS"               # where its alerts are posted
jobs = ["JOB_IMP_ORD", "queue_ShopifyOrderSync_10000", "orders"]
                                # OFBiz enum ids, Moqui service job names, or category names
quiet_hours = "22:00-06:00"     # optional: alerts are held, and posted when they end
timezone = "America/New_York"   # the quiet hours' time zone (default UTC)
failed_imports_per_hour = 20    # optional: more failed imports than this in an hour alerts
```

A bad entry stops the start with a ConfigError naming the entry and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.kit.config import ConfigError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9_]{1,40}$")
_JOB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:# -]{0,99}$")
_QUIET = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_KEYS = {"id", "channel", "jobs", "quiet_hours", "timezone", "failed_imports_per_hour"}


@dataclass(frozen=True)
class Watch:
    id: str
    channel: str
    jobs: tuple[str, ...]
    timezone: str = "UTC"
    # Minutes after local midnight: quiet from `start` up to `end` (wrapping past midnight).
    quiet: tuple[int, int] | None = None
    failed_imports_per_hour: int | None = None

    @property
    def quiet_text(self) -> str | None:
        if self.quiet is None:
            return None
        start, end = self.quiet
        return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"

    def is_quiet(self, moment: float) -> bool:
        """Whether `moment` (epoch seconds) falls in the quiet hours, in the watch's zone."""
        if self.quiet is None:
            return False
        local = datetime.fromtimestamp(moment, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        start, end = self.quiet
        if start <= end:
            return start <= minute < end
        return minute >= start or minute < end


def _quiet(text: Any, where: str) -> tuple[int, int]:
    match = _QUIET.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(
            f'{where}: quiet_hours {text!r} is not "HH:MM-HH:MM" (e.g. "22:00-06:00")'
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(f"{where}: quiet_hours {text!r} has a time that is not on a clock")
    if (h1, m1) == (h2, m2):
        raise ConfigError(f"{where}: quiet_hours {text!r} starts and ends at the same time")
    return h1 * 60 + m1, h2 * 60 + m2


def parse_watch(raw: Mapping[str, Any], index: int, source: str) -> Watch:
    where = f"OMSBOT_POLICY: {source}: [[watches]] #{index + 1}"
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"a watch takes {', '.join(sorted(_KEYS))}"
        )
    watch_id = raw.get("id", f"watch-{index + 1}")
    if not isinstance(watch_id, str) or not _ID.match(watch_id):
        raise ConfigError(f"{where}: id {watch_id!r} must be letters, digits, _ . - (1-63)")
    where = f'OMSBOT_POLICY: {source}: [[watches]] id "{watch_id}"'
    channel = raw.get("channel")
    if not isinstance(channel, str) or not _CHANNEL.match(channel):
        raise ConfigError(f"{where}: channel {channel!r} is not a Slack channel id (C… or G…)")
    jobs = raw.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise ConfigError(
            f"{where}: jobs must be a non-empty list of OFBiz enum ids, Moqui job names or "
            'category names, e.g. jobs = ["JOB_IMP_ORD", "orders"]'
        )
    for job in jobs:
        if not isinstance(job, str) or not _JOB.match(job):
            raise ConfigError(f"{where}: {job!r} in jobs is not a job or category name")
    duplicates = sorted({j for j in jobs if jobs.count(j) > 1})
    if duplicates:
        raise ConfigError(f"{where}: jobs names {', '.join(duplicates)} more than once")
    zone = raw.get("timezone", "UTC")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: timezone {zone!r} is not an IANA time zone (e.g. America/New_York)"
        ) from None
    quiet = _quiet(raw["quiet_hours"], where) if "quiet_hours" in raw else None
    threshold = raw.get("failed_imports_per_hour")
    if threshold is not None and (
        not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1
    ):
        raise ConfigError(
            f"{where}: failed_imports_per_hour {threshold!r} must be a whole number ≥ 1"
        )
    return Watch(
        id=watch_id,
        channel=channel,
        jobs=tuple(jobs),
        timezone=str(zone),
        quiet=quiet,
        failed_imports_per_hour=threshold,
    )


def parse_watches(raw: list[Any], source: str) -> list[Watch]:
    """Check every `[[watches]]` entry; one ConfigError listing every problem."""
    watches: list[Watch] = []
    problems: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.append(f"OMSBOT_POLICY: {source}: [[watches]] #{index + 1} is not a table")
            continue
        try:
            watches.append(parse_watch(entry, index, source))
        except ConfigError as exc:
            problems.extend(exc.problems)
    seen: set[str] = set()
    for watch in watches:
        if watch.id in seen:
            problems.append(
                f'OMSBOT_POLICY: {source}: [[watches]] id "{watch.id}" is used twice; '
                "give each watch its own id"
            )
        seen.add(watch.id)
    if problems:
        raise ConfigError(*problems)
    return watches
