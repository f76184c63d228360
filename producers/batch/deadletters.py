"""A rejected row as a dead letter for `deadletter.batch`: the row's original bytes, the reason in headers.

Headers (written by `carebus.publishing.KafkaDeadLetterPublisher`):

- `carebus.dlq.stage`  = `batch`
- `carebus.dlq.reason` = the first rule the row broke, e.g. `date-format`, `group-rejected`
- `carebus.dlq.detail` = `file=<name>;line=<n>;layout=<layout>;sha256=<hex>;errors=<column>:<rule>,...`
  and `;caused_by_line=<n>` for `group-rejected` / `group-not-contiguous`; a whole-row error has column `-`
- `carebus.dlq.sender` = the source system

The value is the record's bytes exactly as in the file (a quoted multi-line record keeps its line
breaks), so the row can be fixed and dropped in again as part of a new file with the same header.
Nothing here holds a cell's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from carebus.publishing import DeadLetter
from producers.batch._envelope import LoadContext
from producers.batch.batching import Rejection

__all__ = ["DEADLETTER_STAGE", "dead_letter", "parse_detail"]

DEADLETTER_STAGE: Final = "batch"
_NO_COLUMN: Final = "-"


def dead_letter(rejection: Rejection, context: LoadContext) -> DeadLetter:
    """The dead letter for one rejected row."""
    errors = ",".join(f"{error.column or _NO_COLUMN}:{error.rule}" for error in rejection.errors)
    detail = (f"file={context.file_name};line={rejection.line};layout={context.layout};"
              f"sha256={context.file_sha256};errors={errors}")
    if rejection.caused_by_line is not None:
        detail += f";caused_by_line={rejection.caused_by_line}"
    return DeadLetter(stage=DEADLETTER_STAGE, original=rejection.raw, reason=rejection.rule, detail=detail,
                      sender=context.source_system)


def parse_detail(detail: str) -> Mapping[str, str]:
    """The fields of a `carebus.dlq.detail` header written by `dead_letter` (the file name is last-resort
    parsed: a name holding `;` splits wrongly, so readers should prefer `line` and `sha256`)."""
    fields = {}
    for part in detail.split(";"):
        name, _, value = part.partition("=")
        fields[name] = value
    return fields
