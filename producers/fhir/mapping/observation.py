"""FHIR R4 Observation -> canonical Observation; a standalone Observation -> result.* with one observation.

Result event type, by status (shared with DiagnosticReport; both required bindings are checked here):

| DiagnosticReport.status / Observation.status | event type |
|---|---|
| registered, partial, preliminary, unknown | result.preliminary |
| final | result.finalized |
| amended, corrected, appended | result.corrected |
| cancelled | result.cancelled |
| entered-in-error | result.retracted |

The contract has no "registered" event: a report that exists without final results is preliminary, and the
exact FHIR status travels in the payload (`status`, `status_original`), so nothing claims to be final early.

A standalone Observation is its own one-result report: `Result.code`, `category`, times, performer and basedOn
come from the Observation, and `observations` holds it alone. An Observation referenced by a DiagnosticReport in
the same Bundle is folded into that report's event instead of making its own. `hasMember` is not followed.

Observation fields, where FHIR and canonical differ:

- `value[x]`: Quantity -> QuantityValue (decimal as sent in `value_text`); integer -> QuantityValue with no
  unit; CodeableConcept -> CodedValue; string -> StringValue; boolean -> StringValue `true`/`false`; time ->
  StringValue `hh:mm:ss`; dateTime -> DateTimeValue (UTC; `text` keeps a partial date as sent); Period ->
  DateTimeValue of its start (or end), with `<start>/<end>` as text; Range -> NumericRangeValue with `-`; Ratio
  -> NumericRangeValue with `:`. SampledData has no faithful canonical form and is rejected (422).
- `value_type` (a v2 notion) stays null. `units` is the unit of the quantity, range or ratio, as sent.
- `interpretations` keeps every interpretation; `abnormal_flags` their primary codes as sent; `critical` is
  true for LL, HH or AA (`<`/`>` are off-scale, not critical).
- `reference_range` is the first range (`text`, `low`, `high`).
- `observed_at` is `effectiveDateTime`/`effectiveInstant`/`effectivePeriod.start`; `effectiveTiming` is not read.
- `performer`: the first Practitioner/PractitionerRole; `performing_organization`: the first Organization.
- `set_id` is the position of the observation in its event (1-based); `identifier` is `identifier[0]`.
- `placer_order_number` (standalone): `basedOn[0]`'s identifier, the placer number of a ServiceRequest in the
  Bundle, or the reference's logical-id form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from carebus.events import (
    CodedConcept,
    CodedValue,
    DateTimeValue,
    NumericRangeValue,
    Observation,
    ObservationComponent,
    Quantity,
    QuantityValue,
    ReferenceRange,
    Result,
    ResultEvent,
    StringValue,
)
from producers.fhir.errors import Issue, UnmappableResourceError
from producers.fhir.mapping._context import Interaction, MappingContext, Scope
from producers.fhir.mapping._datatypes import (
    coded,
    concepts,
    finite,
    first,
    identifier,
    organization_ref,
    practitioner_ref,
    quantity,
    to_utc,
    type_code,
)
from producers.fhir.mapping._envelope import envelope, subject_of
from producers.fhir.mapping.specimen import specimen
from producers.fhir.validation import require_code

__all__ = ["RESULT_EVENT_TYPES", "map_observation", "observation", "placer_from_based_on", "result_event_type"]

RESULT_EVENT_TYPES: Final = {
    "registered": "result.preliminary",
    "partial": "result.preliminary",
    "preliminary": "result.preliminary",
    "unknown": "result.preliminary",
    "final": "result.finalized",
    "amended": "result.corrected",
    "corrected": "result.corrected",
    "appended": "result.corrected",
    "cancelled": "result.cancelled",
    "entered-in-error": "result.retracted",
}
"""DiagnosticReport.status / Observation.status -> result event type."""

OBSERVATION_STATUSES: Final = frozenset({"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                         "entered-in-error", "unknown"})
COMPARATORS: Final = frozenset({"<", "<=", ">=", ">"})
CRITICAL_FLAGS: Final = frozenset({"LL", "HH", "AA"})


def result_event_type(status: str) -> str:
    return RESULT_EVENT_TYPES[status]


def _check_comparators(resource: Any, path: str) -> None:
    for name in ("valueQuantity",):
        value = getattr(resource, name, None)
        if value is not None:
            require_code(value.comparator, COMPARATORS, f"{path}.{name}.comparator")


def _range_value(low: Any, high: Any, separator: str, *, comparator: str | None = None) -> NumericRangeValue:
    return NumericRangeValue(comparator=comparator,
                             low=finite(low.value) if low is not None and low.value is not None else None,
                             separator=separator,
                             high=finite(high.value) if high is not None and high.value is not None else None)


def _unit(*quantities: Any) -> CodedConcept | None:
    for value in quantities:
        if value is not None and (value.unit or value.code):
            return CodedConcept(code=value.code, system=value.system, display=value.unit,
                                original_code=value.code, original_system=value.system, original_display=value.unit)
    return None


def _value(resource: Any, path: str) -> tuple[Any, CodedConcept | None]:
    """(the canonical value, its units) of an Observation's or component's value[x]."""
    if resource.valueQuantity is not None:
        found = quantity(resource.valueQuantity)
        return (QuantityValue(quantity=found) if found else None), _unit(resource.valueQuantity)
    if resource.valueCodeableConcept is not None:
        concept = coded(resource.valueCodeableConcept)
        return (CodedValue(concept=concept) if concept else None), None
    if resource.valueString is not None:
        return StringValue(value=resource.valueString), None
    if resource.valueBoolean is not None:
        return StringValue(value="true" if resource.valueBoolean else "false"), None
    if resource.valueInteger is not None:
        number = resource.valueInteger
        return QuantityValue(quantity=Quantity(value=finite(number), value_text=str(number))), None
    if resource.valueRange is not None:
        low, high = resource.valueRange.low, resource.valueRange.high
        return _range_value(low, high, "-"), _unit(low, high)
    if resource.valueRatio is not None:
        top, bottom = resource.valueRatio.numerator, resource.valueRatio.denominator
        comparator = top.comparator if top is not None else None
        return _range_value(top, bottom, ":", comparator=comparator), _unit(top, bottom)
    if resource.valueTime is not None:
        return StringValue(value=str(resource.valueTime)), None
    if resource.valueDateTime is not None:
        sent = resource.valueDateTime
        moment = to_utc(sent)
        return (DateTimeValue(value=moment, text=sent if isinstance(sent, str) else None) if moment else None), None
    if resource.valuePeriod is not None:
        start, end = resource.valuePeriod.start, resource.valuePeriod.end
        moment = to_utc(start) or to_utc(end)
        text = f"{_iso(start)}/{_iso(end)}"
        return (DateTimeValue(value=moment, text=text) if moment else None), None
    if resource.valueSampledData is not None:
        raise UnmappableResourceError([Issue("not-supported", f"{path}.valueSampledData",
                                             "sampled data has no canonical form")])
    return None, None


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.isoformat()


def _reference_range(ranges: Sequence[Any] | None) -> ReferenceRange | None:
    item = first(ranges)
    if item is None:
        return None
    low = finite(item.low.value) if item.low is not None and item.low.value is not None else None
    high = finite(item.high.value) if item.high is not None and item.high.value is not None else None
    if item.text is None and low is None and high is None:
        return None
    return ReferenceRange(text=item.text, low=low, high=high)


def _flags(interpretations: Sequence[Any] | None) -> tuple[str, ...]:
    flags = []
    for concept in interpretations or ():
        primary = coded(concept)
        if primary is not None and primary.code:
            flags.append(primary.code)
    return tuple(flags)


def _components(resource: Any) -> tuple[ObservationComponent, ...]:
    found = []
    for index, component in enumerate(resource.component or ()):
        path = f"Observation.component[{index}]"
        _check_comparators(component, path)
        value, units = _value(component, path)
        found.append(ObservationComponent(
            code=coded(component.code),  # Observation.component.code
            value=value,  # Observation.component.value[x]
            units=units,
            reference_range=_reference_range(component.referenceRange),  # .component.referenceRange[0]
            interpretations=concepts(component.interpretation),  # Observation.component.interpretation
        ))
    return tuple(found)


def observation(resource: Any, scope: Scope, *, position: int | None = None) -> Observation:
    """One Observation -> the canonical Observation (no event: a report or `map_observation` wraps it)."""
    require_code(resource.status, OBSERVATION_STATUSES, "Observation.status", required=True)
    _check_comparators(resource, "Observation")
    value, units = _value(resource, "Observation")
    performers = list(resource.performer or ())
    flags = _flags(resource.interpretation)
    effective = resource.effectiveDateTime or resource.effectiveInstant
    if effective is None and resource.effectivePeriod is not None:
        effective = resource.effectivePeriod.start
    return Observation(
        set_id=position,
        identifier=identifier(first(resource.identifier)),  # Observation.identifier[0]
        code=coded(resource.code),  # Observation.code
        value=value,  # Observation.value[x]
        units=units,  # Observation.valueQuantity.unit / code
        reference_range=_reference_range(resource.referenceRange),  # Observation.referenceRange[0]
        interpretations=concepts(resource.interpretation),  # Observation.interpretation
        abnormal_flags=flags,  # Observation.interpretation (codes as sent)
        critical=any(flag in CRITICAL_FLAGS for flag in flags),
        status=resource.status,  # Observation.status
        status_original=resource.status,  # Observation.status, as sent
        observed_at=to_utc(effective),  # Observation.effective[x]
        performer=first([ref for ref in (practitioner_ref(item, scope) for item in performers) if ref]),
        performing_organization=first([ref for ref in (organization_ref(item, scope) for item in performers)
                                       if ref]),  # Observation.performer (Organization)
        method=coded(resource.method),  # Observation.method
        components=_components(resource),  # Observation.component
        notes=tuple(note.text for note in resource.note or () if note.text),  # Observation.note
    )


def placer_from_based_on(references: Sequence[Any] | None, scope: Scope) -> Any:
    """The placer order number behind `basedOn[0]` (see the module notes)."""
    reference = first(references)
    if reference is None:
        return None
    sent = identifier(reference.identifier)
    if sent is not None:
        return sent
    target = scope.resolve(reference)
    if target is None:
        return None
    if target.resource is not None and target.resource_type == "ServiceRequest":
        sent_ids = [value for value in target.resource.identifier or () if value.value]
        placer = next((value for value in sent_ids if type_code(value.type) == "PLAC"), first(sent_ids))
        if placer is not None:
            return identifier(placer)
    return target.identity()


def map_observation(resource: Any, ctx: MappingContext, *, interaction: Interaction,
                    scope: Scope) -> tuple[ResultEvent]:
    """A standalone Observation -> one result.* event holding it alone."""
    canonical = observation(resource, scope, position=1)
    effective_end = resource.effectivePeriod.end if resource.effectivePeriod is not None else None
    payload = Result(
        placer_order_number=placer_from_based_on(resource.basedOn, scope),  # Observation.basedOn[0]
        code=canonical.code,  # Observation.code
        status=resource.status,  # Observation.status
        status_original=resource.status,
        category=concepts(resource.category),  # Observation.category
        effective_at=canonical.observed_at,  # Observation.effective[x]
        effective_end=to_utc(effective_end),  # Observation.effectivePeriod.end
        issued_at=to_utc(resource.issued),  # Observation.issued
        performer=canonical.performer,  # Observation.performer
        performing_organization=canonical.performing_organization,
        observations=(canonical,),
        specimens=tuple(item for item in [specimen(resource.specimen, scope)] if item is not None)
        if resource.specimen is not None else (),  # Observation.specimen
    )
    occurred = canonical.observed_at or to_utc(resource.issued)
    return (ResultEvent(
        envelope=envelope(resource, ctx, event_type=result_event_type(resource.status), interaction=interaction,
                          subject=subject_of(resource.subject, scope, ctx), occurred_at=occurred),
        payload=payload,
    ),)

