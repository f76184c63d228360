"""OBX-5 by OBX-2, OBX-6 units and OBX-7 reference ranges ([IG] `OBX[Observation]`; note §5 and §9).

Value by OBX-2 (each repetition of OBX-5 is read alone; see `_observation` for repetitions):

- NM: a plain number -> QuantityValue (OBX-6 units; the digits as sent in `value_text`). A number behind a
  comparator (`<5`, `>=10`) -> QuantityValue with that comparator, read with the SN rules, since senders put
  SN-style values in NM. Anything else is kept as a StringValue rather than lost or rejected; an empty NM is no
  value. ([MSFC] writes NM as a raw JSON number and breaks on these.)
- SN (SN.1 comparator, SN.2 number, SN.3 separator, SN.4 number): one number with no separator ->
  QuantityValue, comparator `<`, `<=`, `>`, `>=` kept and `=` dropped (exact). Two numbers, a separator, or the
  comparator `<>` -> NumericRangeValue with comparator and separator as sent (`-` range, `:` and `/` ratio, `+`
  categorical). [IG] makes `+` and `<>` strings; the contract has fields for them, so nothing is flattened.
- NR (NR.1 low, NR.2 high) -> NumericRangeValue without separator.
- ST, TX, FT -> StringValue of the whole value as sent, unescaped (components kept with their `^`: [S] sends
  coded answers typed ST). CE, CWE, CNE, CF -> CodedValue; IS, ID -> CodedValue of the bare code.
- DT, DTM, TS -> DateTimeValue (UTC; text as sent); one that does not parse -> StringValue.
- RP -> StringValue of the pointer (RP.1). ED -> no value: the contract has no attachment branch and Base64
  does not belong in a string; `value_type` ED still tells a consumer a document was there.
- TM (no time-of-day branch), TN, XTN, XAD, XPN, XCN and any other type -> StringValue of the value as sent
  (an XTN is first read as a phone number). An empty OBX-2 with a value is a StringValue.

Units (Quantity): `unit` OBX-6.2, else OBX-6.1; `code` OBX-6.1; `system` the UCUM URI when OBX-6.3 says UCUM,
else OBX-6.3 as sent. Unit strings are not validated as UCUM (no validator here), so `µmol/L` without `UCUM`
stays unsystemed.

Reference range OBX-7: `text` as sent; `low-high` (negative bounds too: `-5-5`) sets both; `>x`/`>=x` sets low,
`<x`/`<=x` sets high (FHIR bounds are inclusive, so `<200` becomes high 200 and the text keeps the rest);
anything else is text only.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from functools import lru_cache
from typing import Final

import hl7

from carebus.events import (
    CodedConcept,
    CodedValue,
    DateTimeValue,
    NumericRangeValue,
    Quantity,
    QuantityValue,
    ReferenceRange,
    StringValue,
)
from producers.hl7v2.mapping._common import coded
from producers.hl7v2.mapping._contact import contact_points
from producers.hl7v2.mapping._fields import NUMBER, number, text, value
from producers.hl7v2.mapping._time import parse_ts

__all__ = ["ObservationValue", "reference_range", "units", "value_of"]

ObservationValue = QuantityValue | CodedValue | StringValue | NumericRangeValue | DateTimeValue
UCUM: Final = "http://unitsofmeasure.org"
_TEXT_TYPES: Final = frozenset({"ST", "TX", "FT"})
_CODED_TYPES: Final = frozenset({"CE", "CWE", "CNE", "CF"})
_TIME_TYPES: Final = frozenset({"DT", "DTM", "TS"})
_BOUND: Final = re.compile(rf"^\s*(<=|>=|<|>|=)?\s*({NUMBER})\s*$", re.ASCII)
_RANGE: Final = re.compile(rf"^\s*({NUMBER})\s*-\s*({NUMBER})\s*$", re.ASCII)
_QUANTITY_COMPARATORS: Final = frozenset({"<", "<=", ">", ">="})


def units(obx: hl7.Segment) -> tuple[str | None, str | None, str | None]:
    """(unit, code, system) for a Quantity, from OBX-6."""
    code, display, system = value(obx, 6, 1), value(obx, 6, 2), value(obx, 6, 3)
    return display or code, code, UCUM if system and system.upper() == "UCUM" else system


def _quantity(raw: str, comparator: str | None, obx: hl7.Segment) -> QuantityValue | None:
    amount = number(raw)
    if amount is None:
        return None
    unit, code, system = units(obx)
    return QuantityValue(quantity=Quantity(value=amount, comparator=comparator if comparator in
                                           _QUANTITY_COMPARATORS else None,
                                           unit=unit, code=code, system=system, value_text=raw.strip()))


def _numeric(obx: hl7.Segment, rep: int) -> ObservationValue | None:
    raw = value(obx, 5, 1, rep)
    if raw is None:
        return None
    bound = _BOUND.match(raw)
    if bound is not None and (text(obx, 5, rep) or "").strip() == raw:
        found = _quantity(bound.group(2), bound.group(1), obx)
        if found is not None:
            return found
    return StringValue(value=text(obx, 5, rep) or raw)


def _structured(obx: hl7.Segment, rep: int) -> ObservationValue | None:
    comparator, first, separator, second = (value(obx, 5, n, rep) for n in (1, 2, 3, 4))
    if separator is None and second is None and comparator != "<>" and first is not None:
        found = _quantity(first, comparator, obx)
        if found is not None:
            return found
    low, high = number(first), number(second)
    if low is None and high is None:
        sent = text(obx, 5, rep)
        return StringValue(value=sent) if sent else None
    return NumericRangeValue(comparator=comparator, low=low, separator=separator, high=high,
                             text=text(obx, 5, rep))


def _range(obx: hl7.Segment, rep: int) -> ObservationValue | None:
    low, high = number(value(obx, 5, 1, rep)), number(value(obx, 5, 2, rep))
    if low is None and high is None:
        return None
    return NumericRangeValue(low=low, high=high, text=text(obx, 5, rep))


def value_of(obx: hl7.Segment, kind: str | None, rep: int, tz: tzinfo) -> ObservationValue | None:
    """The value in one repetition of OBX-5, read as OBX-2 `kind` says."""
    kind = (kind or "").upper()
    if kind == "NM":
        return _numeric(obx, rep)
    if kind == "SN":
        return _structured(obx, rep)
    if kind == "NR":
        return _range(obx, rep)
    if kind in _CODED_TYPES or kind in ("IS", "ID"):
        concept = coded(obx, 5, rep) if kind not in ("IS", "ID") else None
        code = value(obx, 5, 1, rep)
        if concept is None and code is not None:
            concept = CodedConcept(code=code, original_code=code)
        return CodedValue(concept=concept) if concept is not None else None
    if kind in _TIME_TYPES:
        instant = parse_ts(value(obx, 5, 1, rep), tz)
        if instant is not None:
            return DateTimeValue(value=instant, text=value(obx, 5, 1, rep))
    if kind == "ED":
        return None
    if kind == "RP":
        pointer = value(obx, 5, 1, rep)
        return StringValue(value=pointer) if pointer else None
    if kind == "XTN":
        phone = contact_points(obx, 5)
        if rep < len(phone):
            return StringValue(value=phone[rep].value)
    sent = text(obx, 5, rep)
    return StringValue(value=sent) if sent and sent.strip() else None


def reference_range(obx: hl7.Segment) -> ReferenceRange | None:
    sent = value(obx, 7)  # OBX-7
    return None if sent is None else _reference_range(sent)


@lru_cache(maxsize=1024)
def _reference_range(sent: str) -> ReferenceRange:
    # Pure in OBX-7, and a test's range is the same in every message: kept for the next time.
    both, bound = _RANGE.match(sent), _BOUND.match(sent)
    if both:
        return ReferenceRange(text=sent, low=number(both.group(1)), high=number(both.group(2)))
    if bound and bound.group(1) in (">", ">="):
        return ReferenceRange(text=sent, low=number(bound.group(2)))
    if bound and bound.group(1) in ("<", "<="):
        return ReferenceRange(text=sent, high=number(bound.group(2)))
    return ReferenceRange(text=sent)
