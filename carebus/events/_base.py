"""The building blocks the generated event models are made of.

`AvroRecord` is the base of every model: frozen, no unknown fields, and validation errors that never
echo the input (a bad value may be a name or a date of birth). The annotated types here carry the
Avro logical types into pydantic: UTC-aware timestamps, canonical UUID strings, and unions of
records, which Avro and fastavro tell apart by record name rather than by shape.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializationInfo,
    SerializerFunctionWrapHandler,
)

__all__ = [
    "AVRO_CONTEXT",
    "NAMED_RECORD",
    "UUID_STRING",
    "AvroRecord",
    "UtcDatetime",
    "select_union_branch",
    "tag_union_branch",
    "unwrap_record_name",
]

AVRO_CONTEXT: Final[Mapping[str, bool]] = {"avro": True}
"""Serialization context that makes a union of records dump as fastavro's `(record name, dict)` tuple."""


class AvroRecord(BaseModel):
    """A model that mirrors one Avro record, field for field."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        # A validation error must not carry the rejected value into a log line.
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    avro_name: ClassVar[str]
    """The record's Avro full name, e.g. `carebus.common.CodedConcept`."""


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An Avro `timestamp-micros`: must be timezone-aware; held in UTC, as fastavro reads it back."""


def _canonical_uuid(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError("not a UUID") from None
    return value  # let the str validator reject it with its usual error


UUID_STRING: Final = BeforeValidator(_canonical_uuid)
"""Metadata for an Avro `uuid` string: accepts `uuid.UUID` (what fastavro reads) or its text form."""


def _is_named_datum(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)


def unwrap_record_name(value: Any) -> Any:
    """Accept fastavro's `(record name, dict)` for a union with one record (`return_record_name=True`)."""
    return value[1] if _is_named_datum(value) else value


NAMED_RECORD: Final = BeforeValidator(unwrap_record_name)
"""Metadata for a `["null", record]` union, so it also takes fastavro's `(record name, dict)` form."""


def select_union_branch(*branches: type[AvroRecord]) -> Callable[[Any], Any]:
    """A before-validator that turns input for a union of records into an instance of the right branch.

    fastavro hands over `(record name, dict)` when read with `return_record_name=True`, else a plain
    dict; a plain dict is matched on its exact set of keys, which the branches keep distinct.
    """
    by_name = {branch.avro_name: branch for branch in branches}
    by_keys = {frozenset(branch.model_fields): branch for branch in branches}
    if len(by_keys) != len(branches):
        raise TypeError(f"union branches {sorted(by_name)} must have distinct field sets")

    def select(value: Any) -> Any:
        if _is_named_datum(value):
            name, datum = value
            branch = by_name.get(name)
            if branch is None:
                raise ValueError(f"record {name} is not a branch of this union")
            return branch.model_validate(datum)
        if isinstance(value, Mapping):
            branch = by_keys.get(frozenset(value))
            if branch is None:
                raise ValueError("the record's fields match no branch of this union")
            return branch.model_validate(value)
        return value

    return select


def tag_union_branch(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    """Dump a union-of-records value as `(record name, dict)` under AVRO_CONTEXT, so that fastavro
    writes the branch by name instead of guessing it from the dict's shape."""
    data = handler(value)
    context = info.context
    if value is None or not (isinstance(context, Mapping) and context.get("avro")):
        return data
    return (value.avro_name, data)
