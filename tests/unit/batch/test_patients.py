"""Synthea patients.csv -> patient.upserted, on every row of the real sample."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import fastavro
import pytest

from carebus.events import PatientEvent, parsed_event_schema, to_avro_dict
from producers.batch._layout import ParsedRow, parse_row
from producers.batch.errors import RowError
from producers.batch.layouts import detect_layout
from producers.batch.patients import SYNTHEA_ID_SYSTEM, PatientRow, map_patient_row
from producers.batch.records import read_records
from tests.conftest import SAMPLES_DIR
from tests.unit.batch.fakes import RECEIVED_AT, context

SAMPLE = SAMPLES_DIR / "csv" / "synthea__patients.csv"


def _sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _events(data: bytes, file_name: str = "patients.csv") -> list[PatientEvent | tuple[RowError, ...]]:
    records = read_records(io.BytesIO(data))
    head = next(records)
    assert head.fields is not None
    header = detect_layout(file_name, head.fields)
    out: list[Any] = []
    for record in records:
        parsed = parse_row(header, record, file_name)
        out.append(map_patient_row([parsed], context("patients", file_name=file_name))
                   if isinstance(parsed, ParsedRow) else parsed)
    return out


@pytest.fixture(scope="module")
def events() -> list[PatientEvent]:
    mapped = _events(SAMPLE.read_bytes())
    assert all(isinstance(event, PatientEvent) for event in mapped)
    return mapped  # type: ignore[return-value]


def test_every_sample_row_becomes_one_event(events: list[PatientEvent]) -> None:
    assert len(events) == len(_sample_rows()) == 13
    assert {event.envelope.event_type for event in events} == {"patient.upserted"}


@pytest.mark.parametrize("index", range(13))
def test_each_sample_row_maps_its_columns(events: list[PatientEvent], index: int) -> None:
    row, event = _sample_rows()[index], events[index]
    patient, envelope = event.payload, event.envelope
    assert envelope.subject.source_patient_id == f"{SYNTHEA_ID_SYSTEM}|{row['Id']}"
    assert patient.identifiers[0].value == row["Id"]
    assert patient.birth_date == date.fromisoformat(row["BIRTHDATE"])
    official = patient.names[0]
    assert (official.use, official.family) == ("official", row["LAST"])
    assert official.given == tuple(part for part in (row["FIRST"], row["MIDDLE"]) if part)
    assert patient.administrative_sex == {"M": "male", "F": "female"}[row["GENDER"]]
    assert patient.addresses[0].lines == (row["ADDRESS"],)
    assert patient.addresses[0].postal_code == (row["ZIP"] or None)
    assert patient.deceased is (True if row["DEATHDATE"] else None)
    ssn = [identifier for identifier in patient.identifiers if identifier.type_code == "SS"]
    assert [identifier.value for identifier in ssn] == [row["SSN"]]
    # Avro is the contract: every event must fit it exactly.
    fastavro.schemaless_writer(io.BytesIO(), parsed_event_schema("patient"), to_avro_dict(event), strict=True)


def test_first_sample_row_in_detail(events: list[PatientEvent]) -> None:
    event = events[0]
    envelope, patient = event.envelope, event.payload
    assert envelope.source.protocol == "batch"
    assert envelope.source.original_message_id == "patients.csv:2"
    assert envelope.occurred_at == envelope.recorded_at == envelope.received_at == RECEIVED_AT
    assert patient.races[0].code == "2106-3"
    assert patient.races[0].original_code == "white"
    assert patient.ethnicities == ()
    assert patient.addresses[0].city == "Huddinge"
    assert patient.addresses[0].district == "Huddinge"


def test_death_date_maiden_name_and_marital_status(events: list[PatientEvent]) -> None:
    deceased = events[2].payload
    assert deceased.deceased_at == datetime(1985, 4, 11, tzinfo=UTC)
    married = events[3].payload
    assert [name.use for name in married.names] == ["official", "maiden"]
    assert married.names[1].family == "Barton704"
    assert married.marital_status is not None
    assert (married.marital_status.code, married.marital_status.display) == ("M", "Married")
    assert married.names[0].prefixes == ("Mrs.",)


def test_non_ascii_survives(events: list[PatientEvent]) -> None:
    assert any("Södertälje" in line for line in SAMPLE.read_text(encoding="utf-8").splitlines())
    assert all(event.payload.identifiers for event in events)


def test_event_ids_are_deterministic_per_file_hash_and_line(events: list[PatientEvent]) -> None:
    again = _events(SAMPLE.read_bytes())
    assert [event.envelope.event_id for event in events] == [e.envelope.event_id for e in again]  # type: ignore[union-attr]
    assert len({event.envelope.event_id for event in events}) == 13


def test_a_bad_row_names_line_column_and_rule_never_the_value() -> None:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    bad = lines[1].replace(b"2020-02-06", b"2020-02-31").replace(b",F,", b",X,")
    (outcome, *rest) = _events(lines[0] + bad + lines[2])
    assert isinstance(outcome, tuple)
    assert set(outcome) == {RowError("patients.csv", 2, "BIRTHDATE", "date-format"),
                            RowError("patients.csv", 2, "GENDER", "allowed-values")}
    assert all("2020-02-31" not in str(error) and "X" not in str(error).split(":")[-1] for error in outcome)
    assert isinstance(rest[0], PatientEvent)


def test_an_unknown_race_word_is_refused() -> None:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    (outcome,) = _events(lines[0] + lines[1].replace(b",white,", b",martian,"))
    assert outcome == (RowError("patients.csv", 2, "RACE", "allowed-values"),)


def test_a_row_model_repr_shows_no_values() -> None:
    row = PatientRow.model_validate({"id": "TEST-ID-1", "birthdate": "1961-07-04", "first": "Qatest",
                                     "last": "Zzexample", "gender": "F"})
    assert repr(row) == "PatientRow()"
    assert "Zzexample" not in str(row)
