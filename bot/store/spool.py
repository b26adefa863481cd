"""The audit spool: audit events that could not reach the database wait here, on local disk.

One JSON line per event, appended and fsynced before `keep` returns, so an event survives a
kill -9 of the process the moment the audit has said it was kept. `replay` hands every
waiting event to the database in the order they were kept and drops it from the file once it
is recorded. An event that fails again because the database is away stays, with every one
after it, for the next replay; one the database refuses (it answers, with an error) is moved
to `<spool>.rejected`, kept for a person to look at, so it does not hold back the others.

Replaying twice is harmless: each event carries its own id (`AuditEvent.uid`) and the store
records an id once (bot/store/audit.py). Several processes may share one spool file (replicas
on one host): an advisory lock (`flock` on `<spool>.lock`) keeps one writer or replayer at a
time, so no line is lost to a replay rewriting the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from bot.store.audit import AuditEvent
from bot.store.db import StoreUnavailable

log = logging.getLogger(__name__)

# What a spooled line asks of the database: record an event, or close an OMS write's row.
SpoolOp = Literal["append", "close"]


class AuditSpool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    def keep(self, op: SpoolOp, event: AuditEvent) -> None:
        """Append `event` durably (written and fsynced). Raises OSError when the disk cannot
        take it: the caller then has nothing left but the log."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            _append_line(self.path, _line(op, event))

    def waiting(self) -> int:
        """How many events wait (0 when there is no spool file)."""
        try:
            with self.path.open("rb") as f:
                return sum(1 for line in f if line.strip())
        except FileNotFoundError:
            return 0

    def replay(self, apply: Callable[[SpoolOp, AuditEvent], object]) -> int:
        """Hand each waiting event to `apply` (which records it), oldest first, and drop those
        it took. Stops at the first `apply` that raises, keeping that event and the rest, and
        re-raises. Returns how many were replayed."""
        if not self.path.exists():
            return 0
        with self._locked():
            lines = self._lines()
            done = 0
            try:
                for op, event in lines:
                    try:
                        apply(op, event)
                    except StoreUnavailable:
                        raise
                    except Exception as exc:
                        # The database answers but refuses this one event: set it aside (kept,
                        # never dropped) so it does not hold back every event after it.
                        self._reject(op, event, exc)
                    done += 1
            finally:
                if done:
                    self._rewrite(lines[done:])
        return done

    def _reject(self, op: SpoolOp, event: AuditEvent, exc: Exception) -> None:
        rejected = self.path.with_name(self.path.name + ".rejected")
        log.error(
            "audit event %s (%s) refused by the database (%s); kept in %s",
            event.uid,
            event.kind,
            type(exc).__name__,
            rejected,
        )
        _append_line(rejected, _line(op, event))

    def _lines(self) -> list[tuple[SpoolOp, AuditEvent]]:
        found: list[tuple[SpoolOp, AuditEvent]] = []
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return found
        for number, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                op = data["op"]
                if op not in ("append", "close"):
                    raise ValueError(f"unknown op {op!r}")
                found.append((op, _from_json(data["event"])))
            except (ValueError, KeyError, TypeError) as exc:
                # A line cut short by a crash mid-write: skipping it loses only that event,
                # which `keep` never reported as kept.
                log.error("audit spool %s line %d unreadable (%s); skipped", self.path, number, exc)
        return found

    def _rewrite(self, rest: list[tuple[SpoolOp, AuditEvent]]) -> None:
        """Leave only `rest` in the spool, atomically (a crash keeps the old file or the new)."""
        if not rest:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, b"".join(_line(op, event) for op, event in rest))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _line(op: SpoolOp, event: AuditEvent) -> bytes:
    """One spooled event: a JSON line."""
    return (json.dumps({"op": op, "event": _as_json(event)}, default=str) + "\n").encode()


def _write_all(fd: int, data: bytes) -> None:
    """os.write may take only part (a full disk, a signal): write until all of it is down,
    or raise OSError, so a line is never reported kept while half of it is on disk."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _append_line(path: Path, line: bytes) -> None:
    """Append one line durably (written whole and fsynced). A last line left without its end
    by a crash mid-write is ended first: the new line must not join it and be lost with it."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        _write_all(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _as_json(event: AuditEvent) -> dict[str, Any]:
    data = asdict(event)
    data["order_keys"] = list(event.order_keys)
    data.pop("id", None)
    return data


def _from_json(data: dict[str, Any]) -> AuditEvent:
    fields = {k: v for k, v in data.items() if k in AuditEvent.__dataclass_fields__}
    fields["order_keys"] = tuple(str(k) for k in fields.get("order_keys") or ())
    return AuditEvent(**fields)
