"""Durations as people type them (30m, 24h, 7d, 2w) and times as the bot shows them."""

from __future__ import annotations

import re
import time

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^(\d{1,4})([mhdw])$")
MAX_SECONDS = 366 * 86400


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError naming the accepted forms otherwise."""
    match = _PATTERN.match(text.strip().lower())
    if not match:
        raise ValueError(
            f"`{text[:20]}` is not a duration; use a number and m, h, d or w, e.g. 24h or 7d"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 or seconds > MAX_SECONDS:
        raise ValueError(f"`{text}` is out of range; use between 1m and 52w")
    return float(seconds)


def describe_duration(seconds: float) -> str:
    """The largest whole unit: 7d, 24h, 90m."""
    for unit, size in (("w", _UNITS["w"]), ("d", _UNITS["d"]), ("h", _UNITS["h"])):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds // 60)}m"


def fmt_time(epoch: float) -> str:
    """A moment as every message shows it: `2026-11-30 11:38 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
