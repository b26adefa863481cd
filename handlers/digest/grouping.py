"""Failed imports grouped by cause: error texts normalised, counted, newest examples kept.

The aggregator takes pages from both sources as they arrive (the Shopify order MDM's failed
records first, then logInsights documents) and counts each order once: an order failing in
several MDM logs, in several logInsights documents, or in both, is one failed order, shown with
the first error read. It keeps counts, a few newest examples per group and the newest
failures overall; the keys of the orders counted go to a temporary file past a few thousand
(bot/kit/diskset.py) and every counted row to a CSV file on disk for the message's thread, so
its memory does not grow with the number of failed orders. Only the order's name, id and shop
and the error are kept.
"""

from __future__ import annotations

import heapq
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO

from bot.kit.diskset import SpillingKeySet
from bot.oms import FailedImport, loginsights
from handlers.orders import explain

EXAMPLES_PER_GROUP = 3
NEWEST_KEPT = 5
# Distinct unknown messages beyond this are counted together, so memory stays bounded even
# when every error text is different.
MAX_GROUPS = 200
OTHER_KEY = "other:unlisted"


_REPLACEMENTS = (
    # UUIDs (document ids), ISO timestamps, "January 3, 2024 10:15:12 PM", clock times.
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (
        re.compile(
            r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}"
            r"( \d{1,2}:\d\d(:\d\d)?( ?[AP]M)?)?",
            re.I,
        ),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d\d(:\d\d)?( ?[AP]M)?\b", re.I), "<time>"),
    # Order names (#1004, HCDEV#2511), Shopify gids, then any remaining number.
    (re.compile(r"[A-Za-z]*#\d+"), "<order>"),
    (re.compile(r"gid://shopify/\w+/\d+"), "<id>"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "<n>"),
)
_SPACES = re.compile(r"\s+")
MAX_KEY_LENGTH = 300


def normalise(message: str) -> str:
    """The error text with order ids, numbers and timestamps taken out."""
    text = message
    for pattern, replacement in _REPLACEMENTS:
        text = pattern.sub(replacement, text)
    return _SPACES.sub(" ", text).strip()[:MAX_KEY_LENGTH]


# Error texts repeat across a digest's rows: each distinct one is classified once.
@lru_cache(maxsize=4096)
def classify(message: str) -> tuple[str, str, str | None]:
    """(group key, title, fix) for an error text: a known cause, or its normalised text."""
    known = explain(message)
    if known is not None:
        return known.key, known.title, known.fix
    text = normalise(message)
    return f"text:{text}", text, None


Newest = tuple[float, int, FailedImport]  # (timestamp, seq, failure): seq breaks ties


@dataclass
class Group:
    key: str
    title: str
    fix: str | None
    count: int = 0
    # A min-heap of (timestamp, seq, failure): the newest EXAMPLES_PER_GROUP survive.
    _newest: list[Newest] = field(default_factory=list)

    def add(self, item: Newest) -> None:
        self.count += 1
        _keep_newest(self._newest, item, EXAMPLES_PER_GROUP)

    @property
    def examples(self) -> list[FailedImport]:
        return [f for _, _, f in sorted(self._newest, reverse=True)]


def _keep_newest(heap: list[Newest], item: Newest, size: int) -> None:
    if len(heap) < size:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


CSV_COLUMNS = (
    "shopify_order_name",
    "shopify_order_id",
    "shop",
    "cause",
    "error_message",
    "source",
    "reference",
    "failed_at",
    "first_attempted_import",
    "order_created",
)


# A field is quoted (its quotes doubled) when it holds a comma, a quote or a line break, as
# the csv module's QUOTE_MINIMAL does; lines end in CRLF (RFC 4180). Written here because the
# csv module costs about 0.5 µs a field, a quarter of a digest's whole budget for a row.
_QUOTE_OR_BREAK = re.compile(r'["\r\n]')
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value


def csv_line(fields: tuple[str, ...]) -> str:
    """One CSV record of `fields`, with its line end."""
    line = ",".join(fields)
    if line.count(",") == len(fields) - 1 and not _QUOTE_OR_BREAK.search(line):
        return line + "\r\n"  # no field holds a comma, a quote or a break: none is quoted
    return ",".join(map(_quoted, fields)) + "\r\n"


def _name_key(failure: FailedImport) -> str | None:
    name = failure.shopify_order_name.strip().lower()
    return None if not name or name.startswith("(no ") else name


