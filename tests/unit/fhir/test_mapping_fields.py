"""Field-by-field checks of the FHIR -> canonical mapping on real samples, and the decision tables."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from carebus.events import (
    ClaimEvent,
    CodedConcept,
    CodedValue,
    DateTimeValue,
    EncounterEvent,
    Identifier,
    NumericRangeValue,
    OrderEvent,
    PatientEvent,
    QuantityValue,
    ReferralEvent,
    ResultEvent,
    StringValue,
)
from producers.fhir._json import loads
from producers.fhir.errors import InvalidResourceError, UnmappableResourceError
from producers.fhir.mapping import EntryInput, map_bundle, map_entries, map_resource
from tests.unit.fhir.fakes import BASE_URL, RECEIVED_AT, context, iter_ndjson, read_sample


def _one(resource: dict[str, Any], **options: Any) -> Any:
    (event,) = map_resource(resource, context(), **options)
    return event


# --- Patient ---------------------------------------------------------------------------------------------


def test_patient_example_field_by_field() -> None:
    event = _one(read_sample("r4ex__Patient-example.json"))
    assert isinstance(event, PatientEvent)
    envelope, patient = event.envelope, event.payload
    assert envelope.event_type == "patient.upserted"
    assert envelope.event_id == "00000000-0000-0000-0000-000000000001"
    assert envelope.source.system == "test-client"
    assert envelope.source.message_type == "Patient/create"
    assert envelope.recorded_at == envelope.occurred_at == RECEIVED_AT  # no meta.lastUpdated
    # Patient.identifier: the MR-typed identifier is the subject; the logical id is listed too.
    assert envelope.subject.source_patient_id == "urn:oid:1.2.36.146.595.217.0.1|12345"
    assert envelope.subject.source_identifiers[-1] == Identifier(system=BASE_URL, value="Patient/example")
    (mrn,) = patient.identifiers
    assert (mrn.value, mrn.system, mrn.type_code, mrn.assigner) == ("12345", "urn:oid:1.2.36.146.595.217.0.1",
                                                                      "MR", "Acme Healthcare")
    assert mrn.period is not None and mrn.period.start == datetime(2001, 5, 6, tzinfo=UTC)
    assert patient.active is True
    assert [(name.use, name.family, name.given) for name in patient.names] == [
        ("official", "Chalmers", ("Peter", "James")), ("usual", None, ("Jim",)),
        ("maiden", "Windsor", ("Peter", "James"))]
    assert patient.names[2].period is not None and patient.names[2].period.end == datetime(2002, 1, 1, tzinfo=UTC)
    assert patient.birth_date == date(1974, 12, 25)
    assert patient.birth_time == datetime(1974, 12, 25, 19, 35, 45, tzinfo=UTC)  # 14:35:45-05:00
    assert patient.administrative_sex == "male"
    assert patient.deceased is False
    (home,) = patient.addresses
    assert (home.use, home.type, home.lines, home.city, home.district, home.state, home.postal_code) == (
        "home", "both", ("534 Erewhon St",), "PleasantVille", "Rainbow", "Vic", "3999")
    # The telecom without a value is skipped; the rest keep system/use/rank.
    assert [(item.system, item.value, item.use, item.rank) for item in patient.telecom] == [
        ("phone", "(03) 5555 6473", "work", 1), ("phone", "(03) 3410 5613", "mobile", 2),
        ("phone", "(03) 5555 8834", "old", None)]


def test_synthea_patient_us_core_race_and_ethnicity() -> None:
    event = _one(loads(next(iter_ndjson("sbfd__Patient.000.ndjson"))))
    assert [(race.code, race.system) for race in event.payload.races] == [("2106-3", "urn:oid:2.16.840.1.113883.6.238")]
    assert [eth.code for eth in event.payload.ethnicities] == ["2186-5"]
    # Synthea's first identifier is untyped; the MR-typed one is chosen as the subject.
    assert event.envelope.subject.source_patient_id.startswith("http://hospital.smarthealthit.org|")


def test_patient_subject_rules() -> None:
    base = {"resourceType": "Patient", "id": "p1"}
    assert _one(base).envelope.subject.source_patient_id == f"{BASE_URL}|Patient/p1"
    typed = {**base, "identifier": [
        {"system": "urn:ssn", "value": "000", "type": {"coding": [{"code": "SS"}]}},
        {"system": "urn:old", "value": "OLD", "use": "old", "type": {"coding": [{"code": "MR"}]}},
        {"system": "urn:mrn", "value": "M1", "type": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}},
    ]}
    assert _one(typed).envelope.subject.source_patient_id == "urn:mrn|M1"
    official = {**base, "identifier": [{"system": "urn:a", "value": "A"},
                                       {"system": "urn:b", "value": "B", "use": "official"}]}
    assert _one(official).envelope.subject.source_patient_id == "urn:b|B"
    no_system = {**base, "identifier": [{"value": "X"}]}
    assert _one(no_system).envelope.subject.source_patient_id == f"{BASE_URL}|Patient/p1"


def test_patient_merge_partial_birth_date_and_restricted_label() -> None:
    event = _one({"resourceType": "Patient", "id": "p2", "birthDate": "1974-12",
                  "meta": {"lastUpdated": "2024-01-02T03:04:05+01:00",
                           "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                         "code": "PSY"}]},
                  "deceasedDateTime": "2020-05-01T10:00:00Z", "multipleBirthInteger": 2,
                  "link": [{"type": "replaces", "other": {"reference": "Patient/old",
                                                          "identifier": {"system": "urn:mrn", "value": "M9"}}}]})
    assert event.envelope.event_type == "patient.merged"
    assert event.payload.links[0].type == "replaces"
    assert event.payload.links[0].identifier == Identifier(system="urn:mrn", value="M9")
    assert event.payload.birth_date is None  # partial: no day to give
    assert (event.payload.deceased, event.payload.deceased_at) == (True, datetime(2020, 5, 1, 10, tzinfo=UTC))
    assert (event.payload.multiple_birth, event.payload.birth_order) == (None, 2)
    assert event.envelope.recorded_at == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert event.envelope.data_classification == "restricted"


def test_patient_gender_outside_the_value_set_is_invalid() -> None:
    with pytest.raises(InvalidResourceError) as caught:
        map_resource({"resourceType": "Patient", "gender": "F"}, context())
    (issue,) = caught.value.issues
    assert (issue.code, issue.expression) == ("code-invalid", "Patient.gender")
    assert "F" not in str(caught.value).split(":")[-1]


# --- Encounter -------------------------------------------------------------------------------------------


def test_encounter_f001_field_by_field() -> None:
    event = _one(read_sample("r4ex__Encounter-f001.json"))
    assert isinstance(event, EncounterEvent)
    encounter = event.payload
    assert event.envelope.event_type == "encounter.ended"
    assert event.envelope.subject.source_patient_id == f"{BASE_URL}|Patient/f001"
    assert encounter.visit_number == Identifier(system="http://www.amc.nl/zorgportal/identifiers/visits",
                                                value="v1451")
    assert encounter.status == "finished"
    assert encounter.encounter_class is not None
    assert (encounter.encounter_class.code, encounter.encounter_class.system) == (
        "AMB", "http://terminology.hl7.org/CodeSystem/v3-ActCode")
    assert encounter.admission_type is not None and encounter.admission_type.code == "270427003"
    assert encounter.attending is not None  # the untyped participant
    assert (encounter.attending.id, encounter.attending.id_system) == ("Practitioner/f002", BASE_URL)
    assert encounter.attending.name is not None and encounter.attending.name.text == "P. Voigt"
    assert encounter.admit_source is not None and encounter.admit_source.code == "305956004"
    assert encounter.discharge_disposition is not None and encounter.discharge_disposition.code == "306689006"
    assert [code.code for code in encounter.reason_codes] == ["34068001"]
    assert encounter.facility is not None and encounter.facility.name == "Burgers University Medical Center"


ENCOUNTER_TABLE = [
    ("planned", "create", "encounter.planned"),
    ("arrived", "create", "encounter.started"),
    ("triaged", "create", "encounter.started"),
    ("in-progress", "create", "encounter.started"),
    ("in-progress", "update", "encounter.updated"),
    ("onleave", "create", "encounter.updated"),
    ("finished", "update", "encounter.ended"),
    ("cancelled", "create", "encounter.cancelled"),
    ("entered-in-error", "update", "encounter.cancelled"),
    ("unknown", "create", "encounter.updated"),
]


@pytest.mark.parametrize(("status", "interaction", "event_type"), ENCOUNTER_TABLE)
def test_encounter_event_type_table(status: str, interaction: str, event_type: str) -> None:
    resource = {"resourceType": "Encounter", "id": "e1", "status": status,
                "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                "period": {"start": "2024-01-01T08:00:00Z", "end": "2024-01-01T10:00:00Z"},
                "participant": [
                    {"type": [{"coding": [{"code": "ADM"}]}], "individual": {"reference": "Practitioner/a"}},
                    {"type": [{"coding": [{"code": "ATND"}]}], "individual": {"reference": "Practitioner/b"}},
                ],
                "location": [{"location": {"display": "Ward 1"}, "status": "completed"},
                             {"location": {"display": "Ward 2"}, "status": "active"}]}
    event = _one(resource, interaction=interaction)
    assert event.envelope.event_type == event_type
    assert event.payload.attending.id == "Practitioner/b"
    assert event.payload.admitting.id == "Practitioner/a"
    assert (event.payload.location.description, event.payload.prior_location.description) == ("Ward 2", "Ward 1")
    expected_time = datetime(2024, 1, 1, 10 if status == "finished" else 8, tzinfo=UTC)
    assert event.envelope.occurred_at == expected_time


# --- ServiceRequest: orders and referrals ----------------------------------------------------------------


def test_service_request_di_field_by_field() -> None:
    event = _one(read_sample("r4ex__ServiceRequest-di.json"))
    assert isinstance(event, OrderEvent)
    order = event.payload
    assert event.envelope.event_type == "order.placed"
    assert order.code is not None and (order.code.code, order.code.text) == ("24627-2", "Chest CT")
    assert (order.status, order.intent, order.order_control) == ("active", "original-order", None)
    assert order.requested_period is not None
    assert order.requested_period.start == datetime(2013, 5, 8, 2, 33, 27, tzinfo=UTC)  # 09:33:27+07:00
    assert order.requester is not None and order.requester.name is not None
    assert order.requester.name.text == "Dr. Adam Careful"
    assert [reason.text for reason in order.reason_codes] == ["Check for metastatic disease"]


ORDER_TABLE = [
    ("active", "create", "order.placed"),
    ("active", "update", "order.updated"),
    ("draft", "create", "order.status-changed"),
    ("on-hold", "update", "order.status-changed"),
    ("completed", "update", "order.status-changed"),
    ("unknown", "create", "order.status-changed"),
    ("revoked", "create", "order.cancelled"),
    ("entered-in-error", "update", "order.cancelled"),
]


@pytest.mark.parametrize(("status", "interaction", "event_type"), ORDER_TABLE)
def test_order_event_type_table(status: str, interaction: str, event_type: str) -> None:
    resource = {"resourceType": "ServiceRequest", "status": status, "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                     "code": "PLAC"}]}, "system": "urn:placer", "value": "P1"},
                               {"type": {"coding": [{"code": "FILL"}]}, "system": "urn:filler", "value": "F1"}]}
    event = _one(resource, interaction=interaction)
    assert event.envelope.event_type == event_type
    assert event.payload.placer_order_number == Identifier(system="urn:placer", value="P1", type_code="PLAC")
    assert event.payload.filler_order_number == Identifier(system="urn:filler", value="F1", type_code="FILL")


def test_a_proposal_that_is_not_a_referral_orders_nothing() -> None:
    with pytest.raises(UnmappableResourceError) as caught:
        map_resource({"resourceType": "ServiceRequest", "status": "active", "intent": "proposal",
                      "subject": {"reference": "Patient/p1"}}, context())
    assert caught.value.issues[0].expression == "ServiceRequest.intent"
    assert caught.value.issues[0].code == "business-rule"


@pytest.mark.parametrize(("status", "interaction", "event_type"), [
    ("active", "create", "referral.requested"), ("draft", "create", "referral.requested"),
    ("active", "update", "referral.updated"), ("revoked", "create", "referral.cancelled"),
    ("entered-in-error", "update", "referral.cancelled"),
])
def test_snomed_referral_category_makes_a_referral(status: str, interaction: str, event_type: str) -> None:
    resource = {"resourceType": "ServiceRequest", "status": status, "intent": "proposal",
                "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]},
                             {"coding": [{"system": "urn:local", "code": "cardio"}]}],
                "code": {"text": "Cardiology consult"}, "subject": {"reference": "Patient/p1"},
                "performer": [{"reference": "Organization/clinic", "display": "Heart Clinic"}],
                "occurrencePeriod": {"start": "2024-02-01", "end": "2024-05-01"}}
    event = _one(resource, interaction=interaction)
    assert isinstance(event, ReferralEvent)
    assert event.envelope.event_type == event_type
    referral = event.payload
    assert referral.referral_type is not None and referral.referral_type.code == "cardio"
    assert referral.requested_service is not None and referral.requested_service.text == "Cardiology consult"
    assert referral.recipient_organization is not None and referral.recipient_organization.name == "Heart Clinic"
    assert referral.period is not None and referral.period.end == datetime(2024, 5, 1, tzinfo=UTC)


def test_msfc_ref_i12_referral_field_by_field() -> None:
    units = map_bundle(read_sample("msfc__REF-I12-01-expected.json"), context())
    (event,) = [event for unit in units for event in unit.events if isinstance(event, ReferralEvent)]
    referral = event.payload
    assert event.envelope.event_type == "referral.updated"  # a PUT entry
    assert event.envelope.subject.source_patient_id == (
        "http://example.com/v2-to-fhir-converter/Identifier/ADT1|PATID1234")  # resolved to the Bundle's Patient
    assert referral.referral_identifier is not None and referral.referral_identifier.value == "226839"
    assert [item.value for item in referral.identifiers] == ["11001"]
    assert (referral.status, referral.priority) == ("on-hold", "routine")
    assert referral.referral_type is not None and referral.referral_type.code == "Med"
    assert referral.requester is not None and referral.requester.id == "PLN1001"  # from the PractitionerRole
    assert referral.requester.role is not None and referral.requester.role.code == "RP"


# --- Observation and DiagnosticReport --------------------------------------------------------------------


def test_observation_f001_field_by_field() -> None:
    event = _one(read_sample("r4ex__Observation-f001.json"))
    assert isinstance(event, ResultEvent)
    result = event.payload
    (obs,) = result.observations
    assert event.envelope.event_type == "result.finalized"
    assert event.envelope.occurred_at == datetime(2013, 4, 2, 8, 30, 10, tzinfo=UTC)
    assert result.issued_at == datetime(2013, 4, 3, 14, 30, 10, tzinfo=UTC)
    assert obs.code is not None and (obs.code.code, obs.code.system) == ("15074-8", "http://loinc.org")
    assert isinstance(obs.value, QuantityValue)
    quantity = obs.value.quantity
    assert (quantity.value, quantity.unit, quantity.code, quantity.system, quantity.value_text) == (
        6.3, "mmol/l", "mmol/L", "http://unitsofmeasure.org", "6.3")
    assert obs.reference_range is not None and (obs.reference_range.low, obs.reference_range.high) == (3.1, 6.2)
    assert obs.abnormal_flags == ("H",) and obs.critical is False
    assert obs.identifier is not None and obs.identifier.value == "6323"
    assert obs.performer is not None and obs.performer.id == "Practitioner/f005"
    assert (obs.status, obs.set_id, obs.value_type) == ("final", 1, None)


def test_blood_pressure_components_and_based_on_identifier() -> None:
    event = _one(read_sample("r4ex__Observation-blood-pressure.json"))
    (obs,) = event.payload.observations
    assert [(component.code.code, component.value.quantity.value) for component in obs.components] == [
        ("8480-6", 107.0), ("8462-4", 60.0)]
    assert [flag.code for flag in obs.components[1].interpretations] == ["L"]
    assert event.payload.placer_order_number == Identifier(system="https://acme.org/identifiers", value="1234")
    assert event.payload.category[0].code == "vital-signs"
    assert event.envelope.occurred_at == datetime(2012, 9, 17, tzinfo=UTC)  # a date: midnight UTC


def test_lipids_collection_folds_its_observations_into_the_report() -> None:
    (unit,) = map_bundle(read_sample("r4ex__Bundle-lipids.json"), context())
    assert unit.entries == (0, 1, 2, 3, 4)
    (event,) = unit.events
    report = event.payload
    assert event.envelope.subject.source_patient_id == "https://example.com/base|Patient/pat2"
    assert report.report_identifier is not None and report.report_identifier.value == "5234342"
    assert [obs.code.code for obs in report.observations] == ["35200-5", "35217-9", "2085-9", "13457-7"]
    assert [obs.set_id for obs in report.observations] == [1, 2, 3, 4]
    assert report.performing_organization is not None
    assert report.performing_organization.name == "Acme Laboratory, Inc"  # read from the contained Organization
    assert report.category[0].code == "HM"


def test_a_report_keeps_unreadable_results_as_stubs() -> None:
    event = _one(read_sample("r4ex__DiagnosticReport-example-pgx.json"))
    (stub,) = event.payload.observations
    assert stub.identifier == Identifier(system=BASE_URL, value="Observation/example-phenotype")
    assert stub.code is None and stub.value is None
    assert event.payload.placer_order_number == Identifier(system=BASE_URL, value="ServiceRequest/example-pgx")
    assert event.payload.performing_organization is not None
    assert event.payload.performing_organization.id == "Organization/4829"


RESULT_TABLE = [
    ("registered", "result.preliminary"), ("partial", "result.preliminary"), ("preliminary", "result.preliminary"),
    ("unknown", "result.preliminary"), ("final", "result.finalized"), ("amended", "result.corrected"),
    ("corrected", "result.corrected"), ("appended", "result.corrected"), ("cancelled", "result.cancelled"),
    ("entered-in-error", "result.retracted"),
]


@pytest.mark.parametrize(("status", "event_type"), RESULT_TABLE)
def test_report_event_type_table(status: str, event_type: str) -> None:
    event = _one({"resourceType": "DiagnosticReport", "status": status, "code": {"text": "panel"},
                  "subject": {"reference": "Patient/p1"}})
    assert event.envelope.event_type == event_type
    assert event.payload.status == status


@pytest.mark.parametrize(("status", "event_type"), [row for row in RESULT_TABLE
                                                    if row[0] not in ("partial", "appended")])
def test_observation_event_type_table(status: str, event_type: str) -> None:
    event = _one({"resourceType": "Observation", "status": status, "code": {"text": "x"}})
    assert event.envelope.event_type == event_type
    assert event.envelope.subject.source_patient_id is None  # no subject: no key


def test_observation_value_kinds() -> None:
    def value_of(**element: Any) -> Any:
        return _one({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     **element}).payload.observations[0].value

    exact = value_of(valueQuantity={"value": Decimal("1.50"), "comparator": "<", "unit": "mg"})
    assert isinstance(exact, QuantityValue)
    assert (exact.quantity.value, exact.quantity.value_text, exact.quantity.comparator) == (1.5, "1.50", "<")
    assert value_of(valueCodeableConcept={"coding": [{"code": "260385009"}]}) == CodedValue(
        concept=_concept("260385009"))
    assert value_of(valueString="hemolyzed") == StringValue(value="hemolyzed")
    assert value_of(valueBoolean=False) == StringValue(value="false")
    assert value_of(valueInteger=3).quantity.value == 3.0
    assert value_of(valueRange={"low": {"value": 1}, "high": {"value": 10}}) == NumericRangeValue(
        low=1.0, separator="-", high=10.0)
    assert value_of(valueRatio={"numerator": {"value": 1}, "denominator": {"value": 128}}) == NumericRangeValue(
        low=1.0, separator=":", high=128.0)
    assert value_of(valueDateTime="2020-03") == DateTimeValue(value=datetime(2020, 3, 1, tzinfo=UTC), text="2020-03")
    assert value_of(valueTime="10:30:00") == StringValue(value="10:30:00")
    assert value_of(valuePeriod={"start": "2020-01-01T00:00:00Z"}).value == datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(UnmappableResourceError) as caught:
        value_of(valueSampledData={"origin": {"value": 0}, "period": 1, "dimensions": 1, "data": "1 2"})
    assert caught.value.issues[0].expression == "Observation.valueSampledData"


def _concept(code: str) -> CodedConcept:
    return CodedConcept(code=code, original_code=code)


def test_critical_flags() -> None:
    event = _one({"resourceType": "Observation", "status": "final", "code": {"text": "K"},
                  "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                            "v3-ObservationInterpretation", "code": "HH"}]}]})
    assert event.payload.observations[0].critical is True


def test_invalid_folded_observation_fails_the_report_at_its_entry() -> None:
    bundle = copy.deepcopy(read_sample("r4ex__Bundle-lipids.json"))
    bundle["entry"][2]["resource"]["status"] = "done"
    (unit,) = map_bundle(bundle, context())
    assert isinstance(unit.error, InvalidResourceError)
    assert [issue.expression for issue in unit.error.issues] == ["Bundle.entry[2].resource.status"]
    assert unit.events == ()


def test_contained_observation_error_is_located_in_the_report() -> None:
    report = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "x"},
              "contained": [{"resourceType": "Observation", "id": "o1", "status": "bogus", "code": {"text": "y"}}],
              "result": [{"reference": "#o1"}]}
    with pytest.raises(InvalidResourceError) as caught:
        map_resource(report, context())
    assert caught.value.issues[0].expression == "DiagnosticReport.contained[0].status"


# --- Claim -----------------------------------------------------------------------------------------------


def test_claim_med_00050_field_by_field() -> None:
    event = _one(read_sample("r4ex__Claim-MED-00050.json"))
    assert isinstance(event, ClaimEvent)
    claim = event.payload
    assert event.envelope.event_type == "claim.submitted"
    assert event.envelope.subject.source_patient_id is None  # a contained Patient with no identifier
    assert claim.claim_identifier == Identifier(system="http://CedarArmsMedicalCenter.com/claim", value="MED-00050")
    assert claim.claim_type is not None and claim.claim_type.code == "institutional"
    assert claim.created_at == datetime(2015, 10, 16, 7, tzinfo=UTC)
    assert claim.payer is not None and (claim.payer.id, claim.payer.name) == ("123456", "Humana Inc.")
    (coverage,) = claim.coverages
    assert (coverage.sequence, coverage.group_number) == (1, "80902206")
    assert coverage.member_id is not None and coverage.member_id.value == "10138556"
    assert [diagnosis.code.code for diagnosis in claim.diagnoses] == ["M96.1", "G89.4", "M53.88", "M47.816"]
    line = claim.lines[0]
    assert line.procedure_code is not None and line.procedure_code.code == "62264"
    assert [code.code for code in line.diagnosis_codes] == ["G89.4", "M47.816"]  # diagnosisSequence 2, 4
    assert line.service_date == date(2015, 10, 13)


def test_claim_100150_money_and_status_table() -> None:
    claim = read_sample("r4ex__Claim-100150.json")
    event = _one(claim)
    line = event.payload.lines[0]
    assert line.unit_charge is not None and line.unit_charge.amount == Decimal("135.57")
    assert line.total_charge is not None and line.total_charge.currency == "USD"
    assert event.payload.currency == "USD"
    assert event.envelope.subject.source_patient_id == f"{BASE_URL}|Patient/1"
    assert _one({**claim, "status": "draft"}).envelope.event_type == "claim.updated"
    assert _one(claim, interaction="update").envelope.event_type == "claim.updated"
    assert _one({**claim, "status": "cancelled"}).envelope.event_type == "claim.cancelled"


def test_claim_money_finer_than_the_contract_is_rejected_not_rounded() -> None:
    claim = read_sample("r4ex__Claim-100150.json")
    claim["item"][0]["net"] = {"value": Decimal("1.00005"), "currency": "USD"}
    with pytest.raises(UnmappableResourceError) as caught:
        map_resource(claim, context())
    assert caught.value.issues[0].expression == "Claim.item[0].net.value"


@pytest.mark.parametrize("resource", [
    {"resourceType": "Patient", "deceasedDateTime": "9999-12-31T23:59:59-14:00"},
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
     "valueQuantity": {"value": Decimal("1E+400")}},
    {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
     "referenceRange": [{"low": {"value": Decimal("-1E+400")}}]},
])
def test_values_outside_the_contract_are_refused_not_distorted(resource: dict[str, Any]) -> None:
    with pytest.raises(UnmappableResourceError) as caught:
        map_resource(resource, context())
    assert caught.value.issues[0].expression == resource["resourceType"]


# --- references across a Bundle --------------------------------------------------------------------------


def test_urn_references_resolve_to_the_bundle_patient() -> None:
    patient = {"resourceType": "Patient", "id": "assigned-1",
               "identifier": [{"system": "urn:mrn", "value": "M5", "type": {"coding": [{"code": "MR"}]}}]}
    encounter = {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "IMP"},
                 "subject": {"reference": "urn:uuid:7b8b2d3a-0000-4000-8000-000000000001"}}
    units = map_entries([EntryInput(0, patient, full_url="urn:uuid:7b8b2d3a-0000-4000-8000-000000000001"),
                         EntryInput(1, encounter)], context())
    keys = {event.envelope.subject.source_patient_id for unit in units for event in unit.events}
    assert keys == {"urn:mrn|M5"}  # one key for the whole Bundle


def test_reference_identifier_beats_the_literal_reference() -> None:
    event = _one({"resourceType": "Encounter", "status": "planned", "class": {"code": "AMB"},
                  "subject": {"reference": "Patient/9", "identifier": {"system": "urn:mrn", "value": "M9"}}})
    assert event.envelope.subject.source_patient_id == "urn:mrn|M9"
    assert {item.value for item in event.envelope.subject.source_identifiers} == {"M9", "Patient/9"}


def test_absolute_reference_uses_its_own_base_and_groups_are_not_patients() -> None:
    event = _one({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "subject": {"reference": "https://other.example/fhir/Patient/42/_history/3"}})
    assert event.envelope.subject.source_patient_id == "https://other.example/fhir|Patient/42"
    group = _one({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "subject": {"reference": "Group/g1"}})
    assert group.envelope.subject.source_patient_id is None


def test_mapping_is_pure_same_input_same_events() -> None:
    sample = read_sample("r4ex__Bundle-lipids.json")
    first = map_bundle(sample, context())
    second = map_bundle(sample, context())
    assert first == second

