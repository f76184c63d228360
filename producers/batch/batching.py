"""From raw records to publishable batches: validate, group, map, cut. Pure: no file, no broker, no clock.

    records ─▶ parse_row ─▶ group by key (contiguous) ─▶ layout.map_group ─▶ Batch(events, rejections)

A batch holds whole groups only, so a report or claim is never split across two Kafka transactions,
and it ends on a record boundary whose byte offset the ledger stores. A batch is cut once it holds
`batch_rows` rows and no group is open. A group's rows are published together or rejected together:
when one row breaks a rule, its siblings are rejected with `group-rejected`, naming the row that
did. A group larger than `max_group_rows` is rejected (`group-too-large`) row by row as it streams
past, so memory stays bounded by the batch size whatever the file holds.

A row whose group key cannot be read (a row that is not valid CSV, has the wrong number of fields,
or an empty key) is rejected on its own and does not end the group around it.

`reject_repeated_groups` turns a group whose key was already seen (earlier in the batch, or in an
earlier batch per the ledger) into rejections with `group-not-contiguous`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from carebus.events import Event
from producers.batch._envelope import LoadContext
from producers.batch._layout import Header, ParsedRow, parse_row
from producers.batch.errors import GroupRejectedError, RowError
from producers.batch.records import RawRecord

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_MAX_GROUP_ROWS",
    "Batch",
    "PlannedGroup",
    "Rejection",
    "group_key_hash",
    "plan_batches",
    "reject_repeated_groups",
]

DEFAULT_BATCH_ROWS: Final = 2000
"""Rows per batch (one Kafka transaction and one ledger commit)."""
DEFAULT_MAX_GROUP_ROWS: Final = 5000
"""Rows one report or claim may have: one event must stay well under Kafka's 1 MB record limit."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that will not be published: its original bytes and the rules it broke."""

    line: int
    raw: bytes = field(repr=False)
    errors: tuple[RowError, ...]
    caused_by_line: int | None = None
    """For `group-rejected` and `group-not-contiguous`: the line of the row that caused it."""

    @property
    def rule(self) -> str:
        return self.errors[0].rule


@dataclass(slots=True)
class PlannedGroup:
    """One report, claim or patient row: its event, or the rejections of all its rows."""

    key_hash: bytes | None
    first_line: int
    records: list[RawRecord] = field(repr=False)
    event: Event | None = field(default=None, repr=False)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class Batch:
    """Whole groups, plus rows rejected on their own, up to a record boundary."""

    groups: list[PlannedGroup] = field(default_factory=list)
    loose: list[Rejection] = field(default_factory=list)
    """Rows rejected outside any group."""
    end_offset: int = 0
    """Byte offset just past the batch's last record: where a resumed load starts."""
    next_line: int = 1
    """The physical line a resumed load starts counting from."""
    rows: int = 0

    @property
    def events(self) -> list[Event]:
        return [group.event for group in self.groups if group.event is not None]

    @property
    def rejections(self) -> list[Rejection]:
        rejected = [rejection for group in self.groups for rejection in group.rejections]
        return sorted(rejected + self.loose, key=lambda rejection: rejection.line)

    @property
    def published_rows(self) -> int:
        return sum(len(group.records) for group in self.groups if group.event is not None)

    @property
    def rejected_rows(self) -> int:
        return self.rows - self.published_rows

    @property
    def group_keys(self) -> list[tuple[bytes, int]]:
        return [(group.key_hash, group.first_line) for group in self.groups if group.key_hash is not None]


def group_key_hash(key: str) -> bytes:
    """What the ledger stores for a group id: a hash, so no report or claim id is kept on disk."""
    return hashlib.sha256(key.encode()).digest()[:16]


@dataclass(slots=True)
class _Item:
    record: RawRecord
    parsed: ParsedRow[Any] | None
    errors: tuple[RowError, ...]
    key: str | None


