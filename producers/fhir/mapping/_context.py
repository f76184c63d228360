"""What a mapping needs besides the resource: the mapping context, and reference resolution.

`MappingContext` carries everything impure a mapping would otherwise reach for: the receive time, the event-id
factory, the source, and this server's base URL. `References` resolves a FHIR Reference the way the FHIR
Bundle rules say: `#id` to a contained resource; `urn:uuid:`/`urn:oid:` and absolute URLs to the Bundle entry
with that `fullUrl`; a relative `Type/id` against the base of the referring entry's `fullUrl` when that is a
RESTful URL, else against this server's base.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from fhir_core.fhirabstractmodel import FHIRAbstractModel

from carebus.events import Identifier

__all__ = [
    "DEFAULT_PATIENT_IDENTIFIER_TYPES",
    "DEFAULT_REFERRAL_CODES",
    "URI_SYSTEM",
    "Interaction",
    "MappingContext",
    "References",
    "Scope",
    "Target",
    "absolute_reference",
    "base_of",
    "split_literal",
]

Interaction = Literal["create", "update"]
"""The FHIR interaction that delivered the resource: `POST` is create, `PUT` is update."""

SNOMED: Final = "http://snomed.info/sct"
URI_SYSTEM: Final = "urn:ietf:rfc:3986"
"""FHIR's identifier system for values that are themselves URIs (used for unresolved `urn:uuid:` references)."""

DEFAULT_PATIENT_IDENTIFIER_TYPES: Final = ("MR", "MRN", "PI", "PT")
"""Patient.identifier.type codes (v2-0203), in order of preference, for the subject's primary identifier."""

DEFAULT_REFERRAL_CODES: Final = frozenset({
    (SNOMED, "3457005"),  # Patient referral (US Core ServiceRequest category; FHIR STU3 referral-type)
    # What microsoft/FHIR-Converter writes for REF^I12 (shared/samples/fhir/msfc__REF-I12-01-expected.json).
    ("http://example.com/v2-to-fhir-converter/CodeSystem/additional-service-request-category-codes",
     "patient-referral-request"),
})
"""(system, code) pairs that mark a ServiceRequest as a referral, in `category` or `code`."""

