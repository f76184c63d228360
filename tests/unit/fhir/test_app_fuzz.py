"""Mutated transaction and batch Bundles through the app: never a 5xx, never a half-published transaction."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.fhir.conftest import FHIR_HEADERS, AppHarness
from tests.unit.fhir.fakes import read_sample
from tests.unit.fhir.test_mapping_fuzz import JSON_VALUES, _paths

pytestmark = pytest.mark.slow

BUNDLES = ["r4ex__Bundle-lipids.json", "msfc__REF-I12-01-expected.json", "r4ex__Bundle-bundle-transaction.json"]


def _base(name: str, bundle_type: str) -> dict[str, Any]:
    bundle = copy.deepcopy(read_sample(name))
    bundle["type"] = bundle_type
    bundle["entry"] = bundle["entry"][:12]
    for entry in bundle["entry"]:
        if "request" not in entry and "resource" in entry:
            entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    return bundle


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    bundle = _base(draw(st.sampled_from(BUNDLES)), draw(st.sampled_from(["transaction", "batch"])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(bundle)))
        parent: Any = bundle
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return bundle


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(bundle=bundles())
def test_mutated_bundles_never_fail_the_server(bundle: dict[str, Any]) -> None:
    harness = AppHarness()

    async def send() -> int:
        async with harness.client() as client:
            response = await client.post("/fhir/", content=json.dumps(bundle), headers=FHIR_HEADERS)
            return response.status_code

    status = asyncio.run(send())
    assert status < 500
    if bundle.get("type") == "transaction" and status != 200:
        assert harness.publisher.calls == []
    if status == 200 and bundle.get("type") == "transaction":
        assert len(harness.publisher.calls) <= 1
