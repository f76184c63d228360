"""Mutated real resources: the mapping either makes events the contract accepts or raises FhirInputError.

Schemathesis only knows "an object with a resourceType"; these cases start from the samples and break one
element at a time (a wrong type, a wrong code, a missing element, a deeper structure), which is where a mapper
could trip over an unexpected shape.
"""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carebus.events import parsed_event_schema, to_avro_dict
from carebus.publishing import domain_of
from producers.fhir.errors import FhirInputError
from producers.fhir.mapping import SUPPORTED_RESOURCE_TYPES, map_resource
from tests.unit.fhir.fakes import context, sample_files

SECRET = "Zzsecret-Qaname"


def _supported_resources() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sample_files():
        if path.suffix == ".ndjson":
            continue
        data = json.loads(path.read_bytes())
        resources = [entry.get("resource") for entry in data.get("entry", [])] if data["resourceType"] == "Bundle" \
            else [data]
        found.extend(item for item in resources if item and item.get("resourceType") in SUPPORTED_RESOURCE_TYPES)
    return found


RESOURCES = _supported_resources()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.sampled_from(
        [SECRET, "", "final", "Patient/1", "#x", "urn:uuid:1", "2020-13-45", "2024-01-01T00:00:00Z", "1974-12",
         "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["reference", "value", "code", "system", "coding", "text", "start", "resourceType"]),
        children, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "resourceType":
                found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


EXTREMES = st.sampled_from([Decimal("1E+400"), Decimal("-1E+400"), Decimal("1E-400"), Decimal("0.00001"),
                            2**31, -(2**31) - 1])


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    resource = copy.deepcopy(draw(st.sampled_from(RESOURCES)))
    path = draw(st.sampled_from(_paths(resource)))
    parent = resource
    for part in path[:-1]:
        parent = parent[part]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES | EXTREMES)
    return resource


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(resource=mutated(), interaction=st.sampled_from(["create", "update"]))
def test_mutated_resources_map_or_fail_cleanly(resource: dict[str, Any], interaction: str) -> None:
    try:
        events = map_resource(resource, context(), interaction=interaction)  # type: ignore[arg-type]
    except FhirInputError as error:
        assert error.issues
        assert SECRET not in str(error)
        assert all(SECRET not in issue.diagnostics for issue in error.issues)
        return
    for event in events:
        fastavro.schemaless_writer(io.BytesIO(), parsed_event_schema(domain_of(event)), to_avro_dict(event),
                                   strict=True)