_LITERAL: Final = re.compile(
    r"^(?:(?P<base>https?://\S+?)/)?(?P<type>[A-Z][A-Za-z]{1,63})/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)


def split_literal(reference: str) -> tuple[str | None, str, str] | None:
    """`http://x/fhir/Patient/1` -> (`http://x/fhir`, `Patient`, `1`); `Patient/1` -> (None, ...); else None."""
    match = _LITERAL.match(reference)
    if match is None:
        return None
    return match.group("base"), match.group("type"), match.group("id")


def base_of(full_url: str | None, server_base: str) -> str:
    """The base that relative references inside an entry resolve against (FHIR Bundle rules)."""
    if full_url:
        parts = split_literal(full_url)
        if parts is not None and parts[0] is not None:
            return parts[0]
    return server_base


def absolute_reference(reference: str, context_base: str) -> str | None:
    """The key a reference is looked up by among Bundle entries; None for contained (`#id`) references."""
    if reference.startswith("#"):
        return None
    if reference.startswith("urn:"):
        return reference
    parts = split_literal(reference)
    if parts is None:
        return reference
    base, kind, ident = parts
    return f"{base or context_base}/{kind}/{ident}"


@dataclass(frozen=True)
class MappingContext:
    """Everything a mapping takes besides the resource; the mapping itself reads no clock and makes no ids."""

    base_url: str
    """This server's base, e.g. `https://fhir.example.org/fhir`: the system of ids derived from references."""
    source_system: str
    """`Source.system`: the sending client (its configured name), else the base URL."""
    received_at: datetime
    """When the request arrived (timezone-aware); the fallback for `recorded_at` and `occurred_at`."""
    new_event_id: Callable[[], str]
    """Makes each event's UUID."""
    message_id: str
    """`Source.original_message_id`: the Bundle's identifier or id, else `<Type>/<id>` of the resource."""
    source_facility: str | None = None
    correlation_id: str | None = None
    """Defaults to `<source_system>|<message_id>`: every event of one request shares it."""
    patient_identifier_types: tuple[str, ...] = DEFAULT_PATIENT_IDENTIFIER_TYPES
    referral_codes: frozenset[tuple[str, str]] = DEFAULT_REFERRAL_CODES

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        if not self.base_url or self.base_url.endswith("/"):
            raise ValueError("base_url must be non-empty, without a trailing slash")

    @property
    def correlation(self) -> str:
        return self.correlation_id or f"{self.source_system}|{self.message_id}"


@dataclass(frozen=True)
class Target:
    """What a Reference points at, as far as it can be told without a server."""

    resource_type: str | None
    """From the literal reference, `Reference.type`, or the resolved resource."""
    resource_id: str | None
    base: str | None
    """The server base the literal reference lives under; the `system` of its identity."""
    resource: FHIRAbstractModel | None = None
    """The resource itself when it is contained or in the same Bundle (and valid)."""
    entry: int | None = None
    """The Bundle entry index it resolved to, valid or not."""
    urn: str | None = None
    full_url: str | None = None
    """The `fullUrl` of the entry it resolved to."""
    contained: bool = False

    def identity(self) -> Identifier | None:
        """The reference as an identifier: system = the server base, value = `Type/id` (or the urn as a URI)."""
        if self.base and self.resource_type and self.resource_id:
            return Identifier(system=self.base, value=f"{self.resource_type}/{self.resource_id}")
        if self.urn:
            return Identifier(system=URI_SYSTEM, value=self.urn)
        return None


@dataclass(frozen=True)
class _Entry:
    index: int
    resource: FHIRAbstractModel | None
    full_url: str | None


@dataclass(frozen=True)
class References:
    """The resources a Bundle makes resolvable, by every key a reference may use (empty outside a Bundle)."""

    server_base: str
    entries: Mapping[str, _Entry] = field(default_factory=dict)

    @classmethod
    def of_bundle(cls, server_base: str,
                  keyed: Mapping[str, tuple[int, FHIRAbstractModel | None, str | None]]) -> References:
        """`keyed`: lookup key -> (entry index, the valid resource or None, the entry's fullUrl)."""
        return cls(server_base, {key: _Entry(*value) for key, value in keyed.items()})

    def scope(self, container: FHIRAbstractModel, *, full_url: str | None = None) -> Scope:
        """Resolution for references made inside `container` (an entry with `full_url`, or a lone resource)."""
        return Scope(self, container, base_of(full_url, self.server_base))


@dataclass(frozen=True)
class Scope:
    """Resolves the references of one resource."""

    references: References
    container: FHIRAbstractModel
    base: str

    def _contained(self, ident: str) -> FHIRAbstractModel | None:
        for item in getattr(self.container, "contained", None) or ():
            if getattr(item, "id", None) == ident:
                return item  # type: ignore[no-any-return]
        return None

    def of(self, target: Target) -> Scope:
        """The scope for resolving references made inside `target`'s resource."""
        if target.contained or target.resource is None:
            return self
        return self.references.scope(target.resource, full_url=target.full_url)

    def resolve(self, reference: Any) -> Target | None:
        """Resolve a fhir.resources Reference; None when it carries neither a reference nor a type."""
        if reference is None:
            return None
        literal: str | None = reference.reference
        declared: str | None = reference.type
        if not literal:
            return Target(declared, None, None) if declared else None
        if literal.startswith("#"):
            found = self._contained(literal[1:])
            kind = found.get_resource_type() if found is not None else declared
            return Target(kind, None, None, resource=found, contained=True)
        key = absolute_reference(literal, self.base)
        entry = self.references.entries.get(key) if key else None
        resource = entry.resource if entry is not None else None
        index = entry.index if entry is not None else None
        full_url = entry.full_url if entry is not None else None
        if literal.startswith("urn:"):
            kind = resource.get_resource_type() if resource is not None else declared
            ident = getattr(resource, "id", None) if resource is not None else None
            base = self.references.server_base if ident else None
            return Target(kind, ident, base, resource=resource, entry=index, urn=literal, full_url=full_url)
        parts = split_literal(literal)
        if parts is None:  # a non-RESTful URL: keep it as a URI
            return Target(declared, None, None, resource=resource, entry=index, urn=literal, full_url=full_url)
        base, kind, ident = parts
        return Target(kind, ident, base or self.base, resource=resource, entry=index, full_url=full_url)
