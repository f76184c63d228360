from __future__ import annotations

import re
from pathlib import Path

import pytest

from carebus.events import CodedConcept, Encounter, EncounterEvent, Quantity, QuantityValue, ResultEvent
from carebus.events.examples import example_event
from processors.mapping_tables import UCUM, MappingTables
from processors.normalize import Finding, normalize_event
from tests.unit.processors.builders import GLUCOSE, POTASSIUM, UNMAPPED, hl7_patient, oru_result

LOINC = "http://loinc.org"


def test_local_lab_codes_map_to_loinc_keeping_the_code_as_sent(tables: MappingTables) -> None:
    result = normalize_event(oru_result("MRN-1", (GLUCOSE, POTASSIUM)), tables)

    assert isinstance(result.event, ResultEvent)
    glucose = result.event.payload.observations[0].code
    assert (glucose.code, glucose.system, glucose.display) == ("2345-7", LOINC,
                                                                "Glucose [Mass/volume] in Serum or Plasma")
    assert (glucose.original_code, glucose.original_system, glucose.original_display) == ("GLU", "L", "Glucose")
    assert result.event.payload.observations[1].code.code == "2823-3"
    assert result.event.payload.code.code == "51990-0"  # the panel (OBR-4)
    assert result.unmapped == ()


def test_units_become_ucum_and_keep_the_unit_as_sent(tables: MappingTables) -> None:
    result = normalize_event(oru_result("MRN-1", (GLUCOSE,)), tables)

    quantity = result.event.payload.observations[0].value.quantity
    assert (quantity.code, quantity.system, quantity.unit) == ("mg/dL", UCUM, "mg/dl")


def test_unmapped_values_are_kept_as_sent_and_flagged_by_path(tables: MappingTables) -> None:
    event = oru_result("MRN-1", (GLUCOSE, UNMAPPED))
    result = normalize_event(event, tables)

    unknown = result.event.payload.observations[1]
    assert unknown.code == event.payload.observations[1].code  # untouched: system stays null
    assert unknown.value == event.payload.observations[1].value
    assert result.unmapped == (Finding("payload.observations[1].code", "codes"),
                               Finding("payload.observations[1].value.quantity", "units"))


def test_a_code_from_one_sender_maps_only_for_that_sender_unless_the_row_is_for_any(tables: MappingTables) -> None:
    other_lab = normalize_event(oru_result("MRN-1", (GLUCOSE,), system="LABGEM"), tables)
    assert other_lab.event.payload.observations[0].code.system is None  # GLU is DEMOLAB's code
    assert Finding("payload.observations[0].code", "codes") in other_lab.unmapped


def test_statuses_map_from_the_value_as_sent(tables: MappingTables) -> None:
    event = oru_result("MRN-1", (GLUCOSE,))
    raw = event.model_copy(update={"payload": event.payload.model_copy(update={
        "status": None, "status_original": "P",
        "observations": (event.payload.observations[0].model_copy(update={"status": "X"}),)})})
    result = normalize_event(raw, tables)

    assert result.event.payload.status == "preliminary"
    assert result.event.payload.observations[0].status == "cancelled"


def test_a_status_no_table_knows_is_kept_and_flagged(tables: MappingTables) -> None:
    event = oru_result("MRN-1", (GLUCOSE,))
    raw = event.model_copy(update={"payload": event.payload.model_copy(update={"status": "weird"})})
    result = normalize_event(raw, tables)

    assert result.event.payload.status == "weird"
    assert Finding("payload.status", "report-status") in result.unmapped


@pytest.mark.parametrize(("sent", "expected"), [("F", "female"), ("m", "male"), ("U", "unknown"), ("A", "other"),
                                                ("female", "female")])
def test_administrative_sex(tables: MappingTables, sent: str, expected: str) -> None:
    result = normalize_event(hl7_patient("MRN-1", sex=sent), tables)
    assert result.event.payload.administrative_sex == expected
    assert result.unmapped == ()


def test_encounter_class_maps_v2_table_0004_to_v3_actcode(tables: MappingTables) -> None:
    example = example_event("encounter")
    assert isinstance(example, EncounterEvent)
    sent = CodedConcept(code="B", system="http://terminology.hl7.org/CodeSystem/v2-0004", original_code="B",
                        original_system="HL70004")
    event = example.model_copy(update={"payload": example.payload.model_copy(update={"encounter_class": sent})})
    result = normalize_event(event, tables)

    concept = result.event.payload.encounter_class
    assert (concept.code, concept.system) == ("OBSENC", "http://terminology.hl7.org/CodeSystem/v3-ActCode")
    assert (concept.original_code, concept.original_system) == ("B", "HL70004")


