"""The load ledger: which file contents were loaded, and how far a partial load got.

Keyed by the sha256 of the file's bytes, so a renamed copy is the same file and an edited file is a
new one. A load records progress once per committed batch, in one SQLite transaction: the byte
offset and line where the next batch starts, the running counts, and the hashed group ids (report
or claim ids) the batch published, which is how a group that reappears later in the file is caught
(`group-not-contiguous`) even after a resume. Before a batch is published its end offset is written
as `in_flight_end_offset`; the batch's commit clears it. A row that still has it on resume means the
process stopped between the publish and its ledger commit: that batch is published again, with the
same event ids (they are derived from the file hash and line), and the summary says so.

SQLite in WAL mode with `synchronous=FULL`: a committed batch survives a crash or power cut. One
process loads a given content at a time: `lock()` takes an exclusive `flock` on a lock file beside
the database, so `carebus batch watch` and a manual `carebus batch load` of the same file cannot
interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol

from producers.batch.errors import LedgerConflictError

__all__ = ["LEDGER_FILE_NAME", "BatchCommit", "Ledger", "LoadProgress", "SqliteLedger", "default_ledger_path"]

LEDGER_FILE_NAME: Final = "batch-ledger.sqlite3"
_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS loads (
    sha256 TEXT PRIMARY KEY,
    file_name TEXT NOT NULL,
    layout TEXT NOT NULL,
    source_system TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('loading', 'done')),
    received_at TEXT NOT NULL,
    next_offset INTEGER NOT NULL,
    next_line INTEGER NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0,
    published_rows INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    rejected_rows INTEGER NOT NULL DEFAULT 0,
    batches INTEGER NOT NULL DEFAULT 0,
    in_flight_end_offset INTEGER,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS group_keys (
    sha256 TEXT NOT NULL,
    key_hash BLOB NOT NULL,
    first_line INTEGER NOT NULL,
    PRIMARY KEY (sha256, key_hash)
) WITHOUT ROWID;
"""
_COLUMNS: Final = ("sha256", "file_name", "layout", "source_system", "size_bytes", "state", "received_at",
                   "next_offset", "next_line", "rows", "published_rows", "events", "rejected_rows", "batches",
                   "in_flight_end_offset")
_SQLITE_MAX_VARIABLES: Final = 900


def default_ledger_path(home: Path) -> Path:
    """Where the CLI keeps the ledger: under CAREBUS_HOME."""
    return home / "batch" / LEDGER_FILE_NAME


@dataclass(frozen=True)
class LoadProgress:
    """One file content's load, as far as it got."""

    sha256: str
    file_name: str
    layout: str
    source_system: str
    size_bytes: int
    state: Literal["loading", "done"]
    received_at: datetime
    next_offset: int
    """Byte offset where the next batch starts (just past the header on a fresh load)."""
    next_line: int
    rows: int = 0
    published_rows: int = 0
    events: int = 0
    rejected_rows: int = 0
    batches: int = 0
    in_flight_end_offset: int | None = None


@dataclass(frozen=True)
class BatchCommit:
    """What one published batch adds to its load's progress."""

    next_offset: int
    next_line: int
    rows: int
    published_rows: int
    events: int
    rejected_rows: int
    group_keys: Sequence[tuple[bytes, int]] = ()
    """(hashed group id, first line) of every group in the batch."""


class Ledger(Protocol):
    """The loader's port to the ledger."""

    def lock(self, sha256: str) -> AbstractContextManager[None]: ...

    def lookup(self, sha256: str) -> LoadProgress | None: ...

    def start(self, progress: LoadProgress, at: datetime) -> None: ...

    def seen_groups(self, sha256: str, key_hashes: Sequence[bytes]) -> dict[bytes, int]: ...

    def mark_in_flight(self, sha256: str, end_offset: int | None, at: datetime) -> None: ...

    def commit_batch(self, sha256: str, commit: BatchCommit, at: datetime) -> None: ...

    def finish(self, sha256: str, at: datetime) -> None: ...


