"""claims rows grouped by claim id -> claim.* events, with money exact to the cent and beyond."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from carebus.events import ClaimEvent, parsed_event_schema, to_avro_dict
from carebus.serde import AvroSerde
from producers.batch.batching import Batch, plan_batches
from producers.batch.errors import RowError
from producers.batch.layouts import detect_layout
from producers.batch.records import read_records
from tests.unit.batch.fakes import claim_csv, context


def _batches(data: bytes) -> list[Batch]:
    records = read_records(io.BytesIO(data))
    head = next(records)
    assert head.fields is not None
    header = detect_layout("claims.csv", head.fields)
    return list(plan_batches(records, header, context("claims", file_name="claims.csv"), start_offset=head.end_offset,
                             start_line=head.next_line))


def _claim(*rows: Mapping[str, Any]) -> ClaimEvent | tuple[RowError, ...]:
    (batch,) = _batches(claim_csv(*rows))
    if batch.events:
        (event,) = batch.events
        assert isinstance(event, ClaimEvent)
        fastavro.schemaless_writer(io.BytesIO(), parsed_event_schema("claim"), to_avro_dict(event), strict=True)
        return event
    return tuple(error for rejection in batch.rejections for error in rejection.errors
                 if error.rule != "group-rejected")


def _event(*rows: Mapping[str, Any]) -> ClaimEvent:
    event = _claim(*rows)
    assert isinstance(event, ClaimEvent), event
    return event


def test_lines_of_one_claim_make_one_event() -> None:
    event = _event({"line_number": "2", "procedure_code": "J3490", "modifiers": "", "unit_charge": "",
                    "line_charge": "10.01", "diagnosis_codes": "I10|Z79.4"},
                   {"line_number": "1"})
    claim = event.payload
    assert event.envelope.event_type == "claim.submitted"
    assert claim.status == "active"
    assert [line.sequence for line in claim.lines] == [1, 2]
    first, second = claim.lines
    assert first.procedure_code is not None and second.procedure_code is not None
    assert (first.procedure_code.code, first.procedure_code.system) == ("99213", "http://www.ama-assn.org/go/cpt")
    assert second.procedure_code.system == "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
    assert [m.code for m in first.modifiers] == ["25"]
    assert first.service_date == date(2024, 3, 1)
    assert [d.code.code for d in claim.diagnoses] == ["E11.9", "I10", "Z79.4"]  # line 1 first
    assert [d.sequence for d in claim.diagnoses] == [1, 2, 3]
    assert claim.claim_identifier is not None and claim.claim_identifier.value == "CLM-1"
    assert claim.payer is not None and claim.payer.id == "TESTPAYER"
    assert claim.coverages[0].member_id is not None and claim.coverages[0].member_id.value == "MEM-7"
    assert claim.claim_type is not None and claim.claim_type.code == "professional"


def test_money_is_decimal_and_the_total_adds_up_exactly() -> None:
    rows = [{"line_number": str(n), "quantity": "3", "unit_charge": "0.1", "line_charge": "0.3"} for n in range(1, 4)]
    claim = _event(*rows).payload
    assert claim.total is not None
    assert claim.total.amount == Decimal("0.9")  # 0.1 * 3 * 3 in float is 0.8999999999999999
    assert all(isinstance(line.total_charge.amount, Decimal) for line in claim.lines if line.total_charge)
    assert claim.lines[0].unit_charge is not None and claim.lines[0].unit_charge.currency == "USD"


def test_four_decimal_places_survive_the_avro_round_trip() -> None:
    from carebus.events import from_avro_dict
    from carebus.ids import Subject
    from carebus.registry.in_process import InProcessRegistry

    event = _event({"quantity": "2", "unit_charge": "0.0125", "line_charge": "0.0250"})
    serde = AvroSerde(InProcessRegistry(), Subject("canonical.claim.v1-value"), parsed_event_schema("claim"))
    back = from_avro_dict("claim", serde.deserialize(serde.serialize(to_avro_dict(event))))
    assert isinstance(back, ClaimEvent)
    assert back.payload.lines[0].unit_charge is not None
    assert back.payload.lines[0].unit_charge.amount == Decimal("0.0125")


@pytest.mark.parametrize(("override", "error"), [
    ({"line_charge": "125.1O"}, RowError("claims.csv", 2, "line_charge", "money-format")),
    ({"line_charge": "1e3"}, RowError("claims.csv", 2, "line_charge", "money-format")),
    ({"line_charge": "$125.10"}, RowError("claims.csv", 2, "line_charge", "money-format")),
    ({"unit_charge": "0.00001"}, RowError("claims.csv", 2, "unit_charge", "money-format")),
    ({"line_charge": "125.11"}, RowError("claims.csv", 2, "line_charge", "line-charge-mismatch")),
    ({"quantity": "-1"}, RowError("claims.csv", 2, "quantity", "quantity-format")),
    ({"line_number": "0"}, RowError("claims.csv", 2, "line_number", "integer-format")),
    ({"service_date": "03/01/2024"}, RowError("claims.csv", 2, "service_date", "date-format")),
    ({"status": "paid"}, RowError("claims.csv", 2, "status", "allowed-values")),
    ({"modifiers": "25|59|LT|RT|XS"}, RowError("claims.csv", 2, "modifiers", "code-format")),
    ({"diagnosis_codes": "250.00"}, RowError("claims.csv", 2, "diagnosis_codes", "code-format")),
    ({"currency": "usd"}, RowError("claims.csv", 2, "currency", "code-format")),
    ({"member_id": ""}, RowError("claims.csv", 2, "member_id", "required")),
])
def test_rules(override: dict[str, str], error: RowError) -> None:
    assert _claim(override) == (error,)


def test_an_icd9_code_is_fine_when_the_system_says_so() -> None:
    claim = _event({"diagnosis_codes": "250.00", "diagnosis_code_system": "ICD9CM"}).payload
    assert claim.diagnoses[0].code.original_system == "ICD9CM"
    assert claim.diagnoses[0].code.system is None


def test_claim_level_columns_must_agree_and_line_numbers_be_unique() -> None:
    errors = _claim({}, {"status": "void", "line_number": "2"}, {"line_number": "1"})
    assert errors == (RowError("claims.csv", 3, "status", "group-field-mismatch"),
                      RowError("claims.csv", 4, "line_number", "duplicate-line-number"))


@pytest.mark.parametrize(("status", "event_type", "fhir_status"), [
    ("submitted", "claim.submitted", "active"), ("Adjusted", "claim.updated", "active"),
    ("VOID", "claim.cancelled", "cancelled"), ("entered-in-error", "claim.cancelled", "entered-in-error"),
])
def test_status_gives_the_event_type(status: str, event_type: str, fhir_status: str) -> None:
    event = _event({"status": status})
    assert (event.envelope.event_type, event.payload.status) == (event_type, fhir_status)


def test_claims_are_grouped_by_claim_id() -> None:
    (batch,) = _batches(claim_csv({}, {"line_number": "2"}, {"claim_id": "CLM-2"}))
    assert [len(event.payload.lines) for event in batch.events] == [2, 1]  # type: ignore[union-attr]
    assert [event.envelope.source.original_message_id for event in batch.events] == ["claims.csv:2", "claims.csv:4"]
