from __future__ import annotations

from pathlib import Path

import pytest

from processors.config_files import ProcessorRules
from processors.errors import ConfigFileError
from processors.ownership import Catalog, check_ownership, load_catalog


def _check(catalog: Catalog, system: str, domain: str, facility: str | None = "DEMO GENERAL",
           protocol: str = "hl7v2") -> str | None:
    violation = check_ownership(catalog, system=system, protocol=protocol, facility=facility, domain=domain)
    return None if violation is None else violation.reason


def test_owners_pass(rules: ProcessorRules) -> None:
    assert _check(rules.catalog, "DEMOLAB", "result") is None
    assert _check(rules.catalog, "DEMOPORTAL", "patient", protocol="fhir") is None
    assert _check(rules.catalog, "ADT1", "patient", facility="GOOD HEALTH HOSPITAL") is None


@pytest.mark.parametrize(("system", "domain", "facility", "protocol", "reason"), [
    ("ROGUE", "result", "X", "hl7v2", "unknown-source"),
    ("DEMOLAB", "patient", "X", "hl7v2", "domain-not-owned"),
    ("DEMOLAB", "result", "X", "fhir", "protocol-mismatch"),
    ("ADT1", "patient", "ANOTHER HOSPITAL", "hl7v2", "facility-not-owned"),
    ("ADT1", "patient", None, "hl7v2", "facility-not-owned"),
])
def test_violations(rules: ProcessorRules, *, system: str, domain: str, facility: str | None, protocol: str,
                    reason: str) -> None:
    assert _check(rules.catalog, system, domain, facility, protocol) == reason


def test_the_detail_names_systems_and_domains_only(rules: ProcessorRules) -> None:
    violation = check_ownership(rules.catalog, system="DEMOLAB", protocol="hl7v2", facility="F", domain="patient")
    assert violation is not None
    assert violation.detail == "system DEMOLAB, domain patient, facility F: the system does not own the domain"


def test_every_shipped_integration_declares_the_inventory_fields(rules: ProcessorRules) -> None:
    for integration in rules.catalog.integrations:
        assert integration.name and integration.purpose and integration.owns
        assert integration.sensitivity in {"deidentified", "phi", "restricted"}


@pytest.mark.parametrize(("text", "message"), [
    ("integrations:\n  - {system: A, name: a, protocol: hl7v2, purpose: p, owns: {lab: ['*']}, sensitivity: phi,"
     " criticality: low}\n", "unknown domain"),
    ("integrations:\n  - {system: A, name: a, protocol: telex, purpose: p, owns: {result: ['*']}, sensitivity: phi,"
     " criticality: low}\n", "protocol"),
    ("integrations:\n" + "  - {system: A, name: a, protocol: hl7v2, purpose: p, owns: {result: ['*']}, "
     "sensitivity: phi, criticality: low}\n" * 2, "declared twice"),
    ("integrations: [\n", "not valid YAML"),
])
def test_a_bad_catalog_is_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "integrations.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError, match=message):
        load_catalog(path)
