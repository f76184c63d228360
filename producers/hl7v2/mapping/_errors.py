"""The mapping's reasons for turning a message down, and the errors that carry them.

Every error names where (segment, its ordinal, field) and why (a `MappingReason`), never a value, so the NAK,
the dead-letter headers and a log line stay PHI-free. Content problems answer AE; an unsupported message type,
trigger or version answers AR (`UnsupportedMessageError`, raised by the dispatcher).
"""

from __future__ import annotations

from enum import StrEnum

from producers.hl7v2.errors import ErrorCode, ErrorLocation, MappingError

__all__ = ["MappingReason", "bad_value", "missing_field", "missing_segment"]


class MappingReason(StrEnum):
    SEGMENT_MISSING = "segment-missing"
    """A segment the canonical event cannot do without (PID, PV1, OBR, MRG, FT1) is absent."""
    FIELD_MISSING = "required-field-missing"
    """A field the event needs is empty (MRG-1, MSH-3/MSH-4 when no source is configured, OBR-25 and OBX-11)."""
    TABLE_VALUE_UNKNOWN = "table-value-unknown"
    """A coded field holds a value outside the table the mapping understands (OBR-25 Y or Z)."""
    MONEY_INVALID = "money-invalid"
    """An amount is not a decimal, or is finer than the contract's 4 decimal places, or too large."""
    EVENT_INVALID = "event-invalid"
    """The event the mapping built breaks a rule of the contract (a bug, or a value no rule foresaw)."""


def missing_segment(segment_id: str) -> MappingError:
    return MappingError(MappingReason.SEGMENT_MISSING.value, location=ErrorLocation(segment_id, None),
                        error_code=ErrorCode.SEGMENT_SEQUENCE_ERROR)


def missing_field(segment_id: str, sequence: int | None, number: int) -> MappingError:
    return MappingError(MappingReason.FIELD_MISSING.value, location=ErrorLocation(segment_id, sequence, number),
                        error_code=ErrorCode.REQUIRED_FIELD_MISSING)


def bad_value(reason: MappingReason, segment_id: str, sequence: int | None, number: int,
              *, code: ErrorCode = ErrorCode.DATA_TYPE_ERROR) -> MappingError:
    return MappingError(reason.value, location=ErrorLocation(segment_id, sequence, number), error_code=code)
