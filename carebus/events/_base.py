"""The building blocks the generated event models are made of.

`AvroRecord` is the base of every model: frozen, no unknown fields, and validation errors that never
echo the input (a bad value may be a name or a date of birth). The annotated types here carry the
Avro logical types into pydantic: UTC-aware timestamps, canonical UUID strings, and unions of
records, which Avro and fastavro tell apart by record name rather than by shape.

The `write_*` functions are the primitives of the generated Avro writers (`_generated.py`): each
appends one value in Avro binary to a bytearray, byte for byte as fastavro's `schemaless_writer`
does (logical types go through fastavro's own converters), and raises ValueError where fastavro
would refuse the value.
"""

from __future__ import annotations

import functools
import struct
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final

from fastavro.logical_writers import LOGICAL_WRITERS
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
    "SHORT_LENGTHS",
    "UUID_STRING",
    "AvroRecord",
    "UtcDatetime",
    "check_union_int",
    "select_union_branch",
    "tag_union_branch",
    "unwrap_record_name",
    "write_bytes",
    "write_date",
    "write_decimal",
    "write_double",
    "write_enum",
    "write_float",
    "write_long",
    "write_string",
    "write_timestamp_micros",
    "write_uuid",
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


# ---------------------------------------------------------------------------- Avro binary primitives

_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_DOUBLE: Final = struct.Struct("<d")
_FLOAT: Final = struct.Struct("<f")
_TIMESTAMP_MICROS: Final = LOGICAL_WRITERS["long-timestamp-micros"]
_DATE: Final = LOGICAL_WRITERS["int-date"]
_BYTES_DECIMAL: Final = LOGICAL_WRITERS["bytes-decimal"]
_UUID: Final = LOGICAL_WRITERS["string-uuid"]
_TIMESTAMP_MICROS_SCHEMA: Final = {"type": "long", "logicalType": "timestamp-micros"}
_DATE_SCHEMA: Final = {"type": "int", "logicalType": "date"}
_UUID_SCHEMA: Final = {"type": "string", "logicalType": "uuid"}

SHORT_LENGTHS: Final = tuple(bytes([size << 1]) for size in range(64))
"""The Avro long of each size below 64: one byte."""


def write_long(value: int, out: bytearray) -> None:
    """An Avro int or long: zigzag, then base-128 varint, least significant group first."""
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise ValueError("integer outside the range of an Avro long")
    n = (value << 1) ^ (value >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def check_union_int(value: int) -> int:
    """An Avro int inside a union: fastavro picks the branch only for a value in the 32-bit range."""
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError("integer outside the range of an Avro int")
    return value


def write_double(value: float, out: bytearray) -> None:
    out += _DOUBLE.pack(value)


def write_float(value: float, out: bytearray) -> None:
    out += _FLOAT.pack(value)


def write_bytes(value: bytes, out: bytearray) -> None:
    size = len(value)
    if size < 64:
        out.append(size << 1)
    else:
        write_long(size, out)
    out += value


def write_string(value: str, out: bytearray) -> None:
    data = value.encode()
    size = len(data)
    if size < 64:
        out.append(size << 1)
    else:
        write_long(size, out)
    out += data


def write_enum(value: str, symbols: Mapping[str, int], out: bytearray) -> None:
    index = symbols.get(value)
    if index is None:
        raise ValueError("not a symbol of the enum")
    write_long(index, out)


def write_timestamp_micros(value: datetime, out: bytearray) -> None:
    out += _timestamp_micros(value)


@functools.lru_cache(maxsize=1024)
def _timestamp_micros(value: datetime) -> bytes:
    # An event repeats its instants (occurred, recorded, each observation's time); equal datetimes are the
    # same instant, so they write the same long.
    out = bytearray()
    write_long(_TIMESTAMP_MICROS(value, _TIMESTAMP_MICROS_SCHEMA), out)
    return bytes(out)


def write_date(value: date, out: bytearray) -> None:
    write_long(_DATE(value, _DATE_SCHEMA), out)


def write_uuid(value: str, out: bytearray) -> None:
    write_string(_UUID(value, _UUID_SCHEMA), out)


def write_decimal(value: Decimal, schema: Mapping[str, Any], out: bytearray) -> None:
    """A `bytes` decimal; `schema` is the field's type, whose precision and scale fastavro checks."""
    write_bytes(_BYTES_DECIMAL(value, schema), out)
