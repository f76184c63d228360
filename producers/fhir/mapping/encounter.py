"""FHIR R4 Encounter -> encounter.* by status.

Event type, by `Encounter.status` (a required binding, checked here):

| status | create (POST) | update (PUT) |
|---|---|---|
| planned | encounter.planned | encounter.planned |
| arrived, triaged, in-progress | encounter.started | encounter.updated |
| onleave, unknown | encounter.updated | encounter.updated |
| finished | encounter.ended | encounter.ended |
| cancelled, entered-in-error | encounter.cancelled | encounter.cancelled |

A create announces a new encounter, so an active one has started; an update of an active encounter is only a
change (the adapter keeps no state to see a status transition). `arrived` and `triaged` count as started, as an
A04 registration does in microsoft/FHIR-Converter. `entered-in-error` has no retraction type in the encounter
domain; it is a cancellation whose payload status says `entered-in-error`.

Fields, where FHIR and canonical differ:

- `visit_number`: the identifier typed VN, else the first identifier; the rest go to `identifiers`.
- `encounter_class` is the `class` Coding; `admission_type` is `type[0]`; `hospital_service` is `serviceType`.
- `location`: the first `location` whose status is not `completed`; `prior_location`: the last `completed` one.
  The place is the referenced Location's name (or the reference display) in `description`; FHIR has no
  point-of-care/room/bed split without reading the Location hierarchy.
- Participants by type (v3 ParticipationType): ATND attending, ADM admitting, REF referring, CON consulting.
  Without an ATND, a PPRF (primary performer) or else the first untyped participant is the attending.
- `diagnoses`: each `diagnosis.condition` gives its code when the Condition is contained or in the Bundle, else
  the reference's display as text; `rank` is the sequence and `use` the type.
- `account_number`: `account[0]` as an identifier. `facility`: `serviceProvider`.
- `occurred_at`: `period.end` for a finished encounter, else `period.start`.
"""

from __future__ import annotations

from typing import Any, Final

from carebus.events import Diagnosis, Encounter, EncounterEvent, Location, PractitionerRef
from producers.fhir.mapping._context import Interaction, MappingContext, Scope
from producers.fhir.mapping._datatypes import (
    coded,
    coded_from_coding,
    codes_of,
    concepts,
    first,
    identifier,
    identifiers,
    organization_ref,
    period,
    practitioner_ref,
    to_utc,
    type_code,
)
from producers.fhir.mapping._envelope import envelope, subject_of
from producers.fhir.validation import require_code

__all__ = ["ENCOUNTER_EVENT_TYPES", "map_encounter"]

_ACTIVE: Final = frozenset({"arrived", "triaged", "in-progress"})
ENCOUNTER_EVENT_TYPES: Final = {
    "planned": "encounter.planned",
    "arrived": "encounter.started",
    "triaged": "encounter.started",
    "in-progress": "encounter.started",
    "onleave": "encounter.updated",
    "finished": "encounter.ended",
    "cancelled": "encounter.cancelled",
    "entered-in-error": "encounter.cancelled",
    "unknown": "encounter.updated",
}
"""Encounter.status -> event type for a create; an update of an active encounter is `encounter.updated`."""


def _event_type(status: str, interaction: Interaction) -> str:
    if interaction == "update" and status in _ACTIVE:
        return "encounter.updated"
    return ENCOUNTER_EVENT_TYPES[status]


def _participant_codes(participant: Any) -> set[str]:
    return {str(code) for concept in participant.type or () for _, code in codes_of(concept)}


def _participants(encounter: Any, scope: Scope) -> dict[str, list[PractitionerRef]]:
    found: dict[str, list[PractitionerRef]] = {"ATND": [], "ADM": [], "REF": [], "CON": [], "PPRF": [], "": []}
    for participant in encounter.participant or ():
        person = practitioner_ref(participant.individual, scope, implied=True)
        if person is None:
            continue
        codes = _participant_codes(participant)
        for code in (codes & found.keys()) if codes else {""}:
            found[code].append(person)
    return found


