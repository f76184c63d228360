"""FHIR R4 resources -> canonical events: pure functions, one module per resource type.

    map_resource(resource_json, ctx, interaction="create") -> tuple[Event, ...]   one resource, or raise
    map_entries([EntryInput, ...], ctx) -> [Unit, ...]                              resources that reference each other
    map_bundle(bundle_json, ctx) -> [Unit, ...]                                     any Bundle type, entry by entry

No clock, no random ids, no I/O: the receive time, the event-id factory, the source and the server base come in
a `MappingContext`. Input is parsed JSON, validated here with fhir.resources' R4B models. Every decision where
FHIR and the canonical contract differ is written in the docstring of the module that makes it:
`_envelope` (subject and times), `_datatypes` (datatypes), `patient`, `encounter`, `service_request` (orders and
referrals), `observation` (result statuses), `diagnostic_report`, `claim`, and `bundle` (units, references).
"""

from producers.fhir.mapping._context import (
    DEFAULT_PATIENT_IDENTIFIER_TYPES,
    DEFAULT_REFERRAL_CODES,
    Interaction,
    MappingContext,
    split_literal,
)
from producers.fhir.mapping.bundle import (
    SUPPORTED_RESOURCE_TYPES,
    BundleEntry,
    BundleShell,
    EntryInput,
    Unit,
    map_bundle,
    map_entries,
    map_resource,
    read_bundle,
)

__all__ = [
    "DEFAULT_PATIENT_IDENTIFIER_TYPES",
    "DEFAULT_REFERRAL_CODES",
    "SUPPORTED_RESOURCE_TYPES",
    "BundleEntry",
    "BundleShell",
    "EntryInput",
    "Interaction",
    "MappingContext",
    "Unit",
    "map_bundle",
    "map_entries",
    "map_resource",
    "read_bundle",
    "split_literal",
]
