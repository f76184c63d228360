"""plan_batches: whole groups per batch, cuts on record boundaries, bounded groups; repeated groups refused."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.batch.batching import Batch, group_key_hash, plan_batches, reject_repeated_groups
from producers.batch.errors import RowError
from producers.batch.layouts import detect_layout
from producers.batch.records import read_records
from tests.unit.batch.fakes import context, lab_csv


def _plan(data: bytes, **kwargs: Any) -> list[Batch]:
    records = read_records(io.BytesIO(data))
    head = next(records)
    assert head.fields is not None
    header = detect_layout("feed.csv", head.fields)
    return list(plan_batches(records, header, context(), start_offset=head.end_offset,
                             start_line=head.next_line, **kwargs))


def _reports(*sizes: int) -> list[dict[str, str]]:
    return [{"report_id": f"R-{report}", "test_code": f"T{row}"} for report, size in enumerate(sizes)
            for row in range(size)]


def test_batches_hold_whole_groups_and_cut_after_batch_rows() -> None:
    batches = _plan(lab_csv(*_reports(3, 3, 3, 1)), batch_rows=4)
    assert [[len(group.records) for group in batch.groups] for batch in batches] == [[3, 3], [3, 1]]
    assert [batch.rows for batch in batches] == [6, 4]
    assert sum(len(batch.events) for batch in batches) == 4


def test_each_batch_ends_where_the_next_one_starts() -> None:
    data = lab_csv(*_reports(2, 2, 2))
    batches = _plan(data, batch_rows=2)
    lines = data.splitlines(keepends=True)
    header_end = len(lines[0])
    assert [batch.end_offset for batch in batches] == [header_end + sum(map(len, lines[1:1 + n])) for n in (2, 4, 6)]
    assert [batch.next_line for batch in batches] == [4, 6, 8]


def test_an_empty_file_still_yields_its_position() -> None:
    data = lab_csv()
    (batch,) = _plan(data)
    assert (batch.rows, batch.end_offset, batch.next_line) == (0, len(data), 2)


def test_a_row_without_a_readable_key_is_rejected_alone_and_keeps_its_group_whole() -> None:
    data = lab_csv({"report_id": "R-1"}, {"report_id": ""}, {"report_id": "R-1", "test_code": "T2"})
    (batch,) = _plan(data)
    (group,) = batch.groups
    assert group.event is not None and len(group.records) == 2
    (loose,) = batch.loose
    assert loose.errors == (RowError("feed.csv", 3, "report_id", "required"),)


def test_an_oversized_group_is_rejected_row_by_row() -> None:
    batches = _plan(lab_csv(*_reports(1, 7, 1)), batch_rows=3, max_group_rows=3)
    rejected = [rejection for batch in batches for rejection in batch.rejections]
    assert [rejection.line for rejection in rejected] == list(range(3, 10))
    assert {rejection.rule for rejection in rejected} == {"group-too-large"}
    assert sum(len(batch.events) for batch in batches) == 2
    assert sum(batch.rows for batch in batches) == 9


def test_a_repeated_group_in_the_same_batch_is_refused() -> None:
    (batch,) = _plan(lab_csv({"report_id": "R-1"}, {"report_id": "R-2"}, {"report_id": "R-1", "test_code": "X"}))
    reject_repeated_groups(batch, {}, "feed.csv", "report_id")
    assert len(batch.events) == 2
    (rejection,) = batch.rejections
    assert (rejection.line, rejection.rule, rejection.caused_by_line) == (4, "group-not-contiguous", 2)


def test_a_group_seen_in_an_earlier_batch_is_refused() -> None:
    (batch,) = _plan(lab_csv({"report_id": "R-1"}, {"report_id": "R-1", "test_code": "X"}))
    reject_repeated_groups(batch, {group_key_hash("R-1"): 7}, "feed.csv", "report_id")
    assert batch.events == []
    assert {(r.rule, r.caused_by_line) for r in batch.rejections} == {("group-not-contiguous", 7)}
    assert batch.rejected_rows == 2


def test_patients_are_never_grouped(samples_dir: Any) -> None:
    data = (samples_dir / "csv" / "synthea__patients.csv").read_bytes()
    records = read_records(io.BytesIO(data))
    head = next(records)
    assert head.fields is not None
    header = detect_layout("patients.csv", head.fields)
    batches = list(plan_batches(records, header, context("patients"), start_offset=head.end_offset,
                                start_line=2, batch_rows=5))
    assert [batch.rows for batch in batches] == [5, 5, 3]
    assert all(group.key_hash is None for batch in batches for group in batch.groups)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=12),
       batch_rows=st.integers(min_value=1, max_value=10))
def test_every_row_is_in_exactly_one_batch_and_resuming_anywhere_gives_the_rest(sizes: list[int],
                                                                                 batch_rows: int) -> None:
    data = lab_csv(*_reports(*sizes))
    batches = _plan(data, batch_rows=batch_rows)
    assert sum(batch.rows for batch in batches) == sum(sizes)
    assert [len(event.payload.observations) for batch in batches for event in batch.events] == sizes  # type: ignore[union-attr]
    # Resuming after any batch yields exactly the batches that followed it, with the same event ids.
    for index, batch in enumerate(batches[:-1]):
        stream = io.BytesIO(data)
        stream.seek(batch.end_offset)
        header = detect_layout("feed.csv", next(read_records(io.BytesIO(data))).fields or [])
        rest = list(plan_batches(read_records(stream, start_offset=batch.end_offset, start_line=batch.next_line),
                                 header, context(), start_offset=batch.end_offset, start_line=batch.next_line,
                                 batch_rows=batch_rows))
        expected = [event.envelope.event_id for later in batches[index + 1:] for event in later.events]
        assert [event.envelope.event_id for later in rest for event in later.events] == expected


def test_batch_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        _plan(lab_csv({}), batch_rows=0)
