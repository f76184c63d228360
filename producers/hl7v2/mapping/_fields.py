"""Reading values out of a segment for the mapping: HL7 nulls and blanks are absent, text keeps its shape.

`value()` is `parsing.field()` with two rules on top: the HL7 null `""` ("delete this value") and a value of
only spaces are both read as absent. The mapping never emits a deletion: a canonical event carries the state
the sender asserts, so an explicit null and an empty field mean the same thing here.

The mapping reads a few hundred values per message, many of them several times (each part of a coded value,
the same field for two purposes): `value()` and `parts()` index `parsing.field_parts()`, which reads each
field once per segment, and `text()` keeps each field's text the same way.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Final

import hl7

from producers.hl7v2.parsing import DEFAULT_ENCODING, HL7_NULL, field_parts, raw_field, unescape

__all__ = ["NUMBER", "component_values", "decimal", "integer", "number", "parts", "repetitions", "text", "value"]

NUMBER: Final = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
"""An HL7 NM as senders write it (sign, digits, a point; an exponent is tolerated)."""
_NUMBER: Final = re.compile(rf"^\s*({NUMBER})\s*$", re.ASCII)
AVRO_INT_MAX: Final = 2**31 - 1
_TEXT_CACHE: Final = "_carebus_field_text"


def value(seg: hl7.Segment, number: int, component: int = 1, repetition: int = 0,
          subcomponent: int = 1) -> str | None:
    """One unescaped value, stripped; None when absent, blank or the HL7 null."""
    if component < 1 or subcomponent < 1 or repetition < 0:
        raise ValueError("field, component and subcomponent count from 1; repetition from 0")
    reps = field_parts(seg, number)
    if repetition >= len(reps):
        return None
    components = reps[repetition]
    if component > len(components):
        return None
    subcomponents = components[component - 1]
    if subcomponent > len(subcomponents):
        return None
    found = subcomponents[subcomponent - 1]
    if found is None:
        return None
    found = found.strip()
    return None if not found or found == HL7_NULL else found


def parts(seg: hl7.Segment, number: int, repetition: int = 0, component: int | None = None) -> list[str | None]:
    """`value()` of every component of one repetition (index 0 = component 1), or, given `component`, of every
    subcomponent of that component; empty when there is none. Reads the field once for a composite type."""
    if repetition < 0 or (component is not None and component < 1):
        raise ValueError("component counts from 1; repetition from 0")
    reps = field_parts(seg, number)
    if repetition >= len(reps):
        return []
    if component is None:
        return component_values(reps[repetition])
    if component > len(reps[repetition]):
        return []
    return [_normalized(sub) for sub in reps[repetition][component - 1]]


def component_values(repetition: tuple[tuple[str | None, ...], ...]) -> list[str | None]:
    """`value()` of each component of one repetition as `field_parts()` holds it (index 0 = component 1)."""
    return [_normalized(subs[0]) if subs else None for subs in repetition]


def _normalized(found: str | None) -> str | None:
    if found is None:
        return None
    found = found.strip()
    return None if not found or found == HL7_NULL else found


def repetitions(seg: hl7.Segment, number: int) -> range:
    """The repetition indexes of a field (0-based, as `field()` takes them)."""
    return range(len(field_parts(seg, number)))


def _raw_repetitions(seg: hl7.Segment, number: int, separator: str) -> list[str] | None:
    cache: dict[int, list[str] | None] | None = seg.__dict__.get(_TEXT_CACHE)
    if cache is None:
        cache = seg.__dict__[_TEXT_CACHE] = {}
    if number not in cache:
        raw = raw_field(seg, number)
        cache[number] = None if raw is None else raw.split(separator)
    return cache[number]


def text(seg: hl7.Segment, number: int, repetition: int = 0) -> str | None:
    """A whole repetition as sent and unescaped: components stay joined by the component separator.

    For text types (ST, TX, FT) whose senders put delimiters in the text, and for values of types the mapping
    has no structure for. `\\.br\\` becomes a line break. Leading blanks are kept; trailing blanks are dropped,
    since v2 makes them optional (ST: "left justified with trailing blanks optional"). None when the repetition
    is blank or the HL7 null.
    """
    encoding = getattr(seg, "encoding", None) or DEFAULT_ENCODING
    sent = _raw_repetitions(seg, number, encoding.repetition)
    if sent is None:
        return None
    if repetition >= len(sent) or not sent[repetition].strip() or sent[repetition] == HL7_NULL:
        return None
    return unescape(sent[repetition], encoding, codec=getattr(seg, "codec", "utf-8")).rstrip(" ")


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
