"""Schedule slots across clock changes: every slot once, in order, and never a hang."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.engine.schedules import Schedule

PARIS = "Europe/Paris"
# The autumn change of 2026 in Paris: 03:00 CEST becomes 02:00 CET on 25 October.
AUTUMN = datetime(2026, 10, 25, 0, 0, tzinfo=UTC).timestamp()
SPRING = datetime(2026, 3, 29, 0, 0, tzinfo=UTC).timestamp()


def _slots(cron: str, start: float, hours: float) -> list[str]:
    """The slots of `cron` in Paris over `hours` from `start`, as local times; fails (rather
    than hanging the suite) when computing them does not end."""
    schedule = Schedule("s", "C_OPS", cron, PARIS, window=86400.0, grace=3600.0)
    found: list[float] = []
    worker = threading.Thread(
        target=lambda: found.extend(schedule.slots_between(start, start + hours * 3600)),
        daemon=True,
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), f"slots of {cron!r} never ended"
    zone = ZoneInfo(PARIS)
    return [datetime.fromtimestamp(t, zone).strftime("%d %H:%M%z") for t in found]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("30 2 * * *", ["25 02:30+0200", "25 02:30+0100", "26 02:30+0100"]),
        ("0 3 * * *", ["25 03:00+0100", "26 03:00+0100"]),
    ],
)
def test_the_repeated_autumn_hour_neither_hangs_nor_repeats_a_slot(
    cron: str, expected: list[str]
) -> None:
    slots = _slots(cron, AUTUMN - 3600, 49)
    assert slots == expected


def test_hourly_slots_through_the_autumn_change_are_each_once() -> None:
    slots = _slots("0 * * * *", AUTUMN - 1, 4)
    assert slots == ["25 02:00+0200", "25 02:00+0100", "25 03:00+0100", "25 04:00+0100"]


def test_the_skipped_spring_hour_has_no_slot() -> None:
    slots = _slots("30 2 * * *", SPRING - 3600, 49)
    assert "29 02:30+0200" not in slots and slots[-1] == "30 02:30+0200"


def test_last_slot_in_the_repeated_hour_ends() -> None:
    schedule = Schedule("s", "C_OPS", "0 * * * *", PARIS, window=86400.0, grace=3600.0)
    inside = datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp()  # 02:30 CET, repeated
    result: list[float | None] = []
    worker = threading.Thread(target=lambda: result.append(schedule.last_slot(inside)))
    worker.daemon = True
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "last_slot never ended in the repeated hour"
    assert result == [datetime(2026, 10, 25, 1, 0, tzinfo=UTC).timestamp()]
