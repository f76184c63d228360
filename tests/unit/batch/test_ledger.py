"""The SQLite ledger: progress per committed batch, group ids, the in-flight mark, the content lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.batch.errors import LedgerConflictError
from producers.batch.ledger import BatchCommit, LoadProgress, SqliteLedger, default_ledger_path
from tests.unit.batch.fakes import RECEIVED_AT, SHA


def _progress() -> LoadProgress:
    return LoadProgress(sha256=SHA, file_name="labs.csv", layout="lab-results", source_system="TESTLAB",
                        size_bytes=1000, state="loading", received_at=RECEIVED_AT, next_offset=40, next_line=2)


def test_progress_survives_a_new_connection(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = SqliteLedger(path)
    ledger.start(_progress(), RECEIVED_AT)
    ledger.mark_in_flight(SHA, 500, RECEIVED_AT)
    ledger.commit_batch(SHA, BatchCommit(next_offset=500, next_line=12, rows=10, published_rows=9, events=3,
                                         rejected_rows=1, group_keys=[(b"k" * 16, 2)]), RECEIVED_AT)
    ledger.mark_in_flight(SHA, 900, RECEIVED_AT)
    ledger.close()

    again = SqliteLedger(path)
    progress = again.lookup(SHA)
    assert progress is not None
    assert (progress.next_offset, progress.next_line, progress.rows, progress.events, progress.batches) == (
        500, 12, 10, 3, 1)
    assert progress.in_flight_end_offset == 900
    assert progress.received_at == RECEIVED_AT
    assert again.seen_groups(SHA, [b"k" * 16, b"x" * 16]) == {b"k" * 16: 2}
    assert again.lookup("cd" * 32) is None


def test_finish_marks_done_and_forgets_group_ids(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    ledger.start(_progress(), RECEIVED_AT)
    ledger.commit_batch(SHA, BatchCommit(100, 3, 1, 1, 1, 0, [(b"k" * 16, 2)]), RECEIVED_AT)
    ledger.finish(SHA, RECEIVED_AT)
    progress = ledger.lookup(SHA)
    assert progress is not None and progress.state == "done"
    assert ledger.seen_groups(SHA, [b"k" * 16]) == {}
    assert [entry.sha256 for entry in ledger.loads()] == [SHA]
    with pytest.raises(LedgerConflictError):
        ledger.commit_batch(SHA, BatchCommit(100, 3, 1, 1, 1, 0), RECEIVED_AT)


def test_seen_groups_asks_in_chunks(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    ledger.start(_progress(), RECEIVED_AT)
    keys = [index.to_bytes(16, "big") for index in range(2500)]
    ledger.commit_batch(SHA, BatchCommit(100, 3, 1, 1, 1, 0, [(key, 2) for key in keys]), RECEIVED_AT)
    assert len(ledger.seen_groups(SHA, keys)) == 2500


def test_the_lock_is_exclusive_per_content(tmp_path: Path) -> None:
    first, second = SqliteLedger(tmp_path / "l.sqlite3"), SqliteLedger(tmp_path / "l.sqlite3")
    with first.lock(SHA):
        with pytest.raises(LedgerConflictError, match="another process"), second.lock(SHA):
            pass
        with second.lock("cd" * 32):
            pass
    with second.lock(SHA):
        pass


def test_default_path_is_under_carebus_home(tmp_path: Path) -> None:
    assert default_ledger_path(tmp_path) == tmp_path / "batch" / "batch-ledger.sqlite3"
