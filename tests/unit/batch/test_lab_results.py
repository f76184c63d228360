"""lab-results rows grouped by report -> result.* events."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from carebus.events import (
    CodedValue,
    NumericRangeValue,
    QuantityValue,
    ResultEvent,
    StringValue,
    parsed_event_schema,
    to_avro_dict,
)
from producers.batch._layout import ParsedRow
from producers.batch.batching import Batch, plan_batches
from producers.batch.errors import RowError
from producers.batch.lab_results import COLUMNS, LabResultRow, derive_report_status, map_report
from producers.batch.layouts import detect_layout
from producers.batch.records import read_records
from tests.unit.batch.fakes import context, lab_csv


def _batches(data: bytes, **kwargs: int) -> list[Batch]:
    records = read_records(io.BytesIO(data))
    head = next(records)
    assert head.fields is not None
    header = detect_layout("labs.csv", head.fields)
    return list(plan_batches(records, header, context(), start_offset=head.end_offset,
                             start_line=head.next_line, **kwargs))


def _report(*rows: Mapping[str, Any]) -> ResultEvent | tuple[RowError, ...]:
    (batch,) = _batches(lab_csv(*rows))
    if batch.events:
        (event,) = batch.events
        assert isinstance(event, ResultEvent)
        return event
    return tuple(error for rejection in batch.rejections for error in rejection.errors
                 if error.rule != "group-rejected")


def _event(*rows: Mapping[str, Any]) -> ResultEvent:
    event = _report(*rows)
    assert isinstance(event, ResultEvent), event
    fastavro.schemaless_writer(io.BytesIO(), parsed_event_schema("result"), to_avro_dict(event), strict=True)
    return event


def test_rows_of_one_report_make_one_event_with_an_observation_each() -> None:
    event = _event({}, {"test_code": "2823-3", "test_display": "Potassium", "value": "6.9", "units": "mmol/L",
                        "reference_range": "3.5-5.1", "abnormal_flag": "HH"})
    result = event.payload
    assert event.envelope.event_type == "result.finalized"
    assert event.envelope.subject.source_patient_id == "urn:oid:2.16.840.1.113883.19.5.99999.1|TEST-MRN-1"
    assert [obs.set_id for obs in result.observations] == [1, 2]
    glucose, potassium = result.observations
    assert glucose.code is not None
    assert (glucose.code.code, glucose.code.system, glucose.code.original_system) == (
        "2345-7", "http://loinc.org", "LN")
    assert isinstance(glucose.value, QuantityValue)
    assert (glucose.value.quantity.value, glucose.value.quantity.unit) == (182.0, "mg/dL")
    assert glucose.reference_range is not None
    assert (glucose.reference_range.low, glucose.reference_range.high) == (70.0, 99.0)
    assert [c.code for c in glucose.interpretations] == ["H"]
    assert (glucose.critical, potassium.critical) == (False, True)
    assert glucose.observed_at == datetime(2024, 3, 14, 12, 55, tzinfo=UTC)
    assert result.placer_order_number is not None and result.placer_order_number.value == "PLAC-1"
    assert result.filler_order_number is not None and result.filler_order_number.value == "ACC-1"
    assert result.report_identifier is not None and result.report_identifier.value == "R-1"
    assert result.issued_at == datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
    assert event.envelope.occurred_at == result.effective_at == glucose.observed_at
    assert event.envelope.recorded_at == result.issued_at
    assert event.envelope.source.original_message_id == "feed.csv:2"


@pytest.mark.parametrize(("value_type", "value", "expected"), [
    ("", "<5", QuantityValue), ("NM", "1.20E3", QuantityValue), ("SN", "1:128", NumericRangeValue),
    ("SN", "1-10", NumericRangeValue), ("SN", ">=7", QuantityValue), ("", "2024-03", StringValue),
    ("ST", "12", StringValue), ("CWE", "260385009", CodedValue), ("", "Negative", StringValue),
])
def test_value_types(value_type: str, value: str, expected: type) -> None:
    (observation,) = _event({"value_type": value_type, "value": value, "value_system": "SCT"}).payload.observations
    assert isinstance(observation.value, expected)
    if isinstance(observation.value, QuantityValue):
        assert observation.value.quantity.value_text == value
    if isinstance(observation.value, CodedValue):
        assert observation.value.concept.system == "http://snomed.info/sct"


def test_comparator_is_kept() -> None:
    (observation,) = _event({"value": "<0.1"}).payload.observations
    assert isinstance(observation.value, QuantityValue)
    assert (observation.value.quantity.comparator, observation.value.quantity.value) == ("<", 0.1)


@pytest.mark.parametrize(("text", "low", "high"), [
    ("70-99", 70.0, 99.0), ("<0.1", None, 0.1), (">=5", 5.0, None), ("negative", None, None), ("-5 - -1", -5.0, -1.0),
])
def test_reference_ranges(text: str, low: float | None, high: float | None) -> None:
    (observation,) = _event({"reference_range": text}).payload.observations
    assert observation.reference_range is not None
    assert (observation.reference_range.text, observation.reference_range.low,
            observation.reference_range.high) == (text, low, high)


@pytest.mark.parametrize(("statuses", "report_status", "event_type"), [
    (["F", "F"], "", "result.finalized"),
    (["F", "P"], "", "result.preliminary"),
    (["F", "C"], "", "result.corrected"),
    (["X", "X"], "", "result.cancelled"),
    (["W", "D"], "", "result.retracted"),
    (["F", "X"], "", "result.finalized"),
    (["F", "F"], "preliminary", "result.preliminary"),
    (["final", "FINAL"], "Amended", "result.corrected"),
])
def test_report_status_and_event_type(statuses: list[str], report_status: str, event_type: str) -> None:
    rows = [{"status": status, "report_status": report_status, "value": "" if status in "XWD" else "1",
             "test_code": f"T{index}"} for index, status in enumerate(statuses)]
    assert _event(*rows).envelope.event_type == event_type


def test_derived_report_status_table() -> None:
    assert derive_report_status(["final", "registered"]) == "preliminary"
    assert derive_report_status(["entered-in-error"]) == "entered-in-error"


def test_value_is_required_unless_the_status_says_there_is_none() -> None:
    assert _report({"value": "", "status": "F"}) == (RowError("feed.csv", 2, "value", "required"),)
    assert _event({"value": "", "status": "X"}).payload.observations[0].value is None


def test_one_bad_row_rejects_the_whole_report_and_names_it() -> None:
    (batch,) = _batches(lab_csv({}, {"observed_at": "2024-03-14T07:55:00"}, {}))
    assert batch.events == []
    first, bad, third = batch.rejections
    assert bad.errors == (RowError("feed.csv", 3, "observed_at", "timestamp-needs-offset"),)
    assert first.errors == (RowError("feed.csv", 2, "report_id", "group-rejected"),)
    assert (first.caused_by_line, third.caused_by_line, bad.caused_by_line) == (3, 3, None)
    assert [rejection.raw for rejection in batch.rejections] == lab_csv({}, {"observed_at": "2024-03-14T07:55:00"},
                                                                         {}).splitlines(keepends=True)[1:]


def test_report_level_columns_must_agree() -> None:
    errors = _report({}, {"patient_id": "TEST-MRN-2"})
    assert errors == (RowError("feed.csv", 3, "patient_id", "group-field-mismatch"),)


def test_a_non_numeric_nm_value_is_refused() -> None:
    assert _report({"value_type": "NM", "value": "high"}) == (RowError("feed.csv", 2, "value", "number-format"),)


def test_unix_timestamp_spellings_are_not_dates() -> None:
    assert _report({"observed_at": "20240314"}) == (RowError("feed.csv", 2, "observed_at", "timestamp-format"),)


def test_map_report_is_pure_and_deterministic() -> None:
    row = LabResultRow.model_validate({name: (value or None) for name, value in _plain_row().items()})
    first = map_report([ParsedRow(2, row)], context())
    assert first == map_report([ParsedRow(2, row)], context())
    assert first.envelope.event_id != map_report([ParsedRow(3, row)], context()).envelope.event_id


def _plain_row() -> dict[str, str]:
    from tests.unit.batch.fakes import LAB_DEFAULTS

    return {name: LAB_DEFAULTS[name] for name in COLUMNS}
