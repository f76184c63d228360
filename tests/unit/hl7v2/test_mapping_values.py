"""Datatypes, table by table: timestamps, OBX values by OBX-2, ranges, flags, statuses, names, phones, codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from carebus.events import (
    CodedValue,
    DateTimeValue,
    NumericRangeValue,
    Observation,
    Quantity,
    QuantityValue,
    ReferenceRange,
    StringValue,
)
from producers.hl7v2.mapping._time import parse_ts
from tests.unit.hl7v2.test_mapping import map_bytes, message_of

UCUM = "http://unitsofmeasure.org"
MSH = "MSH|^~\\&|LAB|HOSP^1.2.3^ISO|CAREBUS|HOSP|20240213154600-0500||ORU^R01^ORU_R01|MSG0001|P|2.5.1"
PID = "PID|1||12345^^^HOSP&1.2.3&ISO^MR~98765^^^SSA^SS||DOE^JANE^Q||19800101|F"
OBR = "OBR|1|PLC1^HOSP|FIL1^LAB|2345-7^Glucose^LN|||20240213150000-0500|||||||||||||||20240213154500-0500|||F"
ADT_MSH = "MSH|^~\\&|ADT|HOSP|CAREBUS|HOSP|20240213154600||ADT^A04^ADT_A01|MSG0002|P|2.5"
PV1 = "PV1|1|O|CLINIC^12^A^HOSP||||1234^WELBY^MARCUS^^^DR"


def _observation(obx: str) -> Observation:
    (event,) = map_bytes(message_of([MSH, PID, OBR, obx]))
    (found,) = event.payload.observations
    return found


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
    ("202403", datetime(2024, 3, 1, tzinfo=UTC)),
    ("20240314", datetime(2024, 3, 14, tzinfo=UTC)),
    ("20240314-0500", datetime(2024, 3, 14, tzinfo=UTC)),  # a date is a calendar day
    ("2024031409", datetime(2024, 3, 14, 9, tzinfo=UTC)),
    ("202403140930", datetime(2024, 3, 14, 9, 30, tzinfo=UTC)),
    ("20240314093015", datetime(2024, 3, 14, 9, 30, 15, tzinfo=UTC)),
    ("20240314093015.1234", datetime(2024, 3, 14, 9, 30, 15, 123400, tzinfo=UTC)),
    ("20240314093015.4+0200", datetime(2024, 3, 14, 7, 30, 15, 400000, tzinfo=UTC)),
    ("198908181126+0215", datetime(1989, 8, 18, 9, 11, tzinfo=UTC)),
    ("20230101010000-0000", datetime(2023, 1, 1, 1, 0, tzinfo=UTC)),
    ("20160308180405-0500", datetime(2016, 3, 8, 23, 4, 5, tzinfo=UTC)),
])
def test_timestamps(raw: str, expected: datetime) -> None:
    assert parse_ts(raw) == expected


@pytest.mark.parametrize("raw", ["DOB", "2024-03-14", "20241314", "20240230", "2024031425", "2024031409+2500",
                                 "202403141", "", None])
def test_unreadable_timestamps_are_absent(raw: str | None) -> None:
    assert parse_ts(raw) is None


def test_a_timestamp_without_offset_is_in_the_configured_zone() -> None:
    zone = timezone(timedelta(hours=-6))
    assert parse_ts("202403140930", zone) == datetime(2024, 3, 14, 15, 30, tzinfo=UTC)
    assert parse_ts("202403140930+0100", zone) == datetime(2024, 3, 14, 8, 30, tzinfo=UTC)
    assert parse_ts("20240314", zone) == datetime(2024, 3, 14, tzinfo=UTC)


# --- OBX-5 by OBX-2 ------------------------------------------------------------------------------


def _quantity(value: float, text: str, comparator: str | None = None, *, unit: str | None = "mg/dL",
              code: str | None = "mg/dL", system: str | None = UCUM) -> QuantityValue:
    return QuantityValue(quantity=Quantity(value=value, comparator=comparator, unit=unit, code=code, system=system,
                                           value_text=text))


@pytest.mark.parametrize(("obx2", "obx5", "expected"), [
    ("NM", "95", _quantity(95.0, "95")),
    ("NM", "7.0", _quantity(7.0, "7.0")),
    ("NM", "-1.5", _quantity(-1.5, "-1.5")),
    ("NM", "<5", _quantity(5.0, "5", "<")),
    ("NM", ">=10", _quantity(10.0, "10", ">=")),
    ("NM", "=3", _quantity(3.0, "3")),
    ("NM", "see note", StringValue(value="see note")),
    ("NM", "", None),
    ("NM", "1e999", StringValue(value="1e999")),  # not a finite double
    ("SN", "<^5", _quantity(5.0, "5", "<")),
    ("SN", "^12", _quantity(12.0, "12")),
    ("SN", "=^12", _quantity(12.0, "12")),
    ("SN", "^1^:^128", NumericRangeValue(low=1.0, separator=":", high=128.0, text="^1^:^128")),
    ("SN", "^1^/^2", NumericRangeValue(low=1.0, separator="/", high=2.0, text="^1^/^2")),
    ("SN", "^10^-^20", NumericRangeValue(low=10.0, separator="-", high=20.0, text="^10^-^20")),
    ("SN", "<>^5", NumericRangeValue(comparator="<>", low=5.0, text="<>^5")),
    ("SN", "^2^+", NumericRangeValue(low=2.0, separator="+", text="^2^+")),
    ("NR", "3.5^5.1", NumericRangeValue(low=3.5, high=5.1, text="3.5^5.1")),
    ("ST", "Negative", StringValue(value="Negative")),
    ("ST", "LA12419-0^Infant in NICU^LN", StringValue(value="LA12419-0^Infant in NICU^LN")),
    ("TX", "line one\\.br\\line two \\T\\ more", StringValue(value="line one\nline two & more")),
    ("FT", "a~b", StringValue(value="a\nb")),
    ("TM", "0000", StringValue(value="0000")),
    ("DT", "20240314", DateTimeValue(value=datetime(2024, 3, 14, tzinfo=UTC), text="20240314")),
    ("TS", "20150818060605-0500", DateTimeValue(value=datetime(2015, 8, 18, 11, 6, 5, tzinfo=UTC),
                                                text="20150818060605-0500")),
    ("DTM", "not a date", StringValue(value="not a date")),
    ("RP", "https://example.test/x^^image^PICT", StringValue(value="https://example.test/x")),
    ("ED", "App5^NS^Octet-stream^Base64^QUJD", None),
    ("XTN", "^^PH^^^555^5551212", StringValue(value="(555) 5551212")),
    ("XAD", "1234 Main St^Ste. 200^Austin^TX^78758", StringValue(value="1234 Main St^Ste. 200^Austin^TX^78758")),
    ("", "free text", StringValue(value="free text")),
])
def test_values_by_obx_2(obx2: str, obx5: str, expected: object) -> None:
    found = _observation(f"OBX|1|{obx2}|2345-7^Glucose^LN||{obx5}|mg/dL^milligrams per deciliter^UCUM|||||F")
    if isinstance(expected, QuantityValue):
        expected = expected.model_copy(update={"quantity": expected.quantity.model_copy(
            update={"unit": "milligrams per deciliter"})})
    assert found.value == expected
    assert found.value_type == (obx2 or None)


def test_coded_values() -> None:
    found = _observation("OBX|1|CWE|5195-3^HBsAg^LN||260385009^Negative^SCT^NEG^Negative^L^^^Neg.||||||F")
    assert isinstance(found.value, CodedValue)
    concept = found.value.concept
    assert (concept.code, concept.system, concept.display, concept.text) == (
        "260385009", "http://snomed.info/sct", "Negative", "Neg.")
    assert (concept.original_code, concept.original_system) == ("NEG", "L")  # the local alternate
    text_only = _observation("OBX|1|CE|67704-7^Type of Feed^LN||^Formula^CD:1220||||||F")
    assert isinstance(text_only.value, CodedValue)
    assert (text_only.value.concept.code, text_only.value.concept.text) == (None, "Formula")
    assert text_only.value.concept.original_system == "CD:1220"
    table = _observation("OBX|1|CWE|X^Y^LN||A^Abnormal^HL70078||||||F")
    assert isinstance(table.value, CodedValue)
    assert table.value.concept.system == "http://terminology.hl7.org/CodeSystem/v2-0078"


def test_repeating_values_become_components_and_text_lines() -> None:
    found = _observation("OBX|1|NM|8867-4^Heart rate^LN||60~120|/min^per minute^UCUM|||||F")
    assert isinstance(found.value, QuantityValue) and found.value.quantity.value == 60.0
    assert [c.value for c in found.components] == [_quantity(120.0, "120", unit="per minute", code="/min")]
    text = _observation("OBX|1|TX|X^Y^LN||first~~third||||||F")
    assert text.value == StringValue(value="first\n\nthird") and text.components == ()


def test_units_are_ucum_only_when_the_sender_says_so() -> None:
    ucum = _observation("OBX|1|NM|8339-4^Birthweight^LN||3040|g^gram^UCUM|||||F")
    assert isinstance(ucum.value, QuantityValue)
    assert (ucum.value.quantity.unit, ucum.value.quantity.code, ucum.value.quantity.system) == ("gram", "g", UCUM)
    assert ucum.units is not None and ucum.units.system == UCUM
    plain = _observation("OBX|1|NM|X^Y^LN||36|mg/g crea|||||F")
    assert isinstance(plain.value, QuantityValue)
    assert (plain.value.quantity.unit, plain.value.quantity.system) == ("mg/g crea", None)
    iso = _observation("OBX|1|NM|X^Y^LN||60|beats/min^^ISO|||||F")
    assert isinstance(iso.value, QuantityValue) and iso.value.quantity.system == "ISO"


# --- OBX-7, OBX-8, OBX-11 ------------------------------------------------------------------------


@pytest.mark.parametrize(("obx7", "expected"), [
    ("70-80", ReferenceRange(text="70-80", low=70.0, high=80.0)),
    ("-5-5", ReferenceRange(text="-5-5", low=-5.0, high=5.0)),
    ("-10--2", ReferenceRange(text="-10--2", low=-10.0, high=-2.0)),
    ("3.5 - 5.1", ReferenceRange(text="3.5 - 5.1", low=3.5, high=5.1)),
    ("<0.1", ReferenceRange(text="<0.1", high=0.1)),
    ("<=200", ReferenceRange(text="<=200", high=200.0)),
    (">0.6", ReferenceRange(text=">0.6", low=0.6)),
    (">=2.079", ReferenceRange(text=">=2.079", low=2.079)),
    ("Negative", ReferenceRange(text="Negative")),
    ("", None),
])
def test_reference_ranges(obx7: str, expected: ReferenceRange | None) -> None:
    assert _observation(f"OBX|1|NM|X^Y^LN||1||{obx7}||||F").reference_range == expected


@pytest.mark.parametrize(("obx8", "flags", "codes", "critical"), [
    ("", (), (), False),
    ("N", ("N",), ("N",), False),
    ("H", ("H",), ("H",), False),
    ("HH", ("HH",), ("HH",), True),
    ("LL", ("LL",), ("LL",), True),
    ("AA^Critical abnormal^HL70078", ("AA",), ("AA",), True),
    ("<", ("<",), ("<",), False),
    (">~HU", (">", "HU"), (">", "HU"), False),
    ("L~LL", ("L", "LL"), ("L", "LL"), True),
    ("A^A^HL7nnnn~B^B", ("A", "B"), ("A", "B"), False),
    ("A^A^HL70078^^^^2.5", ("A",), ("A",), False),
    ("TOX", ("TOX",), ("TOX",), False),
])
def test_interpretations_and_the_critical_flag(obx8: str, flags: tuple[str, ...], codes: tuple[str, ...],
                                               critical: bool) -> None:
    found = _observation(f"OBX|1|NM|X^Y^LN||1|||{obx8}|||F")
    assert found.abnormal_flags == flags
    assert tuple(i.code for i in found.interpretations) == codes
    assert found.critical is critical
    for concept in found.interpretations:
        inactive = concept.code == "TOX"
        assert (concept.system is None) == inactive


@pytest.mark.parametrize(("obx11", "status"), [
    ("F", "final"), ("C", "corrected"), ("A", "amended"), ("P", "preliminary"), ("R", "preliminary"),
    ("S", "preliminary"), ("I", "registered"), ("O", "registered"), ("U", "final"), ("D", "entered-in-error"),
    ("W", "entered-in-error"), ("X", "cancelled"), ("N", "unknown"), ("Q", "unknown"), ("", None),
])
def test_observation_status(obx11: str, status: str | None) -> None:
    found = _observation(f"OBX|1|NM|X^Y^LN||1||||||{obx11}")
    assert (found.status, found.status_original) == (status, obx11 or None)


# --- names, phones, addresses, people ------------------------------------------------------------


def test_names_phones_and_addresses() -> None:
    pid = ("PID|1||555^^^HOSP^MR||Doe^Jane^Q R^Jr^Dr^PhD^L~Smith^Janie^^^^^M||19800101|F||"
           "|1 Main St&Main St&1^Apt 2^Springfield^IL^62701^USA^H^^Sangamon~PO Box 9^^Springfield^IL^^^M|"
           "|^PRN^PH^^1^217^5550100^12~me@example.test^NET^Internet^me@example.test|2175550199")
    patient, visit = map_bytes(message_of([ADT_MSH, pid, PV1]))
    official, maiden = patient.payload.names
    assert (official.use, official.family, official.given) == ("official", "Doe", ("Jane", "Q", "R"))
    assert (official.prefixes, official.suffixes) == (("Dr",), ("Jr", "PhD"))
    assert (maiden.use, maiden.family) == ("maiden", "Smith")
    home, mailing = patient.payload.addresses
    assert (home.use, home.lines, home.district) == ("home", ("1 Main St", "Apt 2"), "Sangamon")
    assert (mailing.use, mailing.type, mailing.lines) == (None, "postal", ("PO Box 9",))
    phone, email, work = patient.payload.telecom
    assert (phone.system, phone.value, phone.use) == ("phone", "+1 (217) 5550100 x12", "home")
    assert (email.system, email.value, email.use) == ("email", "me@example.test", None)
    assert (work.system, work.value, work.use) == ("phone", "2175550199", "work")  # PID-14, XTN.2 empty
    doctor = visit.payload.attending
    assert doctor is not None and (doctor.id, doctor.id_system) == ("1234", None)
    assert doctor.name is not None and doctor.name.family == "WELBY"
    assert visit.payload.location is not None and visit.payload.location.bed == "A"
    assert visit.payload.encounter_class is not None and visit.payload.encounter_class.code == "AMB"  # PV1-2 O


@pytest.mark.parametrize(("pv12", "code", "system"), [
    ("E", "EMER", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
    ("I", "IMP", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
    ("B", "B", "http://terminology.hl7.org/CodeSystem/v2-0004"),
    ("N", "N", "http://terminology.hl7.org/CodeSystem/v2-0004"),
    ("ff", None, None),
])
def test_patient_class(pv12: str, code: str | None, system: str | None) -> None:
    _, visit = map_bytes(message_of([ADT_MSH, PID, f"PV1|1|{pv12}|CLINIC"]))
    concept = visit.payload.encounter_class
    assert concept is not None and (concept.code, concept.system, concept.original_code) == (code, system, pv12)


def test_an_npi_is_recognised_among_repetitions() -> None:
    orc12 = "1^SYSTEM^SYSTEM~1487614269^HONRUBIA^DYNIO^^^^^^NPI"
    msh = MSH.replace("ORU^R01^ORU_R01", "ORM^O01^ORM_O01")
    (event,) = map_bytes(message_of([msh, PID, f"ORC|NW|P1||||||||||{orc12}", OBR]))
    requester = event.payload.requester
    assert requester is not None and requester.id == "1487614269"
    assert requester.id_system == "http://hl7.org/fhir/sid/us-npi"
