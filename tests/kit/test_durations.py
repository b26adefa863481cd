"""Durations as typed and read back, times in mrkdwn and plain text, counts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.kit.durations import (
    describe_duration,
    fmt_time,
    local_time,
    parse_duration,
    parse_oms_text_time,
    plain_dates,
    plural,
    render_slack_dates,
    slack_time,
    slack_time_or,
    typed_duration,
)

MOMENT = datetime(2026, 11, 30, 8, 55, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "read_back"),
    [
        ("7d", "7 days"),
        ("2w", "14 days"),
        ("24h", "24 hours"),
        ("1d", "24 hours"),
        ("1h", "1 hour"),
        ("36h", "36 hours"),
        ("90m", "90 minutes"),
        ("1m", "1 minute"),
    ],
)
def test_a_duration_reads_back_in_words_never_in_weeks(typed: str, read_back: str) -> None:
    assert describe_duration(parse_duration(typed)) == read_back


@pytest.mark.parametrize(
    ("typed", "again"), [("7d", "7d"), ("2w", "14d"), ("24h", "1d"), ("36h", "36h"), ("90m", "90m")]
)
def test_a_duration_typed_back_into_a_command(typed: str, again: str) -> None:
    assert typed_duration(parse_duration(typed)) == again


def test_plural_counts() -> None:
    assert plural(1, "run") == "1 run"
    assert plural(0, "run") == "0 runs"
    assert plural(2, "entry", "entries") == "2 entries"
    assert plural(1, "entry", "entries") == "1 entry"


def test_slack_time_is_slack_date_formatting_with_a_utc_fallback() -> None:
    epoch = MOMENT.timestamp()
    expected = "<!date^1796028912^{date_short_pretty} {time}|2026-11-30 08:55 UTC>"
    assert slack_time(epoch) == expected
    assert slack_time(MOMENT) == expected
    # A naive datetime is UTC, as the OMS models read one.
    assert slack_time(MOMENT.replace(tzinfo=None)) == expected
    assert fmt_time(MOMENT) == "2026-11-30 08:55 UTC"
    assert slack_time_or(None) == "unknown" and slack_time_or(None, "?") == "?"


def test_the_console_renders_slack_dates_in_a_zone() -> None:
    text = f"due at {slack_time(MOMENT)} and {slack_time(MOMENT.timestamp() + 86400)}."
    paris = ZoneInfo("Europe/Paris")
    shown = render_slack_dates(text, paris)
    assert shown == "due at 2026-11-30 09:55 CET and 2026-12-01 09:55 CET."
    assert local_time(MOMENT.timestamp(), ZoneInfo("America/New_York")) == "2026-11-30 03:55 EST"
    assert "<!date" not in render_slack_dates(text)  # the machine's own zone


def test_plain_dates_keep_the_fallback_for_the_audit() -> None:
    text = f"Already handled by <@U1> at {slack_time(MOMENT)}; <https://x|link> stays."
    assert plain_dates(text) == (
        "Already handled by <@U1> at 2026-11-30 08:55 UTC; <https://x|link> stays."
    )


def test_hotwax_human_times_are_read_in_the_given_zone() -> None:
    zone = ZoneInfo("America/New_York")
    # logInsights' documented sample (hotwax/oms-documentation order-reconciliations.md).
    parsed = parse_oms_text_time("January 3, 2024 10:15:12 PM", zone)
    assert parsed == datetime(2024, 1, 4, 3, 15, 12, tzinfo=UTC)
    assert parse_oms_text_time("November 29, 2026  11:50:26 PM", zone) == datetime(
        2026, 11, 30, 4, 50, 26, tzinfo=UTC
    )
    assert parse_oms_text_time("2024-01-03 22:15", zone) is None
    assert parse_oms_text_time("", zone) is None
