"""Bundles: reading the shell, and mapping entries as units, with the references between them resolved.

A *unit* is what is published (or rejected) together: one entry, or a DiagnosticReport together with the
Observations of the same Bundle that its `result` points at. Every other entry of a supported type is a unit of
its own; an entry of another type is a unit that fails with UnsupportedResourceError (nothing is dropped
silently). Issues are located at `Bundle.entry[i].resource...`; a report fails when one of its folded
Observations is invalid, with the issue located at that Observation's entry.

Every entry is validated (supported or not) so that references to it can be read: a DiagnosticReport's
performer may be a Practitioner entry, which gives a name even though Practitioners are not ingested.
Entries are found by `fullUrl` (absolute, `urn:uuid:`, or relative to this server's base) and by
`<base>/<Type>/<id>`, where base is the base of the entry's RESTful `fullUrl`, else this server's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from carebus.events import Event
from producers.fhir.errors import (
    FhirInputError,
    InvalidResourceError,
    Issue,
    UnmappableResourceError,
    UnsupportedInteractionError,
    UnsupportedResourceError,
)
from producers.fhir.mapping._context import (
    Interaction,
    MappingContext,
    References,
    Scope,
    absolute_reference,
    base_of,
)
from producers.fhir.mapping.claim import map_claim
from producers.fhir.mapping.diagnostic_report import map_diagnostic_report
from producers.fhir.mapping.encounter import map_encounter
from producers.fhir.mapping.observation import map_observation
from producers.fhir.mapping.patient import map_patient
from producers.fhir.mapping.service_request import map_service_request
from producers.fhir.validation import is_resource_type, pydantic_issues, validate_resource

__all__ = [
    "MAPPERS",
    "SUPPORTED_RESOURCE_TYPES",
    "BundleEntry",
    "BundleShell",
    "EntryInput",
    "Unit",
    "map_bundle",
    "map_entries",
    "map_resource",
    "read_bundle",
]

Mapper = Callable[..., tuple[Event, ...]]

MAPPERS: Final[Mapping[str, Mapper]] = {
    "Patient": map_patient,
    "Encounter": map_encounter,
    "ServiceRequest": map_service_request,
    "Observation": map_observation,
    "DiagnosticReport": map_diagnostic_report,
    "Claim": map_claim,
}
SUPPORTED_RESOURCE_TYPES: Final = tuple(MAPPERS)
"""The resource types this adapter ingests, in CapabilityStatement order."""

BUNDLE_TYPES: Final = frozenset({"document", "message", "transaction", "transaction-response", "batch",
                                 "batch-response", "history", "searchset", "collection"})
HTTP_VERBS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class EntryInput:
    """One resource to map: a Bundle entry (`index`) or a lone resource (`index` None)."""

    index: int | None
    resource: Mapping[str, Any]
    full_url: str | None = None
    interaction: Interaction = "create"
    publish: bool = True
    """False: only there for references to resolve (a conditional create that matched); makes no unit."""

    @property
    def root(self) -> str:
        """Where this resource's issues are located."""
        if self.index is not None:
            return f"Bundle.entry[{self.index}].resource"
        kind = self.resource.get("resourceType")
        return kind if isinstance(kind, str) and kind.isidentifier() else "Resource"


@dataclass(frozen=True)
class Unit:
    """What is published or rejected together: the entry indexes (own entry first) and its events or error."""

    entries: tuple[int, ...]
    events: tuple[Event, ...] = ()
    error: FhirInputError | None = None


@dataclass(frozen=True)
class BundleEntry:
    """One `Bundle.entry`, as sent (resource still raw JSON)."""

    index: int
    full_url: str | None
    resource: Mapping[str, Any] | None
    method: str | None
    url: str | None
    if_none_exist: str | None = None
    if_match: str | None = None


@dataclass(frozen=True)
class BundleShell:
    """A Bundle without its resources validated: type, identity, entries."""

    type: str
    id: str | None
    identifier: str | None
    entries: tuple[BundleEntry, ...]

    @property
    def message_id(self) -> str | None:
        """`Source.original_message_id`: the Bundle's identifier value, else its id."""
        return self.identifier or self.id


