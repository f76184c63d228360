"""Every sample in shared/samples/fhir/ goes through the HTTP app, and no PHI from them reaches logs or metrics.

How each kind of file is sent: a single resource is POSTed to its type; NDJSON line by line; a batch Bundle
as it is; a message, collection or searchset Bundle is re-sent as a batch of creates (same entries, same
fullUrls), since POST [base] only processes transactions and batches. The events published must be exactly
those the pure mapping records for the file (test_mapping_samples.EXPECTED).
"""

from __future__ import annotations

import copy
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from producers.fhir._json import loads
from producers.fhir.mapping import map_bundle
from tests.unit.fhir.conftest import FHIR_HEADERS, AppHarness
from tests.unit.fhir.fakes import context, iter_ndjson, read_sample, sample_files
from tests.unit.fhir.test_mapping_samples import EXPECTED

pytestmark = pytest.mark.anyio


def _as_batch(bundle: dict[str, Any]) -> dict[str, Any]:
    batch = copy.deepcopy(bundle)
    batch["type"] = "batch"
    for entry in batch["entry"]:
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    return batch


async def _ingest(harness: AppHarness, path: Path) -> list[int]:
    """Send one sample file; return the statuses (per request, or per Bundle entry)."""
    async with harness.client() as client:
        if path.suffix == ".ndjson":
            return [(await client.post("/fhir/Patient", content=line, headers=FHIR_HEADERS)).status_code
                    for line in iter_ndjson(path.name)]
        data = json.loads(path.read_bytes())
        if data["resourceType"] != "Bundle":
            response = await client.post(f"/fhir/{data['resourceType']}", content=path.read_bytes(),
                                         headers=FHIR_HEADERS)
            return [response.status_code]
        if data["type"] == "transaction":
            before = len(harness.publisher.calls)
            whole = await client.post("/fhir/", content=path.read_bytes(), headers=FHIR_HEADERS)
            assert whole.status_code == 400  # DELETE/GET entries, a Parameters call, an If-Match: all or none
            assert len(harness.publisher.calls) == before
            data["entry"] = [entry for entry in data["entry"]
                             if entry.get("resource", {}).get("resourceType") == "Patient"]
            for entry in data["entry"]:
                entry["request"].pop("ifMatch", None)  # version 2 of a resource this server never saw
        elif data["type"] != "batch":
            data = _as_batch(data)
        response = await client.post("/fhir/", content=json.dumps(data), headers=FHIR_HEADERS)
        assert response.status_code == 200
        return [int(entry["response"]["status"].split()[0]) for entry in response.json()["entry"]]


@pytest.mark.parametrize("path", sample_files(), ids=lambda path: path.name)
async def test_every_sample_ingests_its_supported_resources(make_harness: Any, path: Path) -> None:
    harness: AppHarness = make_harness()
    statuses = await _ingest(harness, path)
    expected_events, _ = EXPECTED[path.name]
    published = Counter(event.envelope.event_type for event in harness.publisher.events)
    assert published == Counter(expected_events)
    data = json.loads(path.read_bytes()) if path.suffix != ".ndjson" else None
    if data is not None and data["resourceType"] == "Bundle" and data["type"] != "transaction":
        units = map_bundle(loads(path.read_bytes()), context())
        accepted = sorted(index for unit in units if unit.error is None for index in unit.entries)
        assert sorted(index for index, status in enumerate(statuses) if status < 300) == accepted
        assert all(status in (400, 404, 405, 422) for status in statuses if status >= 300)
    else:
        assert all(status in (200, 201) for status in statuses)


def _phi_values() -> set[str]:
    """Names, birth dates, identifiers and phone numbers of every Patient in the samples."""
    values: set[str] = set()

    def collect(resource: dict[str, Any]) -> None:
        if resource.get("resourceType") != "Patient":
            return
        for name in resource.get("name", []):
            values.update(part for part in [name.get("family"), *name.get("given", [])] if part)
        values.update(item["value"] for item in resource.get("identifier", []) if item.get("value"))
        values.update(item["value"] for item in resource.get("telecom", []) if item.get("value"))
        if resource.get("birthDate"):
            values.add(resource["birthDate"])

    for path in sample_files():
        if path.suffix == ".ndjson":
            for line in iter_ndjson(path.name):
                collect(json.loads(line))
            continue
        data = json.loads(path.read_bytes())
        for resource in [data, *(entry.get("resource", {}) for entry in data.get("entry", []))]:
            collect(resource)
    return {value for value in values if len(value) >= 5}


async def test_no_phi_in_logs_metrics_or_dead_letter_headers(make_harness: Any,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    harness: AppHarness = make_harness()
    caplog.set_level(logging.DEBUG)
    for path in sample_files():
        await _ingest(harness, path)
    broken = read_sample("r4ex__Patient-example.json")
    broken["gender"] = broken["name"][0]["family"]  # a name where a code belongs
    broken["birthDate"] = "Chalmers-1974"
    harness.publisher.fail_next = 1
    async with harness.client() as client:
        await client.post("/fhir/Patient", content=json.dumps(broken), headers=FHIR_HEADERS)
        await client.post("/fhir/Patient", content=json.dumps(read_sample("r4ex__Patient-f201.json")),
                          headers=FHIR_HEADERS)
        metrics = (await client.get("/metrics")).text
    phi = _phi_values()
    assert "Chalmers" in phi and "1974-12-25" in phi
    logged = "\n".join(record.getMessage() for record in caplog.records)
    headers = "\n".join(f"{letter.reason} {letter.detail} {letter.sender}" for letter in harness.deadletters.letters)
    assert harness.deadletters.letters and caplog.records
    for value in phi:
        assert value not in logged, "PHI in a log record"
        assert value not in metrics, "PHI in a metric"
        assert value not in headers, "PHI in a dead-letter header"
