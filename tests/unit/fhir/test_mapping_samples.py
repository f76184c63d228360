"""Every file in shared/samples/fhir/ maps: supported resources become events, the rest fail with a typed error.

The table below is the decision record per sample: how many events of each type, and how many entries fail and
why. The Bundle types covered: transaction, batch, message, collection, searchset; plus single resources and
NDJSON. Every event is written through fastavro (strict) with its domain's schema, so mapping cannot produce
an event the contract refuses.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import fastavro
import pytest

from carebus.events import Event, parsed_event_schema, to_avro_dict
from carebus.publishing import domain_of
from producers.fhir._json import loads
from producers.fhir.errors import (
    FhirInputError,
    InvalidResourceError,
    UnsupportedInteractionError,
    UnsupportedResourceError,
)
from producers.fhir.mapping import SUPPORTED_RESOURCE_TYPES, Unit, map_bundle, map_resource
from tests.unit.fhir.fakes import bundle_files, context, iter_ndjson, sample_files

EXPECTED: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    # Message Bundle from CDC ReportStream: its Observations lack `code` (required in R4), so the report that
    # folds them in fails with them; its ServiceRequests lack `intent` (required).
    "cdcti__002_CA_ORU_R01_initial_translation.fhir": (
        {"patient.upserted": 1, "result.finalized": 1},
        {"UnsupportedResourceError": 19, "InvalidResourceError": 3},
    ),
    "cdcti__004_OML_O21.fhir": (
        {"order.status-changed": 1, "result.preliminary": 1, "patient.upserted": 1},
        {"UnsupportedResourceError": 14},
    ),
    # Batch Bundles from microsoft/FHIR-Converter: every entry is a PUT (update); the reports are "registered".
    "msfc__DFT-P03-01-expected.json": (
        {"patient.upserted": 1, "encounter.updated": 1, "order.status-changed": 1, "result.preliminary": 1},
        {"UnsupportedResourceError": 91},
    ),
    "msfc__REF-I12-01-expected.json": (
        {"referral.updated": 1, "patient.upserted": 1, "result.finalized": 1, "encounter.updated": 1,
         "order.updated": 1, "result.preliminary": 1},
        {"UnsupportedResourceError": 81},
    ),
    "r4ex__Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json": ({"patient.upserted": 2},
                                                               {"UnsupportedResourceError": 1}),
    "r4ex__Bundle-bundle-example.json": ({}, {"UnsupportedResourceError": 2}),
    # Transaction with DELETE/GET entries (no resource to ingest) and a Parameters operation call.
    "r4ex__Bundle-bundle-transaction.json": (
        {"patient.upserted": 5},
        {"UnsupportedInteractionError": 4, "UnsupportedResourceError": 1},
    ),
    # Collection: one report and the four Observations it references, folded into one event.
    "r4ex__Bundle-lipids.json": ({"result.finalized": 1}, {}),
    "r4ex__Claim-100150.json": ({"claim.submitted": 1}, {}),
    "r4ex__Claim-MED-00050.json": ({"claim.submitted": 1}, {}),
    "r4ex__DiagnosticReport-example-pgx.json": ({"result.finalized": 1}, {}),
    "r4ex__DiagnosticReport-pap.json": ({"result.finalized": 1}, {}),
    "r4ex__Encounter-example.json": ({"encounter.started": 1}, {}),
    "r4ex__Encounter-f001.json": ({"encounter.ended": 1}, {}),
    "r4ex__Observation-blood-pressure.json": ({"result.finalized": 1}, {}),
    "r4ex__Observation-example.json": ({"result.finalized": 1}, {}),
    "r4ex__Observation-f001.json": ({"result.finalized": 1}, {}),
    "r4ex__Patient-example.json": ({"patient.upserted": 1}, {}),
    "r4ex__Patient-f201.json": ({"patient.upserted": 1}, {}),
    "r4ex__ServiceRequest-di.json": ({"order.placed": 1}, {}),
    "r4ex__ServiceRequest-lipid.json": ({"order.placed": 1}, {}),
    "sbfd__Patient.000.ndjson": ({"patient.upserted": 13}, {}),
}


def _write_avro(event: Event) -> None:
    fastavro.schemaless_writer(io.BytesIO(), parsed_event_schema(domain_of(event)), to_avro_dict(event),
                               strict=True)


def _map_file(path: Path) -> tuple[list[Event], list[Unit]]:
    if path.suffix == ".ndjson":
        return [event for line in iter_ndjson(path.name) for event in map_resource(loads(line), context())], []
    data = loads(path.read_bytes())
    if data["resourceType"] != "Bundle":
        return list(map_resource(data, context())), []
    units = map_bundle(data, context())
    return [event for unit in units for event in unit.events], units


def test_the_table_names_every_sample() -> None:
    assert sorted(path.name for path in sample_files()) == sorted(EXPECTED)


@pytest.mark.parametrize("path", sample_files(), ids=lambda path: path.name)
def test_sample_maps_as_recorded(path: Path) -> None:
    events, units = _map_file(path)
    expected_events, expected_errors = EXPECTED[path.name]

    assert Counter(event.envelope.event_type for event in events) == Counter(expected_events)
    assert Counter(type(unit.error).__name__ for unit in units if unit.error) == Counter(expected_errors)
    for event in events:
        _write_avro(event)
        assert event.envelope.source.protocol == "fhir"
        assert event.envelope.received_at is not None
        assert event.envelope.correlation_id == "test-client|MSG-1"


@pytest.mark.parametrize("path", bundle_files(), ids=lambda path: path.name)
def test_every_bundle_entry_is_accounted_for(path: Path) -> None:
    """Each entry is in exactly one unit: published with it, or refused with a located, typed error."""
    data = loads(path.read_bytes())
    units = map_bundle(data, context())
    covered = sorted(index for unit in units for index in unit.entries)
    assert covered == list(range(len(data["entry"])))
    for unit in units:
        assert (unit.error is None) != (not unit.events)
        if unit.error is not None:
            assert isinstance(unit.error, FhirInputError)
            assert all(issue.expression and issue.expression.startswith("Bundle.entry[")
                       for issue in unit.error.issues)


@pytest.mark.parametrize("path", bundle_files(), ids=lambda path: path.name)
def test_unsupported_entries_name_their_type_and_supported_ones_map(path: Path) -> None:
    data = loads(path.read_bytes())
    for unit in map_bundle(data, context()):
        entry = data["entry"][unit.entries[0]]
        kind = (entry.get("resource") or {}).get("resourceType")
        if isinstance(unit.error, UnsupportedResourceError):
            assert kind not in SUPPORTED_RESOURCE_TYPES
            assert unit.error.resource_type == kind
            assert unit.error.issues[0].code == "not-supported"
            assert unit.error.issues[0].expression == f"Bundle.entry[{unit.entries[0]}].resource.resourceType"
        elif isinstance(unit.error, UnsupportedInteractionError):
            assert entry["request"]["method"] in ("DELETE", "GET") or kind is None
        elif isinstance(unit.error, InvalidResourceError):
            assert kind in SUPPORTED_RESOURCE_TYPES
        else:
            assert kind in SUPPORTED_RESOURCE_TYPES


def test_a_lone_unsupported_resource_is_a_typed_error() -> None:
    with pytest.raises(UnsupportedResourceError) as caught:
        map_resource({"resourceType": "Medication", "id": "m1"}, context())
    assert caught.value.resource_type == "Medication"
    assert caught.value.issues[0].expression == "Medication.resourceType"


def test_a_non_resource_is_invalid_not_unsupported() -> None:
    with pytest.raises(InvalidResourceError) as caught:
        map_resource({"resourceType": "Quantity", "value": 1}, context())
    assert caught.value.issues[0].expression == "Quantity.resourceType"
