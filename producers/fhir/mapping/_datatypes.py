"""FHIR R4 datatypes -> the canonical building blocks (`carebus.common.*`).

Decisions, where FHIR and canonical differ:

- Time: every instant is held in UTC. A FHIR `date` (or a dateTime without a time) becomes midnight UTC of that
  day; a partial date (`2013`, `2013-02`) becomes the start of the year or month, in UTC. A time always has an
  offset in valid FHIR (the validator rejects one without), so no zone is guessed.
- CodeableConcept -> CodedConcept: the coding the user selected, else the first coding with a code, is the
  concept's code/system/display/version; `text` is CodeableConcept.text. The adapter normalizes nothing, so
  `original_code`/`original_system`/`original_display` repeat the same coding, exactly as sent.
- Identifier: one without a value carries no identity and is skipped. `type_code` is the type's v2-0203 code
  when one is there, else its first code; `assigner` is `Identifier.assigner.display`.
- Quantity: `value` is a double; the decimal exactly as sent (`1.50`) is kept in `value_text`. A Quantity with
  no value maps to nothing (the canonical Quantity needs one).
- Money: amounts are exact decimals with at most 4 places (the contract's scale); a finer amount is rejected
  (422) rather than rounded, since money must add up.
- References to people and organizations: a referenced resource that is contained or in the same Bundle gives
  its identifier (NPI first) and name; else `Reference.identifier`; else the literal reference as an id in the
  namespace of the server base (`id="Practitioner/123"`, `id_system=<base>`); `Reference.display` is the name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from carebus.events import (
    Address,
    CodedConcept,
    ContactPoint,
    HumanName,
    Identifier,
    Money,
    OrganizationRef,
    Period,
    PractitionerRef,
    Quantity,
)
from producers.fhir.errors import Issue, UnmappableResourceError
from producers.fhir.mapping._context import Scope

__all__ = [
    "V2_0203",
    "address",
    "coded",
    "coded_from_coding",
    "codes_of",
    "concepts",
    "contact_point",
    "finite",
    "first",
    "human_name",
    "identifier",
    "identifiers",
    "money",
    "organization_ref",
    "period",
    "practitioner_ref",
    "quantity",
    "texts",
    "to_date",
    "to_utc",
    "type_code",
]

V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
NPI_SYSTEM: Final = "http://hl7.org/fhir/sid/us-npi"
_MONEY_SCALE: Final = Decimal("0.0001")
_MONEY_MAX: Final = Decimal("1e14")
_PRACTITIONER_TYPES: Final = frozenset({"Practitioner", "PractitionerRole"})


def first(items: Sequence[Any] | None) -> Any:
    return items[0] if items else None


def to_utc(value: datetime | date | str | None) -> datetime | None:
    """A FHIR date, dateTime or instant as a UTC datetime (see the module notes for dates and partial dates)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        try:
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the end of representable time in UTC
            raise UnmappableResourceError([Issue("value", None, "a date/time falls outside the years 1-9999 "
                                                                "once converted to UTC")]) from None
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    parts = [int(part) for part in str(value)[:10].split("-") if part.isdigit()]
    if not parts:
        return None
    year, month, day = [*parts, 1, 1][:3]
    return datetime(year, month, day, tzinfo=UTC)


