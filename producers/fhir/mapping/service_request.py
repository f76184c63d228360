"""FHIR R4 ServiceRequest -> order.* (an order) or referral.* (a referral).

A ServiceRequest is a referral when its `category` or `code` carries one of `MappingContext.referral_codes`
(SNOMED CT 3457005 "Patient referral" by default, plus the category microsoft/FHIR-Converter writes for
REF^I12). R4 has no referral intent, so the intent does not decide; a referral may be a `proposal` or a `plan`.
Otherwise it is an order, which needs an order intent (order, original-order, reflex-order, filler-order,
instance-order): a `proposal`, `plan`, `directive` or `option` that is not a referral orders nothing and is
rejected (422, at `ServiceRequest.intent`). Descendants of 3457005 are not recognized (no terminology server).

Order event type, by `ServiceRequest.status` (request-status, checked here):

| status | create (POST) | update (PUT) |
|---|---|---|
| active | order.placed | order.updated |
| draft, on-hold, completed, unknown | order.status-changed | order.status-changed |
| revoked, entered-in-error | order.cancelled | order.cancelled |

An update of an active order is a change to it (`order.updated`, as v2 X* order controls); an update that lands
in another status is a status change. `entered-in-error` has no retraction type: it cancels.

Referral event type: `referral.cancelled` for revoked or entered-in-error, else `referral.requested` on create
and `referral.updated` on update.

Fields, where FHIR and canonical differ:

- Order numbers: the identifier typed PLAC is the placer's, FILL the filler's; an untyped first identifier is
  the placer's (the requester creates the ServiceRequest). `requisition` is the placer group number.
- `status_original` repeats the FHIR status as sent; `order_control` (a v2 notion) stays null;
  `status_reason` comes from the `request-statusReason` extension (R4 has no element).
- `requester`: a Practitioner/PractitionerRole; an Organization requester is the `ordering_facility`.
- `requested_period`: `occurrencePeriod`, or `occurrenceDateTime` as a period that starts then.
- Specimens are read when contained or in the Bundle; otherwise the reference's logical-id form is the
  specimen identifier.
- Referral: `referral_identifier` is `identifier[0]` (the rest go to `identifiers`); `referral_type` is the first
  category that is not the referral marker; `requested_service` is `code`; `recipient`/`recipient_organization`
  come from `performer`; `diagnoses` from `reasonReference` Conditions that can be read. The referral
  `category` (inpatient/outpatient, v2 RF1-5) has no R4 element and stays null.
- `occurred_at`: `authoredOn`.
"""

from __future__ import annotations

from typing import Any, Final

from carebus.events import Diagnosis, Order, OrderEvent, Period, Referral, ReferralEvent, Specimen
from producers.fhir.errors import Issue, UnmappableResourceError
from producers.fhir.mapping._context import Interaction, MappingContext, Scope
from producers.fhir.mapping._datatypes import (
    coded,
    codes_of,
    concepts,
    first,
    identifier,
    identifiers,
    organization_ref,
    period,
    practitioner_ref,
    texts,
    to_utc,
    type_code,
)
from producers.fhir.mapping._envelope import envelope, subject_of
from producers.fhir.mapping.specimen import specimen
from producers.fhir.validation import require_code

__all__ = ["ORDER_INTENTS", "is_referral", "map_service_request"]

REQUEST_STATUSES: Final = frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error",
                                     "unknown"})
REQUEST_INTENTS: Final = frozenset({"proposal", "plan", "directive", "order", "original-order", "reflex-order",
                                    "filler-order", "instance-order", "option"})
ORDER_INTENTS: Final = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})
PRIORITIES: Final = frozenset({"routine", "urgent", "asap", "stat"})
_CANCELLING: Final = frozenset({"revoked", "entered-in-error"})
STATUS_REASON_URL: Final = "http://hl7.org/fhir/StructureDefinition/request-statusReason"


def is_referral(request: Any, referral_codes: frozenset[tuple[str, str]]) -> bool:
    """True when a category or the code of `request` is one of `referral_codes`."""
    for concept in [*(request.category or ()), request.code]:
        if any((system, code) in referral_codes for system, code in codes_of(concept)):
            return True
    return False


def _order_event_type(status: str, interaction: Interaction) -> str:
    if status in _CANCELLING:
        return "order.cancelled"
    if status == "active":
        return "order.placed" if interaction == "create" else "order.updated"
    return "order.status-changed"


def _referral_event_type(status: str, interaction: Interaction) -> str:
    if status in _CANCELLING:
        return "referral.cancelled"
    return "referral.requested" if interaction == "create" else "referral.updated"


def _order_numbers(request: Any) -> tuple[Any, Any]:
    sent = [value for value in request.identifier or () if value.value]
    placer = next((value for value in sent if type_code(value.type) == "PLAC"), None)
    filler = next((value for value in sent if type_code(value.type) == "FILL"), None)
    if placer is None and filler is None and sent and type_code(sent[0].type) is None:
        placer = sent[0]
    return identifier(placer), identifier(filler)


def _status_reason(request: Any) -> Any:
    for ext in request.extension or ():
        if ext.url == STATUS_REASON_URL:
            return coded(ext.valueCodeableConcept)
    return None