def read_bundle(data: Mapping[str, Any]) -> BundleShell:
    """Validate a Bundle's own elements (entries' resources are validated one by one when mapped)."""
    entries = data.get("entry")
    shell = dict(data)
    if isinstance(entries, list):
        shell["entry"] = [{key: value for key, value in entry.items() if key != "resource"}
                          if isinstance(entry, dict) else entry for entry in entries]
    try:
        bundle = Bundle.model_validate(shell)
    except ValidationError as exc:
        raise InvalidResourceError(pydantic_issues(exc, "Bundle")) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidResourceError([Issue("structure", "Bundle", "the Bundle could not be read as FHIR R4")]) from exc
    if bundle.type not in BUNDLE_TYPES:
        raise InvalidResourceError([Issue("code-invalid", "Bundle.type", "not a Bundle type")])
    found = []
    for index, entry in enumerate(bundle.entry or ()):
        raw = entries[index] if isinstance(entries, list) else {}
        resource = raw.get("resource") if isinstance(raw, dict) else None
        if resource is not None and not isinstance(resource, dict):
            raise InvalidResourceError([Issue("structure", f"Bundle.entry[{index}].resource",
                                              "this element must be a JSON object")])
        request = entry.request
        method = request.method if request is not None else None
        if method is not None and method not in HTTP_VERBS:
            raise InvalidResourceError([Issue("code-invalid", f"Bundle.entry[{index}].request.method",
                                              "not an HTTP verb")])
        found.append(BundleEntry(index=index, full_url=entry.fullUrl, resource=resource, method=method,
                                 url=request.url if request is not None else None,
                                 if_none_exist=request.ifNoneExist if request is not None else None,
                                 if_match=request.ifMatch if request is not None else None))
    identifier = bundle.identifier.value if bundle.identifier is not None else None
    return BundleShell(type=bundle.type, id=bundle.id, identifier=identifier, entries=tuple(found))


# --- mapping --------------------------------------------------------------------------------------------


@dataclass
class _Checked:
    entry: EntryInput
    kind: str
    model: FHIRAbstractModel | None
    error: FhirInputError | None


def _check(entry: EntryInput) -> _Checked:
    kind = entry.resource.get("resourceType")
    if not isinstance(kind, str) or not is_resource_type(kind):
        error = InvalidResourceError([Issue("structure", f"{entry.root}.resourceType", "not a FHIR R4 resource type")])
        return _Checked(entry, "", None, error)
    try:
        return _Checked(entry, kind, validate_resource(entry.resource, expression=entry.root), None)
    except FhirInputError as exc:
        return _Checked(entry, kind, None, exc)


def _keys(checked: _Checked, server_base: str) -> list[str]:
    entry = checked.entry
    keys = []
    if entry.full_url:
        absolute = absolute_reference(entry.full_url, server_base)
        if absolute:
            keys.append(absolute)
    ident = entry.resource.get("id")
    if checked.kind and isinstance(ident, str):
        keys.append(f"{base_of(entry.full_url, server_base)}/{checked.kind}/{ident}")
    return keys


def _references(checked: Sequence[_Checked], server_base: str) -> References:
    keyed: dict[str, tuple[int, FHIRAbstractModel | None, str | None]] = {}
    for position, item in enumerate(checked):
        index = item.entry.index if item.entry.index is not None else position
        for key in _keys(item, server_base):
            keyed.setdefault(key, (index, item.model, item.entry.full_url))
    return References.of_bundle(server_base, keyed)


def _folded(checked: Sequence[_Checked], references: References) -> dict[int, int]:
    """Observation position -> the position of the first DiagnosticReport whose `result` points at it."""
    folded: dict[int, int] = {}
    position_of = {item.entry.index if item.entry.index is not None else position: position
                   for position, item in enumerate(checked)}
    for position, item in enumerate(checked):
        if item.kind != "DiagnosticReport":
            continue
        base = base_of(item.entry.full_url, references.server_base)
        results = item.entry.resource.get("result")
        for reference in results if isinstance(results, list) else ():
            literal = reference.get("reference") if isinstance(reference, dict) else None
            key = absolute_reference(literal, base) if isinstance(literal, str) else None
            found = references.entries.get(key) if key else None
            target = position_of.get(found.index) if found is not None else None
            if target is not None and target != position and checked[target].kind == "Observation":
                folded.setdefault(target, position)
    return folded