def to_date(value: date | datetime | str | None) -> date | None:
    """A full FHIR date as a date; a partial date (`1974`, `1974-12`) has no day and gives None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def period(value: Any) -> Period | None:
    if value is None or (value.start is None and value.end is None):
        return None
    return Period(start=to_utc(value.start), end=to_utc(value.end))


def _primary_coding(codings: Sequence[Any] | None) -> Any:
    codings = [coding for coding in codings or () if coding is not None]
    for coding in codings:
        if coding.userSelected and coding.code:
            return coding
    for coding in codings:
        if coding.code:
            return coding
    return first(codings)


def coded_from_coding(coding: Any, *, text: str | None = None) -> CodedConcept | None:
    if coding is None and text is None:
        return None
    if coding is None:
        return CodedConcept(text=text)
    return CodedConcept(code=coding.code, system=coding.system, display=coding.display, version=coding.version,
                        text=text, original_code=coding.code, original_system=coding.system,
                        original_display=coding.display)


def coded(concept: Any) -> CodedConcept | None:
    """CodeableConcept -> CodedConcept (the primary coding plus the text); None when it holds nothing."""
    if concept is None:
        return None
    coding = _primary_coding(concept.coding)
    if coding is None and not concept.text:
        return None
    return coded_from_coding(coding, text=concept.text)


def concepts(values: Iterable[Any] | None) -> tuple[CodedConcept, ...]:
    return tuple(concept for concept in (coded(value) for value in values or ()) if concept is not None)


def codes_of(concept: Any) -> list[tuple[str | None, str]]:
    """Every (system, code) of a CodeableConcept."""
    if concept is None:
        return []
    return [(coding.system, coding.code) for coding in concept.coding or () if coding.code]


def texts(annotations: Iterable[Any] | None) -> tuple[str, ...]:
    """Annotation.text of each note."""
    return tuple(note.text for note in annotations or () if note.text)


def type_code(concept: Any) -> str | None:
    """The v2-0203 code of an identifier type, else its first code."""
    if concept is None:
        return None
    codings = [coding for coding in concept.coding or () if coding.code]
    for coding in codings:
        if coding.system == V2_0203:
            return str(coding.code)
    return str(codings[0].code) if codings else None


def identifier(value: Any) -> Identifier | None:
    """FHIR Identifier -> canonical Identifier; None when it has no value."""
    if value is None or not value.value:
        return None
    assigner = value.assigner.display if value.assigner is not None else None
    return Identifier(value=value.value, system=value.system, type_code=type_code(value.type),
                      assigner=assigner, period=period(value.period))


def identifiers(values: Iterable[Any] | None) -> tuple[Identifier, ...]:
    return tuple(item for item in (identifier(value) for value in values or ()) if item is not None)


def human_name(value: Any) -> HumanName | None:
    if value is None:
        return None
    name = HumanName(use=value.use, text=value.text, family=value.family, given=tuple(value.given or ()),
                     prefixes=tuple(value.prefix or ()), suffixes=tuple(value.suffix or ()),
                     period=period(value.period))
    return None if name == HumanName(use=value.use) else name


def address(value: Any) -> Address | None:
    if value is None:
        return None
    return Address(use=value.use, type=value.type, text=value.text, lines=tuple(value.line or ()),
                   city=value.city, district=value.district, state=value.state, postal_code=value.postalCode,
                   country=value.country, period=period(value.period))


def contact_point(value: Any) -> ContactPoint | None:
    if value is None or not value.value:
        return None
    return ContactPoint(system=value.system, value=value.value, use=value.use, rank=value.rank)


def finite(number: Decimal | int) -> float:
    """A FHIR decimal as a double; one too large for a double (1e400) cannot be carried and is refused."""
    converted = float(number)
    if not math.isfinite(converted):
        raise UnmappableResourceError([Issue("value", None, "a number is too large for the canonical double")])
    return converted


def quantity(value: Any) -> Quantity | None:
    """FHIR Quantity (also SimpleQuantity, Age, Duration...) -> canonical Quantity; None without a value."""
    if value is None or value.value is None:
        return None
    number: Decimal = value.value
    return Quantity(value=finite(number), comparator=getattr(value, "comparator", None), unit=value.unit,
                    code=value.code, system=value.system, value_text=str(number))


def money(value: Any, expression: str) -> Money | None:
    """FHIR Money -> canonical Money, exact; an amount finer than 4 decimal places is rejected, not rounded."""
    if value is None or value.value is None:
        return None
    amount: Decimal = value.value
    try:
        exact = amount.quantize(_MONEY_SCALE)
    except InvalidOperation:
        exact = None
    if exact is None or exact != amount or abs(exact) >= _MONEY_MAX:
        raise UnmappableResourceError([Issue(
            "value", f"{expression}.value",
            "the amount needs more than 4 decimal places or 14 integer digits, which the canonical Money cannot hold",
        )])
    return Money(amount=exact, currency=value.currency)


def _npi_first(values: Iterable[Any] | None) -> Any:
    candidates = [value for value in values or () if value is not None and value.value]
    for value in candidates:
        if value.system == NPI_SYSTEM:
            return value
    return first(candidates)


def practitioner_ref(reference: Any, scope: Scope, *, role: CodedConcept | None = None,
                     implied: bool = False) -> PractitionerRef | None:
    """A Reference to a Practitioner or PractitionerRole -> PractitionerRef; None for any other target.

    `implied`: the element can only point at a practitioner, so a reference without a type (display only) counts.
    """
    if reference is None:
        return None
    target = scope.resolve(reference)
    kind = target.resource_type if target is not None else None
    if kind not in _PRACTITIONER_TYPES and not (implied and kind is None):
        return None
    resource = target.resource if target is not None else None
    if resource is not None and kind == "PractitionerRole":
        role = role or coded(first(resource.code))
        inner = practitioner_ref(resource.practitioner, scope, role=role, implied=True)
        if inner is not None:
            return inner
    name = HumanName(text=reference.display) if reference.display else None
    ident = reference.identifier if reference.identifier is not None and reference.identifier.value else None
    if resource is not None and kind == "Practitioner":
        ident = _npi_first(resource.identifier) or ident
        name = human_name(first(resource.name)) or name
    if ident is not None:
        return PractitionerRef(id=ident.value, id_system=ident.system, id_type_code=type_code(ident.type),
                               name=name, role=role)
    identity = target.identity() if target is not None else None
    if identity is None and name is None:
        return None
    return PractitionerRef(id=identity.value if identity else None, id_system=identity.system if identity else None,
                           name=name, role=role)


def organization_ref(reference: Any, scope: Scope, *, implied: bool = False,
                     any_type: bool = False) -> OrganizationRef | None:
    """A Reference to an Organization -> OrganizationRef; None for any other target.

    `implied`: the element can only point at an Organization, so a reference without a type counts.
    `any_type`: the element's canonical field is an OrganizationRef whatever it points at (Claim.provider).
    """
    if reference is None:
        return None
    target = scope.resolve(reference)
    kind = target.resource_type if target is not None else None
    if not any_type and kind != "Organization" and not (implied and kind is None):
        return None
    name = reference.display
    ident = reference.identifier if reference.identifier is not None and reference.identifier.value else None
    resource = target.resource if target is not None else None
    if resource is not None and kind == "Organization":
        ident = first([value for value in resource.identifier or () if value.value]) or ident
        name = resource.name or name
    if ident is not None:
        return OrganizationRef(id=ident.value, id_system=ident.system, name=name)
    identity = target.identity() if target is not None else None
    if identity is None and name is None:
        return None
    return OrganizationRef(id=identity.value if identity else None, id_system=identity.system if identity else None,
                           name=name)
