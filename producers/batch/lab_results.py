"""Layout `lab-results`: one row per observation, grouped by `report_id` into one `result.*` event.

The rows of one report must be contiguous (they usually are: an extract writes a report's results
together). A report id that shows up again after another report's rows is refused with
`group-not-contiguous`; the loader checks that against every report id earlier in the file. A
report is published whole or not at all: when one row breaks a rule, every row of its report is
dead-lettered (the others with `group-rejected`). Decisions:

- Status (observation `status`, report `report_status`): FHIR words, or HL7 table 0085 letters (see
  `STATUSES`). An empty `report_status` is derived from the rows: all entered-in-error -> entered-in-error;
  all cancelled (or withdrawn) -> cancelled; any corrected/amended -> corrected; all final (cancelled rows
  aside) -> final; else preliminary. The event type follows the report status (`EVENT_TYPES`).
- Values: `value_type` NM (number, optionally with a comparator such as `<5`), SN (a range `1-10` or ratio
  `1:128`), CWE (a code; `value_system` names its system) or ST (text). An empty `value_type` means NM when
  the value reads as a number, else ST: never SN, since `2024-03` would read as a range.
- `value` is required unless the row's status is registered, cancelled or entered-in-error.
- Units are kept as sent; no UCUM is claimed. The reference range keeps its text, and low/high when it reads
  as `low-high`, `<high`, `<=high`, `>low` or `>=low`.
- `abnormal_flag` holds HL7 table 0078 flags (several separated by `~`); known ones become v3
  ObservationInterpretation codes, LL/HH/AA mark the observation critical, unknown ones are kept as sent.
- `effective_at` and `occurred_at` are the earliest `observed_at`; `recorded_at` is `issued_at` when given.
- Report-level columns (`REPORT_FIELDS`) must be equal on every row of a report (`group-field-mismatch`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Annotated, Final, Literal

from carebus.events import (
    CodedConcept,
    CodedValue,
    Identifier,
    NumericRangeValue,
    Observation,
    ObservationValue,
    OrganizationRef,
    Quantity,
    QuantityValue,
    ReferenceRange,
    Result,
    ResultEvent,
    StringValue,
    Subject,
)
from carebus.ids import SourcePatientId
from producers.batch._codes import CONCEPT_CACHE_SIZE, coded
from producers.batch._envelope import LoadContext, batch_envelope
from producers.batch._fields import IsoTimestamp, RowModel, one_of
from producers.batch._layout import Layout, ParsedRow, group_mismatches
from producers.batch.errors import GroupRejectedError, RowError

__all__ = ["EVENT_TYPES", "LAYOUT", "STATUSES", "LabResultRow", "map_report"]

COLUMNS: Final = (
    "patient_id", "patient_id_system", "report_id", "order_number", "accession_number",
    "report_code", "report_code_system", "report_display", "report_status", "issued_at", "performing_lab",
    "test_code", "test_code_system", "test_display", "value_type", "value", "value_system", "units",
    "reference_range", "abnormal_flag", "status", "observed_at",
)
REQUIRED: Final = frozenset({
    "patient_id", "patient_id_system", "report_id", "test_code", "test_code_system", "value", "status",
    "observed_at",
})
REPORT_FIELDS: Final = (
    "patient_id", "patient_id_system", "order_number", "accession_number", "report_code", "report_code_system",
    "report_display", "report_status", "issued_at", "performing_lab",
)

STATUSES: Final[Mapping[str, str]] = {
    # FHIR observation-status / diagnostic-report-status words
    "registered": "registered", "preliminary": "preliminary", "final": "final", "amended": "amended",
    "corrected": "corrected", "cancelled": "cancelled", "entered-in-error": "entered-in-error",
    # HL7 table 0085 (OBX-11)
    "c": "corrected", "d": "entered-in-error", "f": "final", "i": "registered", "p": "preliminary",
    "r": "preliminary", "s": "preliminary", "u": "final", "w": "entered-in-error", "x": "cancelled",
}
"""Status as sent (case-insensitive) -> FHIR status."""

EVENT_TYPES: Final[Mapping[str, str]] = {
    "registered": "result.preliminary",
    "preliminary": "result.preliminary",
    "final": "result.finalized",
    "amended": "result.corrected",
    "corrected": "result.corrected",
    "cancelled": "result.cancelled",
    "entered-in-error": "result.retracted",
}
"""Report FHIR status -> event type."""

_NO_VALUE_STATUSES: Final = frozenset({"registered", "cancelled", "entered-in-error"})
INTERPRETATION_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATIONS: Final[Mapping[str, str]] = {
    "L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high", "<": "Off scale low",
    ">": "Off scale high", "N": "Normal", "A": "Abnormal", "AA": "Critical abnormal", "U": "Significant change up",
    "D": "Significant change down", "B": "Better", "W": "Worse", "S": "Susceptible", "R": "Resistant",
    "I": "Intermediate", "NEG": "Negative", "POS": "Positive", "IND": "Indeterminate", "DET": "Detected",
    "ND": "Not detected",
}
"""HL7 table 0078 flags that are also v3 ObservationInterpretation codes."""
_INTERPRETATION_CONCEPTS: Final[Mapping[str, CodedConcept]] = {
    flag: CodedConcept(code=flag, display=display, system=INTERPRETATION_SYSTEM, original_code=flag,
                       original_system="HL70078")
    for flag, display in INTERPRETATIONS.items()
}
CRITICAL_FLAGS: Final = frozenset({"LL", "HH", "AA"})
LAB_CATEGORY: Final = CodedConcept(code="LAB", display="Laboratory",
                                   system="http://terminology.hl7.org/CodeSystem/v2-0074")

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"(<=|>=|<|>)?\s*({_NUMBER})")
_NUMERIC_RANGE = re.compile(rf"(<=|>=|<|>|=|<>)?\s*({_NUMBER})\s*([-:/+])\s*({_NUMBER})")
_RANGE = re.compile(rf"\s*({_NUMBER})\s*-\s*({_NUMBER})\s*")
_BOUND = re.compile(rf"\s*(<=|>=|<|>)\s*({_NUMBER})\s*")

_Status = Annotated[str, one_of(STATUSES, case_sensitive=False)]


class LabResultRow(RowModel):
    """One observation of one report."""

    patient_id: str
    patient_id_system: str
    report_id: str
    order_number: str | None = None
    accession_number: str | None = None
    report_code: str | None = None
    report_code_system: str | None = None
    report_display: str | None = None
    report_status: _Status | None = None
    issued_at: IsoTimestamp | None = None
    performing_lab: str | None = None
    test_code: str
    test_code_system: str
    test_display: str | None = None
    value_type: Literal["NM", "SN", "ST", "CWE"] | None = None
    value: str | None = None
    value_system: str | None = None
    units: str | None = None
    reference_range: str | None = None
    abnormal_flag: str | None = None
    status: _Status
    observed_at: IsoTimestamp


def report_key(row: LabResultRow) -> str:
    return row.report_id


def _value(row: LabResultRow) -> tuple[str | None, ObservationValue] | None:
    """(value type, value) of the row's `value` (OBX-2/OBX-5), or None when it does not read as its type."""
    text = row.value
    if text is None:
        return row.value_type, None
    value_type = row.value_type or ("NM" if _QUANTITY.fullmatch(text) else "ST")
    if value_type == "NM":
        match = _QUANTITY.fullmatch(text)
        if match is None:
            return None
        comparator, number = match.groups()
        return value_type, QuantityValue(quantity=Quantity(value=float(number), comparator=comparator,
                                                           unit=row.units, value_text=text))
    if value_type == "SN":
        ranged = _NUMERIC_RANGE.fullmatch(text)
        if ranged is not None:
            comparator, low, separator, high = ranged.groups()
            return value_type, NumericRangeValue(comparator=comparator, low=float(low), separator=separator,
                                                 high=float(high), text=text)
        bound = _QUANTITY.fullmatch(text)
        if bound is None:
            return None
        comparator, number = bound.groups()
        return value_type, QuantityValue(quantity=Quantity(value=float(number), comparator=comparator,
                                                           unit=row.units, value_text=text))
    if value_type == "CWE":
        return value_type, CodedValue(concept=coded(text, row.value_system))
    return value_type, StringValue(value=text)


