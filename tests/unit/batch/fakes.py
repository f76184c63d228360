"""Hand-written fakes at the batch loader's ports, and small CSV builders for the layouts we define."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from carebus.errors import PublishError
from carebus.events import Event
from carebus.kafka.producer import Delivery
from carebus.publishing import DeadLetter, domain_of
from producers.batch._envelope import LoadContext
from producers.batch.claims import COLUMNS as CLAIM_COLUMNS
from producers.batch.lab_results import COLUMNS as LAB_COLUMNS

RECEIVED_AT = datetime(2024, 3, 14, 12, 0, tzinfo=UTC)
SHA = "ab" * 32


class FakePublisher:
    """Records each publish call (one batch); can fail on the n-th call, like a broker outage."""

    def __init__(self, *, fail_on_call: int | None = None) -> None:
        self.calls: list[list[Event]] = []
        self._fail_on_call = fail_on_call

    @property
    def events(self) -> list[Event]:
        return [event for call in self.calls for event in call]

    async def publish(self, events: Sequence[Event]) -> list[Delivery]:
        if self._fail_on_call is not None and len(self.calls) + 1 == self._fail_on_call:
            self._fail_on_call = None
            raise PublishError("canonical.result.v1", "_MSG_TIMED_OUT")
        self.calls.append(list(events))
        return [Delivery(f"canonical.{domain_of(event)}.v1", 0, index) for index, event in enumerate(events)]


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def publish(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


def context(layout: str = "lab-results", *, file_name: str = "feed.csv", source_system: str = "TESTLAB",
            sha256: str = SHA) -> LoadContext:
    return LoadContext(file_sha256=sha256, file_name=file_name, layout=layout, source_system=source_system,
                       received_at=RECEIVED_AT)


LAB_DEFAULTS: Mapping[str, str] = {
    "patient_id": "TEST-MRN-1", "patient_id_system": "urn:oid:2.16.840.1.113883.19.5.99999.1",
    "report_id": "R-1", "order_number": "PLAC-1", "accession_number": "ACC-1", "report_code": "24323-8",
    "report_code_system": "LN", "report_display": "Comprehensive metabolic panel", "report_status": "",
    "issued_at": "2024-03-14T09:30:00Z", "performing_lab": "Example Lab", "test_code": "2345-7",
    "test_code_system": "LN", "test_display": "Glucose", "value_type": "", "value": "182", "value_system": "",
    "units": "mg/dL", "reference_range": "70-99", "abnormal_flag": "H", "status": "F",
    "observed_at": "2024-03-14T07:55:00-05:00",
}

CLAIM_DEFAULTS: Mapping[str, str] = {
    "claim_id": "CLM-1", "payer_id": "TESTPAYER", "payer_name": "Example Health Plan", "member_id": "MEM-7",
    "patient_id": "TEST-MRN-1", "patient_id_system": "urn:oid:2.16.840.1.113883.19.5.99999.1",
    "claim_type": "professional", "status": "submitted", "diagnosis_codes": "E11.9|I10",
    "diagnosis_code_system": "", "line_number": "1", "procedure_code": "99213", "procedure_code_system": "",
    "modifiers": "25", "quantity": "1", "unit_charge": "125.10", "line_charge": "125.10", "currency": "USD",
    "service_date": "2024-03-01",
}


def csv_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *, line_ending: str = "\n") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_ending)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue().encode()


def lab_rows(*overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**LAB_DEFAULTS, **override} for override in overrides]


def claim_rows(*overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**CLAIM_DEFAULTS, **override} for override in overrides]


def lab_csv(*overrides: Mapping[str, Any]) -> bytes:
    return csv_bytes(LAB_COLUMNS, lab_rows(*overrides))


def claim_csv(*overrides: Mapping[str, Any]) -> bytes:
    return csv_bytes(CLAIM_COLUMNS, claim_rows(*overrides))
