"""Field-by-field checks of mapped samples against the messages themselves (the expected values are read off the
sample text; each assertion names the field it comes from)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from carebus.events import (
    ClaimEvent,
    CodedValue,
    EncounterEvent,
    NumericRangeValue,
    OrderEvent,
    PatientEvent,
    QuantityValue,
    ReferralEvent,
    ResultEvent,
    StringValue,
)
from tests.unit.hl7v2.test_mapping import edit, lines_of, map_bytes, message_of

Reader = Callable[[str], bytes]
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


# --- msfc__ORU-R01-01 ----------------------------------------------------------------------------


def test_oru_r01_01_report(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("msfc__ORU-R01-01.hl7"))
    assert isinstance(event, ResultEvent)
    assert event.envelope.event_type == "result.finalized"  # OBR-25 F
    assert event.envelope.subject.source_patient_id == "IA PHIMS Stage|14"  # PID-3 CX.1, CX.4.1 (type PI)
    report = event.payload
    assert (report.status, report.status_original) == ("final", "F")
    assert report.placer_order_number is not None and report.placer_order_number.value == "845439"  # OBR-2
    assert report.placer_order_number.system == "GHH OE"
    assert report.filler_order_number is not None and report.filler_order_number.value == "986"  # ORC-3
    assert report.code is not None and report.code.code == "625-4" and report.code.original_system == "XYZ"
    assert report.code.text == "Enteric Culture"  # OBR-4 CWE.9
    assert [c.code for c in report.category] == ["BLB"]  # OBR-24
    assert report.effective_at == datetime(2002, 2, 15, 5, 15, tzinfo=UTC)  # OBR-7 200202150730+0215
    assert report.issued_at == datetime(2002, 3, 15, 5, 15, tzinfo=UTC)  # OBR-22
    assert event.envelope.occurred_at == report.issued_at
    assert report.notes[0].endswith("E.coli O157:H7 & other STECs, and Aeromonas")  # NTE, \T\ unescaped
    assert report.notes[1] == "Allergy to peanuts observed."
    (spm,) = report.specimens
    assert spm.identifier is not None and spm.identifier.value == "2012999999"  # SPM-2.2 filler
    assert spm.type is not None and spm.type.code == "ASERU"  # SPM-4
    assert spm.collected_at == datetime(2011, 1, 3, 22, 34, 28, tzinfo=UTC)  # SPM-17.1 -0800
    assert spm.collection_end == datetime(2011, 11, 3, 22, 34, 28, tzinfo=UTC)  # SPM-17.2
    assert report.performing_organization is not None
    assert report.performing_organization.name == "State Hygienic Laboratory"  # OBX-23 XON.1


def test_oru_r01_01_observations(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("msfc__ORU-R01-01.hl7"))
    document, culture, pointer, count = event.payload.observations  # the patient-level OBX (before ORC) is not one
    assert (document.value_type, document.value) == ("ED", None)  # no attachment branch in the contract
    assert culture.code is not None and culture.code.code == "625-4"  # OBX-3
    assert isinstance(culture.value, CodedValue)  # OBX-2 CWE
    assert (culture.value.concept.code, culture.value.concept.system) == ("27268008", SNOMED)
    assert culture.value.concept.display == "Salmonella"
    assert culture.units is not None and culture.units.code == "beats/min"  # OBX-6
    assert culture.reference_range is not None  # OBX-7 70-80
    assert (culture.reference_range.text, culture.reference_range.low, culture.reference_range.high) == (
        "70-80", 70.0, 80.0)
    assert culture.abnormal_flags == ("A",)  # OBX-8 A^A^HL70078
    assert [(i.code, i.system, i.original_system) for i in culture.interpretations] == [
        ("A", INTERPRETATION, "HL70078")]
    assert culture.critical is False
    assert (culture.status, culture.status_original) == ("preliminary", "P")  # OBX-11
    assert culture.observed_at == datetime(2012, 3, 1, tzinfo=UTC)  # OBX-14 (a date)
    assert culture.analyzed_at == datetime(2012, 3, 14, 9, 57, tzinfo=UTC)  # OBX-19
    assert culture.performer is not None and culture.performer.id == "1134"  # OBX-16
    assert culture.performer.name is not None and culture.performer.name.family == "Aly"
    assert culture.method is not None and culture.method.text == "Bacterial Culture"  # OBX-17 CWE.9
    assert culture.identifier is not None and culture.identifier.value == "EI21"  # OBX-21
    assert culture.notes == ("Submission of serum", "No Antibodies Detected")  # NTE after the OBX
    assert pointer.value == StringValue(value="https://testurl.com")  # OBX-2 RP
    assert (pointer.status, count.status) == ("registered", "registered")  # OBX-11 O, I
    assert isinstance(count.value, QuantityValue) and count.value.quantity.value == 27.0  # OBX-5 27~25
    assert [c.value for c in count.components] == [
        QuantityValue.model_validate({"quantity": {"value": 25.0, "value_text": "25"}})]


# --- msfc__ADT-A01-01 ----------------------------------------------------------------------------


def test_adt_a01_01_encounter(read_sample: Reader) -> None:
    patient, visit = map_bytes(read_sample("msfc__ADT-A01-01.hl7"))
    assert isinstance(patient, PatientEvent) and isinstance(visit, EncounterEvent)
    encounter = visit.payload
    assert encounter.status == "in-progress"  # A01, although PV1-2 is P
    assert encounter.encounter_class is not None
    assert (encounter.encounter_class.code, encounter.encounter_class.original_code) == ("PRENC", "P")
    location = encounter.location  # PV1-3 HUH AE OMU&9.8&ISO^OMU B^Bed 03^HOMERTON UNIVER^^C^Homerton UH^Floor5
    assert location is not None
    assert (location.point_of_care, location.room, location.bed, location.facility) == (
        "HUH AE OMU", "OMU B", "Bed 03", "HOMERTON UNIVER")
    assert (location.building, location.floor, location.status) == ("Homerton UH", "Floor5", "active")
    assert encounter.prior_location is not None and encounter.prior_location.room == "136"  # PV1-6
    attending = encounter.attending  # PV1-7 1122334^Alaz^Mohammed^Mahi^JR^Dr.^MD^^PERSONNELt&1.23&HCD^B...
    assert attending is not None and attending.id == "1122334"
    assert attending.name is not None and attending.name.family == "Alaz"
    assert attending.name.given == ("Mohammed", "Mahi")
    assert (attending.name.prefixes, attending.name.suffixes) == (("Dr.",), ("JR", "MD"))
    assert encounter.referring is not None and encounter.referring.id == "C006"  # PV1-8
    assert [c.id for c in encounter.consulting] == ["C008"]  # PV1-9
    assert encounter.admitting is not None and encounter.admitting.id == "37"  # PV1-17
    assert encounter.visit_number is not None and encounter.visit_number.value == "40007716"  # PV1-19
    assert encounter.account_number is not None and encounter.account_number.value == "4000776"  # PID-18
    assert encounter.period is not None  # PV1-44 20150208113419+0110
    assert encounter.period.start == datetime(2015, 2, 8, 10, 24, 19, tzinfo=UTC) and encounter.period.end is None
    assert encounter.hospital_service is not None and encounter.hospital_service.code == "SUR"  # PV1-10
    assert [r.code for r in encounter.reason_codes] == ["140004"]  # PV2-3
    assert [d.code.code for d in encounter.diagnoses] == ["422504002"]  # DG1-3


def test_adt_a01_01_patient(read_sample: Reader) -> None:
    (event, _) = map_bytes(read_sample("msfc__ADT-A01-01.hl7"))
    patient = event.payload
    assert event.envelope.subject.source_patient_id == "test1|PATID1234"  # the MR repetition of PID-3
    assert [(i.value, i.type_code) for i in patient.identifiers] == [
        ("PATID1234", "MR"), ("123456789", "SS"), ("1234567", "MR"), ("PATID567", None),  # PID-3, PID-2, PID-4
        ("PSSN123121234", "SS"), ("DLN-123", "DL")]  # PID-19, PID-20
    assert patient.names[0].family == "EVERYMAN" and patient.names[0].use == "usual"  # XPN.7 D
    assert patient.names[0].given == ("ADAM", "A") and patient.names[0].suffixes == ("III", "MD", "PF")
    assert patient.names[1].use == "nickname" and patient.names[1].given == ("Addsm",)  # XPN.15
    assert patient.names[2].family == "Josh" and patient.names[2].use == "official"  # XPN.7 L
    assert patient.birth_date == date(1988, 8, 18)  # PID-7 198808181126+0215
    assert patient.birth_time == datetime(1988, 8, 18, 9, 11, tzinfo=UTC)
    assert patient.administrative_sex == "male"  # PID-8
    (home,) = patient.addresses
    assert home.lines == ("1000 Hospital Lane", "Ste. 123") and home.city == "Ann Arbor"  # PID-11
    assert home.district == "GL"  # PID-12
    assert patient.marital_status is not None and patient.marital_status.code == "M"  # PID-16
    assert [r.code for r in patient.races] == ["2106-3", "2028-9"]  # PID-10
    assert (patient.deceased, patient.multiple_birth, patient.birth_order) == (True, False, 2)  # PID-30, 24, 25
    assert [t.use for t in patient.telecom][-1] == "work"  # PID-40 WPN
    assert patient.telecom[-1].system == "email"  # PID-40 Internet


# --- msfc__DFT-P03-01 ----------------------------------------------------------------------------


def test_dft_p03_01_charges_are_exact_decimals(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("msfc__DFT-P03-01.hl7"))
    assert isinstance(event, ClaimEvent) and event.envelope.event_type == "claim.submitted"
    claim = event.payload
    first, second = claim.lines
    assert first.unit_charge is not None and first.total_charge is not None
    assert (first.unit_charge.amount, first.unit_charge.currency) == (Decimal("50"), "USD")  # FT1-12 50&USD
    assert (first.total_charge.amount, first.total_charge.currency) == (Decimal("100"), "USD")  # FT1-11 100&USD
    assert isinstance(first.total_charge.amount, Decimal)
    assert first.quantity is not None and first.quantity.value == 2  # FT1-10
    assert first.procedure_code is not None and first.procedure_code.code == "71045"  # FT1-7
    assert first.procedure_code.system == "http://www.ama-assn.org/go/cpt"  # C4
    assert first.transaction_type == "CG" and first.service_date == date(2019, 11, 22)  # FT1-6, FT1-4
    assert first.transaction_identifier is not None and first.transaction_identifier.value == "12345"  # FT1-2
    assert [m.code for m in first.modifiers] == ["26"]  # FT1-26
    assert first.performing_provider is not None and first.performing_provider.id == "9941339108"  # FT1-20
    assert first.performing_provider.id_system == "http://hl7.org/fhir/sid/us-npi"
    assert [c.code for c in first.diagnosis_codes] == ["29857009", "68235000"]  # FT1-19
    assert second.total_charge is not None and second.total_charge.amount == Decimal("120")
    assert second.procedure_code is not None and second.procedure_code.original_code == "626.2"
    assert second.unit_charge is None
    assert claim.total is not None and (claim.total.amount, claim.total.currency) == (Decimal("220"), "USD")
    assert claim.currency == "USD"
    assert claim.created_at == datetime(2005, 1, 12, 22, 0, tzinfo=UTC)  # EVN-2
    assert claim.account_number is not None and claim.account_number.value == "4000776"  # PID-18
    assert [c.sequence for c in claim.coverages] == [1]  # IN1
    assert claim.payer is not None and claim.payer.name == "Blue Cross Blue Shield of Texas"  # IN1-4
    assert claim.coverages[0].member_id is not None and claim.coverages[0].member_id.value == "HMO-12345"
    assert claim.coverages[0].group_number == "Grp-12345"  # IN1-8
    assert [d.code.code for d in claim.diagnoses] == ["29857009", "68235000"]  # DG1


# --- msfc__REF-I12-01 ----------------------------------------------------------------------------


def test_ref_i12_01_referral(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("msfc__REF-I12-01.hl7"))
    assert isinstance(event, ReferralEvent) and event.envelope.event_type == "referral.requested"
    referral = event.payload
    assert referral.priority == "routine"  # RF1-2 R^Routine^HL70280
    assert (referral.status, referral.status_original) == ("on-hold", "P")  # RF1-1
    assert [(r.code, r.display) for r in referral.reason_codes] == [("O", "Provider Ordered")]  # RF1-10
    assert referral.referral_type is not None and referral.referral_type.code == "Med"  # RF1-3
    assert referral.category is not None and referral.category.code == "O"  # RF1-5
    assert referral.referral_identifier is not None and referral.referral_identifier.value == "226839"  # RF1-6
    assert [i.value for i in referral.identifiers] == ["11001"]  # RF1-11
    assert referral.authored_at == datetime(2022, 1, 25, tzinfo=UTC)  # RF1-9
    assert referral.requester is not None and referral.requester.name is not None
    assert referral.requester.name.family == "POWELL"  # PRD RP
    assert referral.recipient is not None and referral.recipient.id == "PLN5010"  # PRD RT, PRD-7
    assert referral.recipient_organization is not None
    assert referral.recipient_organization.name == "Radiant Health Hospital"  # RF1-19
    assert referral.notes == ("Referral to Specialist", "Lab test")  # RF1-24, the trailing NTE
    assert event.envelope.subject.source_patient_id == "ADT1|PATID1234"


# --- results: counting order groups --------------------------------------------------------------


def test_ca_oru_makes_one_result_per_obr(read_sample: Reader) -> None:
    raw = read_sample("cdcti__002_CA_ORU_R01.hl7")
    events = map_bytes(raw)
    obr_count = sum(1 for line in lines_of(raw) if line.startswith("OBR|"))
    obx_count = sum(1 for line in lines_of(raw) if line.startswith("OBX|"))
    assert len(events) == obr_count == 20
    assert sum(len(e.payload.observations) for e in events) == obx_count == 155
    assert [len(e.payload.observations) for e in events[:3]] == [0, 49, 13]
    codes = [e.payload.code.code if e.payload.code else None for e in events]
    assert codes[:3] == ["54089-8", "57128-1", "57717-1"]
    assert events[18].payload.code is not None and events[18].payload.code.original_code == "99717-28"  # CWE.4
    assert {e.envelope.subject.source_patient_id for e in events} == {None}  # PID-3 ^^^NPI^MR has no value
    assert all(e.payload.placer_order_number is None for e in events)  # ^FormNumber: EI.1 empty
    birthweight = events[2].payload.observations[1]  # OBX|2|NM|8339-4^Birthweight^LN|1|3035|grams
    assert isinstance(birthweight.value, QuantityValue)
    assert (birthweight.value.quantity.value, birthweight.value.quantity.unit) == (3035.0, "grams")
    time_of_birth = events[2].payload.observations[2]  # OBX-2 TM: no time-of-day branch
    assert time_of_birth.value == StringValue(value="0000")
    proline = events[4].payload.observations[17]  # 750 µmol/L, range <1500
    assert proline.reference_range is not None
    assert (proline.reference_range.low, proline.reference_range.high) == (None, 1500.0)


def test_a_group_without_obr_25_takes_its_status_from_obx_11(read_sample: Reader) -> None:
    first, second = map_bytes(read_sample("msfc__LAB-ORU-1.hl7"))
    assert (first.payload.status, first.payload.status_original) == ("final", "F")  # OBR-25 F over OBX P, I
    assert [o.status_original for o in first.payload.observations] == ["I", "P", "I", "P", "F"]
    assert second.envelope.event_type == "result.preliminary"  # OBR-25 empty, OBX-11 all P
    assert (second.payload.status, second.payload.status_original) == ("preliminary", None)
    assert first.payload.observations[0].value is None  # an empty NM


def test_tn_oru_keys_and_alternate_codes(read_sample: Reader) -> None:
    events = map_bytes(read_sample("cdcti__001_TN_ORU_R01_LRI.hl7"))
    assert len(events) == 15 and {e.payload.status for e in events} == {"preliminary"}  # OBR-25 P
    subject = events[0].envelope.subject
    assert subject.source_patient_id == "Covenant- Morristown-Hamblen Healthcare System|914193"
    assert subject.source_identifiers[0].assigner == "Covenant- Morristown-Hamblen Healthcare System"  # free text
    interpretation = events[2].payload.observations[0]  # 46762-1^...^LN^CH^...^99TNH
    assert interpretation.code is not None
    assert (interpretation.code.code, interpretation.code.system) == ("46762-1", LOINC)
    assert (interpretation.code.original_code, interpretation.code.original_system) == ("CH", "99TNH")
    assert events[0].payload.observations[0].sub_id == "^1^1"  # OBX-4 as sent


def test_epic_oru_prefers_the_loinc_alternate_and_keeps_notes_per_obx(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("cdcti__002_Epic_ORU_R01.hl7"))
    first, interpretation, reviewer = event.payload.observations
    assert first.code is not None and (first.code.code, first.code.system) == ("21668-9", LOINC)  # CWE.4-6
    assert (first.code.original_code, first.code.original_system) == ("21838", "MAYO")  # CWE.1-3
    assert first.value == StringValue(value="Negative") and first.notes == ()
    assert len(interpretation.notes) == 20  # 22 NTEs, two of them blank
    assert reviewer.notes[0] == "RESULT: Rajiv K. Pruthi, MBBS"
    assert event.envelope.subject.source_patient_id == "MAYOREFLAB|MRN"  # PID-3 `MRN`, no authority: MSH-4


def test_micro_sign_units_survive(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("cdcti__008_ORU_R01_micro_character_encoding.hl7"))
    (glycine,) = event.payload.observations
    assert isinstance(glycine.value, QuantityValue) and glycine.value.quantity.unit == "µmol/L"
    assert glycine.value.quantity.system is None  # no UCUM in OBX-6.3


# --- orders ------------------------------------------------------------------------------------


def test_epic_orm_cancel(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("cdcti__001_Epic_ORM_O01.hl7"))
    assert isinstance(event, OrderEvent) and event.envelope.event_type == "order.cancelled"  # ORC-1 CA
    order = event.payload
    assert (order.status, order.order_control, order.status_original) == ("revoked", "CA", None)
    assert order.status_reason is not None and order.status_reason.code == "NS"  # ORC-16
    assert order.priority == "routine"  # ORC-7.6 Routine
    assert order.requested_period is not None
    assert order.requested_period.start == datetime(2023, 6, 27, 12, 2, 7, tzinfo=UTC)  # ORC-7.4
    assert order.placer_order_number is not None and order.placer_order_number.value == "968906415"  # ORC-2
    assert order.requester is not None and order.requester.id == "1578594032"  # ORC-12, NPI
    assert order.ordered_at is None  # ORC-9 only for NW
    assert event.envelope.occurred_at == datetime(2023, 9, 27, 7, 10, 42, tzinfo=UTC)  # ORC-9
    assert order.specimens[0].type is not None and order.specimens[0].type.code == "URINE"  # OBR-15
    assert event.envelope.subject.source_patient_id == "MB003480|E7082628"  # PID-3 empty: PID-2


def test_orders_sharing_one_orc_and_an_order_without_orc(read_sample: Reader) -> None:
    first, second = map_bytes(read_sample("cdcti__003_MN_ORM_O01_NBS.hl7"))
    assert [e.payload.code.code for e in (first, second) if e.payload.code] == ["54089-8", "57717-1"]
    assert first.payload.placer_order_number == second.payload.placer_order_number  # the shared ORC-2
    assert first.payload.ordered_at == datetime(2023, 5, 6, 10, 29, 13, tzinfo=UTC)  # ORC-9 -0500
    (mdhhs,) = map_bytes(read_sample("msfc__MDHHS-OML-O21-1.hl7"))  # its ORC is glued into GT1
    assert (mdhhs.envelope.event_type, mdhhs.payload.status, mdhhs.payload.order_control) == (
        "order.placed", "active", None)
    assert mdhhs.payload.placer_order_number is not None
    assert mdhhs.payload.placer_order_number.value == "ORD723222"  # OBR-2
    assert mdhhs.payload.notes == ("the sky is blue",)
    assert [r.code for r in mdhhs.payload.reason_codes] == ["RFS01", "V04.5"]  # OBR-31, then the group's DG1


def test_order_status_comes_from_orc_5(read_sample: Reader) -> None:
    (tx,) = map_bytes(read_sample("cdcti__001_TX_OML_O21.hl7"))
    assert (tx.envelope.event_type, tx.payload.status, tx.payload.status_original) == (
        "order.placed", "completed", "CM")
    assert tx.payload.specimens[0].identifier is not None
    assert tx.payload.specimens[0].identifier.value == "SID20192019999"  # SPM-2.1
    (oracle,) = map_bytes(read_sample("cdcti__001_Oracle_ORM_O01.hl7"))
    assert (oracle.envelope.event_type, oracle.payload.status, oracle.payload.order_control) == (
        "order.status-changed", "unknown", "CD:2539")
    assert [c.original_code for c in oracle.payload.category] == ["CD:692"]
    assert oracle.payload.category[0].system is None  # not a table 0074 value
    (oml,) = map_bytes(read_sample("msfc__OML-O21-01.hl7"))
    assert (oml.payload.status, oml.payload.priority) == ("active", "routine")  # ORC-5 SC; TQ1-9 R


# --- placeholders --------------------------------------------------------------------------------


def test_template_placeholders_are_absent_not_errors(read_sample: Reader) -> None:
    epic_pid = next(line for line in lines_of(read_sample("cdcti__001_Epic_ORM_O01.hl7")) if line.startswith("PID"))
    base = lines_of(read_sample("msfc__ADT04-251.hl7"))
    raw = message_of([base[0], epic_pid, base[3]])  # MSH, Epic's PID (DOB, SEX, SSN), PV1
    patient, _ = map_bytes(raw)
    assert patient.payload.birth_date is None and patient.payload.birth_time is None  # PID-7 DOB
    assert patient.payload.administrative_sex is None  # PID-8 SEX
    assert "SS" not in {i.type_code for i in patient.payload.identifiers}  # PID-19 SSN
    assert patient.payload.marital_status is not None
    assert patient.payload.marital_status.original_code == "MARITAL"  # coded: kept as sent


@pytest.mark.parametrize(("pid7", "expected_date", "expected_time"), [
    ("19800202", date(1980, 2, 2), None),
    ("202202050000", date(2022, 2, 5), datetime(2022, 2, 5, tzinfo=UTC)),
    ("19610615173619", date(1961, 6, 15), datetime(1961, 6, 15, 17, 36, 19, tzinfo=UTC)),
    ("20160308150405-0500", date(2016, 3, 8), datetime(2016, 3, 8, 20, 4, 5, tzinfo=UTC)),
    ("198808181126+0215", date(1988, 8, 18), datetime(1988, 8, 18, 9, 11, tzinfo=UTC)),
    ("1980", None, None),
    ("DOB", None, None),
])
def test_birth_date_and_time(pid7: str, expected_date: date | None, expected_time: datetime | None,
                             read_sample: Reader) -> None:
    patient, _ = map_bytes(edit(read_sample("msfc__ADT04-251.hl7"), fields=[("PID", 7, pid7)]))
    assert (patient.payload.birth_date, patient.payload.birth_time) == (expected_date, expected_time)


def test_sn_values_in_an_oru(read_sample: Reader) -> None:
    raw = edit(read_sample("cdcti__008_ORU_R01_micro_character_encoding.hl7"),
               fields=[("OBX", 2, "SN"), ("OBX", 5, "^1^:^128")])
    (event,) = map_bytes(raw)
    assert event.payload.observations[0].value == NumericRangeValue(low=1.0, separator=":", high=128.0,
                                                                    text="^1^:^128")
