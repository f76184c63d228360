"""What a layout is, how a header row is matched to one, and how a record becomes a validated row.

A layout names its columns (lower-case; headers match case-insensitively and in any order), the
ones that must be present, the pydantic row model, how rows group into one event, and the pure
mapping from a group of rows to that event. Each layout lives in its own module
(`patients`, `lab_results`, `claims`); `layouts` lists them and detects which one a header is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from carebus.events import Domain, Event
from producers.batch._envelope import LoadContext
from producers.batch._fields import RowModel, row_errors
from producers.batch.errors import RowError, UnknownLayoutError
from producers.batch.records import RawRecord

__all__ = ["Header", "Layout", "ParsedRow", "group_mismatches", "match_header", "parse_row"]

RowT = TypeVar("RowT", bound=RowModel)


@dataclass(frozen=True, slots=True)
class ParsedRow(Generic[RowT]):
    """A row that passed its layout's row model, with the line it starts on."""

    line: int
    row: RowT = field(repr=False)


@dataclass(frozen=True)
class Layout:
    """One CSV layout. `map_group` is pure: rows in, one event out, or `GroupRejectedError`."""

    name: str
    domain: Domain
    columns: tuple[str, ...]
    """Every column the layout defines, lower-case, in documented order."""
    required: frozenset[str]
    """Columns the header must have; the others may be left out."""
    allow_extra_columns: bool
    """Whether other columns are ignored (Synthea adds columns between versions) or make the header unknown."""
    row_model: type[RowModel]
    map_group: Callable[[Sequence[ParsedRow[Any]], LoadContext], Event]
    message_type: str
    """`Source.message_type` of the events, e.g. `csv/patients`."""
    default_source_system: str
    group_key: Callable[[Any], str] | None = None
    """The row's group (report id, claim id); None when each row is an event of its own."""
    group_column: str | None = None
    """The column `group_key` reads, for error messages."""

    def missing(self, names: frozenset[str]) -> frozenset[str]:
        return self.required - names

    def unknown(self, names: frozenset[str]) -> frozenset[str]:
        return frozenset() if self.allow_extra_columns else names - frozenset(self.columns)


@dataclass(frozen=True)
class Header:
    """A header row matched to a layout: which model field each position holds."""

    layout: Layout
    fields: tuple[str | None, ...]
    """The model field at each position; None for a column the layout ignores."""
    columns: Mapping[str, str]
    """Model field to the column name exactly as the header writes it."""


def _normalize(name: str) -> str:
    return name.strip().lower()


def match_header(file_name: str, names: Sequence[str], layouts: Sequence[Layout]) -> Header:
    """The one layout in `layouts` the header fits. The error names only the layouts' own columns: a file
    without a header row has data in its first row, which must not reach a message."""
    normalized = [_normalize(name) for name in names]
    present = frozenset(normalized)
    fits = [layout for layout in layouts if not layout.missing(present) and not layout.unknown(present)]
    if len(fits) != 1:
        raise UnknownLayoutError(file_name, _mismatch_reason(present, layouts, fits))
    layout = fits[0]
    known = frozenset(layout.columns)
    seen: set[str] = set()
    fields: list[str | None] = []
    for name in normalized:
        if name in known and name in seen:
            raise UnknownLayoutError(file_name, f"column {name} appears twice in the header")
        seen.add(name)
        fields.append(name if name in known else None)
    columns = {name: written.strip() for name, written in zip(normalized, names, strict=True) if name in known}
    return Header(layout=layout, fields=tuple(fields), columns=columns)


def _mismatch_reason(present: frozenset[str], layouts: Sequence[Layout], fits: Sequence[Layout]) -> str:
    if len(fits) > 1:
        return f"the header fits several layouts ({', '.join(layout.name for layout in fits)}); pass --layout"
    details = []
    for layout in layouts:
        missing, unknown = layout.missing(present), layout.unknown(present)
        parts = []
        if missing:
            parts.append(f"missing {', '.join(sorted(missing))}")
        if unknown:
            parts.append(f"{len(unknown)} column(s) it does not define")
        details.append(f"{layout.name}: {'; '.join(parts)}")
    return "the header row matches no layout (" + " | ".join(details) + ")"


def parse_row(header: Header, record: RawRecord, file_name: str) -> ParsedRow[Any] | tuple[RowError, ...]:
    """Validate one record with the layout's row model; its errors name the file, line and column."""
    if record.fields is None:
        return (RowError(file_name, record.line, None, record.problem or "csv-syntax"),)
    if len(record.fields) != len(header.fields):
        return (RowError(file_name, record.line, None, "field-count"),)
    values = {}
    for name, value in zip(header.fields, record.fields, strict=True):
        if name is not None:
            values[name] = value.strip() or None
    try:
        row = header.layout.row_model.model_validate(values)
    except ValidationError as exc:
        return row_errors(exc, file_name=file_name, line=record.line, columns=header.columns)
    return ParsedRow(record.line, row)


def group_mismatches(rows: Sequence[ParsedRow[Any]], fields: Sequence[str], file_name: str) -> list[RowError]:
    """A `group-field-mismatch` for every row whose value of a group-level field differs from the first row's.
    Columns are named by field; the caller renames them to the header's spelling."""
    first = rows[0].row
    errors = []
    for parsed in rows[1:]:
        for name in fields:
            if getattr(parsed.row, name) != getattr(first, name):
                errors.append(RowError(file_name, parsed.line, name, "group-field-mismatch"))
    return errors
