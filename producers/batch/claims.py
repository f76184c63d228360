"""Layout `claims`: a payer feed, one row per claim line, grouped by `claim_id` into one `claim.*` event.

The rows of one claim must be contiguous (`group-not-contiguous` otherwise, checked across the whole
file by the loader), and a claim is published whole or not at all. Money is `Decimal` from the text
to the Avro bytes: never a float. Decisions:

- `status` (case-insensitive) gives the event type and the FHIR financial status (`STATUSES`).
- Claim-level columns (`CLAIM_FIELDS`) must be equal on every line of a claim (`group-field-mismatch`).
- `line_number` is unique within a claim (`duplicate-line-number`); lines are published in its order.
- `line_charge` is the line's extended amount. When `unit_charge` is given it must equal
  `quantity x unit_charge` exactly (`line-charge-mismatch`): a payer line that does not add up is refused,
  not rounded. The claim's `total` is the exact sum of its line charges.
- `currency` is ISO 4217 (three capitals) and applies to every amount of the claim; empty means unstated.
- `diagnosis_codes` is `|`-separated, principal first. Each line keeps its own codes; the claim's
  diagnoses are their union in order of first appearance (lines taken by line number), numbered from 1.
  The system defaults to ICD-10-CM, whose codes must have its shape (`A00`, `E11.9`, `S72.001A`; the dot
  is optional).
- `procedure_code` system defaults by shape: five characters `dddd[d|F|T|U]` are CPT, a letter and four
  digits are HCPCS Level II; anything else has no system unless `procedure_code_system` names one.
- `modifiers` is `|`-separated, at most four, each two letters or digits (X12 837 SV1-01-3..6).
- `occurred_at` and `recorded_at` are the load's `received_at`: the feed does not say when a claim was made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Final

from carebus.events import (
    Claim,
    ClaimEvent,
    ClaimLine,
    CodedConcept,
    Coverage,
    Diagnosis,
    Identifier,
    Money,
    OrganizationRef,
    Quantity,
    Subject,
)
from carebus.ids import SourcePatientId
from producers.batch._codes import CPT, HCPCS, ICD10CM, coded, system_uri
from producers.batch._envelope import LoadContext, batch_envelope
from producers.batch._fields import IsoDate, MoneyAmount, PositiveInt, QuantityAmount, RowModel, one_of
from producers.batch._layout import Layout, ParsedRow, group_mismatches
from producers.batch.errors import GroupRejectedError, RowError

__all__ = ["CLAIM_TYPES", "LAYOUT", "STATUSES", "ClaimLineRow", "map_claim"]

COLUMNS: Final = (
    "claim_id", "payer_id", "payer_name", "member_id", "patient_id", "patient_id_system", "claim_type", "status",
    "diagnosis_codes", "diagnosis_code_system", "line_number", "procedure_code", "procedure_code_system",
    "modifiers", "quantity", "unit_charge", "line_charge", "currency", "service_date",
)
REQUIRED: Final = frozenset({
    "claim_id", "payer_id", "member_id", "patient_id", "patient_id_system", "status", "line_number",
    "procedure_code", "quantity", "line_charge", "service_date",
})
CLAIM_FIELDS: Final = (
    "payer_id", "payer_name", "member_id", "patient_id", "patient_id_system", "claim_type", "status", "currency",
)

STATUSES: Final[Mapping[str, tuple[str, str]]] = {
    "submitted": ("claim.submitted", "active"),
    "active": ("claim.submitted", "active"),
    "updated": ("claim.updated", "active"),
    "adjusted": ("claim.updated", "active"),
    "cancelled": ("claim.cancelled", "cancelled"),
    "void": ("claim.cancelled", "cancelled"),
    "entered-in-error": ("claim.cancelled", "entered-in-error"),
}
"""`status` as sent (lower-cased) -> (event type, FHIR financial status)."""

CLAIM_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
CLAIM_TYPES: Final = ("institutional", "oral", "pharmacy", "professional", "vision")
MAX_MODIFIERS: Final = 4

_ICD10CM = re.compile(r"[A-Z]\d[0-9A-Z](\.?[0-9A-Z]{1,4})?")
_CPT = re.compile(r"\d{4}[0-9FTU]")
_HCPCS = re.compile(r"[A-V]\d{4}")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class ClaimLineRow(RowModel):
    """One line of one claim."""

    claim_id: str
    payer_id: str
    payer_name: str | None = None
    member_id: str
    patient_id: str
    patient_id_system: str
    claim_type: Annotated[str, one_of(CLAIM_TYPES, case_sensitive=False)] | None = None
    status: Annotated[str, one_of(STATUSES, case_sensitive=False)]
    diagnosis_codes: str | None = None
    diagnosis_code_system: str | None = None
    line_number: PositiveInt
    procedure_code: str
    procedure_code_system: str | None = None
    modifiers: str | None = None
    quantity: QuantityAmount
    unit_charge: MoneyAmount | None = None
    line_charge: MoneyAmount
    currency: str | None = None
    service_date: IsoDate


def claim_key(row: ClaimLineRow) -> str:
    return row.claim_id


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split("|") if part.strip()) if text else ()


def _diagnosis_codes(parsed: ParsedRow[ClaimLineRow], file_name: str) -> tuple[CodedConcept, ...]:
    row = parsed.row
    codes = _split(row.diagnosis_codes)
    system = system_uri(row.diagnosis_code_system) if row.diagnosis_code_system else ICD10CM
    if system == ICD10CM and not all(_ICD10CM.fullmatch(code) for code in codes):
        raise GroupRejectedError((RowError(file_name, parsed.line, "diagnosis_codes", "code-format"),))
    return tuple(coded(code, row.diagnosis_code_system, default_system=ICD10CM) for code in codes)


def _procedure(row: ClaimLineRow) -> CodedConcept:
    code = row.procedure_code
    default = CPT if _CPT.fullmatch(code) else HCPCS if _HCPCS.fullmatch(code) else None
    return coded(code, row.procedure_code_system, default_system=default)


def _modifiers(parsed: ParsedRow[ClaimLineRow], file_name: str) -> tuple[CodedConcept, ...]:
    modifiers = _split(parsed.row.modifiers)
    if len(modifiers) > MAX_MODIFIERS or not all(_MODIFIER.fullmatch(modifier) for modifier in modifiers):
        raise GroupRejectedError((RowError(file_name, parsed.line, "modifiers", "code-format"),))
    return tuple(CodedConcept(code=modifier, original_code=modifier) for modifier in modifiers)


def _line(parsed: ParsedRow[ClaimLineRow], file_name: str) -> ClaimLine:
    row = parsed.row
    errors = []
    if row.unit_charge is not None and row.quantity * row.unit_charge != row.line_charge:
        errors.append(RowError(file_name, parsed.line, "line_charge", "line-charge-mismatch"))
    try:
        diagnosis_codes = _diagnosis_codes(parsed, file_name)
    except GroupRejectedError as exc:
        errors.extend(exc.errors)
        diagnosis_codes = ()
    try:
        modifiers = _modifiers(parsed, file_name)
    except GroupRejectedError as exc:
        errors.extend(exc.errors)
        modifiers = ()
    if errors:
        raise GroupRejectedError(tuple(errors))
    return ClaimLine(
        sequence=row.line_number,  # line_number (Claim.item.sequence)
        procedure_code=_procedure(row),  # procedure_code (Claim.item.productOrService)
        modifiers=modifiers,  # modifiers (Claim.item.modifier)
        quantity=Quantity(value=float(row.quantity), value_text=str(row.quantity)),  # quantity
        unit_charge=Money(amount=row.unit_charge, currency=row.currency) if row.unit_charge is not None else None,
        total_charge=Money(amount=row.line_charge, currency=row.currency),  # line_charge (Claim.item.net)
        service_date=row.service_date,  # service_date (Claim.item.servicedDate)
        diagnosis_codes=diagnosis_codes,  # diagnosis_codes (Claim.item.diagnosisSequence)
    )


def _claim_errors(rows: Sequence[ParsedRow[ClaimLineRow]], file_name: str) -> list[RowError]:
    errors = group_mismatches(rows, CLAIM_FIELDS, file_name)
    currency = rows[0].row.currency
    if currency is not None and not _CURRENCY.fullmatch(currency):
        errors.append(RowError(file_name, rows[0].line, "currency", "code-format"))
    seen: set[int] = set()
    for parsed in rows:
        if parsed.row.line_number in seen:
            errors.append(RowError(file_name, parsed.line, "line_number", "duplicate-line-number"))
        seen.add(parsed.row.line_number)
    return errors


def _diagnoses(lines: Sequence[ClaimLine]) -> tuple[Diagnosis, ...]:
    unique: dict[tuple[str | None, str | None], CodedConcept] = {}
    for line in lines:
        for concept in line.diagnosis_codes:
            unique.setdefault((concept.system, concept.code), concept)
    return tuple(Diagnosis(sequence=index, code=concept) for index, concept in enumerate(unique.values(), start=1))


def map_claim(rows: Sequence[ParsedRow[ClaimLineRow]], context: LoadContext) -> ClaimEvent:
    """The lines of one claim -> one claim.* event."""
    errors = _claim_errors(rows, context.file_name)
    lines = []
    for parsed in rows:
        try:
            lines.append(_line(parsed, context.file_name))
        except GroupRejectedError as exc:
            errors.extend(exc.errors)
    if errors:
        raise GroupRejectedError(tuple(sorted(errors, key=lambda error: error.line)))
    lines.sort(key=lambda line: line.sequence)
    first = rows[0].row
    event_type, status = STATUSES[first.status.lower()]
    payer = OrganizationRef(id=first.payer_id, name=first.payer_name)  # payer_id, payer_name (Claim.insurer)
    claim = Claim(
        claim_identifier=Identifier(value=first.claim_id, system=first.payer_id),  # claim_id (Claim.identifier)
        status=status,  # status (Claim.status)
        claim_type=(CodedConcept(code=first.claim_type.lower(), system=CLAIM_TYPE_SYSTEM,  # claim_type
                                 original_code=first.claim_type) if first.claim_type else None),
        payer=payer,
        coverages=(Coverage(sequence=1, payer=payer,  # member_id (Coverage.subscriberId)
                            member_id=Identifier(value=first.member_id, system=first.payer_id)),),
        diagnoses=_diagnoses(lines),
        lines=tuple(lines),
        total=Money(amount=sum((parsed.row.line_charge for parsed in rows), Decimal(0)), currency=first.currency),
        currency=first.currency,  # currency
    )
    subject = Subject(
        source_patient_id=SourcePatientId(f"{first.patient_id_system}|{first.patient_id}"),
        source_identifiers=(Identifier(value=first.patient_id, system=first.patient_id_system),),
    )
    envelope = batch_envelope(context, line=rows[0].line, event_type=event_type,
                              message_type=LAYOUT.message_type, subject=subject)
    return ClaimEvent(envelope=envelope, payload=claim)


LAYOUT: Final = Layout(
    name="claims",
    domain="claim",
    columns=COLUMNS,
    required=REQUIRED,
    allow_extra_columns=False,
    row_model=ClaimLineRow,
    map_group=map_claim,
    message_type="csv/payer-claims",
    default_source_system="payer-claims-csv",
    group_key=claim_key,
    group_column="claim_id",
)