class Seen:
    """The orders already counted. The MDM names an order by its Shopify id (unique across
    shops) and name; logInsights by its name and shop, without an id: a logInsights document
    is the same order as an MDM record with its name, or as another document with its shop
    and name. Feed the MDM first.

    The keys live in a SpillingKeySet (a temporary file past a few thousand), looked up a page
    at a time: a digest of half a million failures keeps the memory of a small one."""

    def __init__(self, directory: Path | None = None) -> None:
        # "m" + the MDM's key of an order, "n:" + an MDM order's name, "l:" + a logInsights
        # document's shop and name (a host has no newline, so the pair is unambiguous).
        self._keys = SpillingKeySet(directory)

    def first_times(self, page: list[FailedImport]) -> list[bool]:
        """For each failure of the page, in order, whether its order is counted for the first
        time (a page may repeat an order too)."""
        plans = [_plan(failure) for failure in page]
        known = self._keys.members({key for plan in plans if plan for key in plan[0]})
        added: list[str] = []
        first: list[bool] = []
        for plan in plans:
            if plan is None:
                first.append(True)  # nothing to know it by: count it
                continue
            checks, adds = plan
            if not known.isdisjoint(checks):
                first.append(False)
                continue
            first.append(True)
            known.update(adds)
            added += adds
        self._keys.add(added)
        return first

    def close(self) -> None:
        self._keys.close()


def _plan(failure: FailedImport) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(the keys that make `failure` an order already counted, the keys it adds), or None
    when nothing identifies its order."""
    name = _name_key(failure)
    if failure.source == loginsights.MDM:
        if failure.shopify_order_id:
            key = f"mid:{failure.shopify_order_id}"
        elif name:
            key = f"mname:{name}"
        else:
            return None
        return (key,), ((key, f"n:{name}") if name else (key,))
    if name is None:
        return None
    logged = f"l:{failure.shop or ''}\n{name}"
    return (f"n:{name}", logged), (logged,)


class Counter:
    """Only how many distinct failed orders (the previous window, for the change)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.total = 0
        self._seen = Seen(directory)

    def add(self, page: list[FailedImport]) -> None:
        self.total += sum(self._seen.first_times(page))

    def close(self) -> None:
        self._seen.close()


class Aggregator:
    """Counts and examples by cause, fed page by page; every row also goes to a CSV file."""

    def __init__(self, csv_dir: Path | None = None) -> None:
        self.total = 0
        self._seen = Seen(csv_dir)
        self.groups: dict[str, Group] = {}
        self._newest: list[Newest] = []
        self._csv_file: IO[str] = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in close)
            "w", suffix=".csv", dir=csv_dir, delete=False, newline="", encoding="utf-8"
        )
        self.csv_path = Path(self._csv_file.name)
        self._csv_file.write(csv_line(CSV_COLUMNS))

    def add(self, page: list[FailedImport]) -> None:
        lines = []
        # An MDM log's records share their log's time: it is converted once per log.
        stamp: datetime | None = None
        when, when_text = 0.0, ""
        for failure, first in zip(page, self._seen.first_times(page), strict=True):
            if not first:
                continue
            self.total += 1
            group = self._group(failure.error_message)
            if failure.timestamp is not stamp:
                stamp = failure.timestamp
                when, when_text = stamp.timestamp(), stamp.isoformat()
            item = (when, self.total, failure)
            group.add(item)
            _keep_newest(self._newest, item, NEWEST_KEPT)
            first_attempted = failure.first_attempted_at
            lines.append(
                csv_line(
                    (
                        failure.shopify_order_name,
                        failure.shopify_order_id or "",
                        failure.shop or "",
                        group.title,
                        failure.error_message,
                        failure.source,
                        failure.reference,
                        when_text,
                        # As a moment where the OMS's zone is known; else as the OMS wrote it.
                        first_attempted.astimezone(UTC).isoformat()
                        if first_attempted
                        else failure.first_attempted,
                        failure.order_created.isoformat() if failure.order_created else "",
                    )
                )
            )
        self._csv_file.write("".join(lines))

    def _group(self, message: str) -> Group:
        """The group of an error text: its cause's, or "other" past MAX_GROUPS texts."""
        key, title, fix = classify(message)
        group = self.groups.get(key)
        if group is None and key.startswith("text:") and len(self.groups) >= MAX_GROUPS:
            key, title, fix = OTHER_KEY, "Other errors (too many different texts)", None
            group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, title, fix)
        return group

    def ranked(self) -> list[Group]:
        """Most frequent first; ties by title so the order is stable."""
        return sorted(self.groups.values(), key=lambda g: (-g.count, g.title))

    @property
    def newest(self) -> list[FailedImport]:
        return [f for _, _, f in sorted(self._newest, reverse=True)]

    def close(self) -> Path:
        """Flush the CSV and return its path (the caller deletes it)."""
        self._seen.close()
        self._csv_file.close()
        return self.csv_path

    def discard(self) -> None:
        self._seen.close()
        self._csv_file.close()
        self.csv_path.unlink(missing_ok=True)
