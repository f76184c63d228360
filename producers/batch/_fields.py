"""Row validation: the column types every layout uses, and pydantic errors turned into `RowError`s.

Values arrive as the csv module's strings, stripped, with empty cells already `None`. Each type
parses exactly one documented spelling (ISO 8601 dates and timestamps, plain decimals) and fails
with a rule code of ours, never with the value: pydantic's own lax parsing would read `20240314`
as a Unix timestamp and `1e3` as a price.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from producers.batch.errors import RowError

__all__ = [
    "RULES",
    "IsoDate",
    "IsoTimestamp",
    "MoneyAmount",
    "PositiveInt",
    "QuantityAmount",
    "RowModel",
    "one_of",
    "row_errors",
]

RULES: Final[Mapping[str, str]] = {
    "required": "the column is empty or missing",
    "date-format": "not an ISO 8601 date, YYYY-MM-DD",
    "timestamp-format": "not an ISO 8601 date-time, YYYY-MM-DDTHH:MM[:SS[.ffffff]]±HH:MM or Z",
    "timestamp-needs-offset": "an ISO 8601 date-time without a UTC offset (add Z or ±HH:MM)",
    "money-format": "not a plain decimal of at most 14 integer and 4 fraction digits, e.g. -1234.5",
    "quantity-format": "not a non-negative plain decimal of at most 14 integer and 6 fraction digits",
    "integer-format": "not a positive whole number",
    "number-format": "not a plain decimal number",
    "allowed-values": "not one of the values the layout allows for this column",
    "code-format": "a code that does not have the documented shape",
    "field-count": "the row has more or fewer fields than the header",
    "csv-syntax": "the row is not valid CSV (e.g. a stray or unclosed quote)",
    "encoding": "the row is not valid UTF-8",
    "line-too-long": "a physical line is longer than the reader's limit",
    "group-field-mismatch": "a report- or claim-level column differs between rows of one group",
    "group-rejected": "another row of the same report or claim broke a rule, so none of it is published",
    "group-not-contiguous": "the group id appeared earlier in the file, separated from this row",
    "group-too-large": "the report or claim has more rows than the loader accepts in one event",
    "duplicate-line-number": "two rows of one claim have the same line number",
    "line-charge-mismatch": "line_charge is not quantity x unit_charge",
    "event-invalid": "the row's values do not make a valid canonical event",
}
"""Every rule code a rejected row can carry, with what it means (docs/batch-layouts.md lists them too)."""

_PYDANTIC_RULES: Final[Mapping[str, str]] = {
    "missing": "required",
    "string_type": "required",
    "literal_error": "allowed-values",
    "enum": "allowed-values",
}

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")
_MONEY = re.compile(r"-?\d{1,14}(\.\d{1,4})?")
_QUANTITY = re.compile(r"\d{1,14}(\.\d{1,6})?")
_POSITIVE_INT = re.compile(r"[1-9]\d{0,8}")


class RowModel(BaseModel):
    """One validated CSV row. Columns not in the model are ignored (the header check is the layout's).

    Every cell may be PHI, so `repr` shows the model's name only: a stray `%r` prints nothing sensitive."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        return iter(())


def _parse_date(value: object) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PydanticCustomError("date-format", RULES["date-format"])
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date-format", RULES["date-format"]) from None


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
            raise PydanticCustomError("timestamp-format", RULES["timestamp-format"])
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("timestamp-format", RULES["timestamp-format"]) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError("timestamp-needs-offset", RULES["timestamp-needs-offset"])
    return parsed.astimezone(UTC)


def _parse_money(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise PydanticCustomError("money-format", RULES["money-format"])
    return Decimal(value)


def _parse_quantity(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise PydanticCustomError("quantity-format", RULES["quantity-format"])
    return Decimal(value)


def _parse_positive_int(value: object) -> int:
    if isinstance(value, int) and value > 0:
        return value
    if not isinstance(value, str) or not _POSITIVE_INT.fullmatch(value):
        raise PydanticCustomError("integer-format", RULES["integer-format"])
    return int(value)


def one_of(allowed: Iterable[str], *, case_sensitive: bool = True) -> PlainValidator:
    """A validator that accepts only `allowed` (compared case-insensitively unless `case_sensitive`) and
    returns the value as sent."""
    choices = frozenset(allowed if case_sensitive else (choice.lower() for choice in allowed))

    def check(value: object) -> str:
        if not isinstance(value, str) or (value if case_sensitive else value.lower()) not in choices:
            raise PydanticCustomError("allowed-values", RULES["allowed-values"])
        return value

    return PlainValidator(check)


IsoDate = Annotated[date, PlainValidator(_parse_date)]
"""`YYYY-MM-DD`, nothing else."""

IsoTimestamp = Annotated[datetime, PlainValidator(_parse_timestamp)]
"""An ISO 8601 date-time with a UTC offset (`Z` or `±HH:MM`); held in UTC."""

MoneyAmount = Annotated[Decimal, PlainValidator(_parse_money)]
"""A plain decimal (`-1234.5`): no currency sign, no thousands separator, no exponent; at most 4 decimals."""

QuantityAmount = Annotated[Decimal, PlainValidator(_parse_quantity)]
"""A non-negative plain decimal with at most 6 decimals."""

PositiveInt = Annotated[int, PlainValidator(_parse_positive_int)]
"""A whole number from 1."""


def row_errors(
    exc: ValidationError, *, file_name: str, line: int, columns: Mapping[str, str]
) -> tuple[RowError, ...]:
    """pydantic's errors as `RowError`s, naming each column as written in the file's header (`columns`
    maps a model field to it). Only the error type is kept: never the input, the message or its context."""
    errors = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = str(error["loc"][0]) if error["loc"] else None
        column = columns.get(field, field) if field else None
        rule = _PYDANTIC_RULES.get(error["type"], error["type"])
        errors.append(RowError(file_name, line, column, rule))
    return tuple(errors)
