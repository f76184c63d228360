"""The batch adapter's errors: the file as a whole, or one row of it.

    CarebusError
    └── BatchError                  anything the batch adapter raises on purpose
        ├── BatchInputError         the file cannot be loaded at all (CLI exit 2); names the file only
        │   ├── FileUnreadableError     cannot be opened or read, or has no header row
        │   ├── UnknownLayoutError      the header fits no layout, or not the one asked for
        │   └── LedgerConflictError     the file is partway loaded under another layout or source system
        └── RowError                one row breaks one rule: file, line, column, rule code

A `RowError` names where and why, never the value: its text goes to the terminal, to logs and into
the dead-letter headers. Rows that break rules are dead-lettered, not raised out of a load, so
`RowError` is mostly a value; `GroupRejectedError` carries the row errors of a report or claim that
cannot be published whole. Broker and registry failures are the core's `KafkaError` and
`RegistryError`: the load stops, its progress is in the ledger, and a rerun resumes.
"""

from __future__ import annotations

__all__ = [
    "BatchError",
    "BatchInputError",
    "FileUnreadableError",
    "GroupRejectedError",
    "LedgerConflictError",
    "RowError",
    "UnknownLayoutError",
]

from carebus.errors import CarebusError


class BatchError(CarebusError):
    """Raised by the batch file adapter."""


class BatchInputError(BatchError):
    """The file cannot be loaded at all. The message names the file and the reason, never its content."""

    def __init__(self, file_name: str, reason: str) -> None:
        super().__init__(f"{file_name}: {reason}")
        self.file_name = file_name
        self.reason = reason


class FileUnreadableError(BatchInputError):
    """The file cannot be opened or read, or it has no header row."""


class UnknownLayoutError(BatchInputError):
    """The header row matches no known layout (or several, or not the one asked for)."""


class LedgerConflictError(BatchInputError):
    """The ledger holds a partial load of the same content under another layout or source system."""


class RowError(BatchError):
    """One row breaks one rule. `column` is the header name as written in the file; None for the whole row."""

    def __init__(self, file_name: str, line: int, column: str | None, rule: str) -> None:
        where = f"column {column}" if column else "row"
        super().__init__(f"{file_name} line {line}, {where}: {rule}")
        self.file_name = file_name
        self.line = line
        self.column = column
        self.rule = rule

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowError):
            return NotImplemented
        return (self.file_name, self.line, self.column, self.rule) == (
            other.file_name, other.line, other.column, other.rule)

    def __hash__(self) -> int:
        return hash((self.file_name, self.line, self.column, self.rule))

    def __reduce__(self) -> tuple[type[RowError], tuple[str, int, str | None, str]]:
        return (RowError, (self.file_name, self.line, self.column, self.rule))


class GroupRejectedError(BatchError):
    """A report or claim cannot be published whole; `errors` say which rows broke which rules."""

    def __init__(self, errors: tuple[RowError, ...]) -> None:
        if not errors:
            raise ValueError("a rejected group names at least one row error")
        super().__init__(f"group rejected: {errors[0]}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
        self.errors = errors
