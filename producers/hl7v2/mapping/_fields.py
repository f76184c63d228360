"""Reading values out of a segment for the mapping: HL7 nulls and blanks are absent, text keeps its shape.

`value()` is `parsing.field()` with two rules on top: the HL7 null `""` ("delete this value") and a value of
only spaces are both read as absent. The mapping never emits a deletion: a canonical event carries the state
the sender asserts, so an explicit null and an empty field mean the same thing here.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Final

import hl7

from producers.hl7v2.parsing import DEFAULT_ENCODING, HL7_NULL, field, raw_field, repetition_count, unescape

__all__ = ["NUMBER", "decimal", "integer", "number", "repetitions", "text", "value"]

NUMBER: Final = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
"""An HL7 NM as senders write it (sign, digits, a point; an exponent is tolerated)."""
_NUMBER: Final = re.compile(rf"^\s*({NUMBER})\s*$", re.ASCII)
AVRO_INT_MAX: Final = 2**31 - 1


def value(seg: hl7.Segment, number: int, component: int = 1, repetition: int = 0,
          subcomponent: int = 1) -> str | None:
    """One unescaped value, stripped; None when absent, blank or the HL7 null."""
    found = field(seg, number, component=component, repetition=repetition, subcomponent=subcomponent)
    if found is None:
        return None
    found = found.strip()
    return None if not found or found == HL7_NULL else found


def repetitions(seg: hl7.Segment, number: int) -> range:
    """The repetition indexes of a field (0-based, as `field()` takes them)."""
    return range(repetition_count(seg, number))


def text(seg: hl7.Segment, number: int, repetition: int = 0) -> str | None:
    """A whole repetition as sent and unescaped: components stay joined by the component separator.

    For text types (ST, TX, FT) whose senders put delimiters in the text, and for values of types the mapping
    has no structure for. `\\.br\\` becomes a line break. Leading blanks are kept; trailing blanks are dropped,
    since v2 makes them optional (ST: "left justified with trailing blanks optional"). None when the repetition
    is blank or the HL7 null.
    """
    raw = raw_field(seg, number)
    if raw is None:
        return None
    encoding = getattr(seg, "encoding", None) or DEFAULT_ENCODING
    parts = raw.split(encoding.repetition)
    if repetition >= len(parts) or not parts[repetition].strip() or parts[repetition] == HL7_NULL:
        return None
    return unescape(parts[repetition], encoding, codec=getattr(seg, "codec", "utf-8")).rstrip(" ")


def number(raw: str | None) -> float | None:
    """A plain HL7 number (no comparator, no unit) as a finite float; None when it is not one."""
    if raw is None or _NUMBER.match(raw) is None:
        return None
    found = float(raw)
    return found if math.isfinite(found) else None


def integer(seg: hl7.Segment, number_: int, component: int = 1, repetition: int = 0) -> int | None:
    """A whole number (a set id, a sequence); None when absent, not a whole number, or beyond an Avro int."""
    found = value(seg, number_, component, repetition)
    if found is None or not found.isascii() or not found.isdigit() or int(found) > AVRO_INT_MAX:
        return None
    return int(found)


def decimal(raw: str | None) -> Decimal | None:
    """An exact decimal for money; None when absent or not a plain decimal number."""
    if raw is None or _NUMBER.match(raw) is None or "e" in raw.lower():
        return None
    try:
        return Decimal(raw.strip())
    except InvalidOperation:
        return None
