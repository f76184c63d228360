"""The envelope every FHIR-made event carries, and the patient it is about.

Subject (`envelope.subject`), decided once for every resource type:

- `source_patient_id` is `<system>|<value>`. For a Patient it is its primary identifier: the first usable one
  (system and value, `use` not `old`) whose type is in `MappingContext.patient_identifier_types` (MR first), else
  the first `official`/`usual` one, else the first usable one. A Patient without such an identifier is known by
  its logical id in the namespace of the server base it lives on: system = the base URL, value = `Patient/<id>`
  (`https://fhir.example.org/fhir|Patient/123`).
- A resource that points at its patient (`subject`, `patient`) takes, in order: the Patient itself when the
  reference resolves to it (contained or in the same Bundle), so a Bundle's events share one key;
  `Reference.identifier` when it has a system; else the literal reference, with the base it resolves against as
  the system (a relative `Patient/123` is under this server's base, or under the base of the entry's RESTful
  `fullUrl` inside a Bundle; an absolute one under its own base). An unresolved `urn:uuid:` is kept as a URI
  (`urn:ietf:rfc:3986|urn:uuid:...`).
- `source_identifiers` lists every patient identifier seen: Patient.identifier (those with a value) plus the
  logical-id form, so identity resolution can join a later `Patient/123` reference to the MRN.
- A subject that is not a Patient (a Group, a Device, a Location) leaves the subject empty: no key.

Known limit: a Patient posted on its own is keyed by its MRN, while an Encounter posted later that only says
`Patient/123` is keyed by `<base>|Patient/123`, so their canonical records can land on different partitions
until identity resolution (normalized topics) links them through `source_identifiers`.

Times: `recorded_at` is `meta.lastUpdated` (when the source recorded it), else the receive time; `occurred_at` is
the resource's own clinical time (each mapper says which), else `recorded_at`. Classification is `restricted`
when `meta.security` carries a confidentiality of R or V or a sensitivity label (v3 ActCode ETH, HIV, PSY, SUD,
...), else `phi`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from carebus.events import SCHEMA_VERSION, DataClassification, Envelope, Identifier, Source, Subject
from carebus.ids import CorrelationId, EventId, SourcePatientId
from producers.fhir.mapping._context import Interaction, MappingContext, Scope
from producers.fhir.mapping._datatypes import identifier, identifiers, to_utc, type_code

__all__ = ["envelope", "patient_subject", "subject_of"]

_CONFIDENTIALITY: Final = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_RESTRICTED_CONFIDENTIALITY: Final = frozenset({"R", "V"})
_SENSITIVITY_CODES: Final = frozenset({
    "ETH", "GDIS", "HIV", "MST", "PSY", "PSYTHPN", "SCA", "SDV", "SEX", "STD", "SUD", "TBOO", "BH",
})


def _key(value: Identifier) -> SourcePatientId:
    return SourcePatientId(f"{value.system}|{value.value}")


def _primary(values: Sequence[Any], preferred_types: Sequence[str]) -> Any:
    usable = [value for value in values if value.system and value.value and value.use != "old"]
    for wanted in preferred_types:
        for value in usable:
            if type_code(value.type) == wanted:
                return value
    for value in usable:
        if value.use in ("official", "usual"):
            return value
    return usable[0] if usable else None


def patient_subject(patient: Any, ctx: MappingContext, *, identity: Identifier | None) -> Subject:
    """The subject of a Patient resource; `identity` is its logical-id form (None when contained)."""
    sent = identifiers(patient.identifier)
    primary = identifier(_primary(patient.identifier or (), ctx.patient_identifier_types))
    chosen = primary or identity
    every = sent + ((identity,) if identity is not None else ())
    return Subject(source_patient_id=_key(chosen) if chosen else None, source_identifiers=every)


def subject_of(reference: Any, scope: Scope, ctx: MappingContext) -> Subject:
    """The subject of a resource that points at its patient with `reference`."""
    if reference is None:
        return Subject()
    target = scope.resolve(reference)
    if target is not None and target.resource is not None and target.resource_type == "Patient":
        contained = reference.reference is not None and reference.reference.startswith("#")
        return patient_subject(target.resource, ctx, identity=None if contained else target.identity())
    if target is not None and target.resource_type not in (None, "Patient"):
        return Subject()
    logical = identifier(reference.identifier)
    identity = target.identity() if target is not None else None
    chosen = logical if logical is not None and logical.system else identity
    every = tuple(value for value in (logical, identity) if value is not None)
    return Subject(source_patient_id=_key(chosen) if chosen else None, source_identifiers=every)


def _classification(meta: Any) -> DataClassification:
    for label in (meta.security or ()) if meta is not None else ():
        if label.system == _CONFIDENTIALITY and label.code in _RESTRICTED_CONFIDENTIALITY:
            return "restricted"
        if label.system in (_ACT_CODE, None) and label.code in _SENSITIVITY_CODES:
            return "restricted"
    return "phi"


def envelope(resource: Any, ctx: MappingContext, *, event_type: str, interaction: Interaction, subject: Subject,
             occurred_at: datetime | None) -> Envelope:
    """The envelope of one event made from `resource`."""
    meta = resource.meta
    recorded_at = to_utc(meta.lastUpdated if meta is not None else None) or ctx.received_at
    return Envelope(
        event_id=EventId(ctx.new_event_id()),
        event_type=event_type,
        occurred_at=occurred_at or recorded_at,
        recorded_at=recorded_at,
        received_at=ctx.received_at,
        source=Source(system=ctx.source_system, facility=ctx.source_facility, protocol="fhir",
                      original_message_id=ctx.message_id,
                      message_type=f"{resource.get_resource_type()}/{interaction}"),
        correlation_id=CorrelationId(ctx.correlation),
        subject=subject,
        data_classification=_classification(meta),
        schema_version=SCHEMA_VERSION,
    )
