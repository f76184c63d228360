"""The drop folder: files settle before they load, then move to done/ or failed/."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from producers.batch.ledger import SqliteLedger
from producers.batch.loader import BatchLoader
from producers.batch.watch import DropFolder, FileSeen, Outcome, WatchResult, is_candidate, settled, watch_folder
from tests.unit.batch.fakes import RECEIVED_AT, FakeDeadLetters, FakePublisher, claim_csv


def test_a_file_is_ready_once_unchanged_for_the_settle_time() -> None:
    seen, ready = settled({}, {"a.csv": (10, 1)}, now=0.0, settle_s=5.0)
    assert ready == []
    seen, ready = settled(seen, {"a.csv": (10, 1)}, now=4.9, settle_s=5.0)
    assert ready == []
    _, ready = settled(seen, {"a.csv": (10, 1)}, now=5.0, settle_s=5.0)
    assert ready == ["a.csv"]


def test_a_growing_file_starts_settling_again() -> None:
    seen = {"a.csv": FileSeen(10, 1, stable_since=0.0)}
    seen, ready = settled(seen, {"a.csv": (20, 2)}, now=100.0, settle_s=5.0)
    assert ready == []
    assert seen["a.csv"].stable_since == 100.0


def test_a_file_must_be_seen_twice_even_without_a_settle_time() -> None:
    seen, ready = settled({}, {"a.csv": (10, 1)}, now=0.0, settle_s=0.0)
    assert ready == []
    assert settled(seen, {"a.csv": (10, 1)}, now=0.0, settle_s=0.0)[1] == ["a.csv"]


def test_hidden_files_and_uploads_in_progress_are_not_candidates() -> None:
    assert is_candidate("patients.csv")
    assert not any(map(is_candidate, [".patients.csv", "labs.csv.part", "x.TMP", "y.partial", "z.filepart"]))


def _watch(tmp_path: Path, drop: Path, publisher: FakePublisher | None = None) -> list[WatchResult]:
    loader = BatchLoader(publisher=publisher or FakePublisher(), dead_letters=FakeDeadLetters(),
                         ledger=SqliteLedger(tmp_path / "ledger.sqlite3"), clock=lambda: RECEIVED_AT)
    folder = DropFolder(drop, settle_s=0.0)
    return asyncio.run(watch_folder(folder, loader, interval_s=0.01, once=True))


def test_loaded_files_go_to_done_and_bad_ones_to_failed(tmp_path: Path, samples_dir: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(samples_dir / "csv" / "synthea__patients.csv", drop / "patients.csv")
    (drop / "claims.csv").write_bytes(claim_csv({}, {"claim_id": "C2", "status": "paid"}))
    (drop / "notes.txt").write_bytes(b"not,a,layout\n1,2,3\n")
    (drop / "upload.csv.part").write_bytes(b"half")
    (drop / ".hidden.csv").write_bytes(b"x")

    results = {result.path.name: result for result in _watch(tmp_path, drop)}

    assert results["patients.csv"].outcome is Outcome.LOADED
    assert results["claims.csv"].outcome is Outcome.REJECTED_ROWS
    assert results["notes.txt"].outcome is Outcome.FAILED
    assert sorted(path.name for path in (drop / "done").iterdir()) == ["claims.csv", "patients.csv"]
    assert sorted(path.name for path in (drop / "failed").iterdir()) == ["notes.txt", "notes.txt.error.txt"]
    assert "notes.txt: the header row matches no layout" in (drop / "failed" / "notes.txt.error.txt").read_text()
    assert sorted(path.name for path in drop.iterdir()) == [".hidden.csv", "done", "failed", "upload.csv.part"]


def test_the_same_content_again_is_moved_aside_under_a_free_name(tmp_path: Path, samples_dir: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    sample = samples_dir / "csv" / "synthea__patients.csv"
    shutil.copy(sample, drop / "patients.csv")
    _watch(tmp_path, drop)
    shutil.copy(sample, drop / "patients.csv")
    (result,) = _watch(tmp_path, drop)
    assert result.outcome is Outcome.ALREADY_LOADED
    assert result.moved_to is not None and result.moved_to.name.startswith("patients.45b5e30f52a3")
    assert len(list((drop / "done").iterdir())) == 2


def test_a_bus_failure_leaves_the_file_for_the_next_poll(tmp_path: Path, samples_dir: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(samples_dir / "csv" / "synthea__patients.csv", drop / "patients.csv")
    (result,) = _watch(tmp_path, drop, FakePublisher(fail_on_call=1))
    assert result.outcome is Outcome.RETRY
    assert (drop / "patients.csv").exists()
    (again,) = _watch(tmp_path, drop)
    assert again.outcome is Outcome.LOADED
