"""A set of strings that moves to a temporary file once it is large, so a process that must
remember hundreds of thousands of keys (a digest counting each failed order once) keeps a
flat memory footprint.

Up to `in_memory` keys it is a plain set; past that, every key goes to a SQLite table in a
temporary file (SQLite's page cache, 512 KiB, is its only memory). Keys are looked up and
added a batch at a time, so the per-key cost stays in SQLite's C code. The file is deleted
when the set is closed or collected. Exact: keys are stored whole, never hashed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import weakref
from collections.abc import Collection, Iterable
from pathlib import Path

IN_MEMORY = 2_000
_BATCH = 500  # host parameters per query: well under SQLite's limit (999 before 3.32)


def _drop(connection: sqlite3.Connection, path: str) -> None:
    try:
        connection.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class SpillingKeySet:
    """Membership for many string keys, looked up and added in batches."""

    def __init__(self, directory: Path | None = None, *, in_memory: int = IN_MEMORY) -> None:
        self._directory = directory
        self._in_memory = in_memory
        self._keys: set[str] | None = set()
        self._db: sqlite3.Connection | None = None
        self._finalizer: weakref.finalize[..., SpillingKeySet] | None = None

    def members(self, keys: Collection[str]) -> set[str]:
        """Those of `keys` that are in the set."""
        if self._keys is not None:
            return {key for key in keys if key in self._keys}
        assert self._db is not None
        found: set[str] = set()
        asked = list(keys)
        for first in range(0, len(asked), _BATCH):
            batch = asked[first : first + _BATCH]
            marks = ",".join("?" * len(batch))
            query = f"SELECT k FROM keys WHERE k IN ({marks})"  # only "?" marks are formatted in
            found.update(row[0] for row in self._db.execute(query, batch))
        return found

    def add(self, keys: Iterable[str]) -> None:
        if self._keys is not None:
            self._keys.update(keys)
            if len(self._keys) <= self._in_memory:
                return
            self._open()  # first: if the file cannot be made, the keys stay in memory
            keys, self._keys = self._keys, None
        assert self._db is not None
        # In key order: neighbours go to the same B-tree page, fewer pages are touched.
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO keys VALUES (?)", ((k,) for k in sorted(keys))
            )

    def _open(self) -> None:
        handle, path = tempfile.mkstemp(suffix=".keys", dir=self._directory)
        os.close(handle)
        try:
            # Used by one task at a time; the finalizer may run on whichever thread collects it.
            db = sqlite3.connect(path, check_same_thread=False)
            # A scratch file: nothing to recover after a crash, so no journal and no fsync.
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            # A small page cache: the operating system caches the file anyway.
            db.execute("PRAGMA cache_size=-512")
            db.execute("CREATE TABLE keys (k TEXT PRIMARY KEY) WITHOUT ROWID")
        except BaseException:
            os.unlink(path)  # a file that could not be set up must not outlive the attempt
            raise
        self._db = db
        self._finalizer = weakref.finalize(self, _drop, db, path)

    def close(self) -> None:
        """Forget every key and delete the file, if there is one."""
        self._keys = set()
        if self._finalizer is not None:
            self._finalizer()
        self._db = None
        self._finalizer = None
