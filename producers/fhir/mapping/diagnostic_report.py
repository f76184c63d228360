"""FHIR R4 DiagnosticReport (+ its Observations) -> result.* by status.

The event type follows `DiagnosticReport.status` (table in `observation.py`: preliminary/partial/registered/
unknown -> result.preliminary, final -> result.finalized, amended/corrected/appended -> result.corrected,
cancelled -> result.cancelled, entered-in-error -> result.retracted), whatever the interaction.

`DiagnosticReport.result` references are read in order: a contained Observation, or one in the same Bundle
(by `fullUrl`, `urn:uuid:`, or `Type/id` against the entry's base), becomes a full canonical Observation. One
that cannot be read (posted earlier, on another server) is kept as a stub holding only its identity
(`identifier` = `<base>|Observation/<id>`), so the report still lists it and nothing is invented. The Bundle
mapping (`bundle.map_entries`) folds those Observations into the report's unit and fails the report when one of
them is invalid, with the issue located at that Observation's entry.

Fields, where FHIR and canonical differ:

- Identifiers: the one typed PLAC is the placer order number and FILL the filler's; else the placer number
  comes from `basedOn` (see `placer_from_based_on`). `report_identifier` is the first identifier of any other
  type (or untyped).
- `performer`: the first Practitioner/PractitionerRole; `performing_organization`: the first Organization.
  `interpreter`: the first practitioner in `resultsInterpreter`.
- `effective_at`/`effective_end`: `effectiveDateTime`, or `effectivePeriod` start and end.
- `conclusion` is `conclusion`; `conclusionCode`, `presentedForm` and `imagingStudy` are not carried.
- `occurred_at`: the effective time, else `issued`.
"""

from __future__ import annotations

from typing import Any

from carebus.events import Identifier, Observation, Result, ResultEvent, Specimen
from producers.fhir.errors import FhirInputError
from producers.fhir.mapping._context import Interaction, MappingContext, Scope, Target
from producers.fhir.mapping._datatypes import (
    coded,
    concepts,
    first,
    identifier,
    organization_ref,
    practitioner_ref,
    to_utc,
    type_code,
)
from producers.fhir.mapping._envelope import envelope, subject_of
from producers.fhir.mapping.observation import RESULT_EVENT_TYPES, observation, placer_from_based_on
from producers.fhir.mapping.specimen import specimen
from producers.fhir.validation import require_code

__all__ = ["map_diagnostic_report"]


def _identifiers(report: Any) -> tuple[Identifier | None, Identifier | None, Identifier | None]:
    """(report identifier, placer number, filler number) from DiagnosticReport.identifier."""
    sent = [value for value in report.identifier or () if value.value]
    placer = next((value for value in sent if type_code(value.type) == "PLAC"), None)
    filler = next((value for value in sent if type_code(value.type) == "FILL"), None)
    own = next((value for value in sent if value is not placer and value is not filler), None)
    return identifier(own), identifier(placer), identifier(filler)


def _observations(report: Any, scope: Scope) -> tuple[Observation, ...]:
    found = []
    for reference in report.result or ():
        position = len(found) + 1
        target = scope.resolve(reference)
        if target is not None and target.resource is not None and target.resource_type == "Observation":
            try:
                found.append(observation(target.resource, scope.of(target), position=position))
            except FhirInputError as exc:
                raise exc.prefixed(_where(report, target), "Observation") from exc
            continue
        stub = identifier(reference.identifier) or (target.identity() if target is not None else None)
        found.append(Observation(set_id=position, identifier=stub))
    return tuple(found)


def _where(report: Any, target: Target) -> str:
    """Where a result Observation sits: its own Bundle entry, or the report's contained list."""
    if target.entry is not None:
        return f"Bundle.entry[{target.entry}].resource"
    position = next((index for index, item in enumerate(report.contained or ()) if item is target.resource), 0)
    return f"DiagnosticReport.contained[{position}]"


def _specimens(report: Any, scope: Scope) -> tuple[Specimen, ...]:
    found = (specimen(reference, scope) for reference in report.specimen or ())
    return tuple(item for item in found if item is not None)


def map_diagnostic_report(report: Any, ctx: MappingContext, *, interaction: Interaction,
                          scope: Scope) -> tuple[ResultEvent]:
    """One DiagnosticReport, with the Observations it references, -> one result.* event."""
    require_code(report.status, RESULT_EVENT_TYPES, "DiagnosticReport.status", required=True)
    own, placer, filler = _identifiers(report)
    performers = list(report.performer or ())
    effective = report.effectiveDateTime
    effective_end = None
    if report.effectivePeriod is not None:
        effective, effective_end = report.effectivePeriod.start, report.effectivePeriod.end
    payload = Result(
        report_identifier=own,  # DiagnosticReport.identifier
        placer_order_number=placer or placer_from_based_on(report.basedOn, scope),  # .identifier PLAC / .basedOn
        filler_order_number=filler,  # DiagnosticReport.identifier FILL
        code=coded(report.code),  # DiagnosticReport.code
        status=report.status,  # DiagnosticReport.status
        status_original=report.status,  # DiagnosticReport.status, as sent
        category=concepts(report.category),  # DiagnosticReport.category
        effective_at=to_utc(effective),  # DiagnosticReport.effective[x]
        effective_end=to_utc(effective_end),  # DiagnosticReport.effectivePeriod.end
        issued_at=to_utc(report.issued),  # DiagnosticReport.issued
        performer=first([ref for ref in (practitioner_ref(item, scope) for item in performers) if ref]),
        interpreter=first([ref for ref in (practitioner_ref(item, scope)
                                           for item in report.resultsInterpreter or ()) if ref]),
        performing_organization=first([ref for ref in (organization_ref(item, scope) for item in performers)
                                       if ref]),  # DiagnosticReport.performer (Organization)
        observations=_observations(report, scope),  # DiagnosticReport.result
        specimens=_specimens(report, scope),  # DiagnosticReport.specimen
        conclusion=report.conclusion,  # DiagnosticReport.conclusion
    )
    return (ResultEvent(
        envelope=envelope(report, ctx, event_type=RESULT_EVENT_TYPES[report.status], interaction=interaction,
                          subject=subject_of(report.subject, scope, ctx),
                          occurred_at=to_utc(effective) or to_utc(report.issued)),
        payload=payload,
    ),)
