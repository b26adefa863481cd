"""Durations as people type them (30m, 24h, 7d, 2w), times as the bot shows them, and counts.

A time in a mrkdwn text (section, context, fields, a message's `text`) is `slack_time`: Slack's
date formatting (`<!date^EPOCH^{date_short_pretty} {time}|FALLBACK>`, docs.slack.dev "Formatting
text for app surfaces", "Date formatting"), which each reader's client shows in their own time
zone; the fallback (`2026-11-30 08:55 UTC`) is what clients that cannot format it show. Where
the text is not mrkdwn (plain_text headers, buttons and confirm dialogs, CSV, uploaded files,
logs) it is `fmt_time`, the same fallback. The console shows `<!date>` in the terminal's local
time (`render_slack_dates`).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, tzinfo

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^(\d{1,4})([mhdw])$")
MAX_SECONDS = 366 * 86400
# Slack's tokens: "Today 8:55 AM", "Nov 30, 2026 8:55 AM" (the year only when not this year),
# each in the reader's zone and 12/24-hour preference.
SLACK_DATE_FORMAT = "{date_short_pretty} {time}"
_SLACK_DATE = re.compile(r"<!date\^(\d{1,12})\^([^^|>]*)(?:\^[^|>]*)?\|([^>]*)>")
# HotWax's human text for a moment, e.g. logInsights' firstAttemptedImport
# "January 3, 2024 10:15:12 PM" (Java's long date and medium time, US English).
_OMS_TEXT_TIME = "%B %d, %Y %I:%M:%S %p"

Moment = float | datetime


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
    """A duration in words, as people read it back: `7 days`, `24 hours`, `1 hour`,
    `90 minutes`. Weeks are told in days (`--since 7d` is "7 days", never "1 week" or
    "1w"), and a day in hours (`--since 24h`, the most common window, reads as typed)."""
    whole = int(seconds)
    if whole >= 2 * _UNITS["d"] and whole % _UNITS["d"] == 0:
        return plural(whole // _UNITS["d"], "day")
    if whole >= _UNITS["h"] and whole % _UNITS["h"] == 0:
        return plural(whole // _UNITS["h"], "hour")
    return plural(max(1, whole // 60), "minute")


def typed_duration(seconds: float) -> str:
    """A duration as a command takes it back (`7d`, `24h`, `90m`): for a hint that repeats
    what the user asked for."""
    whole = int(seconds)
    for unit in ("d", "h"):
        if whole >= _UNITS[unit] and whole % _UNITS[unit] == 0:
            return f"{whole // _UNITS[unit]}{unit}"
    return f"{max(1, whole // 60)}m"


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`1 run`, `2 runs`, `0 runs`; `many` for a word not made plural by adding s
    (`plural(n, "entry", "entries")`)."""
    return f"{count} {singular if count == 1 else many or singular + 's'}"


def _epoch(moment: Moment) -> float:
    if isinstance(moment, datetime):
        # A naive datetime is taken as UTC, as the OMS models take it (bot/oms/models.py).
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return float(moment)


def fmt_time(moment: Moment) -> str:
    """A moment as plain text (`2026-11-30 08:55 UTC`): for plain_text fields, CSV, files and
    logs, and the fallback of `slack_time`."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(_epoch(moment)))


def slack_time(moment: Moment) -> str:
    """A moment in mrkdwn: shown by Slack in the reader's own time zone, with `fmt_time` as
    the fallback."""
    epoch = _epoch(moment)
    return f"<!date^{int(epoch)}^{SLACK_DATE_FORMAT}|{fmt_time(epoch)}>"


def slack_time_or(moment: Moment | None, unknown: str = "unknown") -> str:
    """`slack_time`, or `unknown` when there is no moment."""
    return unknown if moment is None else slack_time(moment)


def local_time(epoch: float, zone: tzinfo | None = None) -> str:
    """A moment in `zone` (the machine's local zone by default): `2026-11-30 09:55 CET`."""
    return datetime.fromtimestamp(epoch, zone or UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def render_slack_dates(text: str, zone: tzinfo | None = None) -> str:
    """Every `<!date^…|…>` of a mrkdwn text as the time in `zone` (the machine's local zone by
    default): what a terminal shows where Slack would show the reader's own time."""
    return _SLACK_DATE.sub(lambda m: local_time(float(m.group(1)), zone), text)


def plain_dates(text: str) -> str:
    """Every `<!date^…|fallback>` of a text as its fallback (`2026-11-30 08:55 UTC`): for the
    audit trail and logs, which are read outside Slack and shown escaped."""
    return _SLACK_DATE.sub(lambda m: m.group(3), text)


def parse_oms_text_time(text: str, zone: tzinfo) -> datetime | None:
    """HotWax's human text for a moment (`January 3, 2024 10:15:12 PM`) read as a wall-clock
    time in `zone`; None when it is not in that form. The text names no zone: which one it is
    in is the caller's decision (documented where it is made)."""
    try:
        naive = datetime.strptime(" ".join(text.split()), _OMS_TEXT_TIME)
    except ValueError:
        return None
    return naive.replace(tzinfo=zone)
