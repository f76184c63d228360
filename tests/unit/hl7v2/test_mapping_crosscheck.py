"""Cross-checks against FHIR that other converters made of the same messages (shared/samples/SOURCES.md, "Pairs").

Each is one converter's opinion, not ground truth: these tests pin the facts both sides must agree on, and
name the places where carebus decides differently on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carebus.events import ClaimEvent, ReferralEvent, ResultEvent, StringValue
from tests.unit.hl7v2.test_mapping import map_bytes

Reader = Callable[[str], bytes]


def _resources(samples_dir: Path, name: str, kind: str) -> list[dict[str, Any]]:
    bundle = json.loads((samples_dir / "fhir" / name).read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == kind]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- msfc__REF-I12-01 vs msfc__REF-I12-01-expected.json (microsoft/FHIR-Converter) ---------------


@pytest.fixture
def referral(read_sample: Reader) -> ReferralEvent:
    (event,) = map_bytes(read_sample("msfc__REF-I12-01.hl7"))
    assert isinstance(event, ReferralEvent)
    return event


@pytest.fixture
def referral_request(samples_dir: Path) -> dict[str, Any]:
    requests = _resources(samples_dir, "msfc__REF-I12-01-expected.json", "ServiceRequest")
    (found,) = [r for r in requests if any(c["coding"][0]["code"] == "Med" for c in r.get("category", []))]
    return found


def test_referral_matches_the_converters_service_request(referral: ReferralEvent,
                                                          referral_request: dict[str, Any]) -> None:
    payload = referral.payload
    assert payload.status == referral_request["status"] == "on-hold"
    assert payload.priority == referral_request["priority"] == "routine"
    sent_ids = {i["value"] for i in referral_request["identifier"]}
    ours = {i.value for i in (payload.referral_identifier, *payload.identifiers) if i is not None}
    assert ours == sent_ids == {"226839", "11001"}
    assert payload.authored_at is not None
    assert payload.authored_at.date() == date.fromisoformat(referral_request["authoredOn"])
    period = referral_request["occurrencePeriod"]
    assert payload.period is not None and payload.period.start is not None and payload.period.end is not None
    assert payload.period.start.date() == date.fromisoformat(period["start"])
    assert payload.period.end.date() == date.fromisoformat(period["end"])
    assert list(payload.notes) == [note["text"] for note in referral_request["note"]]
    assert [c.code for c in payload.reason_codes] == [c["coding"][0]["code"] for c in referral_request["reasonCode"]]
    assert payload.referral_type is not None
    assert payload.referral_type.code in {c["coding"][0]["code"] for c in referral_request["category"]}
    # Divergence on purpose: [MSFC] puts RF1-5 (O, outpatient) in locationCode; carebus keeps it as the category.
    assert payload.category is not None
    assert payload.category.code == referral_request["locationCode"][0]["coding"][0]["code"] == "O"


def test_referral_patient_and_diagnosis_match(referral: ReferralEvent, samples_dir: Path) -> None:
    (patient,) = _resources(samples_dir, "msfc__REF-I12-01-expected.json", "Patient")
    assert patient["identifier"][0]["value"] == "PATID1234"
    assert referral.envelope.subject.source_identifiers[0].value == "PATID1234"
    # [MSFC] names the system after CX.4 (ADT1) too; it reads CX.5 `GOOD HEALTH HOSPITAL` as a type, as we do.
    assert patient["identifier"][0]["system"].endswith("/ADT1")
    assert referral.envelope.subject.source_identifiers[0].system == "ADT1"
    assert referral.envelope.subject.source_identifiers[0].type_code == "GOOD HEALTH HOSPITAL"
    conditions = _resources(samples_dir, "msfc__REF-I12-01-expected.json", "Condition")
    coded = [c for c in conditions if "code" in c]
    assert [d.code.code for d in referral.payload.diagnoses] == [c["code"]["coding"][0]["code"] for c in coded]
    assert referral.payload.diagnoses[0].code.system == coded[0]["code"]["coding"][0]["system"]


# --- msfc__DFT-P03-01 vs msfc__DFT-P03-01-expected.json (microsoft/FHIR-Converter) ---------------


def test_charge_lines_match_the_converters_charge_items(read_sample: Reader, samples_dir: Path) -> None:
    (event,) = map_bytes(read_sample("msfc__DFT-P03-01.hl7"))
    assert isinstance(event, ClaimEvent)
    items = _resources(samples_dir, "msfc__DFT-P03-01-expected.json", "ChargeItem")
    assert len(items) == len(event.payload.lines) == 2
    for line, item in zip(event.payload.lines, items, strict=True):
        assert line.procedure_code is not None
        assert line.procedure_code.original_code == item["code"]["coding"][0]["code"]
        assert line.procedure_code.system == item["code"]["coding"][0].get("system")
        assert line.quantity is not None and line.quantity.value == item["quantity"]["value"]
        price = item["priceOverride"]
        assert line.total_charge is not None
        assert line.total_charge.amount == Decimal(str(price["value"]))  # FT1-11, exact
        assert line.total_charge.currency == price["currency"]
        assert line.service_date == date.fromisoformat(item["occurrenceDateTime"])
        assert line.posted_at is not None and line.posted_at.date() == date.fromisoformat(item["enteredDate"])
        assert [c.code for c in line.diagnosis_codes] == [r["coding"][0]["code"] for r in item["reason"]]
    assert [i["value"] for i in items[0]["identifier"]] == [event.payload.lines[0].transaction_identifier.value
                                                          if event.payload.lines[0].transaction_identifier else None]


def test_claim_account_matches_the_converters_account(read_sample: Reader, samples_dir: Path) -> None:
    (event,) = map_bytes(read_sample("msfc__DFT-P03-01.hl7"))
    (account,) = _resources(samples_dir, "msfc__DFT-P03-01-expected.json", "Account")
    assert event.payload.account_number is not None
    assert event.payload.account_number.value == account["identifier"][0]["value"] == "4000776"
    (coverage,) = _resources(samples_dir, "msfc__DFT-P03-01-expected.json", "Coverage")
    assert event.payload.coverages[0].member_id is not None
    assert event.payload.coverages[0].member_id.value == coverage["subscriberId"]


# --- cdcti__002_CA_ORU_R01 vs cdcti__002_CA_ORU_R01_initial_translation.fhir (CDC ReportStream) ---


def test_ca_reports_match_reportstreams_diagnostic_reports(read_sample: Reader, samples_dir: Path) -> None:
    events = map_bytes(read_sample("cdcti__002_CA_ORU_R01.hl7"))
    assert all(isinstance(e, ResultEvent) for e in events)
    reports = _resources(samples_dir, "cdcti__002_CA_ORU_R01_initial_translation.fhir", "DiagnosticReport")
    # Divergence: ReportStream's translation made a DiagnosticReport of only the first two OBRs (of 20);
    # carebus makes one result event per OBR, so the first two must agree and the rest have no counterpart.
    assert len(reports) == 2 and len(events) == 20
    for event, report in zip(events, reports, strict=False):
        assert event.payload.code is not None and event.payload.code.code == report["code"]["coding"][0]["code"]
        assert event.payload.status == report["status"] == "final"
        assert event.payload.effective_at == _instant(report["effectiveDateTime"])  # OBR-7 202202070000
        assert event.payload.issued_at == _instant(report["issued"])  # OBR-22
        assert len(event.payload.observations) == len(report.get("result", []))  # 0 and 49


def test_ca_observations_match_reportstreams(read_sample: Reader, samples_dir: Path) -> None:
    events = map_bytes(read_sample("cdcti__002_CA_ORU_R01.hl7"))
    observations = _resources(samples_dir, "cdcti__002_CA_ORU_R01_initial_translation.fhir", "Observation")
    narrative = next(o for o in observations if o.get("code", {}).get("coding", [{}])[0].get("code") == "57724-7")
    ours = next(o for o in events[1].payload.observations if o.code and o.code.code == "57724-7")
    assert isinstance(ours.value, StringValue)
    # ReportStream turns \R\ into `~` as we do, but leaves \.br\ escaped; carebus makes it a line break.
    assert ours.value.value == narrative["valueString"].replace("\\.br\\", "\n")
    assert ours.observed_at == _instant(narrative["effectiveDateTime"])  # OBX-14
    assert ours.status == narrative["status"] == "final"
    flags = [o["interpretation"][0]["coding"][0]["code"] for o in observations if "interpretation" in o]
    ours_flags = [flag for o in events[1].payload.observations for flag in o.abnormal_flags]
    assert ours_flags == flags  # every OBX-8 of the group is N, in the same order