def _map_one(item: _Checked, ctx: MappingContext, scope: Scope) -> tuple[Event, ...]:
    mapper = MAPPERS[item.kind]
    try:
        return mapper(item.model, ctx, interaction=item.entry.interaction, scope=scope)
    except FhirInputError as exc:
        raise exc.prefixed(item.entry.root, item.kind) from exc
    except ValidationError as exc:  # the canonical contract refused a mapped value (a bug or a contract gap)
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) if exc.errors() else "payload"
        raise UnmappableResourceError([Issue("value", item.entry.root,
                                             f"the canonical event cannot hold the mapped value ({where})")]) from exc


def _unit(position: int, members: list[int], checked: Sequence[_Checked], ctx: MappingContext,
          references: References) -> Unit:
    item = checked[position]
    entries = tuple(checked[member].entry.index or 0 for member in [position, *members])
    if item.kind and item.kind not in MAPPERS:  # not ingested, valid or not
        return Unit(entries, error=UnsupportedResourceError.for_type(item.kind, f"{item.entry.root}.resourceType"))
    if item.error is not None:
        return Unit(entries, error=item.error)
    broken = [checked[member].error for member in members if checked[member].error is not None]
    if broken:
        issues = [issue for error in broken if error is not None for issue in error.issues]
        return Unit(entries, error=InvalidResourceError(issues))
    scope = references.scope(item.model, full_url=item.entry.full_url)  # type: ignore[arg-type]
    try:
        return Unit(entries, events=_map_one(item, ctx, scope))
    except FhirInputError as exc:
        return Unit(entries, error=exc)


def map_entries(entries: Sequence[EntryInput], ctx: MappingContext) -> list[Unit]:
    """Map resources that may reference each other (a Bundle's entries) into units, in entry order."""
    checked = [_check(entry) for entry in entries]
    references = _references(checked, ctx.base_url)
    folded = _folded(checked, references)
    members: dict[int, list[int]] = {}
    for observation, report in folded.items():
        members.setdefault(report, []).append(observation)
    return [_unit(position, sorted(members.get(position, [])), checked, ctx, references)
            for position in range(len(checked)) if position not in folded and checked[position].entry.publish]


def map_resource(resource: Mapping[str, Any], ctx: MappingContext, *,
                 interaction: Interaction = "create") -> tuple[Event, ...]:
    """Map one resource (not in a Bundle); raise its FhirInputError when it cannot be ingested."""
    (unit,) = map_entries([EntryInput(None, resource, interaction=interaction)], ctx)
    if unit.error is not None:
        raise unit.error
    return unit.events


def map_bundle(data: Mapping[str, Any], ctx: MappingContext) -> list[Unit]:
    """Map every entry of a Bundle of any type (collection, message, searchset, transaction, batch...).

    Entries with no resource (a transaction's DELETE or GET) and methods other than POST and PUT fail with
    UnsupportedInteractionError. POST is a create and PUT an update; an entry without a request is a create.
    This reads what a Bundle holds; the HTTP app applies the transaction/batch rules on top.
    """
    shell = read_bundle(data)
    inputs: list[EntryInput] = []
    refused: list[Unit] = []
    for entry in shell.entries:
        if entry.resource is None or entry.method not in (None, "POST", "PUT"):
            where = f"Bundle.entry[{entry.index}].request.method" if entry.method else f"Bundle.entry[{entry.index}]"
            refused.append(Unit((entry.index,), error=UnsupportedInteractionError([Issue(
                "not-supported", where, "only create (POST) and update (PUT) of a resource are ingested")])))
            continue
        inputs.append(EntryInput(entry.index, entry.resource, full_url=entry.full_url,
                                 interaction="update" if entry.method == "PUT" else "create"))
    return sorted([*map_entries(inputs, ctx), *refused], key=lambda unit: unit.entries[0])