class SqliteLedger:
    """The ledger in one SQLite file (created with its folder on first use)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self._path

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self._path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=10000")
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            if version not in (0, _SCHEMA_VERSION):
                connection.close()
                raise LedgerConflictError(self._path.name, f"ledger schema version {version} is not supported")
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            self._connection = connection
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextlib.contextmanager
    def lock(self, sha256: str) -> Iterator[None]:
        """Hold the content's load lock; raise LedgerConflictError when another process holds it."""
        lock_dir = self._path.parent / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_dir / f"{sha256}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LedgerConflictError(sha256[:16], "another process is loading this content") from None
            yield
        finally:
            os.close(descriptor)

    def lookup(self, sha256: str) -> LoadProgress | None:
        row = self._db().execute(f"SELECT {', '.join(_COLUMNS)} FROM loads WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else _progress(row)

    def start(self, progress: LoadProgress, at: datetime) -> None:
        progress = replace(progress, state="loading")
        values = [getattr(progress, column) for column in _COLUMNS]
        values[_COLUMNS.index("received_at")] = progress.received_at.isoformat()
        with self._transaction() as db:
            db.execute(f"INSERT INTO loads ({', '.join(_COLUMNS)}, updated_at) "
                       f"VALUES ({', '.join('?' * len(_COLUMNS))}, ?)", (*values, at.isoformat()))

    def seen_groups(self, sha256: str, key_hashes: Sequence[bytes]) -> dict[bytes, int]:
        seen: dict[bytes, int] = {}
        db = self._db()
        for start in range(0, len(key_hashes), _SQLITE_MAX_VARIABLES):
            chunk = key_hashes[start:start + _SQLITE_MAX_VARIABLES]
            rows = db.execute(f"SELECT key_hash, first_line FROM group_keys WHERE sha256 = ? "
                              f"AND key_hash IN ({', '.join('?' * len(chunk))})", (sha256, *chunk))
            seen.update((bytes(key), line) for key, line in rows)
        return seen

    def mark_in_flight(self, sha256: str, end_offset: int | None, at: datetime) -> None:
        """Record that the batch ending at `end_offset` is being published; None clears the mark."""
        with self._transaction() as db:
            db.execute("UPDATE loads SET in_flight_end_offset = ?, updated_at = ? WHERE sha256 = ?",
                       (end_offset, at.isoformat(), sha256))

    def commit_batch(self, sha256: str, commit: BatchCommit, at: datetime) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE loads SET next_offset = ?, next_line = ?, rows = rows + ?, published_rows = published_rows + ?,"
                " events = events + ?, rejected_rows = rejected_rows + ?, batches = batches + 1,"
                " in_flight_end_offset = NULL, updated_at = ? WHERE sha256 = ? AND state = 'loading'",
                (commit.next_offset, commit.next_line, commit.rows, commit.published_rows, commit.events,
                 commit.rejected_rows, at.isoformat(), sha256))
            if cursor.rowcount != 1:
                raise LedgerConflictError(sha256[:16], "no load in progress for this content")
            db.executemany("INSERT OR IGNORE INTO group_keys (sha256, key_hash, first_line) VALUES (?, ?, ?)",
                           [(sha256, key, line) for key, line in commit.group_keys])

    def finish(self, sha256: str, at: datetime) -> None:
        with self._transaction() as db:
            db.execute("UPDATE loads SET state = 'done', finished_at = ?, updated_at = ?, in_flight_end_offset = NULL"
                       " WHERE sha256 = ?", (at.isoformat(), at.isoformat(), sha256))
            db.execute("DELETE FROM group_keys WHERE sha256 = ?", (sha256,))

    def loads(self) -> list[LoadProgress]:
        """Every load the ledger knows, most recent first (for `carebus batch status`)."""
        rows = self._db().execute(f"SELECT {', '.join(_COLUMNS)} FROM loads ORDER BY updated_at DESC")
        return [_progress(row) for row in rows]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _progress(row: Sequence[object]) -> LoadProgress:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["received_at"] = datetime.fromisoformat(str(values["received_at"]))
    return LoadProgress(**values)  # type: ignore[arg-type]