def test_an_unknown_encounter_class_is_flagged(tables: MappingTables) -> None:
    event = EncounterEvent(envelope=example_event("encounter").envelope,
                           payload=Encounter(encounter_class=CodedConcept(original_code="ff")))
    result = normalize_event(event, tables)
    assert result.event.payload.encounter_class == CodedConcept(original_code="ff")
    assert result.unmapped == (Finding("payload.encounter_class", "encounter-class"),)


@pytest.mark.parametrize("domain", ["patient", "encounter", "order", "result", "referral", "claim"])
def test_events_already_standard_come_back_unchanged(tables: MappingTables, domain: str) -> None:
    event = example_event(domain)
    result = normalize_event(event, tables)
    assert result.event is event or result.event == event
    assert result.mapped == 0


def test_text_only_and_standard_concepts_are_left_alone(tables: MappingTables) -> None:
    event = oru_result("MRN-1", (GLUCOSE,))
    text_only = CodedConcept(text="Something said in words")
    standard = CodedConcept(code="718-7", system=LOINC)
    obs = event.payload.observations[0]
    raw = event.model_copy(update={"payload": event.payload.model_copy(update={
        "code": text_only, "observations": (obs.model_copy(update={"code": standard}),)})})
    result = normalize_event(raw, tables)
    assert result.event.payload.code is text_only
    assert result.event.payload.observations[0].code is standard


def test_a_quantity_already_in_ucum_is_untouched(tables: MappingTables) -> None:
    event = oru_result("MRN-1", (GLUCOSE,))
    obs = event.payload.observations[0]
    ucum = QuantityValue(quantity=Quantity(value=1.0, unit="mg/dL", code="mg/dL", system=UCUM))
    raw = event.model_copy(update={"payload": event.payload.model_copy(update={
        "observations": (obs.model_copy(update={"value": ucum}),)})})
    assert normalize_event(raw, tables).event.payload.observations[0].value is ucum


# --- the shipped tables against ../shared/samples ---------------------------------------------------------------

_CWE_FIELD = re.compile(r"^(OBR\|[^|]*\|[^|]*\|[^|]*\|([^|]*)|OBX\|[^|]*\|[^|]*\|([^|]*))", re.MULTILINE)


def _local_codes(samples_dir: Path) -> list[tuple[str, str, str, str | None]]:
    """(file, sending system, code, system name) of each OBR-4/OBX-3 whose first triplet names no standard."""
    found = []
    for path in sorted((samples_dir / "hl7v2").glob("*.hl7")):
        text = path.read_text(errors="replace").replace("\r", "\n")
        msh = next((line for line in text.splitlines() if line.startswith("MSH|")), None)
        if msh is None or len(msh.split("|")) < 3:
            continue
        sender = msh.split("|")[2].split("^")[0] or (msh.split("|")[3].split("^")[0] if len(msh.split("|")) > 3
                                                     else "")
        for match in _CWE_FIELD.finditer(text):
            field = match.group(2) or match.group(3) or ""
            parts = field.split("~")[0].split("^")
            code, system = parts[0], (parts[2] if len(parts) > 2 else "") or None
            if code and system not in ("LN", "SCT") and not (len(parts) > 5 and parts[5] == "LN"):
                found.append((path.name, sender, code, system))
    return found


@pytest.mark.parametrize(("sender", "code", "system", "loinc"), [
    ("EPICSTND", "140285", "L", "14959-1"),
    ("MAYOREFLAB", "F5DNA", None, "21668-9"),
    ("LABGEM", "MACR", None, "14959-1"),
    ("SISGDSP", "54089-8", None, "54089-8"),
])
def test_the_shipped_tables_map_local_codes_from_the_samples(tables: MappingTables, samples_dir: Path, *,
                                                             sender: str, code: str, system: str | None,
                                                             loinc: str) -> None:
    assert (sender, code, system) in {(s, c, n) for _, s, c, n in _local_codes(samples_dir)}
    target = tables.code_for(sender, system, code)
    assert target is not None and (target.system, target.code) == (LOINC, loinc)