@lru_cache(maxsize=CONCEPT_CACHE_SIZE)
def _reference_range(text: str | None) -> ReferenceRange | None:
    if text is None:
        return None
    ranged = _RANGE.fullmatch(text)
    if ranged is not None:
        return ReferenceRange(text=text, low=float(ranged[1]), high=float(ranged[2]))
    bound = _BOUND.fullmatch(text)
    if bound is not None:
        comparator, number = bound.groups()
        if comparator.startswith("<"):
            return ReferenceRange(text=text, high=float(number))
        return ReferenceRange(text=text, low=float(number))
    return ReferenceRange(text=text)


@lru_cache(maxsize=CONCEPT_CACHE_SIZE)
def _flags(text: str | None) -> tuple[tuple[str, ...], tuple[CodedConcept, ...]]:
    if text is None:
        return (), ()
    flags = tuple(flag.strip() for flag in text.split("~") if flag.strip())
    return flags, tuple(_INTERPRETATION_CONCEPTS[flag] for flag in flags if flag in _INTERPRETATION_CONCEPTS)


@lru_cache(maxsize=CONCEPT_CACHE_SIZE)
def _units(text: str) -> CodedConcept:
    return CodedConcept(code=text, original_code=text)


def _observation(set_id: int, parsed: ParsedRow[LabResultRow], file_name: str) -> Observation:
    row = parsed.row
    status = STATUSES[row.status.lower()]
    if row.value is None and status not in _NO_VALUE_STATUSES:
        raise GroupRejectedError((RowError(file_name, parsed.line, "value", "required"),))
    typed = _value(row)
    if typed is None:
        raise GroupRejectedError((RowError(file_name, parsed.line, "value", "number-format"),))
    value_type, value = typed
    flags, interpretations = _flags(row.abnormal_flag)
    return Observation(
        set_id=set_id,
        code=coded(row.test_code, row.test_code_system, row.test_display),  # test_code (OBX-3)
        value_type=value_type,  # value_type (OBX-2)
        value=value,  # value (OBX-5)
        units=_units(row.units) if row.units else None,  # units (OBX-6)
        reference_range=_reference_range(row.reference_range),  # reference_range (OBX-7)
        interpretations=interpretations,  # abnormal_flag (OBX-8)
        abnormal_flags=flags,
        critical=any(flag in CRITICAL_FLAGS for flag in flags),
        status=status,  # status (OBX-11)
        status_original=row.status,
        observed_at=row.observed_at,  # observed_at (OBX-14)
    )


