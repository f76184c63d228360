"""read_records: exact bytes, lines and offsets per record, streaming, and bad records kept apart."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from producers.batch.records import RawRecord, read_header, read_records


def _records(data: bytes, **kwargs: int) -> list[RawRecord]:
    return list(read_records(io.BytesIO(data), **kwargs))


def test_each_record_keeps_its_bytes_line_and_end_offset() -> None:
    data = b"a,b\n1,2\n3,4\n"
    header, first, second = _records(data)
    assert (header.fields, header.line, header.end_offset) == (["a", "b"], 1, 4)
    assert (first.raw, first.line, first.next_line, first.end_offset) == (b"1,2\n", 2, 3, 8)
    assert (second.raw, second.line, second.end_offset) == (b"3,4\n", 3, len(data))


def test_a_quoted_line_break_makes_one_record_spanning_two_lines() -> None:
    data = b'a,b\n"x\ny",2\nc,3\n'
    _, multi, after = _records(data)
    assert multi.fields == ["x\ny", "2"]
    assert multi.raw == b'"x\ny",2\n'
    assert (multi.line, multi.next_line) == (2, 4)
    assert after.line == 4


def test_crlf_and_a_missing_final_newline() -> None:
    _, first, last = _records(b"a,b\r\n1,2\r\n3,4")
    assert first.fields == ["1", "2"]
    assert first.raw == b"1,2\r\n"
    assert last.fields == ["3", "4"]
    assert last.raw == b"3,4"


def test_blank_lines_are_skipped_but_counted() -> None:
    _, record = _records(b"a\n\n\nx\n")
    assert record.line == 4


def test_a_utf8_bom_is_not_part_of_the_first_column_name() -> None:
    header = read_header(io.BytesIO(b"\xef\xbb\xbfId,NAME\n1,x\n"))
    assert header is not None
    assert header.fields == ["Id", "NAME"]
    assert header.raw.startswith(b"\xef\xbb\xbf")


def test_bad_utf8_spoils_only_its_record() -> None:
    _, bad, good = _records(b"a,b\n\xff\xfe,2\nok,3\n")
    assert bad.fields is None
    assert bad.problem == "encoding"
    assert bad.raw == b"\xff\xfe,2\n"
    assert good.fields == ["ok", "3"]


def test_bad_quoting_is_one_bad_record_and_reading_goes_on() -> None:
    _, bad, good = _records(b'a,b\nx,"y"z\nok,3\n')
    assert (bad.fields, bad.problem, bad.raw) == (None, "csv-syntax", b'x,"y"z\n')
    assert (good.fields, good.line) == (["ok", "3"], 3)


def test_an_over_long_line_is_skipped_to_its_end() -> None:
    data = b"a\n" + b"x" * 100 + b"\nok\n"
    _, long, good = _records(data, max_line_bytes=10)
    assert long.problem == "line-too-long"
    assert long.end_offset == 2 + 101
    assert good.fields == ["ok"]
    assert good.line == 3


def test_reading_from_a_stored_offset_resumes_at_the_next_record() -> None:
    data = b'a,b\n1,2\n"x\ny",3\n4,5\n'
    records = _records(data)
    resume_at = records[1]
    stream = io.BytesIO(data)
    stream.seek(resume_at.end_offset)
    resumed = list(read_records(stream, start_offset=resume_at.end_offset, start_line=resume_at.next_line))
    assert [(r.line, r.raw, r.end_offset) for r in resumed] == [(r.line, r.raw, r.end_offset) for r in records[2:]]


@given(st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
                         min_size=1, max_size=4), min_size=1, max_size=20))
def test_concatenated_record_bytes_are_the_file(rows: list[list[str]]) -> None:
    import csv

    buffer = io.StringIO()
    csv.writer(buffer).writerows([["h"], *rows])  # RFC 4180: CRLF, fields with CR or LF quoted
    data = buffer.getvalue().encode()
    records = _records(data)
    assert b"".join(record.raw for record in records) == data
    assert all(data[r.end_offset - len(r.raw):r.end_offset] == r.raw for r in records)
    assert [record.fields for record in records] == [["h"], *rows]


def test_an_over_long_line_that_ends_in_its_newline_does_not_swallow_the_next_line() -> None:
    _, long, good = _records(b"a\n" + b"x" * 10 + b"\nok\n", max_line_bytes=10)
    assert long.problem == "line-too-long"
    assert good.fields == ["ok"]