def _location(item: Any, scope: Scope) -> Location:
    target = scope.resolve(item.location)
    name = getattr(target.resource, "name", None) if target is not None and target.resource is not None else None
    return Location(description=name or item.location.display, status=item.status)


def _locations(encounter: Any, scope: Scope) -> tuple[Location | None, Location | None]:
    current = prior = None
    for item in encounter.location or ():
        if item.status == "completed":
            prior = _location(item, scope)
        elif current is None:
            current = _location(item, scope)
    return current, prior


def _diagnoses(encounter: Any, scope: Scope) -> tuple[Diagnosis, ...]:
    found = []
    for item in encounter.diagnosis or ():
        target = scope.resolve(item.condition)
        code = coded(getattr(target.resource, "code", None)) if target and target.resource is not None else None
        if code is None and item.condition.display:
            code = coded_from_coding(None, text=item.condition.display)
        if code is not None:
            use = first(item.use.coding) if item.use is not None and item.use.coding else None
            found.append(Diagnosis(sequence=item.rank, code=code, type=use.code if use is not None else None))
    return tuple(found)


def _visit_number(encounter: Any) -> tuple[Any, tuple[Any, ...]]:
    sent = [value for value in encounter.identifier or () if value.value]
    typed = [value for value in sent if type_code(value.type) == "VN"]
    visit = (typed or sent or [None])[0]
    return identifier(visit), identifiers(value for value in sent if value is not visit)


def _account(encounter: Any, scope: Scope) -> Any:
    reference = first(encounter.account)
    if reference is None:
        return None
    sent = identifier(reference.identifier)
    if sent is not None:
        return sent
    target = scope.resolve(reference)
    return target.identity() if target is not None else None


def map_encounter(encounter: Any, ctx: MappingContext, *, interaction: Interaction,
                  scope: Scope) -> tuple[EncounterEvent]:
    """One Encounter -> one encounter.* event (see the table above)."""
    require_code(encounter.status, ENCOUNTER_EVENT_TYPES, "Encounter.status", required=True)
    visit, others = _visit_number(encounter)
    people = _participants(encounter, scope)
    current, prior = _locations(encounter, scope)
    hospitalization = encounter.hospitalization
    span = period(encounter.period)
    payload = Encounter(
        visit_number=visit,  # Encounter.identifier (type VN, else the first)
        identifiers=others,  # Encounter.identifier (the rest)
        account_number=_account(encounter, scope),  # Encounter.account[0]
        status=encounter.status,  # Encounter.status
        encounter_class=coded_from_coding(encounter.class_fhir),  # Encounter.class
        admission_type=coded(first(encounter.type)),  # Encounter.type[0]
        hospital_service=coded(encounter.serviceType),  # Encounter.serviceType
        period=span,  # Encounter.period
        location=current,  # Encounter.location (not completed)
        prior_location=prior,  # Encounter.location (completed)
        attending=first(people["ATND"] or people["PPRF"] or people[""]),  # Encounter.participant ATND
        admitting=first(people["ADM"]),  # Encounter.participant ADM
        referring=first(people["REF"]),  # Encounter.participant REF
        consulting=tuple(people["CON"]),  # Encounter.participant CON
        admit_source=coded(hospitalization.admitSource) if hospitalization else None,  # .hospitalization.admitSource
        discharge_disposition=(coded(hospitalization.dischargeDisposition)  # .hospitalization.dischargeDisposition
                               if hospitalization else None),
        reason_codes=concepts(encounter.reasonCode),  # Encounter.reasonCode
        diagnoses=_diagnoses(encounter, scope),  # Encounter.diagnosis
        facility=organization_ref(encounter.serviceProvider, scope, implied=True),  # Encounter.serviceProvider
    )
    occurred = None
    if encounter.period is not None:
        occurred = to_utc(encounter.period.end) if encounter.status == "finished" else None
        occurred = occurred or to_utc(encounter.period.start)
    return (EncounterEvent(
        envelope=envelope(encounter, ctx, event_type=_event_type(encounter.status, interaction),
                          interaction=interaction, subject=subject_of(encounter.subject, scope, ctx),
                          occurred_at=occurred),
        payload=payload,
    ),)
