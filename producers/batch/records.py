"""CSV records from a binary stream, one at a time, each with its exact bytes, line and end offset.

The csv module reads decoded lines from a generator we feed it, one physical line at a time: a
`csv.reader` pulls exactly the lines of the record it is building, so the bytes of those lines are
the record's original bytes (what a dead letter carries), and the byte offset after them is where
the next record starts (what the ledger stores, so a resumed load seeks straight there). Nothing
reads more than one line ahead, so memory stays flat however large the file is.

Lines are split at LF (CRLF works too: the csv module drops the CR). Each line is decoded as UTF-8 on
its own, so a bad byte spoils one record, not the file. A line longer than `max_line_bytes` is
skipped to its end and reported as one bad record (its first `max_line_bytes` are kept).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "RawRecord",
    "read_header",
    "read_records",
]

DEFAULT_MAX_LINE_BYTES: Final = 1 << 20
"""A physical line longer than this (1 MiB) is rejected: a CSV row that size is a broken file."""

_FIELD_SIZE_LIMIT: Final = DEFAULT_MAX_LINE_BYTES
_ENCODING: Final = "utf-8"

csv.field_size_limit(max(csv.field_size_limit(), _FIELD_SIZE_LIMIT))


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One CSV record as read. `fields` is None when the record could not be split (see `problem`)."""

    line: int
    """The physical line the record starts on; the header is line 1."""
    next_line: int
    """The physical line the next record starts on."""
    end_offset: int
    """Byte offset just past the record: where the next record starts."""
    raw: bytes = field(repr=False)
    """The record's bytes exactly as in the file, line ending included."""
    fields: list[str] | None = field(repr=False)
    problem: str | None = None
    """A rule code when the record is unusable as a whole: `encoding`, `csv-syntax`, `line-too-long`."""


class _LineTooLongError(Exception):
    pass


class _Lines:
    """Feeds decoded lines to the csv reader and remembers the raw bytes it has handed out since the
    last record ended."""

    def __init__(self, stream: BinaryIO, max_line_bytes: int, *, strip_bom: bool) -> None:
        self._stream = stream
        self._max = max_line_bytes
        self._strip_bom = strip_bom
        self.pending: list[bytes] = []
        self.bad_encoding = False

    def take(self) -> tuple[bytes, int, bool]:
        """The bytes and line count of the record just read, and whether any of its lines failed to decode."""
        raw = b"".join(self.pending)
        count, bad = len(self.pending), self.bad_encoding
        self.pending.clear()
        self.bad_encoding = False
        return raw, count, bad

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self._stream.readline(self._max + 1)
            if not line:
                return
            self.pending.append(line)
            if len(line) > self._max:
                raise _LineTooLongError
            if self._strip_bom:
                self._strip_bom = False
                if line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8):]
            try:
                yield line.decode(_ENCODING)
            except UnicodeDecodeError:
                self.bad_encoding = True
                yield line.decode(_ENCODING, errors="replace")

    def skip_rest_of_line(self) -> int:
        """Discard the rest of an over-long line; return how many bytes were skipped."""
        skipped = 0
        while True:
            chunk = self._stream.readline(self._max)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped


def read_records(
    stream: BinaryIO,
    *,
    start_offset: int = 0,
    start_line: int = 1,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[RawRecord]:
    """Every record from the stream's current position, which must be `start_offset`, the start of the
    record on physical line `start_line`. Blank lines are skipped (they still count as lines)."""
    lines = _Lines(stream, max_line_bytes, strip_bom=start_offset == 0)
    offset, line = start_offset, start_line
    while True:
        reader = csv.reader(lines, strict=True)
        try:
            for fields in reader:
                raw, count, bad_encoding = lines.take()
                record = RawRecord(line, line + count, offset + len(raw), raw,
                                   None if bad_encoding else fields, "encoding" if bad_encoding else None)
                offset, line = record.end_offset, record.next_line
                if fields or bad_encoding:
                    yield record
            return
        except csv.Error:
            raw, count, _ = lines.take()
            record = RawRecord(line, line + count, offset + len(raw), raw, None, "csv-syntax")
        except _LineTooLongError:
            raw, count, _ = lines.take()
            skipped = 0 if raw.endswith(b"\n") else lines.skip_rest_of_line()
            record = RawRecord(line, line + count, offset + len(raw) + skipped, raw, None, "line-too-long")
        offset, line = record.end_offset, record.next_line
        yield record


def read_header(stream: BinaryIO, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> RawRecord | None:
    """The first record of the stream (read from its start), or None when the file is empty."""
    stream.seek(0)
    return next(read_records(stream, max_line_bytes=max_line_bytes), None)