def derive_report_status(statuses: Sequence[str]) -> str:
    """The report's FHIR status from its observations' FHIR statuses, when the file gives none."""
    present = frozenset(statuses)
    if present == {"entered-in-error"}:
        return "entered-in-error"
    if present <= {"cancelled", "entered-in-error"}:
        return "cancelled"
    if present & {"corrected", "amended"}:
        return "corrected"
    if present <= {"final", "cancelled", "entered-in-error"}:
        return "final"
    return "preliminary"


def map_report(rows: Sequence[ParsedRow[LabResultRow]], context: LoadContext) -> ResultEvent:
    """The rows of one report -> one result.* event (DiagnosticReport + Observations)."""
    mismatches = group_mismatches(rows, REPORT_FIELDS, context.file_name)
    if mismatches:
        raise GroupRejectedError(tuple(mismatches))
    observations: list[Observation] = []
    errors: list[RowError] = []
    for set_id, parsed in enumerate(rows, start=1):
        try:
            observations.append(_observation(set_id, parsed, context.file_name))
        except GroupRejectedError as exc:
            errors.extend(exc.errors)
    if errors:
        raise GroupRejectedError(tuple(errors))
    first = rows[0].row
    report_status = (STATUSES[first.report_status.lower()] if first.report_status
                     else derive_report_status([observation.status or "" for observation in observations]))
    effective_at = min(parsed.row.observed_at for parsed in rows)
    result = Result(
        report_identifier=Identifier(value=first.report_id, system=context.source_system),  # report_id
        placer_order_number=(Identifier(value=first.order_number, type_code="PLAC")  # order_number (ORC-2)
                             if first.order_number else None),
        filler_order_number=(Identifier(value=first.accession_number, type_code="FILL")  # accession_number
                             if first.accession_number else None),
        code=(coded(first.report_code, first.report_code_system, first.report_display)  # report_code (OBR-4)
              if first.report_code else None),
        status=report_status,  # report_status (OBR-25)
        status_original=first.report_status,
        category=(LAB_CATEGORY,),
        effective_at=effective_at,
        issued_at=first.issued_at,  # issued_at (OBR-22)
        performing_organization=(OrganizationRef(name=first.performing_lab)  # performing_lab
                                 if first.performing_lab else None),
        observations=tuple(observations),
    )
    subject = Subject(
        source_patient_id=SourcePatientId(f"{first.patient_id_system}|{first.patient_id}"),
        source_identifiers=(Identifier(value=first.patient_id, system=first.patient_id_system),),
    )
    envelope = batch_envelope(context, line=rows[0].line, event_type=EVENT_TYPES[report_status],
                              message_type=LAYOUT.message_type, subject=subject,
                              occurred_at=effective_at, recorded_at=first.issued_at)
    return ResultEvent(envelope=envelope, payload=result)


LAYOUT: Final = Layout(
    name="lab-results",
    domain="result",
    columns=COLUMNS,
    required=REQUIRED,
    allow_extra_columns=False,
    row_model=LabResultRow,
    map_group=map_report,
    message_type="csv/lab-results",
    default_source_system="lab-results-csv",
    group_key=report_key,
    group_column="report_id",
)
