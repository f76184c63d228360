"""Populated, synthetic canonical events, one per domain, for tests, benchmarks and demos.

Every value is invented and looks it: the patient is "Zzexample, Qatest", the phone numbers are in the
555-01xx range reserved for fiction, the ids say TEST. The events fill most optional fields and every
branch of the observation value union, so a round trip through Avro exercises the whole contract.
The data is fixed (no clock, no random ids), so two calls give equal events.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final

from carebus.events._catalog import DOMAINS, SCHEMA_VERSION
from carebus.events._generated import (
    Address,
    Claim,
    ClaimEvent,
    ClaimLine,
    CodedConcept,
    CodedValue,
    ContactPoint,
    Coverage,
    DateTimeValue,
    Diagnosis,
    Encounter,
    EncounterEvent,
    Envelope,
    Event,
    HumanName,
    Identifier,
    Location,
    Money,
    NumericRangeValue,
    Observation,
    ObservationComponent,
    Order,
    OrderEvent,
    OrganizationRef,
    Patient,
    PatientEvent,
    PatientLink,
    Period,
    PractitionerRef,
    Quantity,
    QuantityValue,
    ReferenceRange,
    Referral,
    ReferralEvent,
    Result,
    ResultEvent,
    Source,
    Specimen,
    StringValue,
    Subject,
)
from carebus.ids import CorrelationId, EventId, SourcePatientId

__all__ = ["EXAMPLE_EVENT_TYPES", "example_event"]

_EVENT_NAMESPACE: Final = uuid.UUID("5b0c4a52-0000-4000-8000-00000000ca7e")
_MRN_SYSTEM: Final = "urn:oid:2.16.840.1.113883.19.5.99999.1"
_NPI_SYSTEM: Final = "http://hl7.org/fhir/sid/us-npi"
_LOINC: Final = "http://loinc.org"
_SNOMED: Final = "http://snomed.info/sct"
_UCUM: Final = "http://unitsofmeasure.org"
_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

EXAMPLE_EVENT_TYPES: Final = {
    "patient": "patient.upserted",
    "encounter": "encounter.started",
    "order": "order.placed",
    "result": "result.finalized",
    "referral": "referral.requested",
    "claim": "claim.submitted",
}
"""The event type each example carries."""

_MRN = Identifier(value="TEST-MRN-000123", system=_MRN_SYSTEM, type_code="MR", assigner="Example General")
_PATIENT_NAME = HumanName(use="official", family="Zzexample", given=("Qatest", "Middlename"), suffixes=("III",))
_DOCTOR = PractitionerRef(
    id="9990000001",
    id_system=_NPI_SYSTEM,
    id_type_code="NPI",
    name=HumanName(family="Testdoctor", given=("Ada",), prefixes=("Dr",)),
)
_LAB = OrganizationRef(id="TESTLAB", id_system="urn:oid:2.16.840.1.113883.19.5.99999.9", name="Example Lab")


def _at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 3, 14, hour, minute, second, micro, tzinfo=UTC)


def _envelope(domain: str) -> Envelope:
    event_type = EXAMPLE_EVENT_TYPES[domain]
    return Envelope(
        event_id=EventId(str(uuid.uuid5(_EVENT_NAMESPACE, domain))),
        event_type=event_type,
        occurred_at=_at(9, 30, 0, 123456),
        recorded_at=_at(9, 30, 5),
        received_at=_at(9, 30, 6, 500),
        source=Source(
            system="TESTEHR",
            facility="EXAMPLE-GENERAL",
            protocol="hl7v2",
            original_message_id=f"MSG-TEST-{domain.upper()}-0001",
            message_type={"patient": "ADT^A01", "encounter": "ADT^A01", "order": "ORM^O01",
                          "result": "ORU^R01", "referral": "REF^I12", "claim": "DFT^P03"}[domain],
        ),
        correlation_id=CorrelationId(f"TESTEHR|MSG-TEST-{domain.upper()}-0001"),
        subject=Subject(
            source_patient_id=SourcePatientId(f"{_MRN_SYSTEM}|TEST-MRN-000123"),
            source_identifiers=(_MRN,),
        ),
        data_classification="phi",
        schema_version=SCHEMA_VERSION,
    )


def _coded(code: str, display: str, system: str, *, original: tuple[str, str] | None = None) -> CodedConcept:
    if original is None:
        return CodedConcept(code=code, display=display, system=system)
    return CodedConcept(code=code, display=display, system=system,
                        original_code=original[0], original_system=original[1])


def _patient() -> PatientEvent:
    return PatientEvent(
        envelope=_envelope("patient"),
        payload=Patient(
            identifiers=(
                _MRN,
                Identifier(value="TEST-SSN-0000", system="http://hl7.org/fhir/sid/us-ssn", type_code="SS"),
            ),
            active=True,
            names=(_PATIENT_NAME, HumanName(use="nickname", given=("Qa",))),
            birth_date=date(1961, 7, 4),
            birth_time=datetime(1961, 7, 4, 6, 15, tzinfo=UTC),
            administrative_sex="female",
            addresses=(
                Address(use="home", lines=("42 Sample Lane", "Apt 0"), city="Testville", district="Nowhere County",
                        state="ZZ", postal_code="00042", country="USA"),
            ),
            telecom=(
                ContactPoint(system="phone", value="+1-555-0134", use="home", rank=1),
                ContactPoint(system="email", value="qatest@example.invalid", use="home"),
            ),
            deceased=False,
            marital_status=_coded("M", "Married", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                  original=("M", "HL70002")),
            language=_coded("en", "English", "urn:ietf:bcp:47"),
            races=(_coded("2106-3", "White", "urn:oid:2.16.840.1.113883.6.238", original=("2106-3", "CDCREC")),),
            ethnicities=(_coded("2186-5", "Not Hispanic or Latino", "urn:oid:2.16.840.1.113883.6.238"),),
            multiple_birth=False,
            links=(PatientLink(type="replaces", identifier=Identifier(value="TEST-MRN-000099",
                                                                      system=_MRN_SYSTEM, type_code="MR")),),
        ),
    )


def _encounter() -> EncounterEvent:
    return EncounterEvent(
        envelope=_envelope("encounter"),
        payload=Encounter(
            visit_number=Identifier(value="TEST-VN-5550001", system=_MRN_SYSTEM, type_code="VN"),
            account_number=Identifier(value="TEST-AN-777", type_code="AN"),
            status="in-progress",
            encounter_class=_coded("IMP", "inpatient encounter", "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                   original=("I", "HL70004")),
            patient_type=CodedConcept(code="IP", original_code="IP"),
            admission_type=CodedConcept(code="E", display="Emergency", original_code="E",
                                        original_system="HL70007"),
            hospital_service=CodedConcept(code="MED", display="Medical service", original_code="MED"),
            period=Period(start=_at(8, 45)),
            location=Location(point_of_care="4EAST", room="401", bed="B", facility="EXAMPLE-GENERAL",
                              building="MAIN", floor="4", status="active"),
            prior_location=Location(point_of_care="ED", room="ED-3", facility="EXAMPLE-GENERAL"),
            attending=_DOCTOR,
            admitting=_DOCTOR,
            referring=PractitionerRef(id="TESTREF01", id_type_code="PRN"),
            admit_source=CodedConcept(code="7", display="Emergency room", original_code="7",
                                      original_system="HL70023"),
            reason_codes=(_coded("29857009", "Chest pain", _SNOMED),),
            diagnoses=(Diagnosis(sequence=1, code=_coded("R07.9", "Chest pain, unspecified",
                                                         "http://hl7.org/fhir/sid/icd-10-cm"),
                                 type="A", recorded_at=_at(8, 50)),),
            facility=OrganizationRef(id="EXAMPLE-GENERAL", name="Example General"),
        ),
    )


def _specimen() -> Specimen:
    return Specimen(
        identifier=Identifier(value="TEST-SPM-0001", system="urn:oid:2.16.840.1.113883.19.5.99999.9"),
        type=_coded("119364003", "Serum specimen", _SNOMED, original=("SER", "HL70487")),
        collected_at=_at(7, 55),
        received_at=_at(8, 20),
    )


def _order() -> OrderEvent:
    return OrderEvent(
        envelope=_envelope("order"),
        payload=Order(
            placer_order_number=Identifier(value="TEST-PLAC-1001", system="TESTEHR", type_code="PLAC"),
            filler_order_number=Identifier(value="TEST-FILL-2001", system="TESTLAB", type_code="FILL"),
            placer_group_number=Identifier(value="TEST-PGN-3001", system="TESTEHR", type_code="PGN"),
            code=_coded("24323-8", "Comprehensive metabolic panel", _LOINC, original=("CMP", "L")),
            category=(_coded("108252007", "Laboratory procedure", _SNOMED),),
            status="active",
            status_original="SC",
            order_control="NW",
            intent="order",
            priority="routine",
            ordered_at=_at(7, 40),
            requester=_DOCTOR,
            ordering_facility=OrganizationRef(id="EXAMPLE-GENERAL", name="Example General"),
            reason_codes=(_coded("R07.9", "Chest pain, unspecified", "http://hl7.org/fhir/sid/icd-10-cm"),),
            specimens=(_specimen(),),
            notes=("Synthetic test order.",),
        ),
    )


def _observations() -> tuple[Observation, ...]:
    high = _coded("H", "High", _INTERPRETATION, original=("H", "HL70078"))
    return (
        Observation(
            set_id=1, code=_coded("2345-7", "Glucose [Mass/volume] in Serum or Plasma", _LOINC),
            value_type="NM",
            value=QuantityValue(quantity=Quantity(value=182.0, unit="mg/dL", code="mg/dL", system=_UCUM,
                                                  value_text="182.0")),
            units=CodedConcept(code="mg/dL", system=_UCUM, original_code="mg/dL", original_system="UCUM"),
            reference_range=ReferenceRange(text="70-99", low=70.0, high=99.0),
            interpretations=(high,), abnormal_flags=("H",), status="final", status_original="F",
            observed_at=_at(7, 55), analyzed_at=_at(8, 40), performer=_DOCTOR, performing_organization=_LAB,
        ),
        Observation(
            set_id=2, code=_coded("2823-3", "Potassium [Moles/volume] in Serum or Plasma", _LOINC),
            value_type="NM",
            value=QuantityValue(quantity=Quantity(value=6.9, unit="mmol/L", code="mmol/L", system=_UCUM)),
            reference_range=ReferenceRange(text="3.5-5.1", low=3.5, high=5.1),
            interpretations=(_coded("HH", "Critical high", _INTERPRETATION),), abnormal_flags=("HH",), critical=True,
            status="final", observed_at=_at(7, 55),
        ),
        Observation(
            set_id=3, code=_coded("5195-3", "Hepatitis B virus surface Ag in Serum", _LOINC), value_type="CWE",
            value=CodedValue(concept=_coded("260385009", "Negative", _SNOMED)), status="final",
        ),
        Observation(
            set_id=4, code=_coded("8251-1", "Service comment", _LOINC), value_type="TX",
            value=StringValue(value="Specimen slightly hemolyzed.\nSynthetic comment."), status="final",
            notes=("Synthetic note.",),
        ),
        Observation(
            set_id=5, code=_coded("5370-2", "Rubella virus Ab titer", _LOINC), value_type="SN",
            value=NumericRangeValue(low=1.0, separator=":", high=128.0, text="1:128"), status="preliminary",
        ),
        Observation(
            set_id=6, code=_coded("33882-2", "Collection date of specimen", _LOINC), value_type="DT",
            value=DateTimeValue(value=datetime(2024, 3, 14, tzinfo=UTC), text="20240314"), status="final",
        ),
        Observation(
            set_id=7, code=_coded("85354-9", "Blood pressure panel", _LOINC), status="final",
            components=(
                ObservationComponent(code=_coded("8480-6", "Systolic blood pressure", _LOINC),
                                     value=QuantityValue(quantity=Quantity(value=120, unit="mm[Hg]",
                                                                           code="mm[Hg]", system=_UCUM))),
                ObservationComponent(code=_coded("8462-4", "Diastolic blood pressure", _LOINC),
                                     value=QuantityValue(quantity=Quantity(value=80, unit="mm[Hg]",
                                                                           code="mm[Hg]", system=_UCUM))),
            ),
        ),
        Observation(set_id=8, code=_coded("2951-2", "Sodium [Moles/volume] in Serum or Plasma", _LOINC),
                    value_type="NM", status="cancelled", status_original="X"),
    )


def _result() -> ResultEvent:
    return ResultEvent(
        envelope=_envelope("result"),
        payload=Result(
            placer_order_number=Identifier(value="TEST-PLAC-1001", system="TESTEHR", type_code="PLAC"),
            filler_order_number=Identifier(value="TEST-FILL-2001", system="TESTLAB", type_code="FILL"),
            code=_coded("24323-8", "Comprehensive metabolic panel", _LOINC),
            status="final",
            status_original="F",
            category=(CodedConcept(code="LAB", original_code="CH", original_system="HL70074"),),
            effective_at=_at(7, 55),
            issued_at=_at(9, 30),
            performer=_DOCTOR,
            interpreter=_DOCTOR,
            performing_organization=_LAB,
            observations=_observations(),
            specimens=(_specimen(),),
            notes=("Synthetic report note.",),
        ),
    )


def _referral() -> ReferralEvent:
    return ReferralEvent(
        envelope=_envelope("referral"),
        payload=Referral(
            referral_identifier=Identifier(value="TEST-REF-0042", system="TESTEHR"),
            identifiers=(Identifier(value="TEST-EXTREF-0042", system="TESTPAYER"),),
            status="on-hold",
            status_original="P",
            priority="routine",
            referral_type=CodedConcept(code="Med", display="Medical", original_code="Med",
                                       original_system="HL70281"),
            category=CodedConcept(code="O", display="Outpatient", original_code="O", original_system="HL70284"),
            reason_codes=(_coded("K63.3", "Ulcer of intestine", "http://hl7.org/fhir/sid/icd-10-cm"),),
            requested_service=_coded("3457005", "Patient referral", _SNOMED),
            requester=_DOCTOR,
            requester_organization=OrganizationRef(name="Example General"),
            recipient=PractitionerRef(id="9990000002", id_system=_NPI_SYSTEM,
                                      name=HumanName(family="Testspecialist", given=("Grace",))),
            recipient_organization=OrganizationRef(name="Example Specialty Clinic"),
            period=Period(start=_at(0), end=datetime(2024, 6, 14, tzinfo=UTC)),
            authored_at=_at(9, 0),
            notes=("Synthetic referral.",),
        ),
    )


def _claim() -> ClaimEvent:
    usd = "USD"
    return ClaimEvent(
        envelope=_envelope("claim"),
        payload=Claim(
            account_number=Identifier(value="TEST-AN-777", type_code="AN"),
            visit_number=Identifier(value="TEST-VN-5550001", type_code="VN"),
            status="active",
            claim_type=CodedConcept(code="institutional",
                                    system="http://terminology.hl7.org/CodeSystem/claim-type"),
            created_at=_at(22),
            provider=OrganizationRef(id="EXAMPLE-GENERAL", name="Example General"),
            payer=OrganizationRef(id="TESTPAYER", name="Example Health Plan"),
            coverages=(
                Coverage(sequence=1, payer=OrganizationRef(id="TESTPAYER", name="Example Health Plan"),
                         plan=CodedConcept(code="EX-HMO", display="Example HMO"),
                         plan_type=CodedConcept(code="HMO"),
                         member_id=Identifier(value="TEST-MEMBER-0007", system="TESTPAYER"),
                         group_number="TEST-GRP-1",
                         subscriber_relationship=CodedConcept(code="self"),
                         period=Period(start=datetime(2024, 1, 1, tzinfo=UTC))),
            ),
            diagnoses=(Diagnosis(sequence=1, code=_coded("29857009", "Chest pain", _SNOMED), type="F"),),
            lines=(
                ClaimLine(
                    sequence=1,
                    transaction_identifier=Identifier(value="TEST-TX-12345"),
                    transaction_type="CG",
                    procedure_code=_coded("71045", "X-ray exam chest 1 view", "http://www.ama-assn.org/go/cpt",
                                          original=("71045", "C4")),
                    modifiers=(CodedConcept(code="26", display="Professional component"),),
                    quantity=Quantity(value=2, unit="1", code="1", system=_UCUM),
                    unit_charge=Money(amount=Decimal("50.00"), currency=usd),
                    total_charge=Money(amount=Decimal("100.00"), currency=usd),
                    service_date=date(2024, 3, 14),
                    posted_at=_at(22),
                    department=CodedConcept(code="RAD-1", display="Radiology"),
                    performing_provider=_DOCTOR,
                    diagnosis_codes=(_coded("29857009", "Chest pain", _SNOMED),),
                ),
                ClaimLine(sequence=2, transaction_type="CG", procedure_code=CodedConcept(original_code="626.2"),
                          quantity=Quantity(value=1), total_charge=Money(amount=Decimal("120.1234"))),
            ),
            total=Money(amount=Decimal("220.1234"), currency=usd),
            currency=usd,
        ),
    )


_BUILDERS: Final[dict[str, Callable[[], Event]]] = {
    "patient": _patient,
    "encounter": _encounter,
    "order": _order,
    "result": _result,
    "referral": _referral,
    "claim": _claim,
}


def example_event(domain: str) -> Event:
    """A populated synthetic event of `domain`, the same on every call."""
    builder = _BUILDERS.get(domain)
    if builder is None:
        raise ValueError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    return builder()
