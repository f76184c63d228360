"""Canonical events shaped like the adapters' output, built with the event models (tests may not import
producers). Each mirrors what the adapter's mapping produces for its message: an HL7 v2 local code arrives
as `CodedConcept(code=<local>, system=None, original_code=<local>, original_system="L")` (CWE.3 `L` has no URI),
OBX-6 `mg/dl` as a Quantity with that unit and code and no system, PID-3 as the subject's identifiers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Final

from carebus.events import (
    SCHEMA_VERSION,
    CodedConcept,
    Envelope,
    HumanName,
    Identifier,
    Observation,
    Patient,
    PatientEvent,
    PatientLink,
    Quantity,
    QuantityValue,
    Result,
    ResultEvent,
    Source,
    Subject,
)
from carebus.ids import CorrelationId, EventId, SourcePatientId

HOSPITAL_MRN: Final = "urn:oid:2.16.840.1.113883.19.5.99999.1"
"""The demo hospital's MRN authority (PID-3.4)."""
PORTAL_IDS: Final = "https://portal.example.invalid/patients"
"""The demo portal's FHIR Patient.identifier system."""
AT: Final = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)

Test = tuple[str, str, float, str]
"""(local code, display, value, unit as sent)."""
GLUCOSE: Final[Test] = ("GLU", "Glucose", 182.0, "mg/dl")
POTASSIUM: Final[Test] = ("K", "Potassium", 6.9, "mmol/L")
UNMAPPED: Final[Test] = ("ZZ-NEW", "A test the tables do not know yet", 1.0, "furlongs")


def _envelope(event_type: str, *, system: str, protocol: str, message_id: str, message_type: str,
              identifiers: Sequence[Identifier], facility: str | None = "DEMO GENERAL",
              event_id: str | None = None, received_at: datetime | None = AT) -> Envelope:
    primary = identifiers[0] if identifiers else None
    return Envelope(
        event_id=EventId(event_id or str(uuid.uuid4())),
        event_type=event_type,
        occurred_at=AT,
        recorded_at=AT,
        received_at=received_at,
        source=Source(system=system, facility=facility, protocol=protocol, original_message_id=message_id,
                      message_type=message_type),
        correlation_id=CorrelationId(f"{system}|{message_id}"),
        subject=Subject(source_patient_id=SourcePatientId(f"{primary.system}|{primary.value}") if primary else None,
                        source_identifiers=tuple(identifiers)),
        data_classification="phi",
        schema_version=SCHEMA_VERSION,
    )


def mrn(value: str, authority: str = HOSPITAL_MRN) -> Identifier:
    return Identifier(value=value, system=authority, type_code="MR")


def oru_result(patient_mrn: str, tests: Sequence[Test] = (GLUCOSE, POTASSIUM), *, system: str = "DEMOLAB",
               message_id: str | None = None, event_id: str | None = None, received_at: datetime | None = AT,
               identifiers: Sequence[Identifier] | None = None) -> ResultEvent:
    """result.finalized as the HL7 v2 mapping makes it from an ORU^R01 whose OBR-4/OBX-3 carry local codes
    (`GLU^Glucose^L`) and whose OBX-6 carries units as text."""
    observations = tuple(
        Observation(
            set_id=n, value_type="NM",
            code=CodedConcept(code=code, display=display, original_code=code, original_system="L",
                              original_display=display),
            value=QuantityValue(quantity=Quantity(value=value, unit=unit, code=unit, value_text=str(value))),
            status="final", status_original="F", observed_at=AT,
        )
        for n, (code, display, value, unit) in enumerate(tests, start=1)
    )
    return ResultEvent(
        envelope=_envelope("result.finalized", system=system, protocol="hl7v2",
                           message_id=message_id or f"ORU-{uuid.uuid4().hex[:12]}", message_type="ORU^R01",
                           identifiers=identifiers if identifiers is not None else (mrn(patient_mrn),),
                           event_id=event_id, received_at=received_at),
        payload=Result(code=CodedConcept(code="BMP", display="Basic metabolic panel", original_code="BMP",
                                         original_system="L"),
                       status="final", status_original="F", effective_at=AT, observations=observations),
    )


def patient(identifiers: Sequence[Identifier], *, family: str, given: str, birth: date, sex: str,
            system: str, protocol: str, message_type: str, event_type: str = "patient.upserted",
            links: Sequence[PatientLink] = (), message_id: str | None = None) -> PatientEvent:
    return PatientEvent(
        envelope=_envelope(event_type, system=system, protocol=protocol,
                           message_id=message_id or f"MSG-{uuid.uuid4().hex[:12]}", message_type=message_type,
                           identifiers=identifiers),
        payload=Patient(identifiers=tuple(identifiers), names=(HumanName(use="official", family=family,
                                                                         given=(given,)),),
                        birth_date=birth, administrative_sex=sex, links=tuple(links)),
    )


def hl7_patient(patient_mrn: str, *, family: str = "Zzexample", given: str = "Qatest",
                birth: date = date(1961, 7, 4), sex: str = "female") -> PatientEvent:
    """patient.upserted as the HL7 v2 mapping makes it from an ADT^A04 (PID-3 an MRN, PID-5, -7, -8)."""
    return patient((mrn(patient_mrn),), family=family, given=given, birth=birth, sex=sex, system="DEMOEHR",
                   protocol="hl7v2", message_type="ADT^A04")


def fhir_patient(portal_id: str, *, family: str = "ZZEXAMPLE", given: str = "Qatest",
                 birth: date = date(1961, 7, 4), sex: str = "female") -> PatientEvent:
    """patient.upserted as the FHIR mapping makes it from a Patient resource (identifier, name, birthDate,
    gender) that a portal PUTs."""
    return patient((Identifier(value=portal_id, system=PORTAL_IDS),), family=family, given=given, birth=birth,
                   sex=sex, system="DEMOPORTAL", protocol="fhir", message_type="Patient/update")


def hl7_merge(survivor_mrn: str, retired_mrn: str, *, family: str = "Zzexample", given: str = "Qatest",
              birth: date = date(1961, 7, 4), sex: str = "female") -> PatientEvent:
    """patient.merged as the HL7 v2 mapping makes it from an ADT^A40: PID-3 the survivor, MRG-1 the retired
    record as a `replaces` link."""
    return patient((mrn(survivor_mrn),), family=family, given=given, birth=birth, sex=sex, system="DEMOEHR",
                   protocol="hl7v2", message_type="ADT^A40", event_type="patient.merged",
                   links=(PatientLink(type="replaces", identifier=mrn(retired_mrn)),))