class _Planner:
    """Parses records and turns finished groups into events or rejections."""

    def __init__(self, header: Header, context: LoadContext) -> None:
        self._header = header
        self._layout = header.layout
        self._context = context
        key_column = self._layout.group_column
        self._key_index = header.fields.index(key_column) if key_column in header.fields else None

    def item(self, record: RawRecord) -> _Item:
        outcome = parse_row(self._header, record, self._context.file_name)
        parsed, errors = (outcome, ()) if isinstance(outcome, ParsedRow) else (None, outcome)
        return _Item(record, parsed, errors, self._key(record, parsed))

    def _key(self, record: RawRecord, parsed: ParsedRow[Any] | None) -> str | None:
        group_key = self._layout.group_key
        if group_key is None:
            return None
        if parsed is not None:
            return group_key(parsed.row)
        fields = record.fields
        if self._key_index is None or fields is None or len(fields) != len(self._header.fields):
            return None
        return fields[self._key_index].strip() or None

    def alone(self, item: _Item) -> Rejection:
        return Rejection(item.record.line, item.record.raw, item.errors)

    def too_large(self, item: _Item) -> Rejection:
        record = item.record
        return Rejection(record.line, record.raw,
                         (RowError(self._context.file_name, record.line, self._column(self._layout.group_column),
                                   "group-too-large"),))

    def reject_too_large(self, items: list[_Item]) -> PlannedGroup:
        first = items[0]
        return PlannedGroup(group_key_hash(first.key) if first.key else None, first.record.line,
                            [item.record for item in items], rejections=[self.too_large(item) for item in items])

    def close(self, items: list[_Item]) -> PlannedGroup:
        """Map a complete group to its event, or reject every row of it."""
        key = items[0].key
        group = PlannedGroup(group_key_hash(key) if key is not None else None, items[0].record.line,
                             [item.record for item in items])
        failed = {item.record.line: item.errors for item in items if item.errors}
        if not failed:
            try:
                group.event = self._layout.map_group([item.parsed for item in items if item.parsed], self._context)
                return group
            except GroupRejectedError as exc:
                for error in exc.errors:
                    failed.setdefault(error.line, ())
                    failed[error.line] += (self._renamed(error),)
            except ValidationError:
                # The rows passed their model but the event did not (e.g. a total beyond Money's precision).
                failed = {item.record.line: (RowError(self._context.file_name, item.record.line, None,
                                                      "event-invalid"),) for item in items}
        cause = min(failed)
        for item in items:
            line = item.record.line
            errors = failed.get(line) or (RowError(self._context.file_name, line,
                                                   self._column(self._layout.group_column), "group-rejected"),)
            group.rejections.append(Rejection(line, item.record.raw, errors,
                                              None if line in failed else cause))
        return group

    def _renamed(self, error: RowError) -> RowError:
        return RowError(error.file_name, error.line, self._column(error.column), error.rule)

    def _column(self, name: str | None) -> str | None:
        return self._header.columns.get(name, name) if name else None


def plan_batches(
    records: Iterable[RawRecord],
    header: Header,
    context: LoadContext,
    *,
    start_offset: int,
    start_line: int,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    max_group_rows: int = DEFAULT_MAX_GROUP_ROWS,
) -> Iterator[Batch]:
    """Cut `records` (which start at byte `start_offset`, physical line `start_line`) into batches of whole
    groups. The last batch may be empty: it still carries the file's end offset."""
    if batch_rows < 1 or max_group_rows < 1:
        raise ValueError("batch_rows and max_group_rows must be positive")
    planner = _Planner(header, context)
    grouped = header.layout.group_key is not None
    batch = Batch(end_offset=start_offset, next_line=start_line)
    open_items: list[_Item] = []
    oversized_key: str | None = None

    for record in records:
        item = planner.item(record)
        open_key = open_items[0].key if open_items else None
        continues = item.key is None or item.key in (oversized_key, open_key)
        if grouped and not continues:
            # `item` starts a new group: close the open one and, if the batch is full, cut before `item`.
            oversized_key = None
            if open_items:
                batch.groups.append(planner.close(open_items))
                open_items = []
            if batch.rows >= batch_rows:
                yield batch
                batch = Batch(end_offset=batch.end_offset, next_line=batch.next_line)
        batch.rows += 1
        batch.end_offset, batch.next_line = record.end_offset, record.next_line
        if not grouped:
            batch.groups.append(planner.close([item]))
        elif item.key is None:
            batch.loose.append(planner.alone(item))
        elif item.key == oversized_key:
            batch.loose.append(planner.too_large(item))
        else:
            open_items.append(item)
            if len(open_items) > max_group_rows:
                oversized_key = item.key
                batch.groups.append(planner.reject_too_large(open_items))
                open_items = []
        if not open_items and batch.rows >= batch_rows:
            yield batch
            batch = Batch(end_offset=batch.end_offset, next_line=batch.next_line)
    if open_items:
        batch.groups.append(planner.close(open_items))
    yield batch


def reject_repeated_groups(batch: Batch, seen: Mapping[bytes, int], file_name: str, column: str | None) -> Batch:
    """Reject each published group whose key appeared before: in `seen` (key hash -> first line, from the
    ledger and the batch in flight) or earlier in this batch. Changes `batch` in place and returns it."""
    first_lines = dict(seen)
    for group in batch.groups:
        if group.key_hash is None:
            continue
        earlier = first_lines.setdefault(group.key_hash, group.first_line)
        if earlier == group.first_line or group.event is None:
            continue
        group.event = None
        group.rejections = [
            Rejection(record.line, record.raw, (RowError(file_name, record.line, column, "group-not-contiguous"),),
                      caused_by_line=earlier)
            for record in group.records
        ]
    return batch
