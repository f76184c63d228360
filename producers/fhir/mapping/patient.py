"""FHIR R4 Patient -> patient.upserted (or patient.merged).

Decisions, where FHIR and canonical differ:

- Event type: create and update both give `patient.upserted`. Without a store the adapter cannot tell whether
  the record existed, and a FHIR update may itself create it (update-as-create), so "upsert" is the honest
  name; `patient.updated` stays the v2 A08's. A Patient with a `link` of type `replaces` is the survivor of a
  merge and gives `patient.merged`, with the links naming the retired records.
- `Patient.link.other` becomes an identifier: the linked Patient's primary identifier when it is in the Bundle,
  else `Reference.identifier`, else the reference's logical-id form (`<base>|Patient/<id>`).
- `birthDate`: only a full date fits the canonical `date`; a partial one (`1974`, `1974-12`) is dropped (the
  contract has no place for it yet). `birth_time` comes from the `patient-birthTime` extension on `birthDate`.
- `deceasedDateTime` sets `deceased` = true and `deceased_at`; `deceasedBoolean` sets `deceased`.
- `language` is the preferred `communication.language`, else the first.
- Race and ethnicity come from the US Core extensions (`ombCategory` and `detailed` codings); religion from
  `patient-religion`.
- `multipleBirthInteger` is a birth order: it sets `birth_order` and leaves `multiple_birth` unset (senders use
  1 for singletons too); `multipleBirthBoolean` sets `multiple_birth`.
- Telecoms and identifiers without a value are skipped (the contract requires one). `gender` must be one of the
  four administrative-gender codes (a required binding fhir.resources does not check).
- `occurred_at` is `meta.lastUpdated` (a Patient has no clinical time), else the receive time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from carebus.events import CodedConcept, Identifier, Patient, PatientEvent, PatientLink
from producers.fhir.mapping._context import Interaction, MappingContext, Scope
from producers.fhir.mapping._datatypes import (
    address,
    coded,
    coded_from_coding,
    contact_point,
    human_name,
    identifiers,
    to_date,
    to_utc,
)
from producers.fhir.mapping._envelope import envelope, patient_subject, subject_of
from producers.fhir.validation import require_code

__all__ = ["map_patient"]

GENDERS: Final = frozenset({"male", "female", "other", "unknown"})
LINK_TYPES: Final = frozenset({"replaced-by", "replaces", "refer", "seealso"})
BIRTH_TIME_URL: Final = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
RELIGION_URL: Final = "http://hl7.org/fhir/StructureDefinition/patient-religion"
US_CORE_RACE_URL: Final = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY_URL: Final = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"


def _extensions(element: Any, url: str) -> list[Any]:
    return [ext for ext in (getattr(element, "extension", None) or ()) if ext.url == url]


def _birth_time(patient: Any) -> Any:
    for ext in _extensions(patient.birthDate__ext, BIRTH_TIME_URL):
        return to_utc(ext.valueDateTime)
    return None


def _us_core_codes(patient: Any, url: str) -> tuple[CodedConcept, ...]:
    found: list[CodedConcept] = []
    for ext in _extensions(patient, url):
        for part in ext.extension or ():
            if part.url in ("ombCategory", "detailed") and part.valueCoding is not None:
                concept = coded_from_coding(part.valueCoding)
                if concept is not None:
                    found.append(concept)
    return tuple(found)


def _religion(patient: Any) -> CodedConcept | None:
    for ext in _extensions(patient, RELIGION_URL):
        return coded(ext.valueCodeableConcept)
    return None


def _language(patient: Any) -> CodedConcept | None:
    communications = list(patient.communication or ())
    communications.sort(key=lambda item: not item.preferred)  # stable: the preferred one first
    for item in communications:
        concept = coded(item.language)
        if concept is not None:
            return concept
    return None


def _links(patient: Any, scope: Scope, ctx: MappingContext) -> tuple[PatientLink, ...]:
    links = []
    for index, link in enumerate(patient.link or ()):
        require_code(link.type, LINK_TYPES, f"Patient.link[{index}].type", required=True)
        other = subject_of(link.other, scope, ctx)
        value = other.source_identifiers[0] if other.source_identifiers else None
        if other.source_patient_id:
            chosen = [item for item in other.source_identifiers
                      if f"{item.system}|{item.value}" == other.source_patient_id]
            value = chosen[0] if chosen else value
        if value is not None:
            links.append(PatientLink(type=link.type, identifier=value))
    return tuple(links)


def _present(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value for value in values if value is not None)


def map_patient(patient: Any, ctx: MappingContext, *, interaction: Interaction, scope: Scope) -> tuple[PatientEvent]:
    """One Patient -> one patient.upserted (patient.merged for a survivor that `replaces` another record)."""
    require_code(patient.gender, GENDERS, "Patient.gender")
    links = _links(patient, scope, ctx)
    payload = Patient(
        identifiers=identifiers(patient.identifier),  # Patient.identifier
        active=patient.active,  # Patient.active
        names=_present(human_name(name) for name in patient.name or ()),  # Patient.name
        birth_date=to_date(patient.birthDate),  # Patient.birthDate
        birth_time=_birth_time(patient),  # Patient.birthDate extension patient-birthTime
        administrative_sex=patient.gender,  # Patient.gender
        addresses=_present(address(item) for item in patient.address or ()),  # Patient.address
        telecom=_present(contact_point(item) for item in patient.telecom or ()),  # Patient.telecom
        deceased=True if patient.deceasedDateTime is not None else patient.deceasedBoolean,  # Patient.deceased[x]
        deceased_at=to_utc(patient.deceasedDateTime),  # Patient.deceasedDateTime
        marital_status=coded(patient.maritalStatus),  # Patient.maritalStatus
        language=_language(patient),  # Patient.communication.language
        races=_us_core_codes(patient, US_CORE_RACE_URL),  # extension us-core-race
        ethnicities=_us_core_codes(patient, US_CORE_ETHNICITY_URL),  # extension us-core-ethnicity
        religion=_religion(patient),  # extension patient-religion
        multiple_birth=patient.multipleBirthBoolean,  # Patient.multipleBirthBoolean
        birth_order=patient.multipleBirthInteger,  # Patient.multipleBirthInteger
        links=links,  # Patient.link
    )
    # The Patient's logical id under the base it lives on: Patient.id
    identity = Identifier(system=scope.base, value=f"Patient/{patient.id}") if patient.id else None
    subject = patient_subject(patient, ctx, identity=identity)
    event_type = "patient.merged" if any(link.type == "replaces" for link in links) else "patient.upserted"
    return (PatientEvent(
        envelope=envelope(patient, ctx, event_type=event_type, interaction=interaction, subject=subject,
                          occurred_at=None),
        payload=payload,
    ),)

