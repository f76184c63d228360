"""Ownership: which source system may speak for which domain, at which facility (the integration catalog).

`config/integrations.yaml` declares every integration: its source system (as it appears in
`Envelope.source.system`), name, protocol(s), purpose, the domains it owns and for which facilities
(`Envelope.source.facility`; `*` for any, including none), data sensitivity and criticality. The catalog is
the inventory `carebus catalog` prints, and the rule the ownership stage enforces:

- `unknown-source`: the system is not in the catalog;
- `protocol-mismatch`: it arrived over a protocol the integration does not use;
- `domain-not-owned`: the integration does not own the event's domain;
- `facility-not-owned`: it owns the domain, but not for the event's facility.

Such an event goes to `deadletter.ownership` with the reason and a detail naming system, domain and facility
(names of systems, never patient data). Several integrations may own one domain (a registration system over
HL7 v2 and a portal over FHIR both speak for `patient`): ownership says who is allowed to be a source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from carebus.events import DOMAINS
from processors.errors import ConfigFileError

__all__ = [
    "ANY_FACILITY",
    "INTEGRATIONS_FILE",
    "Catalog",
    "Integration",
    "OwnershipViolation",
    "check_ownership",
    "load_catalog",
]

INTEGRATIONS_FILE: Final = "integrations.yaml"
ANY_FACILITY: Final = "*"
Sensitivity = Literal["deidentified", "phi", "restricted"]
Criticality = Literal["low", "medium", "high", "critical"]
Protocol = Literal["hl7v2", "fhir", "batch"]


class Integration(BaseModel):
    """One connected system, as the operator declares it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    system: str = Field(min_length=1)
    name: str
    protocols: tuple[Protocol, ...] = Field(min_length=1, alias="protocol")
    purpose: str
    owns: Mapping[str, tuple[str, ...]]
    sensitivity: Sensitivity
    criticality: Criticality
    contact: str | None = None

    @field_validator("protocols", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("owns")
    @classmethod
    def _known_domains(cls, value: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(DOMAINS))
        if unknown:
            raise ValueError(f"unknown domain(s) {', '.join(unknown)}; expected {', '.join(DOMAINS)}")
        if any(not facilities for facilities in value.values()):
            raise ValueError(f"each owned domain needs a list of facilities (`{ANY_FACILITY}` for any)")
        return value

    def owns_domain(self, domain: str) -> bool:
        return domain in self.owns

    def owns_facility(self, domain: str, facility: str | None) -> bool:
        facilities = self.owns.get(domain, ())
        return ANY_FACILITY in facilities or (facility is not None and facility in facilities)


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrations: tuple[Integration, ...]


@dataclass(frozen=True)
class Catalog:
    integrations: tuple[Integration, ...]
    by_system: Mapping[str, Integration] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_system", MappingProxyType({i.system: i for i in self.integrations}))

    def get(self, system: str) -> Integration | None:
        return self.by_system.get(system)

    @property
    def systems(self) -> frozenset[str]:
        return frozenset(i.system for i in self.integrations)


@dataclass(frozen=True)
class OwnershipViolation:
    reason: str
    detail: str


def check_ownership(catalog: Catalog, *, system: str, protocol: str, facility: str | None,
                    domain: str) -> OwnershipViolation | None:
    """None when `system` owns `domain` at `facility` over `protocol`; else why not."""
    integration = catalog.get(system)
    where = f"system {system}, domain {domain}, facility {facility or '(none)'}"
    if integration is None:
        return OwnershipViolation("unknown-source", f"{where}: the system is not in the integration catalog")
    if protocol not in integration.protocols:
        return OwnershipViolation("protocol-mismatch",
                                  f"{where}: arrived over {protocol}, the catalog declares "
                                  f"{', '.join(integration.protocols)}")
    if not integration.owns_domain(domain):
        return OwnershipViolation("domain-not-owned", f"{where}: the system does not own the domain")
    if not integration.owns_facility(domain, facility):
        return OwnershipViolation("facility-not-owned", f"{where}: the system does not own the domain there")
    return None


def load_catalog(path: Path) -> Catalog:
    """Read and validate the integration catalog; a system declared twice is an error."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read ({type(exc).__name__})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigFileError(str(path), "not valid YAML", line=mark.line + 1 if mark else None) from exc
    try:
        parsed = _CatalogFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise ConfigFileError(str(path), f"{location}: {first['msg']}") from None
    seen: set[str] = set()
    for integration in parsed.integrations:
        if integration.system in seen:
            raise ConfigFileError(str(path), f"system {integration.system} is declared twice")
        seen.add(integration.system)
    return Catalog(parsed.integrations)
