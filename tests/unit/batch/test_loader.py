"""BatchLoader with fakes at the publisher ports and a real SQLite ledger in tmp_path."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import shutil
from pathlib import Path
from typing import Any

import fastavro
import pytest

from carebus.errors import PublishError
from carebus.events import parsed_event_schema, to_avro_dict
from carebus.publishing import domain_of
from producers.batch.deadletters import parse_detail
from producers.batch.errors import FileUnreadableError, LedgerConflictError, UnknownLayoutError
from producers.batch.ledger import BatchCommit, SqliteLedger
from producers.batch.loader import BatchLoader, LoadSummary, inspect_file
from tests.unit.batch.fakes import RECEIVED_AT, FakeDeadLetters, FakePublisher, claim_csv, lab_csv


def _synthea(samples_dir: Path) -> Path:
    return samples_dir / "csv" / "synthea__patients.csv"


def _loader(tmp_path: Path, publisher: Any = None, dead_letters: Any = None, ledger: Any = None,
            **kwargs: Any) -> BatchLoader:
    return BatchLoader(publisher=publisher or FakePublisher(), dead_letters=dead_letters or FakeDeadLetters(),
                       ledger=ledger or SqliteLedger(tmp_path / "ledger.sqlite3"), clock=lambda: RECEIVED_AT,
                       **kwargs)


def _load(loader: BatchLoader, path: Path, **kwargs: Any) -> LoadSummary:
    return asyncio.run(loader.load(path, **kwargs))


def _reports(count: int, rows_per_report: int = 3) -> bytes:
    return lab_csv(*({"report_id": f"R-{report}", "test_code": f"T{row}"}
                     for report in range(count) for row in range(rows_per_report)))


def test_loading_the_synthea_sample_then_loading_it_again(tmp_path: Path, samples_dir: Path) -> None:
    publisher = FakePublisher()
    loader = _loader(tmp_path, publisher)
    first = _load(loader, _synthea(samples_dir))
    assert (first.layout, first.rows, first.published_rows, first.events, first.rejected_rows) == (
        "patients", 13, 13, 13, 0)
    assert {event.envelope.source.system for event in publisher.events} == {"synthea"}
    for event in publisher.events:
        fastavro.schemaless_writer(io.BytesIO(), parsed_event_schema(domain_of(event)), to_avro_dict(event),
                                   strict=True)

    copy = tmp_path / "renamed.csv"
    shutil.copy(_synthea(samples_dir), copy)
    for path in (_synthea(samples_dir), copy):
        again = _load(loader, path)
        assert again.already_loaded
        assert (again.rows, again.events) == (0, 0)
    assert len(publisher.events) == 13


def test_each_batch_is_one_publish_call(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(_reports(10))
    publisher = FakePublisher()
    summary = _load(_loader(tmp_path, publisher, batch_rows=6), path)
    assert [len(call) for call in publisher.calls] == [2, 2, 2, 2, 2]
    assert (summary.batches, summary.events, summary.rows) == (5, 10, 30)


def test_bad_rows_are_dead_lettered_with_their_bytes_and_where_and_why(tmp_path: Path) -> None:
    path = tmp_path / "claims.csv"
    data = claim_csv({}, {"claim_id": "CLM-2", "line_charge": "12,50"}, {"claim_id": "CLM-3"})
    path.write_bytes(data)
    publisher, letters = FakePublisher(), FakeDeadLetters()
    summary = _load(_loader(tmp_path, publisher, letters), path, source_system="PAYER-X")
    assert (summary.rows, summary.published_rows, summary.rejected_rows, summary.events) == (3, 2, 1, 2)
    assert summary.rejections_by_rule == {("line_charge", "money-format"): 1}
    (letter,) = letters.letters
    assert letter.stage == "batch"
    assert letter.original == data.splitlines(keepends=True)[2]
    assert letter.reason == "money-format"
    assert letter.sender == "PAYER-X"
    detail = parse_detail(letter.detail)
    assert (detail["file"], detail["line"], detail["layout"], detail["errors"]) == (
        "claims.csv", "3", "claims", "line_charge:money-format")
    assert detail["sha256"] == summary.sha256
    assert "12,50" not in letter.detail
    assert [str(error) for error in summary.first_errors] == ["claims.csv line 3, column line_charge: money-format"]


def test_an_interrupted_load_resumes_after_the_last_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(_reports(10))
    clean = FakePublisher()
    sha = _load(_loader(tmp_path / "clean", clean, batch_rows=6), path).sha256

    failing = FakePublisher(fail_on_call=3)
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    with pytest.raises(PublishError):
        _load(_loader(tmp_path, failing, ledger=ledger, batch_rows=6), path)
    progress = ledger.lookup(sha)
    assert progress is not None and (progress.state, progress.batches, progress.events) == ("loading", 2, 4)
    assert progress.in_flight_end_offset is None  # the failed batch was aborted as a whole: not in doubt

    resumed_publisher = FakePublisher()
    resumed = _load(_loader(tmp_path, resumed_publisher, ledger=ledger, batch_rows=6), path)
    assert resumed.resumed_from_line == 2 + 12
    assert (resumed.rows, resumed.events) == (18, 6)
    ids = [event.envelope.event_id for event in failing.events + resumed_publisher.events]
    assert ids == [event.envelope.event_id for event in clean.events]  # no duplicates, nothing lost, same ids
    assert failing.events + resumed_publisher.events == clean.events
    assert not resumed.replayed_in_doubt_batch


class _CrashAfterPublish(SqliteLedger):
    """The process dies after Kafka committed a batch but before the ledger recorded it."""

    def __init__(self, path: Path, crash_on_commit: int) -> None:
        super().__init__(path)
        self._left = crash_on_commit

    def commit_batch(self, sha256: str, commit: BatchCommit, at: Any) -> None:
        self._left -= 1
        if self._left == 0:
            raise KeyboardInterrupt
        super().commit_batch(sha256, commit, at)


def test_a_batch_in_doubt_is_published_again_with_the_same_event_ids(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(_reports(6))
    first = FakePublisher()
    with pytest.raises(KeyboardInterrupt):
        _load(_loader(tmp_path, first, ledger=_CrashAfterPublish(tmp_path / "ledger.sqlite3", 2), batch_rows=6), path)
    assert len(first.calls) == 2  # the second batch reached the bus, its ledger commit did not

    second = FakePublisher()
    summary = _load(_loader(tmp_path, second, batch_rows=6), path)
    assert summary.replayed_in_doubt_batch
    assert [e.envelope.event_id for e in second.calls[0]] == [e.envelope.event_id for e in first.calls[1]]
    assert len(first.events) + len(second.events) == 6 + 2


def test_resuming_with_other_options_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(_reports(4))
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    with pytest.raises(PublishError):
        _load(_loader(tmp_path, FakePublisher(fail_on_call=2), ledger=ledger, batch_rows=3), path,
              source_system="LAB-A")
    with pytest.raises(LedgerConflictError, match="resume it with the same options"):
        _load(_loader(tmp_path, ledger=ledger), path, source_system="LAB-B")
    assert _load(_loader(tmp_path, ledger=ledger, batch_rows=3), path).events == 3


def test_a_report_that_reappears_after_a_resume_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(lab_csv({"report_id": "R-1"}, {"report_id": "R-2"}, {"report_id": "R-3"},
                             {"report_id": "R-1", "test_code": "LATE"}))
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    with pytest.raises(PublishError):
        _load(_loader(tmp_path, FakePublisher(fail_on_call=2), ledger=ledger, batch_rows=1), path)
    letters = FakeDeadLetters()
    summary = _load(_loader(tmp_path, dead_letters=letters, ledger=ledger, batch_rows=1), path)
    assert summary.rejections_by_rule == {("report_id", "group-not-contiguous"): 1}
    assert parse_detail(letters.letters[0].detail)["caused_by_line"] == "2"


def test_files_that_cannot_be_loaded(tmp_path: Path) -> None:
    loader = _loader(tmp_path)
    with pytest.raises(FileUnreadableError, match=r"missing\.csv: cannot be opened"):
        _load(loader, tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FileUnreadableError, match=r"empty\.csv: is empty"):
        _load(loader, tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(FileUnreadableError, match="header row is unreadable"):
        _load(loader, tmp_path / "binary.csv")
    (tmp_path / "other.csv").write_bytes(b"a,b\n1,2\n")
    with pytest.raises(UnknownLayoutError):
        inspect_file(tmp_path / "other.csv")


def test_a_file_being_loaded_elsewhere_is_refused(tmp_path: Path, samples_dir: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    sha = "45b5e30f52a34a68dd2ee01710dbec5358ced422c2fefa04e6466726b8a54afc"
    with ledger.lock(sha), pytest.raises(LedgerConflictError):
        _load(_loader(tmp_path), _synthea(samples_dir))


def test_progress_is_reported_per_committed_batch(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(_reports(4))
    seen: list[tuple[int, int]] = []
    _load(_loader(tmp_path, batch_rows=6), path, on_progress=lambda offset, rows: seen.append((offset, rows)))
    assert [rows for _, rows in seen] == [6, 12]
    assert seen[-1][0] == path.stat().st_size


def test_no_phi_reaches_logs_errors_or_dead_letter_headers(tmp_path: Path, samples_dir: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    sample = _synthea(samples_dir)
    with sample.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    phi = {value for row in rows for name, value in row.items()
           if name in {"Id", "SSN", "FIRST", "LAST", "MAIDEN", "BIRTHDATE", "DEATHDATE", "ADDRESS", "DRIVERS",
                       "PASSPORT"} and value}
    lines = sample.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "patients.csv"
    broken.write_bytes(lines[0] + lines[1].replace(b"2020-02-06", b"2020-02-30") + b"".join(lines[2:]))
    letters = FakeDeadLetters()
    caplog.set_level(logging.DEBUG)
    summary = _load(_loader(tmp_path, dead_letters=letters), broken)
    assert summary.rejected_rows == 1
    texts = [record.getMessage() for record in caplog.records]
    texts += [str(error) for error in summary.first_errors]
    texts += [f"{letter.reason} {letter.detail} {letter.sender}" for letter in letters.letters]
    texts += [repr(summary)]
    leaked = {value for value in phi for text in texts if value in text}
    assert not leaked


class _SlowPublisher(FakePublisher):
    """Publishes once `release` is set, so a test can cancel the load while a batch is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, events: Any) -> list[Any]:
        self.started.set()
        await self.release.wait()
        return await super().publish(events)


def test_ctrl_c_lets_the_batch_in_flight_commit_and_be_recorded(tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(_reports(6))
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
    publisher = _SlowPublisher()

    async def interrupt() -> None:
        load = asyncio.create_task(_loader(tmp_path, publisher, ledger=ledger, batch_rows=6).load(path))
        await publisher.started.wait()
        load.cancel()  # what asyncio.run does on Ctrl-C
        await asyncio.sleep(0.05)
        publisher.release.set()
        with pytest.raises(asyncio.CancelledError):
            await load

    asyncio.run(interrupt())
    (progress,) = ledger.loads()
    assert (progress.state, progress.batches, progress.in_flight_end_offset) == ("loading", 1, None)
    resumed = _load(_loader(tmp_path, FakePublisher(), ledger=ledger, batch_rows=6), path)
    assert (resumed.events, resumed.replayed_in_doubt_batch) == (4, False)