def _requested_period(request: Any) -> Any:
    if request.occurrencePeriod is not None:
        return period(request.occurrencePeriod)
    start = to_utc(request.occurrenceDateTime)
    return None if start is None else Period(start=start)


def _specimens(request: Any, scope: Scope) -> tuple[Specimen, ...]:
    found = (specimen(reference, scope) for reference in request.specimen or ())
    return tuple(item for item in found if item is not None)


def _order(request: Any, scope: Scope) -> Order:
    placer, filler = _order_numbers(request)
    return Order(
        placer_order_number=placer,  # ServiceRequest.identifier (PLAC)
        filler_order_number=filler,  # ServiceRequest.identifier (FILL)
        placer_group_number=identifier(request.requisition),  # ServiceRequest.requisition
        code=coded(request.code),  # ServiceRequest.code
        category=concepts(request.category),  # ServiceRequest.category
        status=request.status,  # ServiceRequest.status
        status_original=request.status,  # ServiceRequest.status, as sent
        status_reason=_status_reason(request),  # extension request-statusReason
        intent=request.intent,  # ServiceRequest.intent
        priority=request.priority,  # ServiceRequest.priority
        ordered_at=to_utc(request.authoredOn),  # ServiceRequest.authoredOn
        requested_period=_requested_period(request),  # ServiceRequest.occurrence[x]
        requester=practitioner_ref(request.requester, scope),  # ServiceRequest.requester
        ordering_facility=organization_ref(request.requester, scope),  # ServiceRequest.requester (Organization)
        reason_codes=concepts(request.reasonCode),  # ServiceRequest.reasonCode
        specimens=_specimens(request, scope),  # ServiceRequest.specimen
        notes=texts(request.note),  # ServiceRequest.note
    )


def _reason_diagnoses(request: Any, scope: Scope) -> tuple[Diagnosis, ...]:
    found = []
    for reference in request.reasonReference or ():
        target = scope.resolve(reference)
        if target is None or target.resource is None or target.resource_type != "Condition":
            continue
        code = coded(target.resource.code)
        if code is not None:
            found.append(Diagnosis(sequence=len(found) + 1, code=code))
    return tuple(found)


def _referral(request: Any, scope: Scope, referral_codes: frozenset[tuple[str, str]]) -> Referral:
    sent = [value for value in request.identifier or () if value.value]
    kinds = [concept for concept in request.category or ()
             if not any(pair in referral_codes for pair in codes_of(concept))]
    performers = list(request.performer or ())
    return Referral(
        referral_identifier=identifier(first(sent)),  # ServiceRequest.identifier[0]
        identifiers=identifiers(sent[1:]),  # ServiceRequest.identifier (the rest)
        status=request.status,  # ServiceRequest.status
        status_original=request.status,  # ServiceRequest.status, as sent
        priority=request.priority,  # ServiceRequest.priority
        referral_type=coded(first(kinds)),  # ServiceRequest.category (not the referral marker)
        reason_codes=concepts(request.reasonCode),  # ServiceRequest.reasonCode
        requested_service=coded(request.code),  # ServiceRequest.code
        requester=practitioner_ref(request.requester, scope),  # ServiceRequest.requester
        requester_organization=organization_ref(request.requester, scope),  # ServiceRequest.requester (Org)
        recipient=first([ref for ref in (practitioner_ref(item, scope) for item in performers) if ref]),
        recipient_organization=first([ref for ref in (organization_ref(item, scope) for item in performers)
                                      if ref]),  # ServiceRequest.performer
        period=period(request.occurrencePeriod),  # ServiceRequest.occurrencePeriod
        authored_at=to_utc(request.authoredOn),  # ServiceRequest.authoredOn
        diagnoses=_reason_diagnoses(request, scope),  # ServiceRequest.reasonReference (Condition)
        notes=texts(request.note),  # ServiceRequest.note
    )


def map_service_request(request: Any, ctx: MappingContext, *, interaction: Interaction,
                        scope: Scope) -> tuple[OrderEvent] | tuple[ReferralEvent]:
    """One ServiceRequest -> one order.* or referral.* event (see the tables above)."""
    require_code(request.status, REQUEST_STATUSES, "ServiceRequest.status", required=True)
    require_code(request.intent, REQUEST_INTENTS, "ServiceRequest.intent", required=True)
    require_code(request.priority, PRIORITIES, "ServiceRequest.priority")
    subject = subject_of(request.subject, scope, ctx)
    occurred = to_utc(request.authoredOn)
    if is_referral(request, ctx.referral_codes):
        return (ReferralEvent(
            envelope=envelope(request, ctx, event_type=_referral_event_type(request.status, interaction),
                              interaction=interaction, subject=subject, occurred_at=occurred),
            payload=_referral(request, scope, ctx.referral_codes),
        ),)
    if request.intent not in ORDER_INTENTS:
        raise UnmappableResourceError([Issue(
            "business-rule", "ServiceRequest.intent",
            "only orders (intent order, original-order, reflex-order, filler-order, instance-order) and referrals "
            "are ingested; this ServiceRequest requests nothing yet",
        )])
    return (OrderEvent(
        envelope=envelope(request, ctx, event_type=_order_event_type(request.status, interaction),
                          interaction=interaction, subject=subject, occurred_at=occurred),
        payload=_order(request, scope),
    ),)
