"""Schemathesis against the app's own OpenAPI, with fake ports: no generated request may produce a 5xx.

Runs every operation with a bounded number of Hypothesis examples (well under a minute in all), once with a
token that may write everything and once without one, so both the auth failures and the body handling are
fuzzed. All of Schemathesis's default checks apply (no 5xx, declared status codes, content types and response
schemas, `Allow` on 405) except `positive_data_acceptance`: the OpenAPI describes a body only as "an object
with a resourceType", far looser than FHIR R4 validation, so a schema-valid body is usually still refused.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.unit.fhir.conftest import AppHarness

schemathesis = pytest.importorskip("schemathesis")  # dev extra; see pyproject.toml
from schemathesis.generation.case import Case  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

pytestmark = pytest.mark.slow

HARNESS = AppHarness()
schema = schemathesis.openapi.from_asgi("/openapi.json", HARNESS.app)


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.parametrize("token", ["all-writes", None])
def test_no_request_makes_a_server_error(case: Case, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
